package web

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// OptionKeys are the options OpenBearer reads.
var OptionKeys = []string{"holder_idle", "ping"}

// OpenBearer returns the adapter (transports.Bearer) of the "http" or "websocket" bearer
// (name): each lane is a Server on its own loopback socket (127.0.0.1:0). A simulated
// holder is a real HTTP client: Engage GETs /engage for a ReaderEngagement, POSTs (or
// sends over WebSocket) MessageData with the holder's DeviceEngagement and returns the
// holder's side, a transports.ReverseEngagedConn: the holder derives its session keys
// from that ReaderEngagement (the reverse-engagement transcript, on both sides).
//
// Options: "holder_idle" (Go duration, default 5 s) is how long an HTTP holder waits
// with no request outstanding before giving up (HTTP cannot push the reader's
// termination to a holder that went silent); "ping" the WebSocket keepalive period
// (default 30 s).
func OpenBearer(name string, opts transports.BearerOptions) (transports.Bearer, error) {
	if name != BearerHTTP && name != BearerWebSocket {
		return nil, fmt.Errorf("web: no bearer %q", name)
	}
	b := &bearer{name: name, lanes: map[string]*lane{}, holderIdle: 5 * time.Second}
	if v, ok := opts["holder_idle"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("holder_idle %q: want a positive duration", v)
		}
		b.holderIdle = d
	}
	if v, ok := opts["ping"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("ping %q: %w", v, err)
		}
		b.ping = d
	}
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	b.client = &http.Client{Transport: tr}
	return b, nil
}

// bearer runs the lanes of one web bearer, each on its own Server.
type bearer struct {
	name       string
	client     *http.Client
	holderIdle time.Duration
	ping       time.Duration
	mu         sync.Mutex
	lanes      map[string]*lane
}

// lane is one lane's Server.
type lane struct {
	srv    *Server
	origin string
	served chan struct{}
}

// laneListener is the lane's listener; closing it stops the lane's server.
type laneListener struct {
	transports.Listener
	lane *lane
	once sync.Once
}

func (l *laneListener) Close() error {
	l.once.Do(func() {
		l.lane.srv.Close()
		<-l.lane.served
	})
	return nil
}

func (b *bearer) Name() string { return b.name }

// Capabilities: engaging is an HTTP round trip; no air time model.
func (b *bearer) Capabilities() transports.Capabilities { return transports.Capabilities{} }

// Listen starts a lane's Server on 127.0.0.1:0.
func (b *bearer) Listen(name string, backlog int) (transports.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	origin := "http://" + ln.Addr().String()
	// every simulated holder comes from 127.0.0.1: no per-client limits
	srv, err := NewServer(Config{Origin: origin, Backlog: backlog, PingInterval: b.ping,
		EngagementsPerClient: -1, EngagementsPerSecond: -1, SessionsPerClient: -1, QRPerSecond: -1})
	if err != nil {
		ln.Close()
		return nil, err
	}
	wl := &lane{srv: srv, origin: origin, served: make(chan struct{})}
	go func() {
		defer close(wl.served)
		_ = srv.Serve(ln)
	}()
	b.mu.Lock()
	b.lanes[name] = wl
	b.mu.Unlock()
	var l transports.Listener = srv.HTTPListener()
	if b.name == BearerWebSocket {
		l = srv.WebSocketListener()
	}
	return &laneListener{Listener: l, lane: wl}, nil
}

// HolderMethods is empty: over the Internet the reader's engagement names the way.
func (b *bearer) HolderMethods(int) []messages.RetrievalMethod { return nil }

// Engage fetches a ReaderEngagement from the lane and sends the MessageData; the
// holder's side answers ReaderEngagement with it. Faults: DisconnectAfterFrames ends the
// holder's side (DELETE or WebSocket close) before the frame of that number, counting
// the MessageData as frame 1 and frames in both directions; Drop loses a holder message
// with that probability.
func (b *bearer) Engage(ctx context.Context, name string, de, _ []byte, f transports.LinkFaults) (transports.Conn, error) {
	b.mu.Lock()
	wl, ok := b.lanes[name]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s: no lane %q", b.name, name)
	}
	e, err := FetchEngagement(ctx, b.client, wl.origin, false)
	if err != nil {
		return nil, err
	}
	md, err := messages.Marshal(messages.MessageData{DeviceEngagementBytes: messages.NewEncodedCBOR(de)})
	if err != nil {
		return nil, err
	}
	conn, err := Dial(ctx, e.SessionURL, md, DialOptions{WebSocket: b.name == BearerWebSocket,
		Client: b.client, IdleTimeout: b.holderIdle})
	if err != nil {
		return nil, err
	}
	fc := &holderConn{Conn: conn, re: e.ReaderEngagement, disconnectAt: f.DisconnectAfterFrames, drop: f.Drop, frames: 1}
	if f.Drop > 0 {
		fc.rng = rand.New(rand.NewPCG(f.Seed, 11))
	}
	return fc, nil
}

func (b *bearer) Framer() transports.Framer { return WholeMessage{} }

func (b *bearer) AirTime() time.Duration { return 0 }

// Close stops every lane's server still running and the holders' idle connections.
func (b *bearer) Close() error {
	b.mu.Lock()
	lanes := b.lanes
	b.lanes = map[string]*lane{}
	b.mu.Unlock()
	for _, wl := range lanes {
		wl.srv.Close()
		<-wl.served
	}
	b.client.CloseIdleConnections()
	return nil
}

// holderConn is a holder's side with injected faults and the ReaderEngagement it answers.
type holderConn struct {
	transports.Conn
	re           []byte
	mu           sync.Mutex
	frames       int
	disconnectAt int
	drop         float64
	rng          *rand.Rand
	broken       bool
}

var errInjectedDisconnect = errors.New("injected disconnect")

// count counts a frame; it reports whether the link breaks before it.
func (c *holderConn) count() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return true
	}
	c.frames++
	if c.disconnectAt > 0 && c.frames >= c.disconnectAt {
		c.broken = true
	}
	return c.broken
}

func (c *holderConn) ReadFrame(ctx context.Context) ([]byte, error) {
	f, err := c.Conn.ReadFrame(ctx)
	if err == nil && c.count() {
		c.Close()
		return nil, fmt.Errorf("%w: %w", transports.ErrClosed, errInjectedDisconnect)
	}
	return f, err
}

func (c *holderConn) WriteFrame(ctx context.Context, frame []byte) error {
	if c.count() {
		c.Close()
		return fmt.Errorf("%w: %w", transports.ErrClosed, errInjectedDisconnect)
	}
	if c.drop > 0 {
		c.mu.Lock()
		lost := c.rng.Float64() < c.drop
		c.mu.Unlock()
		if lost {
			return nil
		}
	}
	return c.Conn.WriteFrame(ctx, frame)
}

// ReaderEngagement is the engagement the holder answers, as received.
func (c *holderConn) ReaderEngagement() []byte { return c.re }
