package supervisor

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

// tally matches verdicts with the holders that caused them as both arrive, and keeps
// only counts and a latency histogram: a soak of hours holds constant memory.
type tally struct {
	mu          sync.Mutex
	rep         *Report
	hist        latencyHist
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

func newTally(checkExpect bool) *tally {
	return &tally{
		rep: &Report{ByTransport: map[string]*Counts{}, ByLane: map[string]*Counts{},
			ByBehaviour: map[string]*Counts{}, Reasons: map[string]int64{}},
		pending:     map[[32]byte]*pendingMatch{},
		checkExpect: checkExpect,
	}
}

// verdict is subscribed to the results stream; it must not block.
func (t *tally) verdict(v *actors.SessionVerdict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rep
	r.Sessions++
	c := &Counts{}
	c.add(v.Outcome)
	r.Accepted += c.Accepted
	r.Rejected += c.Rejected
	r.Errors += c.Errors
	r.Timeouts += c.Timeouts
	bucket(r.ByTransport, v.Bearer).add(v.Outcome)
	bucket(r.ByLane, v.Lane).add(v.Outcome)
	if v.Reason != "" {
		r.Reasons[string(v.Outcome)+":"+v.Reason]++
	}
	t.hist.add(v.Latency())
	sum := &verdictSummary{outcome: v.Outcome, reason: v.Reason, detail: v.Detail, lane: v.Lane}
	if p, ok := t.pending[v.EngagementDigest]; ok && p.holder {
		delete(t.pending, v.EngagementDigest)
		t.waiting--
		t.match(p.behaviour, sum)
		return
	}
	if _, ok := t.pending[v.EngagementDigest]; ok {
		r.Lost++ // a second verdict for one engagement breaks the invariant as much as none
		t.lose("a second verdict for one engagement: %s (%s) on %s", v.Outcome, v.Reason, v.Lane)
		return
	}
	t.pending[v.EngagementDigest] = &pendingMatch{verdict: sum}
}

// holder records a simulated holder's own report.
func (t *tally) holder(b Behaviour, hr actors.HolderReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if hr.Busy {
		t.rep.Busy++
		bucket(t.rep.ByBehaviour, string(b))
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

// lose records why a session counts as lost, for the first few.
func (t *tally) lose(format string, args ...any) {
	if len(t.rep.Losses) < 5 {
		t.rep.Losses = append(t.rep.Losses, fmt.Sprintf(format, args...))
	}
}

func (t *tally) match(b Behaviour, v *verdictSummary) {
	bb := bucket(t.rep.ByBehaviour, string(b))
	bb.add(v.outcome)
	if t.checkExpect && v.outcome != b.Expected() {
		t.rep.Mismatched++
		bb.Mismatched++
		if len(t.rep.Mismatches) < 5 {
			t.rep.Mismatches = append(t.rep.Mismatches, fmt.Sprintf("%s holder on %s: %s (%s: %s), expected %s",
				b, v.lane, v.outcome, v.reason, v.detail, b.Expected()))
		}
	}
}

// finish counts what never matched: holders without a verdict and verdicts without a
// holder are both lost sessions.
func (t *tally) finish() *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.pending {
		t.rep.Lost++
		if p.holder {
			bucket(t.rep.ByBehaviour, string(p.behaviour)).Lost++
			t.lose("%s holder engaged (its end: %v) and no verdict came", p.behaviour, p.holderErr)
		} else {
			t.lose("verdict %s (%s: %s) on %s for an engagement no holder reported", p.verdict.outcome,
				p.verdict.reason, p.verdict.detail, p.verdict.lane)
		}
	}
	t.rep.LatencyMs = t.hist.percentiles()
	return t.rep
}

// latencyHist is a log-scale histogram from 10 µs to ~3 h with 2 % resolution.
type latencyHist struct {
	counts [1024]uint64
	n      uint64
	max    time.Duration
}

const histBase = 10 * time.Microsecond

var histGrowth = math.Log(1.02)

func (h *latencyHist) add(d time.Duration) {
	h.n++
	if d > h.max {
		h.max = d
	}
	i := 0
	if d > histBase {
		i = int(math.Log(float64(d)/float64(histBase))/histGrowth) + 1
	}
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
}

// upper returns the upper bound of bucket i.
func (h *latencyHist) upper(i int) time.Duration {
	return time.Duration(float64(histBase) * math.Exp(float64(i)*histGrowth))
}

func (h *latencyHist) percentiles() Latency {
	if h.n == 0 {
		return Latency{}
	}
	at := func(p float64) float64 {
		rank := uint64(math.Ceil(p * float64(h.n)))
		var seen uint64
		for i, c := range h.counts {
			seen += c
			if seen >= rank {
				return round3(ms(min(h.upper(i), h.max)))
			}
		}
		return round3(ms(h.max))
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: round3(ms(h.max))}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
