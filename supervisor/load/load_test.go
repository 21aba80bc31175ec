package load

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/transports"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter throttle ends by itself one interval after a burst
	// (see supervisor/leak_test.go).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func TestLoadMixedCrowdExactlyOneVerdict(t *testing.T) {
	rep, err := Run(context.Background(), Config{Lanes: 3, Holders: 300, Concurrency: 40, Mix: DemoMix,
		Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Lost != 0 || rep.Mismatched != 0 {
		t.Fatalf("lost %d mismatched %d: %v", rep.Lost, rep.Mismatched, rep.Mismatches)
	}
	if rep.Sessions != 300 {
		t.Fatalf("sessions %d, want 300 (busy %d)", rep.Sessions, rep.Busy)
	}
}

// Sessions run whole over the memory bearer with 64-byte frames (memory-frame; the
// option itself is tested in transports/memory).
func TestMemoryBearerFrameOption(t *testing.T) {
	rep, err := Run(context.Background(), Config{Holders: 20, Concurrency: 4, Timeout: 5 * time.Second,
		BearerOptions: transports.BearerOptions{"memory-frame": "64"}})
	if err != nil || rep.Accepted != 20 {
		t.Fatalf("64-byte frames: %v accepted %d", err, rep.Accepted)
	}
}

func TestThousandsOfSessionsUnderChaos(t *testing.T) {
	rep, err := Run(context.Background(), Config{Lanes: 4, Holders: 2000, Concurrency: 128, Chaos: 0.3,
		Mix: DemoMix, Timeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 {
		t.Fatalf("lost %d sessions under chaos", rep.Lost)
	}
	if rep.Sessions+rep.Busy != 2000 {
		t.Fatalf("sessions %d + busy %d != 2000", rep.Sessions, rep.Busy)
	}
	if rep.Panics == 0 || rep.Restarts == 0 {
		t.Fatalf("chaos injected no worker panics (panics %d restarts %d)", rep.Panics, rep.Restarts)
	}
	if rep.Reasons["error:crypto_worker"] == 0 {
		t.Fatalf("no session ended with a crypto_worker error: %v", rep.Reasons)
	}
}
