package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/admission"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// Bearer names of the two listeners.
const (
	BearerHTTP      = "http"
	BearerWebSocket = "websocket"
)

// ContentType is the media type of every session message over HTTP.
const ContentType = "application/cbor"

// Paths served by Server.Handler.
const (
	EngagePath  = "/engage"
	SessionPath = "/session/"
)

// Errors of the web bearer.
var (
	ErrOriginMismatch = errors.New("web: DeviceEngagement OriginInfo names another origin")
	ErrNoOrigin       = errors.New("web: DeviceEngagement has no website OriginInfo")
	ErrUnknownSession = errors.New("web: unknown or expired session")
	ErrEngaged        = errors.New("web: session already engaged")
	ErrDraining       = errors.New("web: reader is shutting down")
)

// Verdict reasons of holders refused at their first message (transports.Refusal), and
// the reasons of requests OnRefused hears of.
const (
	ReasonOriginMismatch = "origin_mismatch"
	ReasonNoOrigin       = "no_origin"
	ReasonUnknownSession = "unknown_session"
)

// Config configures a Server. Zero durations and sizes take the defaults noted.
type Config struct {
	// Origin is the reader's own origin, scheme://host[:port] ("https://gate.example").
	// Session URLs are built on it and holders' OriginInfos are checked against it.
	Origin string
	// Curve of the EReaderKey; 0 means P-256.
	Curve int64
	// Backlog bounds the arrivals per bearer not yet accepted by a lane (default 256);
	// beyond it holders get 503 / close 1013.
	Backlog int
	// MaxPending bounds the sessions known at once, handed out or running (default
	// 100,000); GET /engage answers 503 beyond it.
	MaxPending int
	// EngagementTTL is how long a ReaderEngagement waits for its holder (default 30 s):
	// one never used is forgotten then, its key and its client's slot released.
	EngagementTTL time.Duration
	// Prefixes say which addresses are one client (default: an IPv4 address, an IPv6
	// /64). The per-client limits below count by it.
	Prefixes admission.Prefixes
	// EngagementsPerClient bounds the engagements one client holds waiting for their
	// holder (default 64; negative: no bound); GET /engage answers 503 beyond it, before
	// making a key.
	EngagementsPerClient int
	// EngagementsPerSecond and EngagementBurst bound how often one client gets an
	// engagement (default 2 a second on average, bursts of 20; EngagementsPerSecond
	// negative: no bound): a phone engages once a session, a client asking for more is
	// answered 503 before a key is made, so that it cannot take more than its share of
	// the reader's work.
	EngagementsPerSecond float64
	EngagementBurst      int
	// SessionsPerClient bounds the sessions one client runs at once (default 32;
	// negative: no bound); a first POST or a WebSocket upgrade beyond it gets 503,
	// before the upgrade and before any key exchange.
	SessionsPerClient int
	// QRPerSecond and QRBurst bound the QR code images (GET /engage?qr=png) made for
	// one client (default 1 a second, bursts of 4; QRPerSecond negative: no bound), and
	// QRConcurrency those made at once for everyone (default half the CPUs, at least 1):
	// rendering one costs milliseconds of CPU. Beyond them GET /engage?qr=png gets 503.
	QRPerSecond   float64
	QRBurst       int
	QRConcurrency int
	// Busy, when set, says whether the lane of a bearer (BearerHTTP, BearerWebSocket;
	// "" for any, at GET /engage) would refuse a session now: GET /engage, a first POST
	// and a WebSocket upgrade then answer 503 at once, before any key is made or
	// exchanged, rather than after the engagement.
	Busy func(bearer string) bool
	// HTTPMaxMessage and WebSocketMaxMessage bound one holder message on each bearer
	// (default and at most messages.MaxMessageSize): a larger body gets 413 without being
	// read, a larger WebSocket message closes the connection (1009); either ends its
	// session with transports.ErrMessageLimit.
	HTTPMaxMessage, WebSocketMaxMessage int
	// HeaderTimeout bounds reading a request's headers (default 5 s); IdleTimeout how
	// long a keep-alive connection waits for its next request (default 30 s).
	HeaderTimeout, IdleTimeout time.Duration
	// ConnState, when set, is the HTTP server's connection state hook (an
	// admission.Listener's ConnState).
	ConnState func(net.Conn, http.ConnState)
	// ResponseTimeout bounds how long a POST waits for the reader's answer (default 2 min,
	// the long poll of 18013-7 implementations).
	ResponseTimeout time.Duration
	// BodyTimeout bounds reading one request body or the first WebSocket message
	// (default 10 s): a slow client is cut off.
	BodyTimeout time.Duration
	// WriteTimeout bounds writing one WebSocket message (default 10 s).
	WriteTimeout time.Duration
	// PingInterval is the WebSocket keepalive period (default 30 s; negative: off), and
	// PongTimeout how long a pong may take (default 10 s).
	PingInterval, PongTimeout time.Duration
	// RequireOrigin refuses DeviceEngagements without a website OriginInfo. Without it,
	// such engagements are accepted; an OriginInfo naming another origin is always refused.
	// A refused engagement ends: its session is offered to the lane as a refused
	// arrival (transports.Arrival.Refused), so that it has a verdict.
	RequireOrigin bool
	// OnRefused, when set, hears of requests refused without a session of their own: a
	// message to an unknown or ended session (ReasonUnknownSession), with the session
	// id asked for. It must not block.
	OnRefused func(bearer, reason, session string)
	// Rand is the key and session id source; nil means crypto/rand.
	Rand io.Reader
}

func (c *Config) defaults() {
	if c.Backlog <= 0 {
		c.Backlog = 256
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 100_000
	}
	if c.EngagementTTL <= 0 {
		c.EngagementTTL = 30 * time.Second
	}
	if c.EngagementsPerClient == 0 {
		c.EngagementsPerClient = 64
	}
	if c.SessionsPerClient == 0 {
		c.SessionsPerClient = 32
	}
	if c.EngagementsPerSecond == 0 {
		c.EngagementsPerSecond = 2
	}
	if c.EngagementBurst <= 0 {
		c.EngagementBurst = 20
	}
	if c.QRPerSecond == 0 {
		c.QRPerSecond = 1
	}
	if c.QRBurst <= 0 {
		c.QRBurst = 4
	}
	if c.QRConcurrency <= 0 {
		c.QRConcurrency = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if c.HTTPMaxMessage <= 0 || c.HTTPMaxMessage > messages.MaxMessageSize {
		c.HTTPMaxMessage = messages.MaxMessageSize
	}
	if c.WebSocketMaxMessage <= 0 || c.WebSocketMaxMessage > messages.MaxMessageSize {
		c.WebSocketMaxMessage = messages.MaxMessageSize
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = 2 * time.Minute
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.Curve == 0 {
		c.Curve = messages.CurveP256
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
}

// Engagement is one ReaderEngagement handed out by a Server and the forms it is handed
// out in.
type Engagement struct {
	ID string `json:"id"`
	// ReaderEngagement is ReaderEngagement CBOR exactly as handed out.
	ReaderEngagement []byte    `json:"-"`
	SessionURL       string    `json:"session_url"`
	WebSocketURL     string    `json:"websocket_url"`
	MdocURI          string    `json:"mdoc_uri"`       // "mdoc://" + base64url
	UniversalLink    string    `json:"universal_link"` // origin + "/engage?re=" + base64url
	Expires          time.Time `json:"expires"`
	QRPNGBase64      string    `json:"qr_png_base64,omitempty"`
}

// QRPNG renders the mdoc:// link as a QR code PNG of about size pixels.
func (e *Engagement) QRPNG(size int) ([]byte, error) { return qr.PNG(e.MdocURI, size) }

// pending is one session the server knows: handed out and waiting for its holder, or
// running.
type pending struct {
	id       string
	re       []byte
	key      *keys.PrivateKey // the EReaderKey shown in re; dropped once used or expired
	expires  time.Time
	attached bool // a first message was taken (HTTP) or a WebSocket is being set up
	ended    bool
	inflight bool // a POST is being answered
	hc       *httpConn
	// the client that asked for the engagement holds one of its engagement slots until
	// a session starts on it or it is forgotten; the client that started the session
	// holds a session slot until it ends
	eclient, sclient netip.Prefix
	eslot, sslot     bool
	// first is the MessageData that engaged over HTTP and firstReply the reader's answer
	// to it, kept until the holder's next message: a retried identical first message
	// gets the same answer (a holder whose answer was lost can go on).
	first, firstReply []byte
}

// Server is the reader's HTTP service: it hands out engagements and turns holders'
// requests into arrivals on its two listeners. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	origin *url.URL
	httpL  *listener
	wsL    *listener
	mux    *http.ServeMux

	// the bearers' message limits (Config.HTTPMaxMessage, WebSocketMaxMessage, then
	// SetMaxMessage)
	httpMax, wsMax atomic.Int64
	// per-client bounds (nil: none) and the QR images being made
	engagements *admission.Limiter
	engageRate  *admission.Rate
	sessionsPC  *admission.Limiter
	qrRate      *admission.Rate
	qrSlots     chan struct{}

	mu       sync.Mutex
	sessions map[string]*pending
	queue    []*pending // in expiry order (TTL is constant)
	head     int
	draining bool
	closed   bool
	ws       map[*wsConn]struct{} // live WebSocket sessions
	hsrv     *http.Server
	stop     chan struct{} // closed by Close: the sweeper stops

	bg group // WebSocket closers and pingers
}

// NewServer returns a server for cfg. Origin must be an http or https URL without path.
func NewServer(cfg Config) (*Server, error) {
	cfg.defaults()
	u, err := url.Parse(cfg.Origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("web: origin %q: want http(s)://host[:port]", cfg.Origin)
	}
	u.Path = ""
	s := &Server{cfg: cfg, origin: u, sessions: map[string]*pending{}, ws: map[*wsConn]struct{}{},
		httpL: newListener(BearerHTTP, cfg.Backlog), wsL: newListener(BearerWebSocket, cfg.Backlog),
		qrSlots: make(chan struct{}, cfg.QRConcurrency), stop: make(chan struct{})}
	s.httpMax.Store(int64(cfg.HTTPMaxMessage))
	s.wsMax.Store(int64(cfg.WebSocketMaxMessage))
	if cfg.EngagementsPerClient > 0 {
		s.engagements = admission.NewLimiter(cfg.EngagementsPerClient, 0)
	}
	if cfg.SessionsPerClient > 0 {
		s.sessionsPC = admission.NewLimiter(cfg.SessionsPerClient, 0)
	}
	if cfg.QRPerSecond > 0 {
		s.qrRate = admission.NewRate(cfg.QRPerSecond, cfg.QRBurst, 0)
	}
	if cfg.EngagementsPerSecond > 0 {
		s.engageRate = admission.NewRate(cfg.EngagementsPerSecond, cfg.EngagementBurst, 0)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc(EngagePath, s.handleEngage)
	s.mux.HandleFunc(SessionPath+"{id}", s.handleSession)
	return s, nil
}

// SetMaxMessage sets the message limit of a bearer (BearerHTTP or BearerWebSocket) for
// the messages read from now on (≤ 0 or above it: messages.MaxMessageSize): a lane whose
// request changed.
func (s *Server) SetMaxMessage(bearer string, n int) {
	if n <= 0 || n > messages.MaxMessageSize {
		n = messages.MaxMessageSize
	}
	switch bearer {
	case BearerHTTP:
		s.httpMax.Store(int64(n))
	case BearerWebSocket:
		s.wsMax.Store(int64(n))
	}
}

// Origin is the reader's origin as configured (without a trailing slash).
func (s *Server) Origin() string { return s.origin.String() }

// HTTPListener yields the sessions whose holder speaks HTTP POST ("http").
func (s *Server) HTTPListener() transports.Listener { return s.httpL }

// WebSocketListener yields the sessions whose holder speaks WebSocket ("websocket").
func (s *Server) WebSocketListener() transports.Listener { return s.wsL }

// Handler serves GET /engage, and POST, GET (WebSocket) and DELETE /session/{id}.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle serves another service on the server's listener (a gate's online lanes): its
// patterns must not overlap the server's own.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HTTPServer returns an http.Server for the handler with slow-client protection:
// headers within HeaderTimeout, 16 KiB of them, idle connections closed after
// IdleTimeout. Bodies and long polls are bounded per request by BodyTimeout and
// ResponseTimeout.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.mux, ReadHeaderTimeout: s.cfg.HeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		MaxHeaderBytes: 16 << 10, ConnState: s.cfg.ConnState}
}

// Serve serves on l until Close (or Shutdown) and returns http.ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	hs := s.HTTPServer()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.hsrv = hs
	s.mu.Unlock()
	s.bg.Go(s.sweeper)
	return hs.Serve(l)
}

// sweeper forgets expired engagements every quarter of their TTL, so that their keys
// and their clients' slots go even when nobody asks for a new one.
func (s *Server) sweeper() {
	t := time.NewTicker(max(s.cfg.EngagementTTL/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.sweepLocked(time.Now())
		}
		s.mu.Unlock()
		if closed {
			return
		}
		select {
		case <-t.C:
		case <-s.stop:
			return
		}
	}
}

// NewEngagement creates a ReaderEngagement with a fresh EReaderKey and registers its
// session. It fails with transports.ErrBusy when MaxPending sessions are known, and
// with ErrDraining once Drain was called. (GET /engage also counts the engagement
// against its client's EngagementsPerClient.)
func (s *Server) NewEngagement() (*Engagement, error) { return s.newEngagement(netip.Prefix{}, false) }

// admitEngagement says why an engagement for client cannot be made now (nil: it can):
// checked before any key is made.
func (s *Server) admitEngagement(client netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(time.Now())
	switch {
	case s.closed:
		return transports.ErrClosed
	case s.draining:
		return ErrDraining
	case len(s.sessions) >= s.cfg.MaxPending:
		return transports.ErrBusy
	case s.engagements != nil && s.engagements.Full(client):
		return fmt.Errorf("%w: this client holds %d engagements", transports.ErrBusy, s.cfg.EngagementsPerClient)
	}
	return nil
}

// newEngagement is NewEngagement for client; perClient counts it against the client's
// engagements.
func (s *Server) newEngagement(client netip.Prefix, perClient bool) (*Engagement, error) {
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	key, err := keys.Generate(s.cfg.Curve, s.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("web: EReaderKey: %w", err)
	}
	sessionURL := s.origin.String() + SessionPath + id
	re, err := messages.NewEngagement(key.COSEKey(), messages.NewHTTPMethod(sessionURL))
	if err != nil {
		return nil, err
	}
	re.Version = "1.1"
	// cat 1 for the reader's domain, as the reference wallets expect (CheckOrigin reads either)
	re.OriginInfos = []messages.OriginInfo{messages.NewWebsiteOriginInfo(messages.OriginCatReceive, s.origin.String())}
	reb, err := messages.Marshal(re)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	p := &pending{id: id, re: reb, expires: now.Add(s.cfg.EngagementTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	switch {
	case s.closed:
		return nil, transports.ErrClosed
	case s.draining:
		return nil, ErrDraining
	case len(s.sessions) >= s.cfg.MaxPending:
		return nil, transports.ErrBusy
	case perClient && s.engagements != nil:
		if !s.engagements.Acquire(client) {
			return nil, fmt.Errorf("%w: this client holds %d engagements", transports.ErrBusy, s.cfg.EngagementsPerClient)
		}
		p.eclient, p.eslot = client, true
	}
	p.key = key
	s.sessions[id] = p
	s.queue = append(s.queue, p)
	b64 := base64.RawURLEncoding.EncodeToString(reb)
	ws := "ws" + strings.TrimPrefix(sessionURL, "http")
	return &Engagement{ID: id, ReaderEngagement: reb, SessionURL: sessionURL, WebSocketURL: ws,
		MdocURI: qr.WebsiteEngagementPrefix + b64, UniversalLink: s.origin.String() + EngagePath + "?re=" + b64,
		Expires: p.expires}, nil
}

func (s *Server) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// sweepLocked forgets expired sessions in expiry order: unused ones release their key,
// ended ones go; running ones stay until their connection closes.
func (s *Server) sweepLocked(now time.Time) {
	for s.head < len(s.queue) && now.After(s.queue[s.head].expires) {
		p := s.queue[s.head]
		s.queue[s.head] = nil
		s.head++
		if !p.attached || p.ended {
			s.dropLocked(p)
		}
	}
	if s.head > 1024 && s.head*2 > len(s.queue) {
		s.queue = append([]*pending(nil), s.queue[s.head:]...)
		s.head = 0
	}
}

func (s *Server) dropLocked(p *pending) {
	if s.sessions[p.id] == p {
		delete(s.sessions, p.id)
	}
	p.re, p.hc, p.key = nil, nil, nil
	s.releaseEngagementLocked(p)
	s.releaseSessionLocked(p)
}

// releaseEngagementLocked gives back the engagement's slot of its client, if it holds one.
func (s *Server) releaseEngagementLocked(p *pending) {
	if p.eslot {
		p.eslot = false
		s.engagements.Release(p.eclient)
	}
}

// releaseSessionLocked gives back the session's slot of its client, if it holds one.
func (s *Server) releaseSessionLocked(p *pending) {
	if p.sslot {
		p.sslot = false
		s.sessionsPC.Release(p.sclient)
	}
}

// sessionSlotLocked takes a session slot of client for p; false when the client runs
// its SessionsPerClient already.
func (s *Server) sessionSlotLocked(p *pending, client netip.Prefix) bool {
	if s.sessionsPC == nil || p.sslot {
		return true
	}
	if !s.sessionsPC.Acquire(client) {
		return false
	}
	p.sclient, p.sslot = client, true
	return true
}

// refuseSession says why a session on bearer cannot start for client now (nil: it
// may): its lane is busy, or the client runs its share of sessions. It is checked
// before a body is read or a WebSocket upgraded.
func (s *Server) refuseSession(bearer string, client netip.Prefix) error {
	if s.cfg.Busy != nil && s.cfg.Busy(bearer) {
		return transports.ErrBusy
	}
	if s.sessionsPC != nil && s.sessionsPC.Full(client) {
		return fmt.Errorf("%w: this client runs %d sessions", transports.ErrBusy, s.cfg.SessionsPerClient)
	}
	return nil
}

// busy answers 503 with Retry-After.
func busy(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "1")
	httpError(w, http.StatusServiceUnavailable, err.Error())
}

// lookup returns a live session by id.
func (s *Server) lookupLocked(id string) (*pending, error) {
	p, ok := s.sessions[id]
	if !ok || (!p.attached && time.Now().After(p.expires)) {
		return nil, ErrUnknownSession
	}
	return p, nil
}

// ended forgets a session once its connection closed: later requests get 404.
func (s *Server) ended(p *pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ended = true
	s.dropLocked(p)
}

// Refusals counts the requests refused for a client's share: engagements held
// (EngagementsPerClient) and asked for (EngagementsPerSecond), sessions
// (SessionsPerClient) and QR images (QRPerSecond).
type Refusals struct {
	Engagements, EngagementRate, Sessions, QR int64
}

// Refusals returns the refusals so far.
func (s *Server) Refusals() Refusals {
	var r Refusals
	if s.engagements != nil {
		r.Engagements = s.engagements.Refused()
	}
	if s.engageRate != nil {
		r.EngagementRate = s.engageRate.Refused()
	}
	if s.sessionsPC != nil {
		r.Sessions = s.sessionsPC.Refused()
	}
	if s.qrRate != nil {
		r.QR = s.qrRate.Refused()
	}
	return r
}

// Pending is the number of sessions the server knows (handed out or running).
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Drain stops handing out engagements and starting sessions (503 / close 1013);
// sessions under way go on. For graceful shutdown: Drain, let the engine finish its
// sessions, then Shutdown.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Shutdown drains, stops the HTTP server started by Serve gracefully (waiting for
// requests under way until ctx ends), then closes everything as Close does.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.mu.Lock()
	hs := s.hsrv
	s.mu.Unlock()
	var err error
	if hs != nil {
		err = hs.Shutdown(ctx)
	}
	return errors.Join(err, s.Close())
}

// Close stops the server at once: both listeners, every live session (their WebSockets
// closed with 1001), the HTTP server started by Serve, and the registered reader keys.
// It waits for the goroutines it started and is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.bg.Wait()
		return nil
	}
	s.closed, s.draining = true, true
	close(s.stop)
	hs := s.hsrv
	var conns []*httpConn
	for _, p := range s.sessions {
		p.key = nil
		if p.hc != nil {
			conns = append(conns, p.hc)
		}
	}
	s.sessions = map[string]*pending{}
	s.queue, s.head = nil, 0
	ws := make([]*wsConn, 0, len(s.ws))
	for c := range s.ws {
		ws = append(ws, c)
	}
	s.mu.Unlock()
	var err error
	if hs != nil {
		err = hs.Close()
	}
	s.httpL.Close()
	s.wsL.Close()
	for _, c := range conns {
		c.closeWith(transports.ErrClosed)
	}
	for _, c := range ws {
		c.shutdown()
	}
	s.bg.Wait()
	return err
}

// handleEngage answers GET /engage with a new engagement as JSON (with a QR code PNG
// when ?qr=png), and GET /engage?re=... — the universal link opened in a browser — with a
// redirect to the mdoc:// deep link.
func (s *Server) handleEngage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if re := r.URL.Query().Get("re"); re != "" {
		if _, _, err := qr.ParseReaderEngagementQR(qr.WebsiteEngagementPrefix + re); err != nil {
			httpError(w, http.StatusBadRequest, "re: "+err.Error())
			return
		}
		http.Redirect(w, r, qr.WebsiteEngagementPrefix+re, http.StatusSeeOther)
		return
	}
	// busy is answered before anything costs: no key, no image
	client := s.cfg.Prefixes.ClientOf(r.RemoteAddr)
	if s.cfg.Busy != nil && s.cfg.Busy("") {
		busy(w, transports.ErrBusy)
		return
	}
	if err := s.admitEngagement(client); err != nil {
		busy(w, err)
		return
	}
	if s.engageRate != nil && !s.engageRate.Allow(client, time.Now()) {
		busy(w, fmt.Errorf("%w: engagements for this client limited to %g a second", transports.ErrBusy, s.cfg.EngagementsPerSecond))
		return
	}
	withQR := r.URL.Query().Get("qr") == "png"
	if withQR {
		if s.qrRate != nil && !s.qrRate.Allow(client, time.Now()) {
			busy(w, fmt.Errorf("%w: QR images for this client limited to %g a second", transports.ErrBusy, s.cfg.QRPerSecond))
			return
		}
		select {
		case s.qrSlots <- struct{}{}:
			defer func() { <-s.qrSlots }()
		default:
			busy(w, fmt.Errorf("%w: %d QR images being made", transports.ErrBusy, s.cfg.QRConcurrency))
			return
		}
	}
	e, err := s.newEngagement(client, true)
	if err != nil {
		busy(w, err)
		return
	}
	if withQR {
		png, err := e.QRPNG(384)
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		e.QRPNGBase64 = base64.StdEncoding.EncodeToString(png)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(e)
}

// handleSession dispatches /session/{id} by method.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodPost:
		s.handlePost(w, r, id)
	case http.MethodGet:
		s.handleWebSocket(w, r, id)
	case http.MethodDelete:
		s.handleDelete(w, id)
	default:
		w.Header().Set("Allow", "POST, GET, DELETE")
		httpError(w, http.StatusMethodNotAllowed, "POST session messages, GET a WebSocket, or DELETE the session")
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}

// firstMessage decodes the holder's MessageData and its DeviceEngagement and checks the
// engagement's OriginInfos against the reader's origin.
// isMD reports whether body was a MessageData at all (so a replayed first message).
func (s *Server) firstMessage(body []byte) (deviceEngagement []byte, isMD bool, status int, err error) {
	var md messages.MessageData
	if err := messages.Unmarshal(body, &md); err != nil {
		return nil, false, http.StatusBadRequest, fmt.Errorf("malformed MessageData: %w", err)
	}
	if md.DeviceEngagementBytes.IsZero() {
		return nil, false, http.StatusBadRequest, errors.New("MessageData without deviceEngagementBytes")
	}
	de, err := messages.DecodeEngagement(md.DeviceEngagementBytes.Content())
	if err != nil {
		return nil, true, http.StatusBadRequest, err
	}
	if err := CheckOrigin(de, s.origin.String(), s.cfg.RequireOrigin); err != nil {
		return nil, true, http.StatusForbidden, err
	}
	return md.DeviceEngagementBytes.Content(), true, 0, nil
}

// refuse turns away a holder whose first message the reader refuses (its origin): the
// engagement ends, and its session is offered to the lane of bearer as a refused
// arrival under the engagement's id, so that the attempt has a verdict. The caller
// holds s.mu and answers the holder.
func (s *Server) refuseLocked(p *pending, bearer string, err error) {
	reason := ReasonOriginMismatch
	if errors.Is(err, ErrNoOrigin) {
		reason = ReasonNoOrigin
	}
	l := s.httpL
	if bearer == BearerWebSocket {
		l = s.wsL
	}
	_ = l.offer(&transports.Arrival{ID: p.id, Bearer: bearer, Refused: &transports.Refusal{Reason: reason, Detail: err.Error()},
		Reject: func(error) {}})
	p.ended = true
	s.dropLocked(p)
}

// refused reports a request refused without a session of its own.
func (s *Server) refused(bearer, reason, session string) {
	if s.cfg.OnRefused != nil {
		s.cfg.OnRefused(bearer, reason, session)
	}
}

// CheckOrigin checks the website OriginInfos of a DeviceEngagement against the reader's
// origin. Every spelling messages.OriginInfo.Domain accepts is read ("domain", "baseUrl",
// "ReferrerUrl", in "details" or "Details"), with type 1 or 100; a value without a scheme
// is compared by host. Scheme and host compare case-insensitively and default ports are
// ignored. With no website OriginInfo the result is ErrNoOrigin if require is set and nil
// otherwise; with at least one, one must match or the result wraps ErrOriginMismatch.
func CheckOrigin(de *messages.Engagement, origin string, require bool) error {
	want, err := url.Parse(origin)
	if err != nil {
		return err
	}
	var seen []string
	for i := range de.OriginInfos {
		o := &de.OriginInfos[i]
		if o.Type != messages.OriginTypeWebsite && o.Type != 100 {
			continue
		}
		d, ok := o.Domain()
		if !ok {
			continue
		}
		if sameOrigin(d, want) {
			return nil
		}
		seen = append(seen, d)
	}
	if len(seen) == 0 {
		if require {
			return ErrNoOrigin
		}
		return nil
	}
	return fmt.Errorf("%w: %q, reader is %q", ErrOriginMismatch, seen[0], origin)
}

func sameOrigin(got string, want *url.URL) bool {
	if !strings.Contains(got, "://") {
		h := strings.TrimSuffix(strings.ToLower(got), "/")
		return h == strings.ToLower(want.Host) || h == strings.ToLower(want.Hostname())
	}
	u, err := url.Parse(got)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, want.Scheme) && hostPort(u) == hostPort(want)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	switch {
	case port == "" && strings.EqualFold(u.Scheme, "https"):
		port = "443"
	case port == "" && strings.EqualFold(u.Scheme, "http"):
		port = "80"
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}
