package supervisor

import (
	"context"
	"time"
)

// pacer starts the holders of a load run: at most Concurrency at a time, at Rate per
// second when set, until Holders have started or Duration has passed.
type pacer struct {
	sem      chan struct{}
	start    time.Time
	deadline time.Time
	rate     float64
	holders  int
}

func newPacer(cfg LoadConfig) *pacer {
	p := &pacer{sem: make(chan struct{}, cfg.Concurrency), start: time.Now(), rate: cfg.Rate, holders: cfg.Holders}
	if cfg.Duration > 0 {
		p.deadline = p.start.Add(cfg.Duration)
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
