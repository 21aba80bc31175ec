package load

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// A gate counts its limits per client address, so runs that play many holders or
// attackers from one machine give each its own loopback source address: all of
// 127.0.0.0/8 is loopback on Linux.

// sourceClient is an HTTP client whose connections come from the local address src.
func sourceClient(src string, idle int) *http.Client { return sourceClientLike(nil, src, idle) }

// sourceClientLike is sourceClient with base's transport settings (its TLS roots, say)
// when base has an *http.Transport.
func sourceClientLike(base *http.Client, src string, idle int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{IdleConnTimeout: 10 * time.Second, DisableCompression: true}
	if base != nil {
		if t, ok := base.Transport.(*http.Transport); ok {
			tr = t.Clone()
		}
	}
	tr.DialContext, tr.MaxIdleConnsPerHost = d.DialContext, idle
	return &http.Client{Transport: tr}
}

// loopbackSource is the loopback address number n of block (a /16 of 127.0.0.0/8 per
// block, never 127.0.0.1).
func loopbackSource(block, n int) string {
	return fmt.Sprintf("127.%d.%d.%d", block%256, (n/250)%256, n%250+1)
}

// loopbackTargets reports whether every gate URL names a loopback host by IPv4 address
// (a source address of 127.0.0.0/8 then reaches it).
func loopbackTargets(targets []string) bool {
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			return false
		}
		ip := net.ParseIP(u.Hostname())
		if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
			return false
		}
	}
	return len(targets) > 0
}

// clientPool hands out one client per slot (like base, when set), made on first use
// and closed by close.
type clientPool struct {
	mu      sync.Mutex
	block   int
	base    *http.Client
	clients map[int]*http.Client
}

func newClientPool(block int, base *http.Client) *clientPool {
	return &clientPool{block: block, base: base, clients: map[int]*http.Client{}}
}

func (p *clientPool) get(slot int) *http.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[slot]
	if c == nil {
		c = sourceClientLike(p.base, loopbackSource(p.block, slot), 4)
		p.clients[slot] = c
	}
	return c
}

func (p *clientPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

// dialFrom opens a TCP connection to addr from the local address src.
func dialFrom(ctx context.Context, src, addr string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}
