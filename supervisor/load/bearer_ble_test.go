package load

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/bearers"
	"github.com/mdocgate/mdocgate/transports/ble"
)

func runBLE(t *testing.T, opts transports.BearerOptions, mix []Weighted) *Report {
	t.Helper()
	rep, err := Run(context.Background(), Config{Transport: "ble", BearerOptions: opts, Holders: 50,
		Concurrency: 10, Lanes: 2, Mix: mix, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 || rep.Mismatched != 0 {
		t.Fatalf("lost %d mismatched %d: %v (reasons %v) %v", rep.Lost, rep.Mismatched, rep.Mismatches, rep.Reasons, rep.Losses)
	}
	if rep.Sessions != 50 {
		t.Fatalf("sessions %d, want 50 (busy %d)", rep.Sessions, rep.Busy)
	}
	if rep.AirTimeSeconds <= 0 {
		t.Fatalf("no air time accounted")
	}
	return rep
}

func TestBLEBearerAllModes(t *testing.T) {
	for _, mode := range []string{"central", "peripheral", "both"} {
		for _, l2cap := range []string{"false", "true"} {
			for _, mtu := range []string{"23", "185", "517"} {
				if l2cap == "true" && mtu != "185" {
					continue // the MTU does not matter on L2CAP
				}
				name := fmt.Sprintf("%s/l2cap=%s/mtu=%s", mode, l2cap, mtu)
				t.Run(name, func(t *testing.T) {
					rep := runBLE(t, transports.BearerOptions{"ble-mode": mode, "l2cap": l2cap, "mtu": mtu}, nil)
					if rep.Accepted != 50 {
						t.Fatalf("accepted %d of 50: %v", rep.Accepted, rep.Reasons)
					}
					t.Logf("air %.3f s, %.0f sessions/s", rep.AirTimeSeconds, rep.SessionsPerSecond)
				})
			}
		}
	}
}

func TestBLEBearerMixedCrowd(t *testing.T) {
	for _, opts := range []transports.BearerOptions{{"ble-mode": "central"}, {"ble-mode": "peripheral", "phy": "1M", "mtu": "23"},
		{"ble-mode": "central", "l2cap": "true"}, {"ble-mode": "peripheral", "l2cap": "true"}, {"ios": "true"}} {
		t.Run(fmt.Sprint(opts), func(t *testing.T) {
			rep := runBLE(t, opts, DemoMix)
			for b, c := range rep.ByBehaviour {
				t.Logf("%s: %+v", b, *c)
			}
		})
	}
}

func TestBLEBearerWrongIdentRefused(t *testing.T) {
	rep, err := Run(context.Background(), Config{Transport: "ble", Holders: 10, Concurrency: 5, Lanes: 1,
		BearerOptions: transports.BearerOptions{"ble-mode": "central", "ble-ident": "wrong"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The holders refuse the reader before they are engaged, so Run's drain can
	// finish before the lane has yielded the last refused arrival (Run then counts
	// that late session as lost or misses it): every session that did end has an error
	// verdict and none is accepted. Exactly one verdict per refused holder is checked by
	// TestBLEWrongIdentExactlyOneVerdict.
	t.Logf("sessions %d errors %d lost %d", rep.Sessions, rep.Errors, rep.Lost)
	if rep.Sessions < 1 || rep.Errors != rep.Sessions || rep.Accepted != 0 {
		t.Fatalf("sessions %d errors %d accepted %d: %v", rep.Sessions, rep.Errors, rep.Accepted, rep.Reasons)
	}
}

// TestBLEWrongIdentExactlyOneVerdict: a central-client holder reads an Ident that does not
// match BLEIdent(EDeviceKeyBytes), refuses and disconnects; the reader session ends with
// exactly one error verdict.
func TestBLEWrongIdentExactlyOneVerdict(t *testing.T) {
	w, err := newWorld()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bearers.Open("ble", transports.BearerOptions{"ble-mode": "central", "ble-ident": "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	eng := supervisor.Start(supervisor.Config{})
	defer eng.Shutdown(context.Background())
	l, err := b.Listen("ble-1", 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddLane(&actors.LaneConfig{Name: "ble-1", Listener: l, Sessions: actors.SessionSettings{
		Reader: defaultReaderConfig(w), EngagementTimeout: 2 * time.Second, InactivityTimeout: 2 * time.Second,
		Framer: b.Framer()}}); err != nil {
		t.Fatal(err)
	}
	verdicts := make(chan *actors.SessionVerdict, 4)
	defer eng.Results().Subscribe(func(v *actors.SessionVerdict) { verdicts <- v })()
	reports := make(chan actors.HolderReport, 1)
	eng.SpawnHolder(&actors.HolderConfig{
		NewSession: func() (actors.HolderSession, error) {
			return holdersession.New(&holdersession.Config{Credentials: w.valid[:1], Methods: b.HolderMethods(0)})
		},
		Framer: b.Framer(),
		Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
			return b.Engage(ctx, "ble-1", de, handover, transports.LinkFaults{})
		},
		Done: func(r actors.HolderReport) { reports <- r },
	})
	r := <-reports
	if !errors.Is(r.Err, ble.ErrIdentMismatch) || r.Engaged {
		t.Fatalf("holder: engaged %v, err %v; want a refused reader", r.Engaged, r.Err)
	}
	select {
	case v := <-verdicts:
		if v.Outcome != readersession.Error || v.EngagementDigest != r.EngagementDigest {
			t.Fatalf("verdict %s (%s: %s)", v.Outcome, v.Reason, v.Detail)
		}
		t.Logf("verdict %s: %s: %s", v.Outcome, v.Reason, v.Detail)
	case <-time.After(5 * time.Second):
		t.Fatal("no verdict")
	}
	if err := eng.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-verdicts:
		t.Fatalf("second verdict %s", v.Outcome)
	case <-time.After(100 * time.Millisecond):
	}
}

// BenchmarkBLE60KBResponse runs whole sessions whose DeviceResponse is about 60 KB (a
// 60 KiB portrait) over the simulated radio on the 2M PHY, air time accounted, not
// slept. It reports the modelled air time per session (air-ms), the process CPU time
// per session (cpu-ms: both sides' engine work, crypto included) and their ratio
// (cpu/air-%).
func BenchmarkBLE60KBResponse(b *testing.B) {
	for _, mtu := range []string{"185", "517"} {
		b.Run("mtu="+mtu, func(b *testing.B) { benchAirTime(b, "ble", transports.BearerOptions{"mtu": mtu, "phy": "2M"}) })
	}
}

// benchAirTime runs whole sessions with a 60 KB portrait over a bearer that models air
// time and reports the engine's CPU time (both sides, crypto included) next to it.
func benchAirTime(b *testing.B, bearerName string, opts transports.BearerOptions) {
	lane := bearerName + "-1"
	w, err := newWorld()
	if err != nil {
		b.Fatal(err)
	}
	pki := testpki.New(b, testpki.Options{Name: "bench"})
	ns := issuer.SampleMDL(nil)
	for i := range ns {
		for j := range ns[i].Elements {
			if ns[i].Elements[j].Identifier == "portrait" {
				ns[i].Elements[j].Value = make([]byte, 60<<10)
			}
		}
	}
	cred := pki.IssueOn(b, 0, issuer.IssueRequest{NameSpaces: ns})
	readerCfg := defaultReaderConfig(w)
	readerCfg.Trust = verify.NewTrustStore(pki.IACA.Certificate)

	bearer, err := bearers.Open(bearerName, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer bearer.Close()
	eng := supervisor.Start(supervisor.Config{})
	defer eng.Shutdown(context.Background())
	l, err := bearer.Listen(lane, 8)
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.AddLane(&actors.LaneConfig{Name: lane, Listener: l, Sessions: actors.SessionSettings{
		Reader: readerCfg, EngagementTimeout: 10 * time.Second, InactivityTimeout: 10 * time.Second,
		Framer: bearer.Framer()}}); err != nil {
		b.Fatal(err)
	}
	verdicts := make(chan *actors.SessionVerdict, 1)
	defer eng.Results().Subscribe(func(v *actors.SessionVerdict) { verdicts <- v })()
	session := func(i int) {
		eng.SpawnHolder(&actors.HolderConfig{
			NewSession: func() (actors.HolderSession, error) {
				return holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}, Methods: bearer.HolderMethods(i)})
			},
			Framer: bearer.Framer(),
			Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
				return bearer.Engage(ctx, lane, de, handover, transports.LinkFaults{})
			},
		})
		if v := <-verdicts; v.Outcome != readersession.Accepted {
			b.Fatalf("verdict %s (%s: %s)", v.Outcome, v.Reason, v.Detail)
		}
	}
	session(-1) // warm up (certificate chain cache)
	air0, cpu0 := bearer.AirTime(), bleCPUTime()
	start := time.Now()
	n := 0
	for b.Loop() {
		session(n)
		n++
	}
	wall := time.Since(start)
	air := float64(bearer.AirTime()-air0) / float64(n) / float64(time.Millisecond)
	cpu := float64(bleCPUTime()-cpu0) / float64(n) / float64(time.Millisecond)
	b.ReportMetric(air, "air-ms")
	b.ReportMetric(cpu, "cpu-ms")
	b.ReportMetric(float64(wall)/float64(n)/float64(time.Millisecond), "wall-ms")
	b.ReportMetric(100*cpu/air, "cpu/air-%")
}

// bleCPUTime is the process's user + system CPU time.
func bleCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
