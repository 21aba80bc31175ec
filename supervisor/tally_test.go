package supervisor

import (
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
	tl := newTally(true)
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
	rep := tl.finish()
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
