package web

import (
	"context"
	"sync"

	"github.com/mdocgate/mdocgate/transports"
)

// listener queues the arrivals of one bearer of a Server. It implements
// transports.Listener; closing it does not stop the Server.
type listener struct {
	bearer  string
	backlog chan *transports.Arrival
	done    chan struct{}
	mu      sync.Mutex // orders offer against Close
	closed  bool
}

func newListener(bearer string, backlog int) *listener {
	return &listener{bearer: bearer, backlog: make(chan *transports.Arrival, backlog), done: make(chan struct{})}
}

func (l *listener) Bearer() string { return l.bearer }

// offer queues an arrival without waiting: transports.ErrBusy when the backlog is full,
// transports.ErrClosed when the listener is closed.
func (l *listener) offer(a *transports.Arrival) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transports.ErrClosed
	}
	select {
	case l.backlog <- a:
		return nil
	default:
		return transports.ErrBusy
	}
}

// Accept waits for the next arrival; transports.ErrClosed once the listener is closed.
func (l *listener) Accept(ctx context.Context) (*transports.Arrival, error) {
	select {
	case <-l.done:
		return nil, transports.ErrClosed
	default:
	}
	select {
	case a := <-l.backlog:
		return a, nil
	case <-l.done:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the listener; arrivals still queued are refused as busy. Idempotent.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	for {
		select {
		case a := <-l.backlog:
			a.Reject(transports.ErrClosed)
		default:
			return nil
		}
	}
}
