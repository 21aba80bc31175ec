package load

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/metrics"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// testGate is a small gate on loopback: an engine with an HTTP and a WebSocket lane on
// one web.Server, and its /metrics.
type testGate struct {
	origin, metrics string
}

func startTestGate(t *testing.T, trust *verify.TrustStore) *testGate {
	t.Helper()
	w, err := newWorld()
	if err != nil {
		t.Fatal(err)
	}
	rc := defaultReaderConfig(w)
	rc.Trust = trust
	eng := supervisor.Start(supervisor.Config{Workers: 2})
	m := metrics.New(prometheus.NewRegistry(), metrics.FromEngine(eng))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.NewServer(web.Config{Origin: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]transports.Listener{"http": srv.HTTPListener(), "ws": srv.WebSocketListener()} {
		if err := eng.AddLane(&actors.LaneConfig{Name: name, Listener: l, Sessions: actors.SessionSettings{Reader: rc,
			EngagementTimeout: 5 * time.Second, InactivityTimeout: 5 * time.Second, Framer: web.WholeMessage{}}}); err != nil {
			t.Fatal(err)
		}
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ms.Serve(mln) }()
	t.Cleanup(func() {
		ms.Close()
		srv.Close()
		<-served
		m.Close()
		if err := eng.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &testGate{origin: srv.Origin(), metrics: "http://" + mln.Addr().String() + "/metrics"}
}

// issuedDir writes a credential as `mdocgate issue --out` does and returns the folder and
// the trust in its IACA.
func issuedDir(t *testing.T) (string, *verify.TrustStore) {
	t.Helper()
	pki := testpki.New(t, testpki.Options{Name: "target"})
	return pki.WriteCredential(t, pki.IssueOn(t, 0, issuer.IssueRequest{})), verify.NewTrustStore(pki.IACA.Certificate)
}

// RunTarget against a real gate: with its /metrics the outcomes are the gate's verdicts
// and its memory and goroutines are sampled; without, the holders' view is all there is
// and the report says what it could not measure.
func TestRunTarget(t *testing.T) {
	dir, trust := issuedDir(t)
	g := startTestGate(t, trust)
	const holders = 12
	rep, err := RunTarget(context.Background(), TargetConfig{Target: g.origin + "/", Holders: holders, Concurrency: 4,
		Credential: dir, Metrics: g.metrics, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.VerdictsFrom != "target_metrics" || rep.Sessions != holders || rep.Accepted != holders || rep.Lost != 0 ||
		rep.ByTransport["websocket"].Sessions != holders/2 || rep.ByTransport["http"].Sessions != holders/2 {
		t.Fatalf("%+v", rep)
	}
	if rep.ResourcesOf != ResourcesTarget || rep.PeakRSSBytes < 1<<20 || rep.GoroutinesEnd < 1 {
		t.Fatalf("gate resources %q: peak RSS %d, goroutines %d", rep.ResourcesOf, rep.PeakRSSBytes, rep.GoroutinesEnd)
	}
	var sampled int
	var sessions int64
	for _, p := range rep.Series {
		if p.Sampled {
			sampled++
			if p.RSSBytes > rep.PeakRSSBytes || p.Goroutines < 1 {
				t.Errorf("sample %+v beyond the peak %d", p, rep.PeakRSSBytes)
			}
		}
		sessions += p.Sessions
	}
	if sampled == 0 || sessions != holders {
		t.Fatalf("series: %d samples, %d sessions", sampled, sessions)
	}
	if _, ok := rep.NotMeasured["lost"]; ok {
		t.Fatalf("not measured %v", rep.NotMeasured)
	}

	// a throwaway credential: the holders complete their sessions, the gate rejects them
	rep, err = RunTarget(context.Background(), TargetConfig{Target: g.origin, Holders: 4, Concurrency: 2, Metrics: g.metrics})
	if err != nil || rep.Rejected != 4 || rep.Accepted != 0 || rep.VerdictsFrom != "target_metrics" {
		t.Fatalf("untrusted: %v %+v", err, rep)
	}
	rep, err = RunTarget(context.Background(), TargetConfig{Target: g.origin, Holders: 4, Concurrency: 2})
	if err != nil || rep.Accepted != 4 || rep.VerdictsFrom != "holders" || rep.PeakRSSBytes != 0 {
		t.Fatalf("holders' view: %v %+v", err, rep)
	}
	for _, f := range []string{"lost", "rejected", "peak_rss_bytes", "goroutines_end"} {
		if !strings.HasPrefix(rep.NotMeasured[f], "not measured") {
			t.Errorf("%s: %q", f, rep.NotMeasured[f])
		}
	}

	// one web bearer only: every holder on the WebSocket lane; the gate's CPU time read
	rep, err = RunTarget(context.Background(), TargetConfig{Target: g.origin, Holders: 4, Concurrency: 2, Credential: dir,
		Metrics: g.metrics, Bearer: "websocket"})
	if err != nil || rep.Accepted != 4 || rep.ByTransport["websocket"].Sessions != 4 || rep.ByTransport["http"] != nil || rep.TargetCPUSeconds <= 0 {
		t.Fatalf("websocket only: %v %+v", err, rep)
	}

	// "both": the holders take the WebSocket and the HTTP lane in turn
	rep, err = RunTarget(context.Background(), TargetConfig{Target: g.origin, Holders: 4, Concurrency: 2, Credential: dir,
		Metrics: g.metrics, Bearer: BearersBoth})
	if err != nil || rep.Accepted != 4 || rep.ByTransport["websocket"].Sessions != 2 || rep.ByTransport["http"].Sessions != 2 {
		t.Fatalf("both: %v %+v", err, rep)
	}

	for _, bad := range []TargetConfig{{Target: "ftp://x", Holders: 1, Concurrency: 1}, {Target: g.origin, Concurrency: 1},
		{Target: g.origin, Holders: 1}, {Target: g.origin, Holders: 1, Concurrency: 1, Bearer: "ble"}} {
		if _, err := RunTarget(context.Background(), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestParseGateMetrics(t *testing.T) {
	m, err := parseGateMetrics(strings.NewReader(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
process_resident_memory_bytes 3.3554432e+07 1700000000000
mdocgate_sessions_total{lane="a",bearer="http",outcome="accepted",reason="none"} 5
mdocgate_sessions_total{lane="b",bearer="websocket",outcome="accepted",reason="none"} 2
mdocgate_sessions_total{lane="a",bearer="http",outcome="rejected",reason="mso.validity"} 1
mdocgate_actor_restarts_total 3
mdocgate_session_duration_seconds_bucket{lane="a",bearer="http",stage="total",le="0.1"} 7
`))
	if err != nil {
		t.Fatal(err)
	}
	if !m.hasGoroutines || m.goroutines != 42 || !m.hasRSS || m.rss != 32<<20 || m.restarts != 3 ||
		m.sessions["accepted"] != 7 || m.sessions["rejected"] != 1 || m.verdicts() != 8 {
		t.Fatalf("%+v", m)
	}
	for _, bad := range []string{"go_goroutines\n", "go_goroutines x\n", `mdocgate_sessions_total{outcome="a" 1` + "\n"} {
		if _, err := parseGateMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
