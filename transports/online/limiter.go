package online

import (
	"net/http"
	"net/netip"
	"sync"
)

// Limiter bounds the open transactions of each client and of everyone: Acquire takes a
// slot or reports false, Release gives it back. It keeps only clients that hold a slot.
// (The same contract as transports/admission's Limiter, which a gate may pass instead
// as Config.Limiter.)
type Limiter struct {
	perClient, total int
	mu               sync.Mutex
	held             map[netip.Prefix]int
	n                int
}

// NewLimiter returns a limiter of perClient slots per client and total in all (≤ 0: no
// bound of that kind).
func NewLimiter(perClient, total int) *Limiter {
	return &Limiter{perClient: perClient, total: total, held: map[netip.Prefix]int{}}
}

// Acquire takes a slot for client c.
func (l *Limiter) Acquire(c netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.total > 0 && l.n >= l.total) || (l.perClient > 0 && l.held[c] >= l.perClient) {
		return false
	}
	l.held[c]++
	l.n++
	return true
}

// Release gives back a slot of client c (a release without an acquire changes nothing).
func (l *Limiter) Release(c netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch n := l.held[c]; {
	case n > 1:
		l.held[c] = n - 1
	case n == 1:
		delete(l.held, c)
	default:
		return
	}
	l.n--
}

// Held is what client c holds, and Total what everyone holds.
func (l *Limiter) Held(c netip.Prefix) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[c]
}

// Total is the number of slots held.
func (l *Limiter) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// ClientOf is the client a request comes from: its IPv4 address, or the /64 of its IPv6
// address (what one subscriber usually gets). An address that does not parse is the
// zero prefix, one client for all of them.
func ClientOf(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 64
	if a.Is4() {
		bits = 32
	}
	p, _ := a.Prefix(bits)
	return p
}
