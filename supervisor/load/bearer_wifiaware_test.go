package load

import (
	"context"
	"testing"
	"time"
)

func TestWiFiAwareLoadAllValid(t *testing.T) {
	rep, err := Run(context.Background(), Config{Transport: "wifiaware", Holders: 60, Concurrency: 12, Lanes: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sessions %d accepted %d errors %d timeouts %d lost %d mismatched %d busy %d %.1f/s p50 %.1fms reasons %v",
		rep.Sessions, rep.Accepted, rep.Errors, rep.Timeouts, rep.Lost, rep.Mismatched, rep.Busy,
		rep.SessionsPerSecond, rep.LatencyMs.P50, rep.Reasons)
	if rep.Lost != 0 || rep.Mismatched != 0 {
		t.Fatalf("lost %d mismatched %d: %v", rep.Lost, rep.Mismatched, rep.Mismatches)
	}
	if rep.Sessions != 60 || rep.Accepted != 60 {
		t.Fatalf("sessions %d accepted %d, want 60 (reasons %v)", rep.Sessions, rep.Accepted, rep.Reasons)
	}
	if rep.ByTransport["wifiaware"] == nil || rep.ByTransport["wifiaware"].Accepted != 60 {
		t.Fatalf("by transport %v", rep.ByTransport)
	}
}

func TestWiFiAwareLoadDemoMix(t *testing.T) {
	rep, err := Run(context.Background(), Config{Transport: "wifiaware", Holders: 120, Concurrency: 12, Lanes: 2,
		Mix: DemoMix, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sessions %d accepted %d rejected %d errors %d timeouts %d lost %d mismatched %d reasons %v",
		rep.Sessions, rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts, rep.Lost, rep.Mismatched, rep.Reasons)
	if rep.Lost != 0 || rep.Mismatched != 0 {
		t.Fatalf("lost %d mismatched %d: %v", rep.Lost, rep.Mismatched, rep.Mismatches)
	}
	if rep.Sessions != 120 {
		t.Fatalf("sessions %d, want 120 (busy %d)", rep.Sessions, rep.Busy)
	}
}

func TestWiFiAwareLoadChaos(t *testing.T) {
	rep, err := Run(context.Background(), Config{Transport: "wifiaware", Holders: 60, Concurrency: 12, Lanes: 2,
		Mix: DemoMix, Chaos: 0.3, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sessions %d accepted %d errors %d timeouts %d lost %d reasons %v", rep.Sessions, rep.Accepted, rep.Errors,
		rep.Timeouts, rep.Lost, rep.Reasons)
	if rep.Lost != 0 || rep.Sessions != 60 {
		t.Fatalf("lost %d sessions %d", rep.Lost, rep.Sessions)
	}
}
