package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/actuator"
	"github.com/mdocgate/mdocgate/supervisor/audit"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/admission"
	"github.com/mdocgate/mdocgate/transports/bearers"
	"github.com/mdocgate/mdocgate/transports/online"
	"github.com/mdocgate/mdocgate/transports/web"
)

// Options are what a gate reports to and logs on.
type Options struct {
	// Log is the gate's log (nil: none).
	Log *zap.Logger
	// OnVerdict, when set, is called once per session verdict, from the engine's
	// publishing goroutine: it must not block.
	OnVerdict func(Verdict)
	// OnEvent, when set, is called after every trust reload.
	OnEvent func(Event)
}

// Info is what a gate serves, once New returned (serve prints it as its first line).
type Info struct {
	// Listen, Origin and Engage are the web server's; a gate without web lanes has none.
	Listen string `json:"listen,omitempty"`
	Origin string `json:"origin,omitempty"`
	Engage string `json:"engage,omitempty"`
	// HTTP is where /metrics, /healthz and /dashboard/ listen, when they do.
	HTTP  string     `json:"http,omitempty"`
	Name  string     `json:"name,omitempty"`
	Lanes []LaneInfo `json:"lanes,omitempty"`
	// Venue and NATS name the gate's venue and the client URL of the JetStream server
	// it embeds (when it does).
	Venue string `json:"venue,omitempty"`
	NATS  string `json:"nats,omitempty"`
	// Verify holds the verifier page of each online lane (oid4vp, dcapi), by lane.
	Verify map[string]string `json:"verify,omitempty"`
}

// LaneInfo names a configured lane and its bearer.
type LaneInfo struct {
	Name   string `json:"name"`
	Bearer string `json:"bearer"`
	// MaxResponseBytes is the largest message the lane takes from a holder (its
	// max_response_bytes, or what its request can need).
	MaxResponseBytes int `json:"max_response_bytes"`
}

// Verdict is how a session ended: never element values.
type Verdict struct {
	Session   string  `json:"session"`
	Lane      string  `json:"lane"`
	Bearer    string  `json:"bearer"`
	Outcome   string  `json:"outcome"`
	Reason    string  `json:"reason,omitempty"`
	Detail    string  `json:"detail,omitempty"`
	LatencyMs float64 `json:"latency_ms"`
	// Action is what the lane's actuator was told (open, deny, call_staff); lanes with
	// a profile only.
	Action string `json:"action,omitempty"`
	// HolderVerification is the matcher's answer (match, no_match, undecided) when the
	// lane verified the holder.
	HolderVerification string `json:"holder_verification,omitempty"`
	// Credential is the venue's key of the credential (a hash) when the gate is in a
	// venue and the venue decided on it (what `mdocgate deny add` takes).
	Credential string `json:"credential,omitempty"`
}

// Event is the outcome of a reload (SIGHUP, Reload) or of a VICAL fetch:
//
//   - "trust_reloaded": the reload took effect; Anchors are the anchors now in use,
//     RestartNeeded the changed fields a reload cannot apply (they keep their values
//     until a restart);
//   - "trust_reload_failed": nothing changed (the current trust, profiles, certificates
//     and actuators stay); Error names the field;
//   - "vical_updated": a fetch of trust.vical_url brought a new list; Anchors as above.
type Event struct {
	Event         string   `json:"event"`
	Anchors       int      `json:"anchors,omitempty"`
	Error         string   `json:"error,omitempty"`
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// Gate is a running gate daemon: its lanes take sessions from New on; Run serves the
// web lanes, handles signals and shuts the gate down.
type Gate struct {
	// cfg is the configuration the gate started with: what only a restart changes is
	// read from it. live is the configuration the reloadable settings (trust, reader
	// authentication, profiles, actuators, certificates) were last taken from.
	cfg       *Config
	live      atomic.Pointer[Config]
	log       *zap.Logger
	onVerdict func(Verdict)
	onEvent   func(Event)
	logValues atomic.Bool // log_element_values, reloadable

	eng     *supervisor.Engine
	guard   *opsGuard // of the operations endpoints, with http_addr
	webLn   *admission.Listener
	lanes   []*lane
	byName  map[string]*lane
	radios  map[string]transports.Bearer // the bearer of every radio lane, by lane name
	actions *prometheus.CounterVec
	desk    *operatorDesk
	ln      net.Listener
	srv     *web.Server
	ops     *opsServer
	unsub   func()
	info    Info
	anchors int // at start
	// status checks revocation (nil: off); stopStatus ends its background refresh.
	status     *trust.StatusClient
	stopStatus func()
	venue      *gateVenue // nil without a venue section

	trust      atomic.Pointer[trustState]
	webCerts   *certSource // nil without tls
	opsCerts   *certSource // nil without ops_tls
	ready      *readiness
	stopping   atomic.Bool // shutdown began: not ready
	audit      *audit.Log
	actMetrics *actuator.Metrics
	vical      *vicalFetcher
	stopBg     context.CancelFunc // ends the background work (VICAL fetches, expiry warnings)
	bgDone     chan struct{}
	// online serves the oid4vp and dcapi lanes on the web listener (nil: none).
	online *online.Server
	// refused counts the web and online lanes' requests refused without a verdict of
	// their own.
	refused *prometheus.CounterVec

	reloading sync.Mutex
}

// lane is a configured lane at run time: its switch, what it needs to build a reader
// configuration for a trust store, and, with a profile, its gate (holder verification
// while the session is open, the actuator once the verdict is out).
type lane struct {
	cfg     LaneConfig
	current atomic.Pointer[readersession.Config] // what new sessions use; swapped on reload
	rules   atomic.Pointer[laneRules]            // what current was built with
	cache   *verify.ChainCache
	// act carries out the gate's actions; nil on a plain lane.
	act *actuation
	// bearer is the supervisor bearer of a radio lane; nil for web lanes.
	bearer transports.Bearer
	// busy counts the arrivals the lane refused for lack of capacity.
	busy atomic.Int64
	// inFlight is the lane's sessions in flight (actors.LaneConfig.InFlight).
	inFlight atomic.Int64
	// actFrom is the lane configuration act's actuator was built from (a reload's,
	// or cfg); reload only.
	actFrom *LaneConfig
}

// laneRules are a lane's request and decision, replaced whole by a reload: a session
// keeps the rules (and trust) it started with.
type laneRules struct {
	lane     string
	request  []request.Doc
	readAuth request.Signer
	trust    *TrustRules       // strict, clock skew, crypto budget
	rev      verify.Revocation // nil: no revocation checks
	// profile, decider and hv are nil on a plain lane (LaneConfig.Request). hv decides
	// (holder verification) without an actuator: it runs inside the session, under the
	// session's id (the operator desk's requests and audit records name it).
	profile *profile.Profile
	decider *gate.SessionDecider
	hv      *gate.Gate
	hvMode  string
	// venue decides, after the lane would open, on the deny list and anti-passback;
	// nil outside a venue and on plain lanes.
	venue *gateVenue
}

func (l *lane) readerConfig(ts *verify.TrustStore, r *laneRules) *readersession.Config {
	rc := &readersession.Config{Request: r.request, ReaderAuth: r.readAuth, Trust: ts, Cache: l.cache, Revocation: r.rev}
	r.trust.apply(rc)
	if r.profile != nil {
		// holder verification can wait (an operator looks at the portrait): the engine
		// then runs the decision off its workers
		rc.Verify, rc.Decide, rc.DecideMayWait = r.decider.Run, r.decide, r.hvMode != hvNone
		if r.venue != nil { // the venue's decision waits on the network: off the workers too
			rc.Verify, rc.DecideMayWait = r.verifyForVenue, true
		}
	}
	return rc
}

// decide is the lane's readersession.Config.Decide: the profile's decision made on the
// crypto worker (SessionDecider.Run), then holder verification when the lane or the
// profile asks for it. With holder verification it runs on a goroutine of its own
// (DecideMayWait), so an operator's wait holds that session only. The gate verdict
// travels into the session's verdict as its Note (final).
func (r *laneRules) decide(vr readersession.Verification) readersession.Decision {
	vn, inVenue := vr.Note.(venueNote)
	d, ok := r.decider.Decision(vr)
	switch {
	case inVenue:
		d = vn.decision
	case !ok: // not from Run: decide without the response, MSO checks fail closed
		d = r.profile.Decide(vr.Result, time.Now())
	}
	v := r.hv.ProcessDecision(context.Background(), r.lane, vr.Session, vr.Result, d)
	if v.Action == gate.ActionOpen && r.venue != nil && r.requestedOnly(vr.Result) {
		if !inVenue {
			vn = venueNote{keyErr: errors.New("the verification did not name the credential")}
		}
		v = r.venue.decide(vn, v)
	}
	if v.Action == gate.ActionOpen {
		return readersession.Decision{Outcome: readersession.Accepted, Note: v}
	}
	return readersession.Decision{Outcome: readersession.Rejected, Reason: v.Reason, Note: v}
}

// requestedOnly reports whether every document of res is of a requested docType: a
// session that answers with another is rejected anyway (readersession), so the venue
// must not record its admission.
func (r *laneRules) requestedOnly(res *verify.Result) bool {
	for _, d := range res.Documents {
		if !slices.ContainsFunc(r.request, func(r request.Doc) bool { return r.DocType == d.DocType }) {
			return false
		}
	}
	return true
}

// final is the gate verdict of a published session verdict: the one decide made when it
// agrees with the session's outcome, otherwise the action the session's verdict maps
// onto (sessionAction).
func (l *lane) final(sv *actors.SessionVerdict) gate.Verdict {
	v, ok := sv.Note.(gate.Verdict)
	if ok && v.Reason == sv.Reason && (v.Action == gate.ActionOpen) == (sv.Outcome == readersession.Accepted) {
		return v
	}
	out := gate.Verdict{Reason: sv.Reason, Action: sessionAction(sv.Outcome, sv.Reason)}
	if ok {
		out.Match, out.MatchError, out.Credential = v.Match, v.MatchError, v.Credential
	}
	return out
}

// New validates cfg (filling its defaults; do not change it afterwards), reads the
// trust anchors and keys, and starts the gate: its lanes listen and take sessions, the
// operations endpoints serve. The web lanes take sessions once Run serves them. Its
// errors are *ConfigError. A gate New returned must be Run (with a context already
// done, Run only shuts it down).
func New(cfg *Config, opts Options) (*Gate, error) {
	g, err := start(cfg, opts)
	return g, configError(err)
}

func start(cfg *Config, opts Options) (*Gate, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	for i, l := range cfg.Lanes {
		if l.HolderVerification == hvOperator && cfg.HTTPAddr == "" { // checked here: serve may set http_addr after loading
			return nil, bad(fmt.Sprintf("lanes[%d].holder_verification", i), "operator needs http_addr (the operator answers at /operator/)")
		}
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	g := &Gate{cfg: cfg, log: log.With(zap.String("gate", cfg.Name)), onVerdict: opts.OnVerdict, onEvent: opts.OnEvent,
		byName: map[string]*lane{}, radios: map[string]transports.Bearer{}, ready: &readiness{}, actMetrics: actuator.NewMetrics(),
		bgDone: make(chan struct{})}
	g.live.Store(cfg)
	g.logValues.Store(cfg.LogElementValues)
	g.vical = newVICALFetcher(&cfg.Trust, g.live.Load, g.log.Named("vical"))
	if g.vical != nil { // the first fetch before serving: a failure leaves the other anchors (or none: not ready)
		ctx, cancel := context.WithTimeout(context.Background(), vicalFetchTimeout)
		_ = g.vical.fetch(ctx)
		cancel()
	}
	ts, err := cfg.loadTrustWith(time.Now(), g.vical.current())
	if err != nil {
		return nil, err
	}
	g.anchors = ts.Len()
	readAuth, err := cfg.loadReaderAuth()
	if err != nil {
		return nil, err
	}
	if g.status, err = cfg.newStatusClient(); err != nil {
		return nil, err
	}
	if g.webCerts, err = cfg.newWebCerts(); err != nil {
		return nil, err
	}
	if g.opsCerts, err = cfg.newOpsCerts(); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr != "" {
		if g.guard, err = cfg.newOpsGuard(g.log.Named("ops")); err != nil {
			return nil, err
		}
		if g.guard.open {
			g.log.Warn("operations endpoints without authentication (ops_auth): anyone on this host can use the operator desk and the dashboard",
				zap.String("http_addr", cfg.HTTPAddr))
		}
	}
	g.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_gate_actions_total",
		Help: "Gate actions carried out, by lane, action (open, deny, call_staff, none) and reason (failing check)."},
		[]string{"lane", "action", "reason"})
	if g.venue, err = g.startVenue(); err != nil {
		return nil, err
	}
	hasWeb := false
	for i := range cfg.Lanes {
		l, err := g.newLane(i, cfg, readAuth)
		if err != nil {
			g.desk.close()
			g.venue.close()
			return nil, err
		}
		g.lanes = append(g.lanes, l)
		g.byName[l.cfg.Name] = l
		hasWeb = hasWeb || l.cfg.isWeb() || l.cfg.isOnline()
	}
	acts := make([]*laneActuator, len(g.lanes))
	for i, l := range g.lanes { // files read and programs found before anything starts
		if l.rules.Load().profile != nil {
			if acts[i], err = g.newActuator(i, &l.cfg); err != nil {
				g.desk.close()
				return nil, err
			}
		}
	}
	if g.audit, err = cfg.openAudit(); err != nil {
		g.desk.close()
		return nil, err
	}
	if g.desk != nil {
		g.desk.onAnswer = g.auditDecision
	}
	if hasWeb { // the web server runs when a lane takes its sessions from it
		if err := g.listenWeb(); err != nil {
			g.desk.close()
			g.venue.close()
			g.closeAudit()
			return nil, err
		}
		if err := g.newOnline(readAuth); err != nil {
			g.desk.close()
			g.venue.close()
			g.closeAudit()
			g.ln.Close()
			return nil, err
		}
	}
	g.eng = supervisor.Start(supervisor.Config{Log: g.log, CryptoQueuePerLane: cfg.Limits.CryptoQueuePerLane})
	for i, l := range g.lanes {
		if acts[i] != nil {
			acts[i].connect()
			l.act = newActuation(l.cfg.Name, acts[i], l.cfg.ActuatorOptions.Queue, g.actions, g.actMetrics, g.log)
		}
	}
	g.unsub = g.eng.Results().Subscribe(g.verdict)
	g.trust.Store(&trustState{ts: ts, loaded: time.Now()})
	for i, l := range g.lanes {
		if err := g.addLane(i, l, ts); err != nil {
			g.abort()
			return nil, err
		}
	}
	g.warnExpiring(time.Now())
	g.readyParts()
	if cfg.HTTPAddr != "" {
		var fleet func() any
		if g.venue != nil {
			fleet = func() any { return g.venue.v.Fleet() }
		}
		if g.ops, err = startOps(opsConfig{addr: cfg.HTTPAddr, title: cfg.Name, tls: g.opsTLS(), guard: g.guard, limits: &cfg.Limits,
			ready: g.ready, desk: g.desk, fleet: fleet, errLog: opsErrorLog(g.log), collectors: g.collectors(), pprof: cfg.Pprof}, g.eng); err != nil {
			g.abort()
			return nil, &fieldError{"http_addr", err}
		}
	}
	g.info = Info{Name: cfg.Name}
	if g.srv != nil {
		g.info.Listen, g.info.Origin, g.info.Engage = g.ln.Addr().String(), g.srv.Origin(), g.srv.Origin()+web.EngagePath
	}
	if g.ops != nil {
		g.info.HTTP = g.ops.addr
	}
	for _, l := range g.lanes {
		g.info.Lanes = append(g.info.Lanes, LaneInfo{Name: l.cfg.Name, Bearer: l.cfg.Bearer, MaxResponseBytes: l.maxMessage()})
		if l.cfg.isOnline() {
			if g.info.Verify == nil {
				g.info.Verify = map[string]string{}
			}
			g.info.Verify[l.cfg.Name] = g.srv.Origin() + online.VerifyPath + l.cfg.Name
		}
	}
	g.startBackground()
	g.stopStatus = startStatusRefresh(g.status)
	if g.venue != nil {
		g.info.Venue = cfg.Venue.Name
		if g.venue.server != nil {
			g.info.NATS = g.venue.server.ClientURL()
		}
	}
	return g, nil
}

// newLane builds lane i of the configuration with its rules.
func (g *Gate) newLane(i int, cfg *Config, readAuth request.Signer) (*lane, error) {
	l := &lane{cfg: cfg.Lanes[i], cache: verify.NewChainCache(64)}
	l.actFrom = &l.cfg
	r, err := g.newRules(i, cfg, readAuth)
	if err != nil {
		return nil, err
	}
	l.rules.Store(r)
	return l, nil
}

// newRules builds the rules of lane i of cfg: its request, and with a profile the
// decision and holder verification. Errors name the field after lanes[i].
func (g *Gate) newRules(i int, cfg *Config, readAuth request.Signer) (*laneRules, error) {
	lc := cfg.Lanes[i]
	r := &laneRules{lane: lc.Name, request: lc.Request, readAuth: readAuth, hvMode: lc.HolderVerification, rev: laneRevocation(g.status, nil),
		trust: &cfg.Trust.TrustRules}
	if lc.plain() {
		return r, nil
	}
	p, err := cfg.profile(&lc)
	if err != nil {
		return nil, within(fmt.Sprintf("lanes[%d]", i), err)
	}
	hv := &gate.Gate{Profile: p}
	switch lc.HolderVerification {
	case hvTestAccept:
		hv.Matcher = &gate.TestMatcher{Verdict: gate.Match}
	case hvTestReject:
		hv.Matcher = &gate.TestMatcher{Verdict: gate.NoMatch}
	case hvOperator:
		if g.desk == nil {
			g.desk = newOperatorDesk(g.log.Named("operator"))
		}
		hv.Matcher, hv.MatchTimeout = g.desk.matcher(lc.OperatorTimeout), lc.OperatorTimeout
	}
	// the decider runs on the crypto worker with the DeviceResponse at hand, so the
	// profile's MSO checks (freshness, device-auth kind, curves, status) apply
	r.profile, r.request, r.decider, r.hv, r.rev = p, p.Request(), &gate.SessionDecider{Profile: p}, hv, laneRevocation(g.status, p)
	r.venue = g.venue
	return r, nil
}

// listenWeb opens the web lanes' listener and server, within the limits: connections
// per client and in all (from the file limit), engagements, sessions and QR images per
// client, each lane's message limit, and busy answered before any key while a lane is
// full.
func (g *Gate) listenWeb() error {
	// no TCP keep-alive on the web lanes' connections: a session's WebSocket is pinged
	// (every 30 s) and the session has an inactivity timeout, an idle HTTP connection is
	// closed (idle_timeout, conn_lifetime); keep-alive cost four setsockopt calls per
	// connection accepted
	raw, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", g.cfg.Listen)
	if err != nil {
		return &fieldError{"listen", err}
	}
	lim := &g.cfg.Limits
	g.webLn = admission.NewListener(raw, admission.ListenerLimits{Max: lim.MaxConnections, PerClient: lim.ConnectionsPerClient,
		Prefixes: lim.prefixes(), Lifetime: lim.ConnLifetime})
	var ln net.Listener = g.webLn
	scheme := "http"
	if g.webCerts != nil { // certificates looked up per handshake: a reload swaps them
		scheme, ln = "https", tls.NewListener(ln, g.webCerts.config())
	}
	origin := g.cfg.Origin
	if origin == "" {
		origin = scheme + "://" + listenHost(g.cfg.Listen, ln.Addr())
	}
	g.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_refused_total",
		Help: "Requests refused without a verdict of their own, by lane and reason: a message to an unknown or ended " +
			"web session; an online lane's unknown or expired transaction, replay, malformed answer, origin not served, busy."},
		[]string{"lane", "reason"})
	wc := web.Config{Origin: origin, RequireOrigin: g.cfg.RequireOrigin, Backlog: 1024, OnRefused: g.webRefused,
		EngagementTTL: lim.EngagementTTL, Prefixes: lim.prefixes(), EngagementsPerClient: lim.EngagementsPerClient,
		EngagementsPerSecond: lim.EngagementsPerSecond, EngagementBurst: lim.EngagementBurst,
		SessionsPerClient: lim.SessionsPerClient, QRPerSecond: lim.QRPerSecond, QRBurst: lim.QRBurst,
		HeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout, ConnState: g.webLn.ConnState, Busy: g.webBusy}
	for _, l := range g.lanes {
		switch l.cfg.Bearer {
		case web.BearerHTTP:
			wc.HTTPMaxMessage = l.maxMessage()
		case web.BearerWebSocket:
			wc.WebSocketMaxMessage = l.maxMessage()
		}
	}
	srv, err := web.NewServer(wc)
	if err != nil {
		ln.Close()
		return &fieldError{"origin", err}
	}
	g.ln, g.srv = ln, srv
	return nil
}

// webBusy is the web server's Busy: whether the lane of bearer ("" for any web lane)
// would refuse a session now — it runs its max_in_flight, or verification is backed up
// (the crypto queues hold three quarters of a lane's bound) and a session would end
// crypto_busy after its key exchange. The server refuses at once when it says so: a
// refusal for a lane is counted as the lane's own would be (mdocgate_lane_busy_total,
// mdocgate_busy_rejections_total).
func (g *Gate) webBusy(bearer string) bool {
	backedUp := g.cryptoBackedUp()
	busy := true
	for _, l := range g.lanes {
		if !l.cfg.isWeb() || (bearer != "" && l.cfg.Bearer != bearer) {
			continue
		}
		if !backedUp && l.inFlight.Load() < int64(l.cfg.MaxInFlight) {
			busy = false
			continue
		}
		if bearer != "" {
			l.busy.Add(1)
			if g.eng != nil {
				g.eng.Counters().Busy.Add(1)
			}
		}
	}
	return busy
}

// cryptoBackedUp reports whether verification is backed up: the crypto queues hold
// three quarters of a lane's bound, and a new session would end crypto_busy.
func (g *Gate) cryptoBackedUp() bool {
	return g.eng != nil && g.eng.Counters().CryptoQueue.Load() >= int64(g.cfg.Limits.CryptoQueuePerLane)*3/4
}

// webCollectors export the web listener's and server's limits at work.
func (g *Gate) webCollectors() []prometheus.Collector {
	r := func() web.Refusals { return g.srv.Refusals() }
	return append(listenerCollectors("web", g.webLn),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_client_refusals_total", Help: "Web requests refused for a client's share, by what.",
			ConstLabels: prometheus.Labels{"what": "engagements"}}, func() float64 { return float64(r().Engagements) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_client_refusals_total", Help: "Web requests refused for a client's share, by what.",
			ConstLabels: prometheus.Labels{"what": "engagement_rate"}}, func() float64 { return float64(r().EngagementRate) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_client_refusals_total", Help: "Web requests refused for a client's share, by what.",
			ConstLabels: prometheus.Labels{"what": "sessions"}}, func() float64 { return float64(r().Sessions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_client_refusals_total", Help: "Web requests refused for a client's share, by what.",
			ConstLabels: prometheus.Labels{"what": "qr"}}, func() float64 { return float64(r().QR) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mdocgate_web_pending", Help: "Engagements and web sessions the web server knows."},
			func() float64 { return float64(g.srv.Pending()) }))
}

// listenHost is host:port of the default origin: the address listened on, under the
// host name the configuration gave when it gave one ("localhost:0" listens on a
// loopback address, and a reader certificate names localhost, not 127.0.0.1).
func listenHost(listen string, addr net.Addr) string {
	host, _, err := net.SplitHostPort(listen)
	_, port, perr := net.SplitHostPort(addr.String())
	if err != nil || perr != nil || host == "" || net.ParseIP(host) != nil {
		return addr.String()
	}
	return net.JoinHostPort(host, port)
}

// webRefused counts and logs a web request refused without a session of its own,
// naming the session id the holder asked for.
func (g *Gate) webRefused(bearer, reason, session string) {
	lane := ""
	for _, l := range g.lanes {
		if l.cfg.Bearer == bearer {
			lane = l.cfg.Name
		}
	}
	g.refused.WithLabelValues(lane, reason).Inc()
	g.log.Info("web request refused", zap.String("lane", lane), zap.String("bearer", bearer), zap.String("reason", reason),
		zap.String("session", session))
}

// addLane opens a radio lane's bearer and adds lane i to the engine.
func (g *Gate) addLane(i int, l *lane, ts *verify.TrustStore) error {
	var src transports.Listener
	var framer transports.Framer = web.WholeMessage{}
	switch l.cfg.Bearer {
	case web.BearerHTTP:
		src = g.srv.HTTPListener()
	case web.BearerWebSocket:
		src = g.srv.WebSocketListener()
	case online.BearerOID4VP, online.BearerDCAPI:
		src = g.online.Listener(l.cfg.Name)
	default:
		field := fmt.Sprintf("lanes[%d].bearer", i)
		if l.cfg.Bearer == bearerNFCPCSC {
			field = fmt.Sprintf("lanes[%d].reader", i)
		}
		if l.cfg.QRScanner != "" {
			field = fmt.Sprintf("lanes[%d].qr_scanner", i)
		}
		b, err := bearers.Open(l.cfg.openedBearer(), l.cfg.bearerOptions())
		if err != nil {
			return &fieldError{field, err}
		}
		if s, ok := b.(interface{ SetLog(func(string, ...any)) }); ok { // a scanner's ignored lines
			lane := l.cfg.Name
			s.SetLog(func(msg string, args ...any) {
				fields := []zap.Field{zap.String("lane", lane)}
				for k := 0; k+1 < len(args); k += 2 {
					fields = append(fields, zap.Any(fmt.Sprint(args[k]), args[k+1]))
				}
				g.log.Warn(msg, fields...)
			})
		}
		l.bearer = b
		if src, err = b.Listen(l.cfg.Name, min(l.cfg.MaxInFlight, 1024)); err != nil {
			return &fieldError{field, err}
		}
		framer = b.Framer()
		g.radios[l.cfg.Name] = b
	}
	l.current.Store(l.readerConfig(ts, l.rules.Load()))
	if err := g.eng.AddLane(&actors.LaneConfig{Name: l.cfg.Name, Listener: src, MaxInFlight: l.cfg.MaxInFlight, Busy: &l.busy,
		InFlight: &l.inFlight,
		Sessions: actors.SessionSettings{ReaderFunc: l.current.Load, EngagementTimeout: l.cfg.EngagementTimeout,
			InactivityTimeout: l.cfg.InactivityTimeout, Framer: framer, MaxMessageFunc: l.maxMessage}}); err != nil {
		return &fieldError{fmt.Sprintf("lanes[%d]", i), err}
	}
	return nil
}

// verdict reports a published session verdict and, on a lane with a profile, hands
// the gate's action to the lane's actuator.
func (g *Gate) verdict(sv *actors.SessionVerdict) {
	v := Verdict{Session: sv.SessionID, Lane: sv.Lane, Bearer: sv.Bearer, Outcome: string(sv.Outcome),
		Reason: sv.Reason, Detail: sv.Detail, LatencyMs: float64(sv.Latency().Microseconds()) / 1000}
	var audited *gate.Verdict
	l := g.byName[sv.Lane]
	if g.venue != nil && l != nil {
		g.venue.v.Record(sv.Lane, l.cfg.Zone, string(sv.Outcome), sv.Reason)
	}
	if l != nil && l.act != nil {
		gv := l.final(sv)
		audited = &gv
		v.Action = string(gv.Action)
		fields := []zap.Field{zap.String("bearer", sv.Bearer), zap.String("outcome", string(sv.Outcome))}
		if sv.Reason != "" {
			fields = append(fields, zap.String("check", sv.Reason))
		}
		v.Credential = gv.Credential
		if gv.Credential != "" {
			fields = append(fields, zap.String("credential", gv.Credential))
		}
		if gv.Match != nil {
			v.HolderVerification = string(gv.Match.Verdict)
			fields = append(fields, zap.String("holder_verification", string(gv.Match.Verdict)))
			if gv.Match.By != "" {
				fields = append(fields, zap.String("verified_by", gv.Match.By))
			}
		}
		event := actuator.Event{Gate: g.cfg.Name, Bearer: sv.Bearer, Outcome: string(sv.Outcome), Time: sv.Ended}
		if g.logValues.Load() {
			event.Elements = loggedElements(sv.Result)
			fields = append(fields, zap.Any("elements", event.Elements))
		}
		l.act.push(actJob{session: sv.SessionID, v: gv, fields: fields, event: event})
		if l.cfg.isOnline() {
			g.onlineVerdict(l, sv, v)
		}
	}
	g.auditVerdict(sv, audited)
	if g.onVerdict != nil {
		g.onVerdict(v)
	}
}

// Info returns what the gate serves.
func (g *Gate) Info() Info { return g.info }

func (g *Gate) event(e Event) {
	if g.onEvent != nil {
		g.onEvent(e)
	}
}

// Run serves until ctx ends or SIGINT or SIGTERM arrives on sigs, reloading the trust
// anchors on every SIGHUP (sigs may be nil), then shuts down gracefully: no new
// engagements or sessions, sessions under way finish (within ShutdownTimeout), their
// actions are carried out, then the HTTP servers stop. It returns the web server's
// error when serving failed, nil otherwise.
func (g *Gate) Run(ctx context.Context, sigs <-chan os.Signal) error {
	served := make(chan error, 1)
	if g.srv != nil {
		go func() { served <- g.srv.Serve(g.ln) }()
	}
	g.log.Info("serving", zap.String("origin", g.info.Origin), zap.String("listen", g.info.Listen),
		zap.String("http_addr", g.info.HTTP), zap.Int("anchors", g.anchors), zap.Int("lanes", len(g.lanes)))
	err := g.wait(ctx, sigs, served)
	g.log.Info("shutting down: finishing sessions under way", zap.Int64("in_flight", g.eng.Counters().InFlight.Load()))
	g.shutdown(served)
	return err
}

// wait serves until ctx ends, a stop signal arrives or the server fails; SIGHUP
// reloads the trust anchors and goes on.
func (g *Gate) wait(ctx context.Context, sigs <-chan os.Signal, served <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = g.Reload() // reported to OnEvent and the log
				continue
			}
			return nil
		case err := <-served:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}

// shutdown stops the gate in order: no new engagements, sessions under way finish
// (within the shutdown timeout), the lanes' actions are carried out and their bearers
// close, the dashboard's event streams end, then the HTTP servers stop.
func (g *Gate) shutdown(served <-chan error) {
	g.stopping.Store(true)
	if g.ops != nil {
		g.ops.healthy.Store(false)
	}
	if g.srv != nil {
		g.srv.Drain()
	}
	if g.online != nil {
		g.online.Drain()
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	if err := g.eng.Shutdown(sctx); err != nil {
		g.log.Error("shutdown: sessions did not finish in time", zap.Error(err))
	}
	g.stopLanes(sctx)
	g.stopBackground()
	g.stopStatus()
	if g.ops != nil {
		g.ops.close(sctx)
	}
	if g.srv != nil {
		if err := g.srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("shutdown: web server", zap.Error(err))
		}
		select {
		case <-served:
		case <-sctx.Done():
		}
	}
	if g.online != nil {
		g.online.Close()
	}
	g.unsub()
	g.desk.close()
	g.venue.close()
	g.closeAudit()
}

// abort undoes a start that failed after the engine started.
func (g *Gate) abort() {
	g.eng.Shutdown(context.Background())
	g.stopLanes(context.Background())
	if g.srv != nil {
		g.srv.Close()
		g.ln.Close()
	}
	if g.online != nil {
		g.online.Close()
	}
	g.unsub()
	g.desk.close()
	g.venue.close()
	g.closeAudit()
}

func (g *Gate) stopLanes(ctx context.Context) {
	for _, l := range g.lanes {
		if l.act != nil {
			l.act.close(ctx)
		}
		if l.bearer != nil {
			l.bearer.Close()
		}
	}
}
