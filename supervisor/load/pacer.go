package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pacer starts the holders of a run: at most concurrency at a time, at rate per second
// when set, until holders have started or duration has passed. It counts the holders
// that finished for the run's progress callback and waits for the last.
type pacer struct {
	sem      chan struct{}
	start    time.Time
	deadline time.Time
	rate     float64
	holders  int
	progress func(done, total int64)
	running  sync.WaitGroup
	finished atomic.Int64
}

// newPacer paces a run that starts at start; progress, if not nil, is told of every
// holder that finishes.
func newPacer(start time.Time, concurrency, holders int, rate float64, duration time.Duration, progress func(done, total int64)) *pacer {
	p := &pacer{sem: make(chan struct{}, concurrency), start: start, rate: rate, holders: holders, progress: progress}
	if duration > 0 {
		p.deadline = p.start.Add(duration)
	}
	return p
}

// next waits until holder i may start and takes its slot; false ends the run (all
// started, out of time, or ctx done). A holder that started calls done once when it
// finishes.
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
				<-p.sem
				return false
			}
		}
	}
	if !p.deadline.IsZero() && time.Now().After(p.deadline) {
		<-p.sem
		return false
	}
	p.running.Add(1)
	return true
}

// done finishes a holder: it is counted, reported and gives its slot back.
func (p *pacer) done() {
	d := p.finished.Add(1)
	if p.progress != nil {
		p.progress(d, int64(p.holders))
	}
	<-p.sem
	p.running.Done()
}

// wait waits until every holder that started has finished.
func (p *pacer) wait() { p.running.Wait() }
