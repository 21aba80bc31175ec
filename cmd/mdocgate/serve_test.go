package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/web"
)

// serveFixture writes an IACA to a temp dir and issues an mDL under it.
func serveFixture(t *testing.T) (iacaFile string, cred *issuer.Credential) {
	t.Helper()
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "serve test IACA", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "serve test DS", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	cred, err = ds.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil), DeviceKey: dk.COSEKey(),
		Signed: now.Add(-time.Minute), ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cred.DevicePrivateKey = dk
	iacaFile = filepath.Join(t.TempDir(), "iaca.pem")
	if err := os.WriteFile(iacaFile, iaca.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return iacaFile, cred
}

// runningServe is serve running in-process; its JSON lines come out of lines.
type runningServe struct {
	info   serveInfo
	cancel context.CancelFunc
	done   chan int
	lines  chan map[string]any
}

func startServe(t *testing.T, args ...string) *runningServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &runningServe{cancel: cancel, done: make(chan int, 1), lines: make(chan map[string]any, 100)}
	go func() {
		s.done <- serve(ctx, append([]string{"--listen", "127.0.0.1:0", "--log-level", "error"}, args...), pw, io.Discard)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(line, &s.info); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				close(s.lines)
				return
			}
			var m map[string]any
			if json.Unmarshal(line, &m) == nil {
				s.lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
		wg.Wait()
	})
	return s
}

func (s *runningServe) verdict(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-s.lines:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict line")
		return nil
	}
}

func TestServeSessions(t *testing.T) {
	iaca, cred := serveFixture(t)
	s := startServe(t, "--trust", iaca, "--request", "org.iso.18013.5.1:family_name,org.iso.18013.5.1:age_over_18")
	if !strings.HasPrefix(s.info.Origin, "http://127.0.0.1:") || s.info.Engage != s.info.Origin+"/engage" {
		t.Fatalf("info %+v", s.info)
	}
	hc := &holdersession.Config{Credentials: []*issuer.Credential{cred}}
	for _, bearer := range []string{"http", "websocket"} {
		e, err := web.FetchEngagement(context.Background(), nil, s.info.Origin, true)
		if err != nil {
			t.Fatal(err)
		}
		if e.QRPNGBase64 == "" || !strings.HasPrefix(e.UniversalLink, s.info.Origin+"/engage?re=") {
			t.Fatalf("engagement %+v", e)
		}
		if err := web.Present(context.Background(), e.MdocURI, hc, "", web.DialOptions{WebSocket: bearer == "websocket"}); err != nil {
			t.Fatalf("%s: %v; verdict %v", bearer, err, s.verdict(t))
		}
		v := s.verdict(t)
		if v["outcome"] != "accepted" || v["bearer"] != bearer || v["lane"] != bearer {
			t.Fatalf("%s: verdict %v", bearer, v)
		}
	}
	// a credential under another IACA is rejected
	_, other := serveFixture(t)
	e, err := web.FetchEngagement(context.Background(), nil, s.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = web.Present(context.Background(), e.MdocURI, &holdersession.Config{Credentials: []*issuer.Credential{other}}, "", web.DialOptions{WebSocket: true})
	if v := s.verdict(t); v["outcome"] != "rejected" {
		t.Fatalf("untrusted: verdict %v", v)
	}
	s.cancel()
	if code := <-s.done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	s.done <- exitOK // for Cleanup
}

// SIGTERM (here: ctx) in the middle of a session: no new engagements, the session
// finishes, then serve exits.
func TestServeGracefulShutdown(t *testing.T) {
	iaca, cred := serveFixture(t)
	s := startServe(t, "--trust", iaca)
	e, err := web.FetchEngagement(context.Background(), nil, s.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{cred}}, e.ReaderEngagement, s.info.Origin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.cancel() // shutdown begins while the holder thinks
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := web.FetchEngagement(context.Background(), nil, s.info.Origin, false); err != nil {
			break // draining: 503 (or the server is gone)
		}
		if time.Now().After(deadline) {
			t.Fatal("still handing out engagements after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := h.Receive(msg)
	if err := conn.WriteFrame(context.Background(), st.Send); err != nil {
		t.Fatal(err)
	}
	// status 20, or the reader closing the session (the engine may stop the link before
	// the status is written)
	msg, err = conn.ReadFrame(context.Background())
	if err == nil {
		if st := h.Receive(msg); !st.Done || st.Err != nil {
			t.Fatalf("holder end %+v", st)
		}
	} else if !errors.Is(err, web.ErrSessionEnded) {
		t.Fatal(err)
	}
	if v := s.verdict(t); v["outcome"] != "accepted" {
		t.Fatalf("verdict %v", v)
	}
	select {
	case code := <-s.done:
		if code != exitOK {
			t.Fatalf("exit %d", code)
		}
		s.done <- code
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit")
	}
}

func TestServeFlags(t *testing.T) {
	iaca, _ := serveFixture(t)
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--trust", "/nonexistent"},
		{"serve", "--trust", iaca, "--request", "nocolon"},
		{"serve", "--trust", iaca, "--tls-cert", "x.pem"},
		{"serve", "--trust", iaca, "--origin", "ftp://x", "--listen", "127.0.0.1:0"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Fatalf("%v: exit %d (%s)", args, code, stderr)
		}
	}
	req, err := parseRequest("d", "a:x, a:y,b.c:z")
	if err != nil || len(req[0].NameSpaces) != 2 || len(req[0].NameSpaces[0].Elements) != 2 {
		t.Fatalf("parseRequest: %+v %v", req, err)
	}
}
