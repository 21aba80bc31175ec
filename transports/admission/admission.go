// Package admission keeps one network client from taking what the others need: it
// bounds what each client (an address, or the prefix of addresses it stands for) holds
// at once — pending engagements or transactions, sessions, connections — and how often
// it may ask for costly work, with totals above them. Services with a table of pending
// things per client (the web bearer's engagements, OpenID4VP or DC API transactions)
// bound it with a Limiter; a listener bounds its connections with Listener.
//
// Its tables are bounded: a Limiter tracks only clients holding something (at most its
// total), a Rate at most its table size.
package admission

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Prefixes says which addresses count as one client: IPv4 addresses are grouped by
// their first V4 bits, IPv6 addresses by their first V6 bits (an IPv4-mapped IPv6
// address is IPv4). Zero values mean DefaultV4 and DefaultV6.
type Prefixes struct {
	V4, V6 int
}

// Default client prefixes: one IPv4 address, one IPv6 /64 (what one subscriber usually
// gets).
const (
	DefaultV4 = 32
	DefaultV6 = 64
)

// Client returns the client an address belongs to.
func (p Prefixes) Client(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := p.V6
	if bits <= 0 || bits > 128 {
		bits = DefaultV6
	}
	if addr.Is4() {
		if bits = p.V4; bits <= 0 || bits > 32 {
			bits = DefaultV4
		}
	}
	pfx, err := addr.Prefix(bits)
	if err != nil { // the zero Addr
		return netip.Prefix{}
	}
	return pfx
}

// ClientOf returns the client of a network address: a *net.TCPAddr or *net.UDPAddr, or
// an "ip:port" string (http.Request.RemoteAddr). Anything else is the zero Prefix, one
// client for all that cannot be told apart.
func (p Prefixes) ClientOf(addr any) netip.Prefix {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return p.Client(a.AddrPort().Addr())
	case *net.UDPAddr:
		return p.Client(a.AddrPort().Addr())
	case string:
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return netip.Prefix{}
		}
		return p.Client(ap.Addr())
	case net.Addr:
		return p.ClientOf(a.String())
	}
	return netip.Prefix{}
}

// Limiter counts what each client holds and refuses a client at PerClient, and anyone
// at Total. It is safe for concurrent use.
type Limiter struct {
	perClient, total int
	mu               sync.Mutex
	held             map[netip.Prefix]int
	n                int
	refused          atomic.Int64
}

// NewLimiter returns a limiter of perClient per client and total in all (≤ 0: no bound
// of that kind).
func NewLimiter(perClient, total int) *Limiter {
	return &Limiter{perClient: perClient, total: total, held: map[netip.Prefix]int{}}
}

// Acquire takes one slot for client c; false (counted in Refused) when c holds its
// share or the total is reached.
func (l *Limiter) Acquire(c netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.total > 0 && l.n >= l.total) || (l.perClient > 0 && l.held[c] >= l.perClient) {
		l.refused.Add(1)
		return false
	}
	l.held[c]++
	l.n++
	return true
}

// Release gives back a slot Acquire took.
func (l *Limiter) Release(c netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch n := l.held[c]; {
	case n > 1:
		l.held[c] = n - 1
	case n == 1:
		delete(l.held, c)
	default:
		return // not held: a double release changes nothing
	}
	l.n--
}

// Held is what client c holds.
func (l *Limiter) Held(c netip.Prefix) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[c]
}

// InUse is what all clients hold.
func (l *Limiter) InUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Full reports whether c would be refused now, and counts it in Refused when so: a
// service refuses ahead of Acquire, before it spends anything on the request.
func (l *Limiter) Full(c netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	full := (l.total > 0 && l.n >= l.total) || (l.perClient > 0 && l.held[c] >= l.perClient)
	if full {
		l.refused.Add(1)
	}
	return full
}

// Refused counts the refused Acquire calls.
func (l *Limiter) Refused() int64 { return l.refused.Load() }

// Rate lets each client do something at most Burst times at once and PerSecond times a
// second on average (a token bucket per client). Its table holds at most MaxClients
// clients: when it is full, clients whose bucket has refilled are forgotten, and if
// none has, a new client is refused until one has (the costly work waits rather than
// the table growing). It is safe for concurrent use.
type Rate struct {
	perSecond  float64
	burst      float64
	maxClients int
	mu         sync.Mutex
	buckets    map[netip.Prefix]*bucket
	refused    atomic.Int64
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewRate returns a rate of perSecond per client with bursts of burst (at least 1),
// tracking at most maxClients clients (≤ 0: 65,536).
func NewRate(perSecond float64, burst, maxClients int) *Rate {
	if maxClients <= 0 {
		maxClients = 1 << 16
	}
	return &Rate{perSecond: perSecond, burst: float64(max(burst, 1)), maxClients: maxClients, buckets: map[netip.Prefix]*bucket{}}
}

// Allow takes one token of client c at now; false (counted in Refused) when it has
// none.
func (r *Rate) Allow(c netip.Prefix, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[c]
	if b == nil {
		if len(r.buckets) >= r.maxClients {
			r.sweepLocked(now)
		}
		if len(r.buckets) >= r.maxClients {
			r.refused.Add(1)
			return false
		}
		b = &bucket{tokens: r.burst, at: now}
		r.buckets[c] = b
	}
	b.refill(now, r.perSecond, r.burst)
	if b.tokens < 1 {
		r.refused.Add(1)
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refill(now time.Time, perSecond, burst float64) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*perSecond)
		b.at = now
	}
}

// sweepLocked forgets the clients whose bucket is full again: they are as new.
func (r *Rate) sweepLocked(now time.Time) {
	for c, b := range r.buckets {
		b.refill(now, r.perSecond, r.burst)
		if b.tokens >= r.burst {
			delete(r.buckets, c)
		}
	}
}

// Refused counts the refused Allow calls.
func (r *Rate) Refused() int64 { return r.refused.Load() }

// Clients is the per-client accounting of one listener, shared by the services on it
// (the web lanes' engagements and sessions, the online lanes' transactions and their
// answers) so that a client is held to one share whichever of them it uses. A nil
// member bounds nothing.
type Clients struct {
	// Prefixes say which addresses are one client.
	Prefixes Prefixes
	// Pending bounds what a client holds waiting for its holder (engagements,
	// transactions), PendingRate how often it makes one.
	Pending     *Limiter
	PendingRate *Rate
	// Sessions bounds the sessions a client runs at once (answers being verified).
	Sessions *Limiter
	// QR bounds the QR images made for a client.
	QR *Rate
}
