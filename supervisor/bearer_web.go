package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// The "http" and "websocket" bearers run each lane as a web.Server on its own loopback
// socket (127.0.0.1:0). A simulated holder is a real HTTP client: it GETs /engage for a
// ReaderEngagement, POSTs (or sends over WebSocket) MessageData with its DeviceEngagement
// and then talks to the session URL. The engine's holder actor builds its session before
// it knows the ReaderEngagement, so the bearer binds the two with
// holdersession.BindReverse: the transcript is the reverse-engagement one on both sides.
//
// Options (LoadConfig.BearerOptions): "holder_idle" (Go duration, default 5 s) is how
// long an HTTP holder waits with no request outstanding before giving up (HTTP cannot
// push the reader's termination to a holder that went silent); "ping" the WebSocket
// keepalive period (default 30 s).
func init() {
	for _, name := range []string{web.BearerHTTP, web.BearerWebSocket} {
		RegisterBearer(name, func(opts BearerOptions) (Bearer, error) {
			b := &webBearer{name: name, lanes: map[string]*webLane{}, holderIdle: 5 * time.Second}
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
		})
	}
}

type webBearer struct {
	name       string
	client     *http.Client
	holderIdle time.Duration
	ping       time.Duration
	mu         sync.Mutex
	lanes      map[string]*webLane
}

type webLane struct {
	srv    *web.Server
	origin string
	served chan struct{}
}

// webLaneListener is the lane's listener; closing it stops the lane's server.
type webLaneListener struct {
	transports.Listener
	lane *webLane
	once sync.Once
}

func (l *webLaneListener) Close() error {
	l.once.Do(func() {
		l.lane.srv.Close()
		<-l.lane.served
	})
	return nil
}

func (b *webBearer) Name() string { return b.name }

// Listen starts a lane's web.Server on 127.0.0.1:0.
func (b *webBearer) Listen(lane string, backlog int) (transports.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	origin := "http://" + ln.Addr().String()
	srv, err := web.NewServer(web.Config{Origin: origin, Backlog: backlog, PingInterval: b.ping})
	if err != nil {
		ln.Close()
		return nil, err
	}
	wl := &webLane{srv: srv, origin: origin, served: make(chan struct{})}
	go func() {
		defer close(wl.served)
		_ = srv.Serve(ln)
	}()
	b.mu.Lock()
	b.lanes[lane] = wl
	b.mu.Unlock()
	var l transports.Listener = srv.HTTPListener()
	if b.name == web.BearerWebSocket {
		l = srv.WebSocketListener()
	}
	return &webLaneListener{Listener: l, lane: wl}, nil
}

// HolderMethods is empty: over the Internet the reader's engagement names the way.
func (b *webBearer) HolderMethods(int) []messages.RetrievalMethod { return nil }

// Engage fetches a ReaderEngagement from the lane, binds it to the holder's session and
// sends the MessageData. Faults: DisconnectAfterFrames ends the holder's side (DELETE or
// WebSocket close) before the frame of that number, counting the MessageData as frame 1
// and frames in both directions; Drop loses a holder message with that probability.
func (b *webBearer) Engage(ctx context.Context, lane string, de, _ []byte, f LinkFaults) (transports.Conn, error) {
	b.mu.Lock()
	wl, ok := b.lanes[lane]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s: no lane %q", b.name, lane)
	}
	e, err := web.FetchEngagement(ctx, b.client, wl.origin, false)
	if err != nil {
		return nil, err
	}
	release := holdersession.BindReverse(de, e.ReaderEngagement)
	md, err := messages.Marshal(messages.MessageData{DeviceEngagementBytes: messages.NewEncodedCBOR(de)})
	if err != nil {
		release()
		return nil, err
	}
	conn, err := web.Dial(ctx, e.SessionURL, md, web.DialOptions{WebSocket: b.name == web.BearerWebSocket,
		Client: b.client, IdleTimeout: b.holderIdle})
	if err != nil {
		release()
		return nil, err
	}
	fc := &webHolderConn{Conn: conn, release: release, disconnectAt: f.DisconnectAfterFrames, drop: f.Drop, frames: 1}
	if f.Drop > 0 {
		fc.rng = rand.New(rand.NewPCG(f.Seed, 11))
	}
	return fc, nil
}

func (b *webBearer) Framer() transports.Framer { return web.WholeMessage{} }

func (b *webBearer) AirTime() time.Duration { return 0 }

// Close stops every lane's server still running and the holders' idle connections.
func (b *webBearer) Close() error {
	b.mu.Lock()
	lanes := b.lanes
	b.lanes = map[string]*webLane{}
	b.mu.Unlock()
	for _, wl := range lanes {
		wl.srv.Close()
		<-wl.served
	}
	b.client.CloseIdleConnections()
	return nil
}

// webHolderConn is a holder's side with injected faults; it drops the holder binding when
// closed.
type webHolderConn struct {
	transports.Conn
	release      func()
	mu           sync.Mutex
	frames       int
	disconnectAt int
	drop         float64
	rng          *rand.Rand
	broken       bool
}

var errWebInjectedDisconnect = errors.New("injected disconnect")

// count counts a frame; it reports whether the link breaks before it.
func (c *webHolderConn) count() bool {
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

func (c *webHolderConn) ReadFrame(ctx context.Context) ([]byte, error) {
	f, err := c.Conn.ReadFrame(ctx)
	if err == nil && c.count() {
		c.Close()
		return nil, fmt.Errorf("%w: %w", transports.ErrClosed, errWebInjectedDisconnect)
	}
	return f, err
}

func (c *webHolderConn) WriteFrame(ctx context.Context, frame []byte) error {
	if c.count() {
		c.Close()
		return fmt.Errorf("%w: %w", transports.ErrClosed, errWebInjectedDisconnect)
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

func (c *webHolderConn) Close() error {
	c.release()
	return c.Conn.Close()
}
