package wifiaware

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

func TestParamsDerivation(t *testing.T) {
	de, ek := engagementBytes(t, messages.WiFiAwareOptions{SupportedBands: []byte{0x14}})
	p, err := ParamsFromEngagement(de)
	if err != nil {
		t.Fatal(err)
	}
	if p.Service != session.NANServiceName(ek) || len(p.Service) != 32 || strings.ToLower(p.Service) != p.Service {
		t.Fatalf("service %q, want %q", p.Service, session.NANServiceName(ek))
	}
	if p.Explicit || p.Passphrase != session.NANPassphrase(ek) {
		t.Fatalf("derived passphrase %q explicit %v", p.Passphrase, p.Explicit)
	}
	de2, ek2 := engagementBytes(t, messages.WiFiAwareOptions{Passphrase: "0123456789abcdef"})
	p2, err := ParamsFromEngagement(de2)
	if err != nil {
		t.Fatal(err)
	}
	if !p2.Explicit || p2.Passphrase != "0123456789abcdef" || p2.Service != session.NANServiceName(ek2) {
		t.Fatalf("explicit params %+v", p2)
	}
	// No Wi-Fi Aware method: refused by name.
	k := messages.Engagement{Version: "1.0", Security: messages.Security{CipherSuite: 1, KeyBytes: messages.NewEncodedCBOR(ek[4:])}}
	b, _ := k.Bytes()
	if _, err := ParamsFromEngagement(b); !errors.Is(err, ErrNoWiFiAware) {
		t.Fatalf("no method: %v", err)
	}
}

func TestSessionOverTCP(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    messages.WiFiAwareOptions
		cfg  Config
	}{
		{"derived-ipv6", messages.WiFiAwareOptions{}, testConfig()},
		{"explicit-ipv6", messages.WiFiAwareOptions{Passphrase: "p4ss"}, testConfig()},
		{"ipv4", messages.WiFiAwareOptions{}, func() Config { c := testConfig(); c.IPv4 = true; return c }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := NewNetwork(tc.cfg)
			defer n.Close()
			a, h := pair(t, n, tc.o, Faults{})
			if a.Bearer != Bearer || !bytes.Equal(a.Handover, []byte{0xf6}) || a.Reject == nil {
				t.Fatalf("arrival %+v", a)
			}
			rc := a.Conn.(*readerConn)
			if tc.cfg.IPv4 != strings.Contains(rc.addr, "127.0.0.1") {
				t.Fatalf("data path %s", rc.addr)
			}
			if !tc.cfg.IPv4 && !strings.HasPrefix(rc.addr, "[::1]:") {
				t.Fatalf("data path %s, want [::1]", rc.addr)
			}
			if a.Conn.MaxFrameSize() != messages.MaxMessageSize || h.MaxFrameSize() != messages.MaxMessageSize {
				t.Fatal("MaxFrameSize")
			}
			req, resp := bytes.Repeat([]byte{0xa1}, 900), bytes.Repeat([]byte{0xb2}, 3000)
			mustWrite(t, a.Conn, req)
			if got := mustRead(t, h); !bytes.Equal(got, req) {
				t.Fatal("holder got a different message")
			}
			mustWrite(t, h, resp)
			if got := mustRead(t, a.Conn); !bytes.Equal(got, resp) {
				t.Fatal("reader got a different message")
			}
			// Termination: the reader sends, the holder has nothing to say and closes.
			mustWrite(t, a.Conn, []byte{0xa1, 0x66})
			mustRead(t, h)
			h.Close()
			_, err := a.Conn.ReadFrame(ctxT(t))
			wantErr(t, err, transports.ErrClosed)
		})
	}
}

func TestExactlyOneMessagePerPOST(t *testing.T) {
	n := NewNetwork(testConfig())
	defer n.Close()
	a, h := pair(t, n, messages.WiFiAwareOptions{}, Faults{})
	mustWrite(t, a.Conn, []byte{1})
	mustRead(t, h)
	mustWrite(t, h, []byte{2})
	second := make(chan error, 1)
	go func() { second <- h.WriteFrame(context.Background(), []byte{3}) }()
	if got := mustRead(t, a.Conn); !bytes.Equal(got, []byte{2}) {
		t.Fatalf("first answer %x", got)
	}
	select {
	case err := <-second:
		t.Fatalf("a second answer went out without a POST: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := a.Conn.ReadFrame(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reader read %v without a POST", err)
	}
	cancel()
	mustWrite(t, a.Conn, []byte{4})
	if got := mustRead(t, h); !bytes.Equal(got, []byte{4}) {
		t.Fatalf("holder got %x", got)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, a.Conn); !bytes.Equal(got, []byte{3}) {
		t.Fatalf("second answer %x", got)
	}
}

func TestReaderCloseEndsHolder(t *testing.T) {
	n := NewNetwork(testConfig())
	defer n.Close()
	a, h := pair(t, n, messages.WiFiAwareOptions{}, Faults{})
	mustWrite(t, a.Conn, []byte{1})
	mustRead(t, h)
	mustWrite(t, h, []byte{2})
	mustRead(t, a.Conn)
	mustWrite(t, a.Conn, []byte{3}) // the reader's last word, then it closes
	a.Conn.Close()
	if got := mustRead(t, h); !bytes.Equal(got, []byte{3}) {
		t.Fatalf("holder got %x", got)
	}
	_, err := h.ReadFrame(ctxT(t))
	wantErr(t, err, transports.ErrClosed)
	wantErr(t, h.WriteFrame(ctxT(t), []byte{9}), transports.ErrClosed)
	wantErr(t, a.Conn.WriteFrame(ctxT(t), []byte{9}), transports.ErrClosed)
}

func TestRejectIsBusy(t *testing.T) {
	n := NewNetwork(testConfig())
	defer n.Close()
	a, h := pair(t, n, messages.WiFiAwareOptions{}, Faults{})
	a.Reject(transports.ErrBusy)
	_, err := h.ReadFrame(ctxT(t))
	wantErr(t, err, transports.ErrBusy)
	_, err = a.Conn.ReadFrame(ctxT(t))
	wantErr(t, err, transports.ErrBusy)
}

func TestWrongPassphraseRefused(t *testing.T) {
	cl := NewCluster(NANConfig{Seed: 1})
	pub, err := cl.Publish("svc", "right")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := cl.Subscribe("svc")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := ctxT(t)
	peer, err := sub.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Send(peer, msgHelloPub); err != nil {
		t.Fatal(err)
	}
	ev, err := pub.Next(ctx)
	if err != nil || ev.Kind != MessageReceived || string(ev.Payload) != "helloPub" {
		t.Fatalf("publisher event %+v %v", ev, err)
	}
	pub.OfferDataPath(ev.Peer, netip.MustParseAddrPort("[::1]:9"))
	got := make(chan Event, 1)
	go func() { e, _ := pub.Next(ctx); got <- e }()
	_, err = sub.RequestDataPath(ctx, peer, "wrong")
	wantErr(t, err, ErrPassphrase)
	if e := <-got; e.Kind != DataPathFailed || !errors.Is(e.Err, ErrPassphrase) {
		t.Fatalf("publisher saw %+v", e)
	}

	// Through the lane: an engagement whose passphrase the reader gets wrong.
	n := NewNetwork(testConfig())
	defer n.Close()
	l, _ := n.Listen("lane", 2)
	defer l.Close()
	de, _ := engagementBytes(t, messages.WiFiAwareOptions{Passphrase: "right"})
	p, _ := ParamsFromEngagement(de)
	pub2, _ := n.cluster.Publish(p.Service, p.Passphrase)
	h := newHolderConn(&n.cfg, pub2, Faults{})
	defer h.Close()
	p.Passphrase = "wrong"
	if _, err := connect(ctx, n.cluster, &n.cfg, p); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("connect with the wrong passphrase: %v", err)
	}
	_, err = h.ReadFrame(ctx)
	wantErr(t, err, ErrPassphrase)
}

func TestDiscoveryTimeout(t *testing.T) {
	cl := NewCluster(NANConfig{})
	sub, _ := cl.Subscribe("nobody-publishes-this")
	defer sub.Close()
	start := time.Now() // before the deadline is set: the deadline counts from here
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := sub.Discover(ctx)
	wantErr(t, err, ErrDiscoveryTimeout)
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("gave up early")
	}

	// Through a lane whose NAN loses every frame: the engagement still arrives, with a
	// Conn naming the failed step, and the holder is told.
	cfg := testConfig()
	cfg.DiscoveryTimeout = 150 * time.Millisecond
	cfg.NAN = NANConfig{Drop: 1, Seed: 7}
	n := NewNetwork(cfg)
	defer n.Close()
	a, h := pair(t, n, messages.WiFiAwareOptions{}, Faults{})
	_, err = a.Conn.ReadFrame(ctxT(t))
	wantErr(t, err, ErrDiscoveryTimeout)
	wantErr(t, err, transports.ErrClosed)
	if !strings.Contains(err.Error(), "discover") {
		t.Fatalf("error does not name the step: %v", err)
	}
	_, err = h.ReadFrame(ctxT(t))
	wantErr(t, err, transports.ErrClosed)
	if n.Cluster().Dropped() == 0 {
		t.Fatal("no frame was dropped")
	}
}

func TestEngageBusyAndClosed(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	n := NewNetwork(cfg)
	defer n.Close()
	if _, err := n.Engage(ctxT(t), "nope", nil, nil, Faults{}); !errors.Is(err, ErrNoListener) {
		t.Fatal(err)
	}
	l, _ := n.Listen("lane", 1)
	var conns []transports.Conn
	var busy bool
	for i := 0; i < 4 && !busy; i++ { // one with the worker, one in the handoff-wait, one queued
		de, _ := engagementBytes(t, messages.WiFiAwareOptions{})
		c, err := n.Engage(ctxT(t), "lane", de, []byte{0xf6}, Faults{})
		if errors.Is(err, transports.ErrBusy) {
			busy = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		time.Sleep(20 * time.Millisecond)
	}
	if !busy {
		t.Fatal("a full backlog did not answer busy")
	}
	l.Close()
	for _, c := range conns {
		_, err := c.ReadFrame(ctxT(t))
		wantErr(t, err, transports.ErrClosed)
		c.Close()
	}
	de, _ := engagementBytes(t, messages.WiFiAwareOptions{})
	if _, err := n.Engage(ctxT(t), "lane", de, nil, Faults{}); !errors.Is(err, ErrNoListener) {
		t.Fatalf("engage after close: %v", err)
	}
	if _, err := l.Accept(ctxT(t)); !errors.Is(err, transports.ErrClosed) {
		t.Fatal(err)
	}
}

// testHolder is a holder conn served by a test server instead of through NAN.
func testHolder(t *testing.T, cfg Config) *holderConn {
	t.Helper()
	c := cfg.withDefaults()
	pub, err := NewCluster(NANConfig{}).Publish("svc", "pw")
	if err != nil {
		t.Fatal(err)
	}
	h := newHolderConn(&c, pub, Faults{})
	t.Cleanup(func() { h.Close() })
	return h
}

func TestHTTPFramingRejects(t *testing.T) {
	h := testHolder(t, testConfig())
	for _, tc := range []struct {
		name, method, path, ct string
		body                   []byte
		length                 int64
		want                   int
	}{
		{"wrong path", "POST", "/other", ContentType, []byte{1}, 1, 404},
		{"root", "POST", "/", ContentType, []byte{1}, 1, 404},
		{"GET", "GET", Path, "", nil, 0, 405},
		{"PUT", "PUT", Path, ContentType, []byte{1}, 1, 405},
		{"text", "POST", Path, "text/plain", []byte{1}, 1, 415},
		{"no type", "POST", Path, "", []byte{1}, 1, 415},
		{"json", "POST", Path, "application/json", []byte{1}, 1, 415},
		{"too large by length", "POST", Path, ContentType, []byte{1}, messages.MaxMessageSize + 1, 413},
		{"too large chunked", "POST", Path, ContentType, make([]byte, messages.MaxMessageSize+1), -1, 413},
		{"empty", "POST", Path, ContentType, nil, 0, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
			r.ContentLength = tc.length
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			w := httptest.NewRecorder()
			h.handle(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if tc.want == 405 && w.Header().Get("Allow") != "POST" {
				t.Fatal("405 without Allow: POST")
			}
		})
	}
	select {
	case in := <-h.reqs:
		t.Fatalf("a refused request reached the holder: %x", in.msg)
	default:
	}
	// The media type is case-insensitive with parameters (Multipaz sends application/CBOR).
	r := httptest.NewRequest("POST", Path, bytes.NewReader([]byte{7}))
	r.Header.Set("Content-Type", "application/CBOR; charset=binary")
	w := httptest.NewRecorder()
	go func() { _ = h.WriteFrame(context.Background(), []byte{8}) }()
	h.handle(w, r)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), []byte{8}) || w.Header().Get("Content-Type") != ContentType {
		t.Fatalf("got %d %x %q", w.Code, w.Body.Bytes(), w.Header().Get("Content-Type"))
	}
	if got := mustRead(t, h); !bytes.Equal(got, []byte{7}) {
		t.Fatalf("holder got %x", got)
	}
}

// rawDataPath engages and returns the raw TCP address of the holder's server and the
// holder's conn; the reader side is closed without having connected.
func rawDataPath(t *testing.T, cfg Config, f Faults) (string, transports.Conn) {
	t.Helper()
	n := NewNetwork(cfg)
	t.Cleanup(func() { n.Close() })
	a, h := pair(t, n, messages.WiFiAwareOptions{}, f)
	addr := a.Conn.(*readerConn).addr
	// Keep the data path (the subscription) up while the test talks raw HTTP.
	return addr, h
}

func TestSlowClientTimedOut(t *testing.T) {
	cfg := testConfig()
	cfg.IOTimeout = 200 * time.Millisecond
	addr, h := rawDataPath(t, cfg, Faults{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /mdoc HTTP/1.1\r\nHost: %s\r\nContent-Type: application/cbor\r\nContent-Length: 100\r\n\r\n0123456789", addr)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The server gives up on the body: 408 and a hang-up, or a hang-up alone.
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
			t.Fatalf("slow client got %s (close %v)", resp.Status, resp.Close)
		}
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("connection stayed open")
		}
	}
	// the server's clock may start slightly before ours (it accepted before we wrote)
	if time.Since(start) < cfg.IOTimeout*8/10 {
		t.Fatalf("server hung up after %v, before the %v timeout", time.Since(start), cfg.IOTimeout)
	}
	_, err = h.ReadFrame(ctxT(t))
	wantErr(t, err, transports.ErrClosed)

	// A client that never finishes its headers is cut off too.
	addr2, _ := rawDataPath(t, cfg, Faults{})
	c2, err := net.Dial("tcp", addr2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "POST /mdoc HTTP/1.1\r\nHost: x\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(c2).ReadByte(); err == nil {
		t.Fatal("server waited for headers forever")
	}
}

func TestSecondConnectionRefused(t *testing.T) {
	addr, _ := rawDataPath(t, testConfig(), Faults{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(20 * time.Millisecond)
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Fatal("a second TCP connection to the data path was accepted")
	}
}

func TestResetMidBody(t *testing.T) {
	t.Run("answer cut", func(t *testing.T) {
		n := NewNetwork(testConfig())
		defer n.Close()
		a, h := pair(t, n, messages.WiFiAwareOptions{}, Faults{Drop: 1, Seed: 3})
		// Drop 1 also drops received bodies: the POST dies before the holder sees it.
		mustWrite(t, a.Conn, []byte{1, 2, 3})
		_, err := a.Conn.ReadFrame(ctxT(t))
		wantErr(t, err, transports.ErrClosed)
		_, err = h.ReadFrame(ctxT(t))
		wantErr(t, err, transports.ErrClosed)
	})
	t.Run("disconnect after frames", func(t *testing.T) {
		n := NewNetwork(testConfig())
		defer n.Close()
		a, h := pair(t, n, messages.WiFiAwareOptions{}, Faults{DisconnectAfterFrames: 3})
		mustWrite(t, a.Conn, make([]byte, 800)) // frame 1
		mustRead(t, h)
		mustWrite(t, h, bytes.Repeat([]byte{9}, 3*FrameBytes)) // frames 2..4: cut after 2
		_, err := a.Conn.ReadFrame(ctxT(t))
		wantErr(t, err, transports.ErrClosed)
		_, err = h.ReadFrame(ctxT(t))
		wantErr(t, err, transports.ErrClosed)
	})
	t.Run("client resets mid-request", func(t *testing.T) {
		addr, h := rawDataPath(t, testConfig(), Faults{})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /mdoc HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: 5000\r\n\r\n%s", strings.Repeat("a", 1000))
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
		_, err = h.ReadFrame(ctxT(t))
		wantErr(t, err, transports.ErrClosed)
	})
}

func TestHolderAnswersServerStatuses(t *testing.T) {
	// A reader getting a non-200/204 answer reports a framing error naming the status.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, ContentType, bytes.NewReader([]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = readAnswer(resp)
	wantErr(t, err, transports.ErrBadFrame)
	if !strings.Contains(err.Error(), "418") {
		t.Fatalf("status not named: %v", err)
	}
}

func TestWholeMessageFramer(t *testing.T) {
	f := WholeMessage{}
	fr, err := f.Fragment([]byte{1, 2, 3}, 3)
	if err != nil || len(fr) != 1 || !bytes.Equal(fr[0], []byte{1, 2, 3}) {
		t.Fatalf("%v %v", fr, err)
	}
	if _, err := f.Fragment([]byte{1, 2, 3}, 2); !errors.Is(err, transports.ErrFrameTooBig) {
		t.Fatal(err)
	}
	if _, err := f.Fragment(nil, 2); !errors.Is(err, transports.ErrBadFrame) {
		t.Fatal(err)
	}
	r := f.NewReassembler(2)
	if m, err := r.Feed([]byte{5}); err != nil || !bytes.Equal(m, []byte{5}) {
		t.Fatal(m, err)
	}
	if _, err := r.Feed([]byte{1, 2, 3}); !errors.Is(err, transports.ErrMessageLimit) {
		t.Fatal(err)
	}
	if _, err := r.Feed(nil); !errors.Is(err, transports.ErrBadFrame) {
		t.Fatal(err)
	}
}

func TestNANFrameCodec(t *testing.T) {
	f := Frame{Type: FrameFollowUp, Service: ServiceIDOf("x"), Src: NMI{2, 0, 0, 0, 0, 1}, Dst: NMI{2, 0, 0, 0, 0, 2},
		SrcInstance: 3, DstInstance: 4, Payload: []byte("helloPub")}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseFrame(b)
	if err != nil || g.Type != f.Type || g.Service != f.Service || g.Src != f.Src || g.Dst != f.Dst ||
		g.SrcInstance != 3 || g.DstInstance != 4 || !bytes.Equal(g.Payload, f.Payload) {
		t.Fatalf("%+v %v", g, err)
	}
	for _, bad := range [][]byte{nil, b[:nanHeader-1], append(append([]byte(nil), b...), 0), b[:len(b)-1], append([]byte{0x7f}, b[1:]...)} {
		if _, err := ParseFrame(bad); !errors.Is(err, ErrBadNANFrame) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
	f.Payload = make([]byte, MaxNANPayload+1)
	if _, err := f.Marshal(); !errors.Is(err, ErrBadNANFrame) {
		t.Fatal(err)
	}
	resp := ndpResponse{Status: ndpAccepted, Addr: netip.MustParseAddrPort("127.0.0.1:8080")}
	got, err := parseNDPResponse(resp.marshal())
	if err != nil || got.Addr != resp.Addr {
		t.Fatalf("%v %v", got.Addr, err)
	}
}

func TestNANQueueBounded(t *testing.T) {
	cl := NewCluster(NANConfig{QueueLen: 2})
	pub, _ := cl.Publish("svc", "pw")
	defer pub.Close()
	sub, _ := cl.Subscribe("svc")
	defer sub.Close()
	peer, err := sub.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 5 && full == nil; i++ {
		full = sub.Send(peer, []byte{byte(i)})
	}
	wantErr(t, full, ErrNANQueueFull)
	if cl.Dropped() == 0 {
		t.Fatal("drop not counted")
	}
	pub.Close()
	wantErr(t, sub.Send(peer, []byte{1}), ErrNANClosed)
}
