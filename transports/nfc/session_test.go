package nfc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a PKI and a credential whose portrait has the given size.
type fixture struct {
	reader *readersession.Config
	cred   *issuer.Credential
}

func newFixture(t testing.TB, portrait int) *fixture {
	t.Helper()
	p := testpki.New(t, testpki.Options{Name: "nfc test"})
	ns := issuer.SampleMDL(nil)
	if portrait > 0 {
		img := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{0x42}, portrait-6)...)
		img = append(img, 0xff, 0xd9)
		for i, e := range ns[0].Elements {
			if e.Identifier == "portrait" {
				ns[0].Elements[i].Value = img
			}
		}
	}
	now := time.Now().Truncate(time.Second)
	cred := p.Issue(t, issuer.IssueRequest{NameSpaces: ns,
		Signed: now.Add(-time.Minute), ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(24 * time.Hour)})
	return &fixture{cred: cred, reader: &readersession.Config{
		Request: testpki.MDLRequest("family_name", "given_name", "portrait", "age_over_18"),
		Trust:   verify.NewTrustStore(p.IACA.Certificate),
	}}
}

func (f *fixture) holder(t testing.TB) *holdersession.Session {
	t.Helper()
	hs, err := holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{f.cred}})
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// runHolder answers the reader over conn until the session ends; it uses the handover of
// the NFC engagement in its transcript.
func runHolder(ctx context.Context, hs *holdersession.Session, conn HandoverConn) error {
	defer conn.Close()
	hs.SetHandover(conn.Handover())
	for {
		msg, err := conn.ReadFrame(ctx)
		if err != nil {
			return err
		}
		st := hs.Receive(msg)
		if st.Send != nil {
			if err := conn.WriteFrame(ctx, st.Send); err != nil {
				return err
			}
		}
		if st.Done {
			return st.Err
		}
	}
}

// runReader drives a reader session over an arrival and returns its verdict.
func runReader(ctx context.Context, cfg *readersession.Config, a *transports.Arrival) *readersession.Verdict {
	defer a.Conn.Close()
	rs := readersession.New(cfg)
	st := rs.Start(a.DeviceEngagement, a.Handover)
	for {
		if st.Send != nil {
			if err := a.Conn.WriteFrame(ctx, st.Send); err != nil && !st.Done {
				rs.Fail(readersession.Error, "link", err.Error())
			}
		}
		if st.Verify != nil {
			st = rs.Verified(st.Verify.Run())
			continue
		}
		if v, ok := rs.Verdict(); ok {
			return v
		}
		msg, err := a.Conn.ReadFrame(ctx)
		if err != nil {
			rs.Fail(readersession.Error, "link", err.Error())
			v, _ := rs.Verdict()
			return v
		}
		st = rs.Receive(msg)
	}
}

func TestInMemorySessions(t *testing.T) {
	f := newFixture(t, 0)
	for _, tc := range []struct {
		name string
		card CardConfig
		tm   Timing
		opts ReaderOptions
	}{
		{"static", CardConfig{}, Timing{}, ReaderOptions{}},
		{"negotiated", CardConfig{Negotiated: true, TNEPWaits: 2, Offer: []ndef.Kind{ndef.KindBLE, ndef.KindNFC}}, Timing{BitRate: 424},
			ReaderOptions{Prefer: []ndef.Kind{ndef.KindNFC, ndef.KindBLE}, ReaderEngagement: []byte{0xa1, 0x00, 0x63, '1', '.', '0'}}},
		{"static several carriers", CardConfig{Offer: []ndef.Kind{ndef.KindBLE, ndef.KindWiFiAware, ndef.KindNFC}}, Timing{BitRate: 848}, ReaderOptions{}},
		{"short APDUs", CardConfig{MaxCommand: 255, MaxResponse: 256}, Timing{FSC: 64, FSD: 64}, ReaderOptions{}},
		{"tiny reader", CardConfig{}, Timing{}, ReaderOptions{MaxCommand: 100, MaxResponse: 120}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n := &Network{Timing: tc.tm, Reader: tc.opts}
			l, err := n.Listen("lane", 4)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			hs := f.holder(t)
			cfg := tc.card
			cfg.DeviceEngagement = hs.DeviceEngagement()
			hc, err := n.Engage(ctx, "lane", cfg, Faults{})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- runHolder(ctx, hs, hc) }()
			a, err := l.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Handover, hc.Handover()) || !bytes.Equal(a.DeviceEngagement, hs.DeviceEngagement()) {
				t.Fatal("reader and holder disagree on the engagement")
			}
			h, _ := decodeHandover(t, a.Handover)
			if (h[1] != nil) != tc.card.Negotiated {
				t.Fatal("Hr presence does not match the handover kind")
			}
			v := runReader(ctx, f.reader, a)
			if v.Outcome != readersession.Accepted {
				t.Fatalf("verdict %+v", v)
			}
			if err := <-done; err != nil {
				t.Fatalf("holder: %v", err)
			}
			air := a.Conn.(transports.AirTimer).AirTime()
			if air <= 0 || n.AirTime() < air {
				t.Fatalf("air time %v / network %v", air, n.AirTime())
			}
			t.Logf("air time %v", air)
		})
	}
}

func decodeHandover(t *testing.T, b []byte) ([2][]byte, error) {
	t.Helper()
	var h [2][]byte
	if err := messages.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h, nil
}

func TestCardRemovedMidSession(t *testing.T) {
	f := newFixture(t, 20000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := &Network{}
	l, _ := n.Listen("lane", 4)
	defer l.Close()
	hs := f.holder(t)
	hc, err := n.Engage(ctx, "lane", CardConfig{DeviceEngagement: hs.DeviceEngagement(), MaxCommand: 255, MaxResponse: 256}, Faults{RemoveAfter: 10})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runHolder(ctx, hs, hc) }()
	a, _ := l.Accept(ctx)
	v := runReader(ctx, f.reader, a)
	if v.Outcome != readersession.Error || !bytes.Contains([]byte(v.Detail), []byte("card left the field")) {
		t.Fatalf("verdict %+v", v)
	}
	if err := <-done; !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("holder: %v", err)
	}
}

func TestAirTimeModel(t *testing.T) {
	tm := Timing{}
	if err := tm.defaults(); err != nil {
		t.Fatal(err)
	}
	// a 5-byte command and a 2-byte response at 106 kbit/s: (8+5)*9 bits... per frame
	got := tm.Exchange(5, 2, 0)
	want := time.Duration((5+3)*9)*time.Second/106000 + time.Duration((2+3)*9)*time.Second/106000 + 2*frameDelay
	if got != want {
		t.Fatalf("%v != %v", got, want)
	}
	// chaining: 600 bytes in 256-byte frames = 3 I-blocks and 2 R(ACK)s
	if tm.Exchange(600, 2, 0) <= tm.Exchange(253, 2, 0)*2 {
		t.Fatal("chained blocks too cheap")
	}
	if tm.Exchange(5, 2, 100*time.Millisecond)-tm.Exchange(5, 2, 0) != 2*2*tm.frame(1) {
		t.Fatal("WTX not counted")
	}
	fast := Timing{BitRate: 848}
	fast.defaults()
	if fast.Exchange(1000, 1000, 0) >= tm.Exchange(1000, 1000, 0) {
		t.Fatal("848 kbit/s not faster")
	}
	if err := (&Timing{BitRate: 100}).defaults(); err == nil {
		t.Fatal("bad bit rate accepted")
	}
}

func TestBusyAndReject(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	n := &Network{}
	l, _ := n.Listen("lane", 1)
	hs1, hs2 := f.holder(t), f.holder(t)
	c1, err := n.Engage(ctx, "lane", CardConfig{DeviceEngagement: hs1.DeviceEngagement()}, Faults{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Engage(ctx, "lane", CardConfig{DeviceEngagement: hs2.DeviceEngagement()}, Faults{}); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("full backlog: %v", err)
	}
	a, _ := l.Accept(ctx)
	a.Reject(transports.ErrBusy)
	if _, err := c1.ReadFrame(ctx); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("rejected holder reads %v", err)
	}
	l.Close()
	if _, err := l.Accept(ctx); !errors.Is(err, transports.ErrClosed) {
		t.Fatal(err)
	}
	_ = fmt.Sprint()
}

// BenchmarkSessionRealTime runs whole sessions over the in-memory link sleeping the
// modelled air time (106 kbit/s, FSC/FSD 256) and reports wall time against air time:
// overhead-% is the engine's share (both sides' CPU, scheduling, polling) on top of it.
func BenchmarkSessionRealTime(b *testing.B) {
	f := newFixture(b, 0)
	for _, rate := range []int{106, 848} {
		b.Run(fmt.Sprintf("%dkbps", rate), func(b *testing.B) {
			ctx := context.Background()
			n := &Network{Timing: Timing{BitRate: rate, RealTime: true}}
			l, _ := n.Listen("lane", 4)
			defer l.Close()
			var wall time.Duration
			for b.Loop() {
				hs := f.holder(b)
				start := time.Now()
				hc, err := n.Engage(ctx, "lane", CardConfig{DeviceEngagement: hs.DeviceEngagement()}, Faults{})
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- runHolder(ctx, hs, hc) }()
				a, _ := l.Accept(ctx)
				if v := runReader(ctx, f.reader, a); v.Outcome != readersession.Accepted {
					b.Fatalf("%+v", v)
				}
				<-done
				wall += time.Since(start)
			}
			air := n.AirTime()
			b.ReportMetric(float64(air.Microseconds())/1000/float64(b.N), "air-ms/session")
			b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "wall-ms/session")
			b.ReportMetric(100*float64(wall-air)/float64(air), "overhead-%")
		})
	}
}
