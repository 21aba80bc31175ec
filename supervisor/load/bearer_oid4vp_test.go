package load

import (
	"context"
	"slices"
	"testing"
	"time"
)

// OpenID4VP is a transport a run can name: Run hands it to RunOID4VP.
func TestOID4VPIsATransport(t *testing.T) {
	if !slices.Contains(Transports(), TransportOID4VP) {
		t.Fatalf("transport %q not listed (have %v)", TransportOID4VP, Transports())
	}
	rep, err := Run(context.Background(), Config{Transport: TransportOID4VP, Holders: 4, Concurrency: 2, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Transport != TransportOID4VP || rep.Accepted != 4 || rep.ByTransport[TransportOID4VP].Sessions != 4 {
		t.Fatalf("%+v", rep)
	}
}

func TestRunOID4VP(t *testing.T) {
	mix := []Weighted{{Valid, 50}, {Slow, 5}, {Tampered, 5}, {Expired, 5}, {Untrusted, 5}, {WrongKey, 5},
		{Silent, 3}, {Garbage, 5}, {Dropping, 5}}
	rep, err := RunOID4VP(context.Background(), Config{Transport: TransportOID4VP, Lanes: 2, Holders: 300,
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
	// the two lanes are a gate's oid4vp and dcapi lanes, through its engine
	if rep.ByTransport["oid4vp"] == nil || rep.ByTransport["dcapi"] == nil || rep.ByTransport["oid4vp"].Sessions+rep.ByTransport["dcapi"].Sessions != 300 ||
		rep.Restarts != 0 || rep.Panics != 0 {
		t.Fatalf("by transport %v, restarts %d, panics %d", rep.ByTransport, rep.Restarts, rep.Panics)
	}
	// engagement to verdict: from the transaction's start (its QR code, the page's request)
	for _, b := range []string{"oid4vp", "dcapi"} {
		if tm := rep.Timing[b]; tm == nil || tm.Sessions == 0 || tm.EngagementToVerdictMs.P50 <= 0 || tm.AirModelled {
			t.Fatalf("timing %s: %+v", b, tm)
		}
	}
	t.Logf("%d sessions in %.2fs (%.0f/s), p50 %.1f ms p99 %.1f ms; accepted %d rejected %d errors %d timeouts %d",
		rep.Sessions, rep.Seconds, rep.SessionsPerSecond, rep.LatencyMs.P50, rep.LatencyMs.P99, rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts)
}

func TestRunOID4VPRefusesUnknownBehaviour(t *testing.T) {
	if _, err := RunOID4VP(context.Background(), Config{Holders: 1, Mix: []Weighted{{Behaviour("x"), 1}}}); err == nil {
		t.Fatal("accepted")
	}
}

// OpenID4VP wallets misbehave as proximity holders do (holdersession.Misbehaviour.Apply):
// a tampered item fails its digest, a forged device signature its check.
func TestOID4VPMisbehavesAsTheHolder(t *testing.T) {
	rep, err := RunOID4VP(context.Background(), Config{Holders: 40, Concurrency: 8, Mix: []Weighted{{Tampered, 1}, {WrongKey, 1}},
		Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tampered, forged := rep.Reasons["rejected:mso.value_digests"], rep.Reasons["rejected:device_auth.signature"]
	if rep.Rejected != 40 || rep.Mismatched != 0 || tampered != rep.ByBehaviour["tampered"].Sessions ||
		forged != rep.ByBehaviour["wrong_key"].Sessions || tampered+forged != 40 {
		t.Fatalf("rejected %d, reasons %v", rep.Rejected, rep.Reasons)
	}
}
