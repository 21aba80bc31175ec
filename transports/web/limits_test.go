package web_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testnet"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

func fetchFrom(hc *http.Client, r *reader, withQR bool) (*web.Engagement, error) {
	return web.FetchEngagement(context.Background(), hc, r.base, withQR)
}

// One client holds at most EngagementsPerClient engagements waiting for their holder;
// its next GET /engage is busy without a key being made, another client is served, and
// once the client's engagements expire (no one asking for a new one) it is served again.
func TestEngagementsPerClient(t *testing.T) {
	r := startReader(t, web.Config{EngagementsPerClient: 3, EngagementTTL: 300 * time.Millisecond})
	a, b := testnet.ClientFrom(t, "127.0.0.2"), testnet.ClientFrom(t, "127.0.0.3")
	for i := 0; i < 3; i++ {
		if _, err := fetchFrom(a, r, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fetchFrom(a, r, false); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("a fourth engagement of one client: %v", err)
	}
	if n := r.srv.Pending(); n != 3 {
		t.Fatalf("%d engagements registered, want 3: the refused one made one", n)
	}
	if _, err := fetchFrom(b, r, false); err != nil {
		t.Fatalf("another client: %v", err)
	}
	// unused engagements go by themselves within their TTL
	deadline := time.Now().Add(5 * time.Second)
	for r.srv.Pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d engagements never attached still known after their TTL", r.srv.Pending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := fetchFrom(a, r, false); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	// an engagement a session started on is no longer counted as one
	e, err := fetchFrom(a, r, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := holdersession.NewReverse(getWorld(t).holder(), e.ReaderEngagement, r.base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{Client: a})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 2; i++ {
		if _, err := fetchFrom(a, r, false); err != nil {
			t.Fatalf("engagement %d after one became a session: %v", i, err)
		}
	}
}

// One client runs at most SessionsPerClient sessions: its next WebSocket gets 503
// before the upgrade and its next first POST 503 before its body is read; another
// client's sessions start.
func TestSessionsPerClient(t *testing.T) {
	r := startReader(t, web.Config{SessionsPerClient: 2})
	a, b := testnet.ClientFrom(t, "127.0.0.4"), testnet.ClientFrom(t, "127.0.0.5")
	begin := func(hc *http.Client, ws bool) (transports.Conn, error) {
		e, err := fetchFrom(b, r, false) // engagements from b: sessions count by who starts them
		if err != nil {
			t.Fatal(err)
		}
		h, err := holdersession.NewReverse(getWorld(t).holder(), e.ReaderEngagement, r.base)
		if err != nil {
			t.Fatal(err)
		}
		return web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: ws, Client: hc})
	}
	for i := 0; i < 2; i++ {
		c, err := begin(a, i == 0)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for _, ws := range []bool{true, false} {
		if _, err := begin(a, ws); !errors.Is(err, transports.ErrBusy) {
			t.Fatalf("a third session of one client (websocket %v): %v", ws, err)
		}
	}
	c, err := begin(b, true)
	if err != nil {
		t.Fatalf("another client: %v", err)
	}
	c.Close()
}

// GET /engage?qr=png is rate limited per client; the JSON engagement without an image
// is not.
func TestQRRateLimited(t *testing.T) {
	r := startReader(t, web.Config{QRPerSecond: 0.01, QRBurst: 2})
	a, b := testnet.ClientFrom(t, "127.0.0.6"), testnet.ClientFrom(t, "127.0.0.7")
	for i := 0; i < 2; i++ {
		e, err := fetchFrom(a, r, true)
		if err != nil || e.QRPNGBase64 == "" {
			t.Fatalf("QR %d: %v", i, err)
		}
	}
	if _, err := fetchFrom(a, r, true); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("a third QR image at once: %v", err)
	}
	if _, err := fetchFrom(a, r, false); err != nil {
		t.Fatalf("an engagement without image: %v", err)
	}
	if _, err := fetchFrom(b, r, true); err != nil {
		t.Fatalf("another client's QR image: %v", err)
	}
}

// While the lane is busy (Config.Busy), GET /engage and the WebSocket upgrade answer
// 503 at once: no engagement is made, no WebSocket opened.
func TestBusyBeforeEngagementAndUpgrade(t *testing.T) {
	var full atomic.Bool
	var asked atomic.Value
	r := startReader(t, web.Config{Busy: func(bearer string) bool { asked.Store(bearer); return full.Load() }})
	e := r.engagement(t, false)
	full.Store(true)
	if _, err := web.FetchEngagement(context.Background(), nil, r.base, false); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("GET /engage with the lanes full: %v", err)
	}
	if n := r.srv.Pending(); n != 1 {
		t.Fatalf("%d engagements: a busy answer made one", n)
	}
	h, err := holdersession.NewReverse(getWorld(t).holder(), e.ReaderEngagement, r.base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true}); !errors.Is(err, transports.ErrBusy) ||
		!strings.Contains(err.Error(), "503") {
		t.Fatalf("WebSocket with its lane full: %v, want a 503 before the upgrade", err)
	}
	if asked.Load() != web.BearerWebSocket {
		t.Fatalf("Busy asked for %q", asked.Load())
	}
	if _, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{}); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("first POST with its lane full: %v", err)
	}
	full.Store(false)
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true})
	if err != nil {
		t.Fatalf("once the lane has room: %v", err)
	}
	conn.Close()
}

// A holder message over the lane's limit is refused unread (HTTP 413 by its
// Content-Length, WebSocket 1009) and its session ends with transports.ErrMessageLimit.
func TestMessageLimits(t *testing.T) {
	for _, ws := range []bool{false, true} {
		r := startReader(t, web.Config{HTTPMaxMessage: 2048, WebSocketMaxMessage: 2048})
		e := r.engagement(t, false)
		h, err := holdersession.NewReverse(getWorld(t).holder(), e.ReaderEngagement, r.base)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: ws})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
		big, _ := messages.Marshal(messages.SessionData{Data: bytes.Repeat([]byte{1}, 4096)})
		err = conn.WriteFrame(context.Background(), big)
		if !ws && (err == nil || !strings.Contains(err.Error(), "413")) {
			t.Fatalf("HTTP: a body over the limit: %v", err)
		}
		v := r.verdict(t)
		if !strings.Contains(v.Detail, transports.ErrMessageLimit.Error()) {
			t.Fatalf("websocket %v: verdict %s (%s) %q, want the message limit", ws, v.Outcome, v.Reason, v.Detail)
		}
		conn.Close()
	}
}

// One client gets EngagementBurst engagements at once and then EngagementsPerSecond;
// beyond, GET /engage is busy without a key being made, and another client is served.
func TestEngagementRate(t *testing.T) {
	r := startReader(t, web.Config{EngagementsPerSecond: 0.5, EngagementBurst: 3})
	a, b := testnet.ClientFrom(t, "127.0.0.8"), testnet.ClientFrom(t, "127.0.0.9")
	for i := 0; i < 3; i++ {
		if _, err := fetchFrom(a, r, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fetchFrom(a, r, false); !errors.Is(err, transports.ErrBusy) || !strings.Contains(err.Error(), "a second") {
		t.Fatalf("over the rate: %v", err)
	}
	if n := r.srv.Pending(); n != 3 {
		t.Fatalf("%d engagements registered, want 3", n)
	}
	if _, err := fetchFrom(b, r, false); err != nil {
		t.Fatalf("another client: %v", err)
	}
	time.Sleep(2100 * time.Millisecond) // one more token
	if _, err := fetchFrom(a, r, false); err != nil {
		t.Fatalf("after two seconds: %v", err)
	}
	if got := r.srv.Refusals().EngagementRate; got != 1 {
		t.Fatalf("refusals %d", got)
	}
}
