package supervisor

import (
	"context"
	"testing"
	"time"
)

func TestOID4VPRunnerRegistered(t *testing.T) {
	if _, ok := LookupRunner(TransportOID4VP); !ok {
		t.Fatalf("runner %q not registered (have %v)", TransportOID4VP, Runners())
	}
}

func TestRunOID4VPLoad(t *testing.T) {
	mix := []Weighted{{Valid, 50}, {Slow, 5}, {Tampered, 5}, {Expired, 5}, {Untrusted, 5}, {WrongKey, 5},
		{Silent, 3}, {Garbage, 5}, {Dropping, 5}}
	rep, err := RunOID4VPLoad(context.Background(), LoadConfig{Transport: TransportOID4VP, Lanes: 2, Holders: 300,
		Concurrency: 32, Mix: mix, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sessions != 300 || rep.Lost != 0 || rep.Mismatched != 0 {
		t.Fatalf("sessions %d lost %d mismatched %d: %v reasons %v", rep.Sessions, rep.Lost, rep.Mismatched, rep.Mismatches, rep.Reasons)
	}
	if rep.Accepted == 0 || rep.Rejected == 0 || rep.Errors == 0 || rep.SessionsPerSecond <= 0 || rep.LatencyMs.P50 <= 0 {
		t.Fatalf("%+v", rep)
	}
	if len(rep.ByLane) != 2 {
		t.Fatalf("lanes %v", rep.ByLane)
	}
	t.Logf("%d sessions in %.2fs (%.0f/s), p50 %.1f ms p99 %.1f ms; accepted %d rejected %d errors %d timeouts %d",
		rep.Sessions, rep.Seconds, rep.SessionsPerSecond, rep.LatencyMs.P50, rep.LatencyMs.P99, rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts)
}

func TestRunOID4VPLoadRefusesUnknownBehaviour(t *testing.T) {
	if _, err := RunOID4VPLoad(context.Background(), LoadConfig{Holders: 1, Mix: []Weighted{{Behaviour("x"), 1}}}); err == nil {
		t.Fatal("accepted")
	}
}
