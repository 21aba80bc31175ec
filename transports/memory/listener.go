package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/mdocgate/mdocgate/transports"
)

// ErrNoListener is returned by Network.Engage for a name nobody listens on.
var ErrNoListener = errors.New("memory: no listener with that name")

// Listener is a reader lane on the memory bearer. Holders Engage with it; the reader
// Accepts their arrivals. It implements transports.Listener.
type Listener struct {
	name    string
	backlog *transports.Backlog
	onStop  func() // removes the listener from its Network; set before the listener is shared
}

var _ transports.Listener = (*Listener)(nil)

// NewListener returns a listener queueing at most backlog arrivals (at least 1) that
// have not been accepted yet.
func NewListener(name string, backlog int) *Listener {
	if backlog < 1 {
		backlog = 1
	}
	return &Listener{name: name, backlog: transports.NewBacklog(backlog)}
}

// Name is the name the listener was made with.
func (l *Listener) Name() string { return l.name }

// Bearer is "memory".
func (l *Listener) Bearer() string { return Bearer }

// Engage is a holder engaging with the reader: it creates a pipe with cfg, queues the
// reader side as an Arrival carrying copies of deviceEngagement and handover, and returns
// the holder side. It never waits for the reader: with the backlog full it returns
// transports.ErrBusy, with the listener closed transports.ErrClosed.
func (l *Listener) Engage(ctx context.Context, deviceEngagement, handover []byte, cfg LinkConfig) (transports.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, h := newPipe(cfg)
	a := &transports.Arrival{
		DeviceEngagement: append([]byte(nil), deviceEngagement...),
		Handover:         append([]byte(nil), handover...),
		Conn:             r,
		Bearer:           Bearer,
		Reject:           func(reason error) { r.closeWith(busyError(reason)) },
	}
	if err := l.backlog.Offer(a); err != nil {
		return nil, err
	}
	return h, nil
}

// Accept waits for the next arrival. It returns transports.ErrClosed once the listener
// is closed, or the context's error.
func (l *Listener) Accept(ctx context.Context) (*transports.Arrival, error) {
	return l.backlog.Accept(ctx)
}

// Close stops the listener: pending and later Accept calls return transports.ErrClosed,
// later Engage calls too, and the holders still waiting in the backlog see their
// connection closed. It is idempotent.
func (l *Listener) Close() error {
	if l.backlog.Close(func(a *transports.Arrival) { a.Conn.Close() }) && l.onStop != nil {
		l.onStop()
	}
	return nil
}

// Network is a set of named listeners, so that simulated holders can find a reader lane
// by name. The zero value is ready to use.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*Listener
}

// Listen creates a listener registered under name; the name is free again once the
// listener is closed. It fails when the name is taken.
func (n *Network) Listen(name string, backlog int) (*Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.listeners[name]; ok {
		return nil, errors.New("memory: listener name in use: " + name)
	}
	if n.listeners == nil {
		n.listeners = map[string]*Listener{}
	}
	l := NewListener(name, backlog)
	l.onStop = func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.listeners[name] == l {
			delete(n.listeners, name)
		}
	}
	n.listeners[name] = l
	return l, nil
}

// Lookup returns the listener registered under name.
func (n *Network) Lookup(name string) (*Listener, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.listeners[name]
	return l, ok
}

// Engage engages with the listener registered under name (see Listener.Engage).
func (n *Network) Engage(ctx context.Context, name string, deviceEngagement, handover []byte, cfg LinkConfig) (transports.Conn, error) {
	l, ok := n.Lookup(name)
	if !ok {
		return nil, ErrNoListener
	}
	return l.Engage(ctx, deviceEngagement, handover, cfg)
}
