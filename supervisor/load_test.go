package supervisor

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, protoactorIgnores()...)
}

func TestLoadMixedCrowdExactlyOneVerdict(t *testing.T) {
	rep, err := RunLoad(context.Background(), LoadConfig{Lanes: 3, Holders: 300, Concurrency: 40, Mix: DemoMix,
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

// The memory bearer takes its frame size from memory-frame and leaves other bearers'
// options alone.
func TestMemoryBearerFrameOption(t *testing.T) {
	b, err := openBearer("memory", BearerOptions{"memory-frame": "4096", "ble-mode": "central"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(*memoryBearer).Link.MaxFrame; got != 4096 {
		t.Fatalf("frame %d", got)
	}
	for _, bad := range []string{"1", "x", "99999999"} {
		if _, err := openBearer("memory", BearerOptions{"memory-frame": bad}); err == nil {
			t.Errorf("memory-frame=%s accepted", bad)
		}
	}
	rep, err := RunLoad(context.Background(), LoadConfig{Holders: 20, Concurrency: 4, Timeout: 5 * time.Second,
		BearerOptions: BearerOptions{"memory-frame": "64"}})
	if err != nil || rep.Accepted != 20 {
		t.Fatalf("64-byte frames: %v accepted %d", err, rep.Accepted)
	}
}
