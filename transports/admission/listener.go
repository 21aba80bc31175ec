package admission

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ListenerLimits bound the connections of a Listener.
type ListenerLimits struct {
	// Max bounds the connections open at once (≤ 0: no bound). At Max, a new
	// connection makes room by closing an idle one — waiting for its first request or
	// between two — of a client holding more connections than the newcomer's will (the
	// longest idle of those), or, for a client holding a few (smallClient), the longest
	// idle of all; otherwise it is refused. A flood of idle connections cannot lock out a client
	// with something to ask, and a flooding client cannot push others out to make room
	// for itself.
	Max int
	// PerClient bounds one client's open connections (≤ 0: no bound); more are refused.
	PerClient int
	// Prefixes say which addresses are one client.
	Prefixes Prefixes
	// Lifetime closes a connection older than this when it is next idle, so that a
	// client cannot keep one connection (and its slot) forever with a request now and
	// then (≤ 0: no lifetime).
	Lifetime time.Duration
}

// Listener is a net.Listener within ListenerLimits. A refused connection is reset at
// once (it never reaches the server). The server must report connection states with
// ConnState (http.Server.ConnState) for idle connections to be known; without it a
// connection counts as idle from its accept on, whatever it does.
type Listener struct {
	net.Listener
	lim     ListenerLimits
	clients *Limiter

	mu   sync.Mutex
	idle list.List // *conn, longest idle first
	open int

	refused, evicted, expired atomic.Int64
}

// NewListener bounds ln's connections by lim.
func NewListener(ln net.Listener, lim ListenerLimits) *Listener {
	return &Listener{Listener: ln, lim: lim, clients: NewLimiter(lim.PerClient, 0)}
}

// conn is an accepted connection: its client, its age, and its place among the idle.
type conn struct {
	net.Conn
	l      *Listener
	client netip.Prefix
	born   time.Time
	elem   *list.Element // in l.idle while idle; guarded by l.mu
	once   sync.Once
}

// Accept returns the next connection within the limits; connections over them are
// reset and counted (Refused), idle ones closed to make room are counted (Evicted).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := l.lim.Prefixes.ClientOf(c.RemoteAddr())
		if !l.clients.Acquire(client) {
			l.refuse(c)
			continue
		}
		tc := &conn{Conn: c, l: l, client: client, born: time.Now()}
		l.mu.Lock()
		var victim *conn
		if l.lim.Max > 0 && l.open >= l.lim.Max {
			victim = l.victimLocked(client)
			if victim == nil {
				l.mu.Unlock()
				l.clients.Release(client)
				l.refuse(c)
				continue
			}
			l.idle.Remove(victim.elem)
			victim.elem = nil
		}
		l.open++
		tc.elem = l.idle.PushBack(tc) // idle until its first request
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			victim.Close()
		}
		return tc, nil
	}
}

// victimScan bounds the idle connections looked at for one that may make room.
const victimScan = 64

// smallClient is what a client with something to ask holds at most (a browser's or a
// wallet's few connections): at the maximum it may close the longest idle connection of
// anyone.
const smallClient = 4

// victimLocked picks the idle connection a new connection of client may close: among
// the longest idle, one of a client that would still hold more than client then does;
// for a small client, else the longest idle of another client. nil: none.
func (l *Listener) victimLocked(client netip.Prefix) *conn {
	held := l.clients.Held(client) // the new connection included
	var oldest *conn               // the longest idle of another client
	i := 0
	for e := l.idle.Front(); e != nil && i < victimScan; e, i = e.Next(), i+1 {
		c := e.Value.(*conn)
		if c.client == client {
			continue // its own idle connection is the one it may reuse
		}
		if l.clients.Held(c.client) > held {
			return c
		}
		if oldest == nil {
			oldest = c
		}
	}
	if held <= smallClient {
		return oldest
	}
	return nil
}

// refuse resets a connection the limits do not admit: no FIN_WAIT on our side, its
// descriptor free at once.
func (l *Listener) refuse(c net.Conn) {
	l.refused.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// ConnState is the http.Server.ConnState hook that tells the listener which
// connections are idle. A connection idle past its Lifetime is closed.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c := l.own(nc)
	if c == nil {
		return
	}
	switch state {
	case http.StateActive, http.StateHijacked:
		l.mu.Lock()
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
		l.mu.Unlock()
	case http.StateIdle:
		if l.lim.Lifetime > 0 && time.Since(c.born) > l.lim.Lifetime {
			l.expired.Add(1)
			c.Close()
			return
		}
		l.mu.Lock()
		if c.elem == nil {
			c.elem = l.idle.PushBack(c)
		}
		l.mu.Unlock()
	}
}

// own finds this listener's connection under what a server hands its hook (a TLS
// connection wraps it).
func (l *Listener) own(nc net.Conn) *conn {
	for nc != nil {
		if c, ok := nc.(*conn); ok && c.l == l {
			return c
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}

// Close closes the connection and gives back its slots.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
		l.open--
		l.mu.Unlock()
		l.clients.Release(c.client)
	})
	return err
}

// Open is the number of connections open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused counts the connections reset for a limit; Evicted the idle ones closed to
// make room for a new one; Expired those closed past their Lifetime.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Evicted counts the idle connections closed to make room for a new one.
func (l *Listener) Evicted() int64 { return l.evicted.Load() }

// Expired counts the connections closed when idle past their Lifetime.
func (l *Listener) Expired() int64 { return l.expired.Load() }
