package load

import (
	"context"
	"time"
)

// pacer starts the holders of a run: at most concurrency at a time, at rate per second
// when set, until holders have started or duration has passed.
type pacer struct {
	sem      chan struct{}
	start    time.Time
	deadline time.Time
	rate     float64
	holders  int
}

// newPacer paces a run that starts at start.
func newPacer(start time.Time, concurrency, holders int, rate float64, duration time.Duration) *pacer {
	p := &pacer{sem: make(chan struct{}, concurrency), start: start, rate: rate, holders: holders}
	if duration > 0 {
		p.deadline = p.start.Add(duration)
	}
	return p
}

// next waits until holder i may start and takes its slot; false ends the run (all
// started, out of time, or ctx done). A holder that started gives its slot back with done.
func (p *pacer) next(ctx context.Context, i int) bool {
	if p.holders > 0 && i >= p.holders {
		return false
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if p.rate > 0 {
		if wait := time.Until(p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				p.done()
				return false
			}
		}
	}
	if !p.deadline.IsZero() && time.Now().After(p.deadline) {
		p.done()
		return false
	}
	return true
}

func (p *pacer) done() { <-p.sem }
