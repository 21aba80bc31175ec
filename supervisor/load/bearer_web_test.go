package load

import (
	"context"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/transports"
)

func webLoad(t *testing.T, transport string, holders int, mix []Weighted) *Report {
	t.Helper()
	rep, err := Run(context.Background(), Config{Transport: transport, Holders: holders, Concurrency: 12, Lanes: 2,
		Mix: mix, Timeout: 5 * time.Second, BearerOptions: transports.BearerOptions{"holder_idle": "6s"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: sessions %d accepted %d rejected %d errors %d timeouts %d lost %d mismatched %d busy %d %.0f/s p50 %.1fms p99 %.1fms reasons %v",
		transport, rep.Sessions, rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts, rep.Lost, rep.Mismatched, rep.Busy,
		rep.SessionsPerSecond, rep.LatencyMs.P50, rep.LatencyMs.P99, rep.Reasons)
	if rep.Lost != 0 || rep.Mismatched != 0 {
		t.Fatalf("lost %d mismatched %d: %v", rep.Lost, rep.Mismatched, rep.Mismatches)
	}
	if rep.Sessions != int64(holders) {
		t.Fatalf("sessions %d, want %d (busy %d)", rep.Sessions, holders, rep.Busy)
	}
	return rep
}

func TestWebSocketLoadDemoMix(t *testing.T) {
	rep := webLoad(t, "websocket", 500, DemoMix)
	if rep.ByTransport["websocket"] == nil || rep.Accepted == 0 {
		t.Fatalf("by transport %v", rep.ByTransport)
	}
}

func TestHTTPLoadDemoMix(t *testing.T) {
	rep := webLoad(t, "http", 500, DemoMix)
	if rep.ByTransport["http"] == nil || rep.Accepted == 0 {
		t.Fatalf("by transport %v", rep.ByTransport)
	}
}

func TestWebLoadAllValid(t *testing.T) {
	for _, tr := range []string{"http", "websocket"} {
		rep := webLoad(t, tr, 100, nil)
		if rep.Accepted != 100 {
			t.Fatalf("%s: accepted %d of 100: %v", tr, rep.Accepted, rep.Reasons)
		}
	}
}

func TestWebLoadChaos(t *testing.T) {
	for _, tr := range []string{"http", "websocket"} {
		rep, err := Run(context.Background(), Config{Transport: tr, Holders: 60, Concurrency: 12, Lanes: 2,
			Mix: DemoMix, Chaos: 0.3, Timeout: time.Second, BearerOptions: transports.BearerOptions{"holder_idle": "2s"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Lost != 0 || rep.Sessions != 60 {
			t.Fatalf("%s: lost %d sessions %d", tr, rep.Lost, rep.Sessions)
		}
	}
}
