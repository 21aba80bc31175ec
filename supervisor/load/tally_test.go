package load

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

// What the tally cannot match is lost, and it says what it was: a holder without a
// verdict, a verdict without a holder, a second verdict for one engagement.
func TestTallyAccountsForLosses(t *testing.T) {
	tl := newTally(newBuilder(time.Now(), 0), true)
	now := time.Now()
	verdict := func(d byte) *actors.SessionVerdict {
		return &actors.SessionVerdict{EngagementDigest: [32]byte{d}, Lane: "l1", Bearer: "memory",
			Outcome: readersession.Accepted, Started: now, Ended: now}
	}
	tl.holder(Valid, actors.HolderReport{EngagementDigest: [32]byte{1}, Engaged: true}) // matched below
	tl.verdict(verdict(1))
	tl.holder(Valid, actors.HolderReport{EngagementDigest: [32]byte{2}, Engaged: true, Err: errors.New("link gone")})
	tl.verdict(verdict(3))
	tl.verdict(verdict(3))
	tl.holder(Valid, actors.HolderReport{EngagementDigest: [32]byte{4}, Busy: true}) // refused: nothing owed
	tl.finish()
	rep := tl.b.finish(time.Now())
	if rep.Lost != 3 || len(rep.Losses) != 3 {
		t.Fatalf("lost %d, losses %q; want 3 of each", rep.Lost, rep.Losses)
	}
	all := strings.Join(rep.Losses, "\n")
	for _, want := range []string{"second verdict", "link gone", "no holder reported"} {
		if !strings.Contains(all, want) {
			t.Errorf("no loss mentions %q:\n%s", want, all)
		}
	}
}

// A load run waits for the verdict of every holder that engaged, even one that ended
// before the reader had admitted it, and no longer than its context.
func TestTallyWaitsForEngagedHoldersVerdicts(t *testing.T) {
	tl := newTally(newBuilder(time.Now(), 0), true)
	tl.holder(Valid, actors.HolderReport{EngagementDigest: [32]byte{1}, Engaged: true, Err: errors.New("link gone")})
	tl.holder(Valid, actors.HolderReport{EngagementDigest: [32]byte{2}, Busy: true}) // nothing owed

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	tl.waitForVerdicts(ctx)
	if ctx.Err() == nil {
		t.Fatalf("returned after %v with a verdict still owed", time.Since(start))
	}

	done := make(chan struct{})
	go func() { tl.waitForVerdicts(context.Background()); close(done) }()
	now := time.Now()
	tl.verdict(&actors.SessionVerdict{EngagementDigest: [32]byte{1}, Lane: "l1", Bearer: "memory",
		Outcome: readersession.Error, Reason: "link", Started: now, Ended: now})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting once the verdict came")
	}
	tl.finish()
	if rep := tl.b.finish(time.Now()); rep.Lost != 0 || rep.Sessions != 1 {
		t.Fatalf("lost %d, sessions %d", rep.Lost, rep.Sessions)
	}
}
