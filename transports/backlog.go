package transports

import (
	"context"
	"sync"
)

// Backlog is the bounded queue of arrivals behind a Listener: offering never waits (a
// full queue answers ErrBusy), Accept waits for the next arrival, and Close refuses
// what is still queued. It is safe for concurrent use.
type Backlog struct {
	queue  chan *Arrival
	done   chan struct{}
	mu     sync.Mutex // orders Offer against Close
	closed bool
}

// NewBacklog returns a backlog holding at most n arrivals (at least 1).
func NewBacklog(n int) *Backlog {
	return &Backlog{queue: make(chan *Arrival, max(n, 1)), done: make(chan struct{})}
}

// Offer queues a without waiting: ErrBusy when the backlog is full, ErrClosed once it is
// closed.
func (b *Backlog) Offer(a *Arrival) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.queue <- a:
		return nil
	default:
		return ErrBusy
	}
}

// Accept waits for the next arrival: ErrClosed once the backlog is closed, or the
// context's error.
func (b *Backlog) Accept(ctx context.Context) (*Arrival, error) {
	select {
	case <-b.done:
		return nil, ErrClosed
	default:
	}
	select {
	case a := <-b.queue:
		return a, nil
	case <-b.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the backlog and hands every arrival still queued to refuse. It reports
// whether this call closed it (later calls do nothing and return false).
func (b *Backlog) Close(refuse func(*Arrival)) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.closed = true
	close(b.done)
	b.mu.Unlock()
	for {
		select {
		case a := <-b.queue:
			refuse(a)
		default:
			return true
		}
	}
}

// Closed reports whether the backlog has been closed.
func (b *Backlog) Closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Full reports whether an Offer now would answer ErrBusy: a listener can refuse before
// the work of an engagement.
func (b *Backlog) Full() bool { return len(b.queue) == cap(b.queue) }
