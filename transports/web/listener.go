package web

import "github.com/mdocgate/mdocgate/transports"

// listener queues the arrivals of one bearer of a Server. It implements
// transports.Listener; closing it does not stop the Server.
type listener struct {
	bearer string
	*transports.Backlog
}

func newListener(bearer string, backlog int) *listener {
	return &listener{bearer: bearer, Backlog: transports.NewBacklog(backlog)}
}

func (l *listener) Bearer() string { return l.bearer }

// offer queues an arrival without waiting: transports.ErrBusy when the backlog is full,
// transports.ErrClosed when the listener is closed.
func (l *listener) offer(a *transports.Arrival) error { return l.Offer(a) }

// Close stops the listener; arrivals still queued are refused. Idempotent.
func (l *listener) Close() error {
	l.Backlog.Close(func(a *transports.Arrival) { a.Reject(transports.ErrClosed) })
	return nil
}
