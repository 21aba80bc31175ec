// Package online is a gate's online presentation over the Internet: OpenID4VP 1.0
// transactions (a wallet on another device scans a QR code, or the same device opens an
// openid4vp:// link) and the W3C Digital Credentials API (the page calls
// navigator.credentials.get with openid4vp-v1-unsigned, openid4vp-v1-signed or the ISO
// 18013-7 Annex C org-iso-mdoc protocol), each lane on a transports/oid4vp Verifier,
// with the verifier web page of a lane.
//
// It is a bearer like the others: every answer that can be tied to its transaction
// becomes a transports.Arrival (Online: the merged DeviceResponse and the transcript
// rebuilt here) on the lane's Listener, under the transaction's id, so the engine
// verifies and decides it as it does any session; the verdict comes back through
// Complete, and the transaction reports it (status, the DC API response, the wallet's
// direct_post). Transactions answer once, expire, and are bounded in total and per
// client; a client is counted in the shares of the listener it shares with a gate's web
// lanes (Config.Clients), and answered busy before any key is made or any answer
// decrypted.
//
// # HTTP contract
//
//	POST /oid4vp/transactions               {"lane"}? → 201 {"id", "authorization_request_uri",
//	                                        "request_uri", "status_uri", "lane", "expires"}
//	GET  /oid4vp/transactions/{id}/qr.png   the authorization request URI as a QR code
//	GET  /oid4vp/transactions/{id}/status   {"state", "reason", "verdict"?} (state pending,
//	                                        accepted, rejected, error or expired)
//	GET|POST /oid4vp/lanes/{lane}/request/{rid}   the signed request object (JAR)
//	POST /oid4vp/lanes/{lane}/response/{rid}      the wallet's direct_post(.jwt)
//	POST /dcapi/transactions                {"lane"?, "protocol", "origin"} → 201 {"id",
//	                                        "request", "status_uri", "lane", "protocol",
//	                                        "expires"}; request is digital.requests[0]
//	POST /dcapi/transactions/{id}/response  the wallet's data → 200 the verdict JSON (413
//	                                        with it when the answer is over the lane's limit)
//	GET  /dcapi/transactions/{id}/status    as for oid4vp
//	GET  /verify/{lane}                     the verifier page (no external assets)
//	GET  /verify/{lane}/lane.json           what the page knows of the lane
//
// Errors are JSON {"error", "error_description"}: 400 malformed, 403 origin not served,
// 404 unknown lane or transaction, 409 already answered, 410 expired, 413 too large,
// 503 busy or draining (Retry-After).
package online

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/admission"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// Bearer names of the online lanes.
const (
	BearerOID4VP = "oid4vp"
	BearerDCAPI  = "dcapi"
)

// Protocols are the DC API protocols, in the order a page tries them by default.
var Protocols = []string{oid4vp.ProtocolAnnexC, oid4vp.ProtocolSigned, oid4vp.ProtocolUnsigned}

// Defaults of Config and LaneConfig.
const (
	DefaultMaxPending       = 100_000
	DefaultPendingPerClient = 32
	DefaultTTL              = 2 * time.Minute
	DefaultResponseTimeout  = 30 * time.Second
	maxCreateBody           = 4 << 10
)

// LaneConfig is one online lane.
type LaneConfig struct {
	// Name is the lane's name: letters, digits, '-' and '_' (it is part of URLs).
	Name string
	// Bearer is BearerOID4VP or BearerDCAPI.
	Bearer string
	// Docs is what the lane asks for, one entry per document type (any one of them
	// answers): a gate profile's request.
	Docs []request.Doc
	// Identity signs the request objects and Annex C readerAuth; its certificate binds
	// the client_id.
	Identity *oid4vp.Identity
	// ClientIDPrefix is oid4vp.PrefixX509SanDNS (default; the certificate must name the
	// server's host) or oid4vp.PrefixX509Hash.
	ClientIDPrefix string
	// Encrypted asks for encrypted responses (direct_post.jwt, dc_api.jwt).
	Encrypted bool
	// RequestURIMethod is "get" (default) or "post" (oid4vp lanes).
	RequestURIMethod string
	// Protocols are the DC API protocols a dcapi lane accepts (default all, Protocols).
	Protocols []string
	// Origins are the page origins a dcapi lane serves (default the server's origin).
	Origins []string
	// AnnexBHandover accepts older wallets' 18013-7:2024 Annex B handover (oid4vp).
	AnnexBHandover bool
	// TTL is how long a transaction waits for its answer (default DefaultTTL).
	TTL time.Duration
	// Fallback names the oid4vp lane whose QR code the page of a dcapi lane shows when
	// the browser has no Digital Credentials API.
	Fallback string
	// Title is the page's heading (default the lane's name).
	Title string
	// Backlog bounds the answers waiting for the lane's engine (default 1024).
	Backlog int
	// MaxResponse is the lane's message limit: the DeviceResponse bytes an answer may
	// carry (request.MaxResponseSize of Docs, or a gate lane's max_response_bytes; 0: no
	// bound of its own). A larger answer — its body beyond what such a response needs
	// in its encodings (oid4vp.BodyLimit), or its vp_token or Annex C response — is
	// refused unread with 413 and ends its transaction in one error verdict
	// (oid4vp.ReasonTooLarge, message_too_large).
	MaxResponse int
}

// Config configures a Server.
type Config struct {
	// Origin is the server's own origin (scheme://host[:port]), where it is reached.
	Origin string
	Lanes  []LaneConfig
	// Trust, Policy and Cache are unused by the gate (its engine verifies); they make
	// the verifiers' own checks possible.
	Trust *verify.TrustStore
	// MaxPending bounds the open transactions of all lanes (default DefaultMaxPending),
	// PendingPerClient those of one client (default DefaultPendingPerClient; negative:
	// no bound per client).
	MaxPending       int
	PendingPerClient int
	// Clients is the per-client accounting of the listener the server is on, shared
	// with the other services there (a gate's web lanes: web.Server.Clients): a
	// client's transactions also count in its Pending share (with its engagements) and
	// its PendingRate, its answers being verified in its Sessions, its QR images in its
	// QR rate. Its Prefixes say which addresses are one client (default one IPv4
	// address, an IPv6 /64). Beyond a share the request is answered 503 before any key
	// is made or any answer read.
	Clients admission.Clients
	// Busy, when set, says whether a lane would turn an answer away now (it runs its
	// sessions in flight, or verification is backed up): creating a transaction and
	// posting an answer are then answered 503 at once, before any key is made or any
	// answer decrypted.
	Busy func(lane string) bool
	// ResponseTimeout bounds how long an answer waits for its verdict (default
	// DefaultResponseTimeout); a later verdict is still reported by status.
	ResponseTimeout time.Duration
	// QRConcurrency bounds the QR images made at once (default half the CPUs, at least
	// one); beyond it qr.png answers 503.
	QRConcurrency int
	// OnRefused, when set, hears of every request refused before it reached a
	// transaction's verdict (lane "" when none was named; reason machine-readable).
	OnRefused func(lane, reason string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verdict is what the gate concluded on a transaction's answer: the state (accepted,
// rejected, error or expired), the failing check, and the verdict JSON given to the
// page.
type Verdict struct {
	State  string
	Reason string
	Body   json.RawMessage
}

// Server serves the online lanes. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	pending  slots // a client's open transactions: the server's own bounds, then Clients.Pending
	lanes    map[string]*lane
	order    []*lane
	qr       chan struct{}
	mu       sync.Mutex
	draining bool
	stop     chan struct{}
	swept    chan struct{}
}

// lane is an online lane at run time: its verifier and the listener its answers
// arrive on.
type lane struct {
	cfg      LaneConfig
	v        *oid4vp.Verifier
	query    *oid4vp.DCQL
	listener *listener
	srv      *Server
}

// NewServer checks cfg and builds the lanes' verifiers. A lane whose x509_san_dns name
// is not the origin's host is refused (wallets would refuse its requests).
func NewServer(cfg Config) (*Server, error) {
	if err := oid4vp.CheckOrigin(cfg.Origin); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.PendingPerClient == 0 {
		cfg.PendingPerClient = DefaultPendingPerClient
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.QRConcurrency <= 0 {
		cfg.QRConcurrency = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, lanes: map[string]*lane{}, qr: make(chan struct{}, cfg.QRConcurrency),
		stop: make(chan struct{}), swept: make(chan struct{}),
		pending: slots{admission.NewLimiter(max(cfg.PendingPerClient, 0), cfg.MaxPending)}}
	if cfg.Clients.Pending != nil {
		s.pending = append(s.pending, cfg.Clients.Pending)
	}
	for i, lc := range cfg.Lanes {
		l, err := s.newLane(lc)
		if err != nil {
			return nil, fmt.Errorf("online: lanes[%d] (%s): %w", i, lc.Name, err)
		}
		s.lanes[lc.Name] = l
		s.order = append(s.order, l)
	}
	for _, l := range s.order {
		if f := l.cfg.Fallback; f != "" {
			if fl := s.lanes[f]; fl == nil || fl.cfg.Bearer != BearerOID4VP {
				return nil, fmt.Errorf("online: lane %s: fallback %q is not an oid4vp lane", l.cfg.Name, f)
			}
		}
	}
	go s.sweeper()
	return s, nil
}

// sweeper expires transactions every quarter of the shortest TTL (at most every 5 s),
// so that their clients' slots come back even when nobody begins a new one.
func (s *Server) sweeper() {
	defer close(s.swept)
	every := 5 * time.Second
	for _, l := range s.order {
		every = min(every, max(l.cfg.TTL/4, 10*time.Millisecond))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.Sweep()
		case <-s.stop:
			return
		}
	}
}

func (s *Server) newLane(lc LaneConfig) (*lane, error) {
	if !validName(lc.Name) {
		return nil, fmt.Errorf("lane name %q: letters, digits, '-' and '_' only", lc.Name)
	}
	if s.lanes[lc.Name] != nil {
		return nil, fmt.Errorf("a second lane named %q", lc.Name)
	}
	switch lc.Bearer {
	case BearerOID4VP:
		if len(lc.Protocols) > 0 || len(lc.Origins) > 0 || lc.Fallback != "" {
			return nil, errors.New("protocols, origins and fallback are for dcapi lanes")
		}
	case BearerDCAPI:
		if lc.RequestURIMethod != "" || lc.AnnexBHandover {
			return nil, errors.New("request_uri_method and the Annex B handover are for oid4vp lanes")
		}
	default:
		return nil, fmt.Errorf("bearer %q (want %s or %s)", lc.Bearer, BearerOID4VP, BearerDCAPI)
	}
	if len(lc.Protocols) == 0 {
		lc.Protocols = Protocols
	}
	for _, p := range lc.Protocols {
		if !slices.Contains(Protocols, p) {
			return nil, fmt.Errorf("protocol %q (want %s)", p, strings.Join(Protocols, ", "))
		}
	}
	if len(lc.Origins) == 0 {
		lc.Origins = []string{s.cfg.Origin}
	}
	for _, o := range lc.Origins {
		if err := oid4vp.CheckOrigin(o); err != nil {
			return nil, err
		}
	}
	if lc.TTL <= 0 {
		lc.TTL = DefaultTTL
	}
	if lc.Backlog <= 0 {
		lc.Backlog = 1024
	}
	if lc.Title == "" {
		lc.Title = lc.Name
	}
	if len(lc.Docs) == 0 {
		return nil, errors.New("the lane asks for no document")
	}
	l := &lane{cfg: lc, query: oid4vp.QueryFromDocs(lc.Docs), listener: newListener(lc.Bearer, lc.Backlog), srv: s}
	if err := l.query.Validate(); err != nil {
		return nil, err
	}
	v, err := oid4vp.NewVerifier(oid4vp.VerifierConfig{BaseURL: s.cfg.Origin + "/oid4vp/lanes/" + lc.Name, Identity: lc.Identity,
		ClientIDPrefix: lc.ClientIDPrefix, Trust: s.cfg.Trust, TTL: lc.TTL, MaxTransactions: s.cfg.MaxPending,
		MaxResponse: lc.MaxResponse, Limiter: s.pending, AnnexBHandover: lc.AnnexBHandover, Deliver: l.deliver, ResponseTimeout: s.cfg.ResponseTimeout,
		Now: s.cfg.Now})
	if err != nil {
		return nil, err
	}
	l.v = v
	return l, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// deliver offers an answer to the lane's engine as an arrival under the transaction's
// id. An answer the lane then turns away (busy) reopens the transaction.
func (l *lane) deliver(a *oid4vp.Answer) error {
	p := &transports.Presentation{Response: a.Response, Transcript: a.Transcript, Alternate: a.Alternate, Err: a.Err, Reason: a.Reason}
	id := a.Transaction.ID
	arr := &transports.Arrival{ID: id, Bearer: l.cfg.Bearer, Online: p, EngagedAt: a.Transaction.Created, Reject: func(error) {
		if l.v.Reopen(id) {
			l.srv.refused(l.cfg.Name, "busy")
		}
	}}
	if err := l.listener.Offer(arr); err != nil {
		l.srv.refused(l.cfg.Name, "busy")
		return err
	}
	return nil
}

// Listener yields the answers of a lane's transactions; nil for an unknown lane.
func (s *Server) Listener(name string) transports.Listener {
	if l := s.lanes[name]; l != nil {
		return l.listener
	}
	return nil
}

// Complete ends the transaction id of lane with the gate's verdict; false when it is not
// waiting for one.
func (s *Server) Complete(laneName, id string, v Verdict) bool {
	l := s.lanes[laneName]
	if l == nil {
		return false
	}
	return l.v.Complete(id, &oid4vp.Outcome{Valid: v.State == oid4vp.StateAccepted, State: v.State, Reason: v.Reason, Verdict: v.Body,
		Err: outcomeErr(v)})
}

func outcomeErr(v Verdict) error {
	switch {
	case v.State == oid4vp.StateAccepted:
		return nil
	case v.Reason == oid4vp.ReasonTooLarge: // the wallet is answered 413
		return fmt.Errorf("%w: %s (%s)", oid4vp.ErrTooLarge, v.State, v.Reason)
	}
	return fmt.Errorf("%w: %s (%s)", oid4vp.ErrInvalidPresentation, v.State, v.Reason)
}

// Drain stops new transactions (503); answers to open ones are still taken.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Close closes every lane's listener: answers still queued are turned away (their
// transactions reopen), later answers get 503.
func (s *Server) Close() {
	s.Drain()
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	<-s.swept
	for _, l := range s.order {
		l.listener.Close()
	}
}

// Sweep expires the transactions whose time is up, giving their clients' slots back.
// Creating a transaction sweeps its lane; the gate also sweeps on a timer.
func (s *Server) Sweep() {
	for _, l := range s.order {
		l.v.Sweep()
	}
}

func (s *Server) refused(lane, reason string) {
	if s.cfg.OnRefused != nil {
		s.cfg.OnRefused(lane, reason)
	}
}

// listener is a lane's backlog of answers.
type listener struct {
	bearer string
	*transports.Backlog
}

func newListener(bearer string, n int) *listener {
	return &listener{bearer: bearer, Backlog: transports.NewBacklog(n)}
}

func (l *listener) Bearer() string { return l.bearer }

func (l *listener) Close() error {
	l.Backlog.Close(func(a *transports.Arrival) { a.Reject(transports.ErrClosed) })
	return nil
}
