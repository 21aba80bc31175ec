package web_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// world is a PKI with one valid credential and a reader configuration trusting it.
type world struct {
	reader *readersession.Config
	cred   *issuer.Credential
}

var (
	worldOnce sync.Once
	worldVal  *world
)

func getWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() {
		p := testpki.New(t, testpki.Options{Name: "web test"})
		now := time.Now().Truncate(time.Second)
		cred := p.Issue(t, issuer.IssueRequest{Signed: now.Add(-time.Minute), ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(24 * time.Hour)})
		worldVal = &world{cred: cred, reader: &readersession.Config{
			Request: testpki.MDLRequest("family_name", "age_over_18"),
			Trust:   verify.NewTrustStore(p.IACA.Certificate)}}
	})
	if worldVal == nil {
		t.Fatal("the test PKI could not be set up")
	}
	return worldVal
}

func (w *world) holder() *holdersession.Config {
	return &holdersession.Config{Credentials: []*issuer.Credential{w.cred}}
}

// reader is a Server on a loopback socket with a minimal lane on each listener: every
// arrival runs a readersession to its verdict.
type reader struct {
	srv      *web.Server
	base     string
	verdicts chan *readersession.Verdict
	ids      chan string // the Arrival.ID of every session, in arrival order
	wg       sync.WaitGroup
	served   chan struct{}
}

func startReader(t testing.TB, cfg web.Config) *reader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Origin == "" {
		cfg.Origin = "http://" + ln.Addr().String()
	}
	srv, err := web.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{srv: srv, base: "http://" + ln.Addr().String(), verdicts: make(chan *readersession.Verdict, 1024),
		ids: make(chan string, 1024), served: make(chan struct{})}
	go func() {
		defer close(r.served)
		_ = srv.Serve(ln)
	}()
	rc := getWorld(t).reader
	for _, l := range []transports.Listener{srv.HTTPListener(), srv.WebSocketListener()} {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				a, err := l.Accept(context.Background())
				if err != nil {
					return
				}
				r.ids <- a.ID
				r.wg.Add(1)
				go func() {
					defer r.wg.Done()
					r.verdicts <- runSession(rc, a)
				}()
			}
		}()
	}
	t.Cleanup(r.stop)
	return r
}

func (r *reader) stop() {
	r.srv.Close()
	<-r.served
	r.wg.Wait()
}

// runSession is a lane's session actor in miniature.
func runSession(cfg *readersession.Config, a *transports.Arrival) *readersession.Verdict {
	if a.Refused != nil { // refused at its first message: no connection, a rejection
		return &readersession.Verdict{Outcome: readersession.Rejected, Reason: a.Refused.Reason, Detail: a.Refused.Detail}
	}
	defer a.Conn.Close()
	rs := readersession.New(cfg)
	var step readersession.Step
	if a.ReaderKey != nil { // reverse engagement, as the engine's session actor does it
		step = rs.StartReverse(a.ReaderKey, a.ReaderEngagement, a.DeviceEngagement)
	} else {
		step = rs.Start(a.DeviceEngagement, a.Handover)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if step.Verify != nil {
			step = rs.Verified(step.Verify.Run())
			continue
		}
		if step.Send != nil {
			if err := a.Conn.WriteFrame(ctx, step.Send); err != nil {
				step = rs.Fail(readersession.Error, "link", err.Error())
				continue
			}
		}
		if step.Done {
			v, _ := rs.Verdict()
			return v
		}
		msg, err := a.Conn.ReadFrame(ctx)
		if err != nil {
			reason := "link"
			if errors.Is(err, context.DeadlineExceeded) {
				step = rs.Fail(readersession.Timeout, "timeout", err.Error())
				continue
			}
			step = rs.Fail(readersession.Error, reason, err.Error())
			continue
		}
		step = rs.Receive(msg)
	}
}

func (r *reader) verdict(t testing.TB) *readersession.Verdict {
	t.Helper()
	select {
	case v := <-r.verdicts:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict")
		return nil
	}
}

func (r *reader) engagement(t testing.TB, withQR bool) *web.Engagement {
	t.Helper()
	e, err := web.FetchEngagement(context.Background(), http.DefaultClient, r.base, withQR)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
