package admission

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testnet"
)

func TestPrefixes(t *testing.T) {
	p := Prefixes{}
	a, b := p.ClientOf("10.1.2.3:80"), p.ClientOf("10.1.2.4:80")
	if a == b || a.Bits() != 32 {
		t.Fatalf("IPv4 /32: %v %v", a, b)
	}
	v6a, v6b := p.ClientOf("[2001:db8:1:2::1]:443"), p.ClientOf("[2001:db8:1:2:ffff::9]:443")
	if v6a != v6b || v6a.Bits() != 64 {
		t.Fatalf("one IPv6 /64 is one client: %v %v", v6a, v6b)
	}
	if p.ClientOf("[::ffff:10.1.2.3]:80") != a {
		t.Fatal("an IPv4-mapped address is its IPv4 client")
	}
	p24 := Prefixes{V4: 24}
	if p24.ClientOf("10.1.2.3:1") != p24.ClientOf("10.1.2.200:2") {
		t.Fatal("V4: 24 groups a /24")
	}
	if p.ClientOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5}) != netip.MustParsePrefix("127.0.0.9/32") {
		t.Fatal("TCPAddr")
	}
	if p.ClientOf("garbage") != (netip.Prefix{}) {
		t.Fatal("an unparsable address is the zero client")
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(2, 3)
	a, b, c := netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.0.0.3/32")
	for i := 0; i < 2; i++ {
		if !l.Acquire(a) {
			t.Fatalf("a's slot %d", i)
		}
	}
	if l.Acquire(a) || !l.Full(a) {
		t.Fatal("a's third was admitted")
	}
	if !l.Acquire(b) {
		t.Fatal("b refused while a is full")
	}
	if l.Acquire(c) || !l.Full(c) {
		t.Fatal("over the total")
	}
	l.Release(a)
	if !l.Acquire(c) || l.Held(a) != 1 || l.InUse() != 3 {
		t.Fatalf("after a release: a %d, in use %d", l.Held(a), l.InUse())
	}
	l.Release(c)
	l.Release(c)                                              // double release
	if l.Held(c) != 0 || l.InUse() != 2 || l.Refused() != 4 { // two Acquire, two Full
		t.Fatalf("c %d, in use %d, refused %d", l.Held(c), l.InUse(), l.Refused())
	}
	l.Release(a)
	l.Release(b)
	if len(l.held) != 0 {
		t.Fatalf("clients holding nothing are still tracked: %v", l.held)
	}
}

func TestRate(t *testing.T) {
	r := NewRate(2, 3, 2)
	a, b, c := netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.0.0.3/32")
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !r.Allow(a, now) {
			t.Fatalf("burst %d", i)
		}
	}
	if r.Allow(a, now) {
		t.Fatal("past the burst")
	}
	if !r.Allow(a, now.Add(500*time.Millisecond)) || r.Allow(a, now.Add(500*time.Millisecond)) {
		t.Fatal("one token per half second at 2/s")
	}
	if !r.Allow(b, now) {
		t.Fatal("b has its own bucket")
	}
	if r.Allow(c, now) {
		t.Fatal("a third client with the table full and no bucket refilled")
	}
	// later b's bucket is full again: b is forgotten and c gets in
	if !r.Allow(c, now.Add(10*time.Second)) {
		t.Fatal("c refused once b's bucket refilled")
	}
}

// dialFrom connects to addr from the loopback address src (distinct clients on one machine).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	c, err := testnet.Dialer(src).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tryGet dials from src and sends one request: the error says why it was not served
// (the reset of a refused connection may already fail the dial).
func tryGet(t *testing.T, src, addr string) error {
	t.Helper()
	c, err := testnet.Dialer(src).Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return get(c)
}

// served is an http.Server on a limited loopback listener answering "ok".
func served(t *testing.T, lim ListenerLimits) (*Listener, string) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(raw, lim)
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" { // a request under way until the test ends
			<-release
		}
		io.WriteString(w, "ok")
	}), ConnState: l.ConnState, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { close(release); srv.Close() })
	return l, raw.Addr().String()
}

// get sends one keep-alive request on c and reads the answer; the error says why not.
func get(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "ok" {
		return fmt.Errorf("answer %q", b)
	}
	return nil
}

// closedByServer reports whether the server closed (or reset) c.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !strings.Contains(err.Error(), "timeout")
}

func waitOpen(t *testing.T, l *Listener, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", l.Open(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// One client gets PerClient connections; its next is reset while another client is
// still served.
func TestListenerPerClient(t *testing.T) {
	l, addr := served(t, ListenerLimits{PerClient: 3})
	for i := 0; i < 3; i++ {
		if err := get(dialFrom(t, "127.0.0.2", addr)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tryGet(t, "127.0.0.2", addr); err == nil {
		t.Fatal("a fourth connection of one client was served")
	}
	if err := get(dialFrom(t, "127.0.0.3", addr)); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if l.Refused() != 1 {
		t.Fatalf("refused %d", l.Refused())
	}
}

// At Max, a new connection makes room by closing the longest idle one; with every
// connection busy it is refused.
func TestListenerMaxEvictsIdle(t *testing.T) {
	l, addr := served(t, ListenerLimits{Max: 3})
	idle := make([]net.Conn, 3)
	for i := range idle {
		idle[i] = dialFrom(t, fmt.Sprintf("127.0.1.%d", i+1), addr)
		if err := get(idle[i]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // an order of idleness
	}
	waitOpen(t, l, 3)
	fresh := dialFrom(t, "127.0.2.1", addr)
	if err := get(fresh); err != nil {
		t.Fatalf("a new client at Max with idle connections: %v", err)
	}
	if !closedByServer(idle[0]) {
		t.Fatal("the longest idle connection was kept")
	}
	if l.Evicted() != 1 || l.Open() != 3 {
		t.Fatalf("evicted %d open %d", l.Evicted(), l.Open())
	}
	if err := get(idle[2]); err != nil {
		t.Fatalf("a recently idle connection was closed: %v", err)
	}

	// every connection busy (a request being answered): the next is refused
	l2, addr2 := served(t, ListenerLimits{Max: 2})
	for i := 0; i < 2; i++ {
		c := dialFrom(t, "127.0.3.1", addr2)
		io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for l2.idleCount() != 0 || l2.Open() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("open %d, idle %d", l2.Open(), l2.idleCount())
		}
		time.Sleep(time.Millisecond)
	}
	if err := tryGet(t, "127.0.3.2", addr2); err == nil {
		t.Fatal("a connection over Max was served with none idle")
	}
	if l2.Refused() != 1 || l2.Evicted() != 0 {
		t.Fatalf("refused %d evicted %d", l2.Refused(), l2.Evicted())
	}
}

// A keep-alive connection older than Lifetime is closed when next idle.
func TestListenerLifetime(t *testing.T) {
	l, addr := served(t, ListenerLimits{Lifetime: 100 * time.Millisecond})
	c := dialFrom(t, "127.0.0.4", addr)
	if err := get(c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := get(c); err != nil { // served, then closed as it goes idle
		t.Fatal(err)
	}
	if !closedByServer(c) {
		t.Fatal("a connection past its lifetime stayed open")
	}
	waitOpen(t, l, 0)
	if l.Expired() != 1 {
		t.Fatalf("expired %d", l.Expired())
	}
}

func (l *Listener) idleCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}

// At Max, a client holding many idle connections cannot make room for more of its own,
// and a newcomer makes room by closing one of the largest holder's, not the longer idle
// connection of a client holding one.
func TestListenerMaxFairEviction(t *testing.T) {
	l, addr := served(t, ListenerLimits{Max: smallClient + 1})
	quiet := dialFrom(t, "127.0.4.1", addr) // idle longest, its client's only connection
	if err := get(quiet); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	var flood []net.Conn
	for i := 0; i < smallClient; i++ {
		c := dialFrom(t, "127.0.4.2", addr)
		if err := get(c); err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
		time.Sleep(5 * time.Millisecond)
	}
	waitOpen(t, l, smallClient+1)
	if err := tryGet(t, "127.0.4.2", addr); err == nil {
		t.Fatal("the flooding client made room for itself")
	}
	if err := get(dialFrom(t, "127.0.4.3", addr)); err != nil {
		t.Fatalf("a newcomer at Max: %v", err)
	}
	if err := get(quiet); err != nil {
		t.Fatalf("the quiet client's connection was closed: %v", err)
	}
	if !closedByServer(flood[0]) {
		t.Fatal("the flooder's longest idle connection was kept")
	}
	if l.Refused() != 1 || l.Evicted() != 1 {
		t.Fatalf("refused %d evicted %d", l.Refused(), l.Evicted())
	}
}
