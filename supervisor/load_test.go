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
