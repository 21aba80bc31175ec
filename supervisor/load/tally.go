package load

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

// tally matches verdicts with the holders that caused them as both arrive, and reports
// through a builder: it keeps only what is not matched yet.
type tally struct {
	b           *builder
	mu          sync.Mutex
	pending     map[[32]byte]*pendingMatch
	waiting     int // engaged holders whose verdict has not come yet
	checkExpect bool
}

type pendingMatch struct {
	verdict   *verdictSummary
	behaviour Behaviour
	holder    bool
	holderErr error // what the holder reported, for the account of a lost session
}

type verdictSummary struct {
	outcome              readersession.Outcome
	reason, detail, lane string
}

func newTally(b *builder, checkExpect bool) *tally {
	return &tally{b: b, pending: map[[32]byte]*pendingMatch{}, checkExpect: checkExpect}
}

// verdict is subscribed to the results stream; it must not block.
func (t *tally) verdict(v *actors.SessionVerdict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ended := v.Ended
	if ended.IsZero() {
		ended = time.Now()
	}
	t.b.session(v.Bearer, v.Lane, v.Outcome, v.Reason, v.Latency(), ended)
	t.b.timed(v.Bearer, v.FromEngagement(), v.AirTime)
	sum := &verdictSummary{outcome: v.Outcome, reason: v.Reason, detail: v.Detail, lane: v.Lane}
	if p, ok := t.pending[v.EngagementDigest]; ok && p.holder {
		delete(t.pending, v.EngagementDigest)
		t.waiting--
		t.match(p.behaviour, sum)
		return
	}
	if _, ok := t.pending[v.EngagementDigest]; ok {
		// a second verdict for one engagement breaks the invariant as much as none
		t.b.lost("", 1, fmt.Sprintf("a second verdict for one engagement: %s (%s) on %s", v.Outcome, v.Reason, v.Lane))
		return
	}
	t.pending[v.EngagementDigest] = &pendingMatch{verdict: sum}
}

// holder records a simulated holder's own report.
func (t *tally) holder(b Behaviour, hr actors.HolderReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if hr.Busy {
		t.b.busy(b)
	}
	if !hr.Engaged || hr.Busy {
		// refused before a session started: no verdict is owed, but a stray one is kept
		// pending and counted at the end
		return
	}
	if p, ok := t.pending[hr.EngagementDigest]; ok && p.verdict != nil {
		delete(t.pending, hr.EngagementDigest)
		t.match(b, p.verdict)
		return
	}
	t.pending[hr.EngagementDigest] = &pendingMatch{behaviour: b, holder: true, holderErr: hr.Err}
	t.waiting++
}

// waitForVerdicts waits until every engaged holder's verdict has come, or ctx ends. A
// holder can end (its link broken, say) before the reader has even admitted its
// arrival; the engine's drain alone would not wait for a session not yet started.
func (t *tally) waitForVerdicts(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		waiting := t.waiting
		t.mu.Unlock()
		if waiting == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *tally) match(b Behaviour, v *verdictSummary) {
	t.b.holder(b, v.outcome, t.checkExpect, v.lane, v.reason, v.detail)
}

// finish counts what never matched: holders without a verdict and verdicts without a
// holder are both lost sessions. The tally is not used afterwards.
func (t *tally) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.pending {
		if p.holder {
			t.b.lost(p.behaviour, 1, fmt.Sprintf("%s holder engaged (its end: %v) and no verdict came", p.behaviour, p.holderErr))
		} else {
			t.b.lost("", 1, fmt.Sprintf("verdict %s (%s: %s) on %s for an engagement no holder reported", p.verdict.outcome,
				p.verdict.reason, p.verdict.detail, p.verdict.lane))
		}
	}
	t.pending = nil
}
