package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/dashboard"
	"github.com/mdocgate/mdocgate/supervisor/metrics"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// gateOverrides are the serve flags that take precedence over the configuration.
type gateOverrides struct {
	listen, httpAddr, logLevel string
}

// serveEvent is the line printed on a trust reload.
type serveEvent struct {
	Event   string `json:"event"`
	Anchors int    `json:"anchors,omitempty"`
	Error   string `json:"error,omitempty"`
}

// gateLanesKey is a test seam: a func(map[string]supervisor.Bearer) in serve's context
// is called with the bearer of every radio lane (by lane name) once the lanes listen,
// so that a test can drive simulated holders into them with Bearer.Engage. A simulated
// radio (nfc, ble, wifiaware, memory) has no holders of its own.
type gateLanesKey struct{}

// gateLane is a configured lane at run time: its switch, what it needs to build a
// reader configuration for a trust store, and its gate (holder verification while the
// session is open, the actuator once the verdict is out).
type gateLane struct {
	cfg      laneConfig
	current  atomic.Pointer[readersession.Config] // what new sessions use; swapped on reload
	profile  *profile.Profile
	request  []holder.RequestedDoc
	decider  *gate.SessionDecider
	readAuth holder.ReaderAuthSigner
	cache    *verify.ChainCache
	// hv decides (profile decision, holder verification) without an actuator: it runs
	// inside the session, which has no id there.
	hv  *gate.Gate
	act *actuation
	// bearer is the supervisor bearer of a radio lane; nil for web lanes.
	bearer supervisor.Bearer
}

func (l *gateLane) readerConfig(ts *verify.TrustStore) *readersession.Config {
	// holder verification can wait (an operator looks at the portrait): the engine then
	// runs the decision off its workers
	return &readersession.Config{Request: l.request, ReaderAuth: l.readAuth, Trust: ts, Cache: l.cache,
		Verify: l.decider.Run, Decide: l.decide, DecideMayWait: l.cfg.HolderVerification != hvNone}
}

// decide is the lane's readersession.Config.Decide: the profile's decision made on the
// crypto worker (SessionDecider.Run), then holder verification when the lane or the
// profile asks for it. With holder verification it runs on a goroutine of its own
// (DecideMayWait), so an operator's wait holds that session only. The gate verdict
// travels into the session's verdict as its Note (final).
func (l *gateLane) decide(vr readersession.Verification) readersession.Decision {
	d, ok := l.decider.Decision(vr)
	if !ok { // not from Run: decide without the response, MSO checks fail closed
		d = l.profile.Decide(vr.Result, time.Now())
	}
	v := l.hv.ProcessDecision(context.Background(), l.cfg.Name, "", vr.Result, d)
	if v.Action == gate.ActionOpen {
		return readersession.Decision{Outcome: readersession.Accepted, Note: v}
	}
	return readersession.Decision{Outcome: readersession.Rejected, Reason: v.Reason, Note: v}
}

// final is the gate verdict of a published session verdict: the one decide made when it
// agrees with the session's outcome, otherwise the action the outcome maps onto
// (accepted → open, rejected → deny, error or timeout → call staff).
func (l *gateLane) final(sv *actors.SessionVerdict) gate.Verdict {
	v, ok := sv.Note.(gate.Verdict)
	if ok && v.Reason == sv.Reason && (v.Action == gate.ActionOpen) == (sv.Outcome == readersession.Accepted) {
		return v
	}
	out := gate.Verdict{Reason: sv.Reason}
	switch sv.Outcome {
	case readersession.Accepted:
		out.Action = gate.ActionOpen
	case readersession.Rejected:
		out.Action = gate.ActionDeny
	default:
		out.Action = gate.ActionCallStaff
	}
	if ok {
		out.Match, out.MatchError = v.Match, v.MatchError
	}
	return out
}

// actJob is one session verdict for the lane's actuator.
type actJob struct {
	session string
	v       gate.Verdict
	fields  []zap.Field // what the log actuator adds: bearer, outcome, check, match
}

// actuation carries out a lane's gate verdicts on its actuator, in order, off the
// verdict stream (whose subscribers must not block): a barrier takes its commands one
// after the other.
type actuation struct {
	lane    string
	g       *gate.Gate // Actuator only
	actions *prometheus.CounterVec
	log     *zap.Logger

	mu     sync.Mutex
	queue  []actJob
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newActuation(lane string, a gate.Actuator, actions *prometheus.CounterVec, log *zap.Logger) *actuation {
	q := &actuation{lane: lane, g: &gate.Gate{Actuator: a}, actions: actions, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *actuation) push(j actJob) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.log.Error("gate action after shutdown: not carried out", zap.String("lane", q.lane), zap.String("session", j.session))
		return
	}
	q.queue = append(q.queue, j)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *actuation) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				return
			}
			<-q.wake
			continue
		}
		j := q.queue[0]
		q.queue = q.queue[1:]
		q.mu.Unlock()
		ctx := gate.WithLogFields(context.Background(), j.fields...)
		q.g.Actuate(ctx, q.lane, j.session, &j.v)
		if j.v.ActionError != "" {
			q.log.Error("gate actuator failed", zap.String("lane", q.lane), zap.String("session", j.session),
				zap.String("action", string(j.v.Action)), zap.String("error", j.v.ActionError))
		}
		q.actions.WithLabelValues(q.lane, string(j.v.Action), metrics.Reason(j.v.Reason)).Inc()
	}
}

// close lets the queued actions finish (until ctx ends) and stops.
func (q *actuation) close(ctx context.Context) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.done:
	case <-ctx.Done():
	}
}

// binaryElements are left out of log_element_values: images and templates.
var binaryElements = map[string]bool{"portrait": true, "enrolment_portrait_image": true, "signature_usual_mark": true}

// loggedElements are the disclosed element values for log_element_values (debug):
// binary elements and long values are replaced by a note of their size.
func loggedElements(res *verify.Result) map[string]map[string]any {
	if res == nil {
		return nil
	}
	out := map[string]map[string]any{}
	for _, d := range res.Documents {
		for ns, els := range d.Elements {
			m := out[ns]
			if m == nil {
				m = map[string]any{}
				out[ns] = m
			}
			for id, v := range els {
				s, isString := v.(string)
				switch {
				case binaryElements[id] || strings.HasPrefix(id, "biometric_template"):
					m[id] = "(binary, not logged)"
				case isString && len(s) > 256:
					m[id] = fmt.Sprintf("(%d characters, not logged)", len(s))
				default:
					m[id] = v
				}
			}
		}
	}
	return out
}

// serveGate runs the service a configuration file describes (serve --config). Invalid
// configuration exits 2 with one error naming the field.
func serveGate(ctx context.Context, sigs <-chan os.Signal, path string, o gateOverrides, stdout, stderr io.Writer) int {
	cfg, err := loadGateConfig(path)
	if err != nil {
		return fail(stderr, "serve", err)
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	if o.httpAddr != "" {
		cfg.HTTPAddr = o.httpAddr
	}
	if o.logLevel != "" {
		cfg.LogLevel = o.logLevel
	}
	for i, l := range cfg.Lanes {
		if l.HolderVerification == hvOperator && cfg.HTTPAddr == "" {
			return fail(stderr, "serve", fmt.Errorf("config: lanes[%d].holder_verification: operator needs http_addr (the operator answers at /operator/)", i))
		}
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("log_level: %w", err))
	}
	defer log.Sync()
	log = log.With(zap.String("gate", cfg.Name))
	ts, err := cfg.loadTrust(time.Now())
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("config: %w", err))
	}
	readAuth, err := cfg.loadReaderAuth()
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("config: %w", err))
	}
	actions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_gate_actions_total",
		Help: "Gate actions carried out, by lane, action (open, deny, call_staff) and reason (failing check)."},
		[]string{"lane", "action", "reason"})
	var desk *operatorDesk
	lanes := make([]*gateLane, len(cfg.Lanes))
	byName := map[string]*gateLane{}
	hasWeb := false
	for i, lc := range cfg.Lanes {
		p, err := lc.profile()
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("config: lanes[%d].%w", i, err))
		}
		hv := &gate.Gate{Profile: p}
		switch lc.HolderVerification {
		case hvTestAccept:
			hv.Matcher = &gate.TestMatcher{Verdict: gate.Match}
		case hvTestReject:
			hv.Matcher = &gate.TestMatcher{Verdict: gate.NoMatch}
		case hvOperator:
			if desk == nil {
				desk = newOperatorDesk()
				defer desk.close()
			}
			hv.Matcher, hv.MatchTimeout = desk.matcher(lc.OperatorTimeout), lc.OperatorTimeout
		}
		// the decider runs on the crypto worker with the DeviceResponse at hand, so the
		// profile's MSO checks (freshness, device-auth kind, curves, status) apply
		lanes[i] = &gateLane{cfg: lc, profile: p, request: p.Request(), decider: &gate.SessionDecider{Profile: p},
			readAuth: readAuth, cache: verify.NewChainCache(64), hv: hv}
		byName[lc.Name] = lanes[i]
		hasWeb = hasWeb || lc.isWeb()
	}

	// the web server runs when a lane takes its sessions from it
	var (
		ln  net.Listener
		srv *web.Server
	)
	if hasWeb {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fail(stderr, "serve", fmt.Errorf("config: listen: %w", err))
		}
		origin := cfg.Origin
		if origin == "" {
			origin = "http://" + ln.Addr().String()
		}
		if srv, err = web.NewServer(web.Config{Origin: origin, RequireOrigin: cfg.RequireOrigin, Backlog: 1024}); err != nil {
			ln.Close()
			return fail(stderr, "serve", fmt.Errorf("config: origin: %w", err))
		}
	}
	eng := supervisor.Start(supervisor.Config{Log: log})
	for _, l := range lanes {
		// the log actuator (actuator: log) is the only one today
		l.act = newActuation(l.cfg.Name, gate.LogActuator{Log: log.Named("gate")}, actions, log)
	}
	out := &lockedWriter{w: stdout}
	unsub := eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		line := serveVerdict{Session: v.SessionID, Lane: v.Lane, Bearer: v.Bearer, Outcome: string(v.Outcome),
			Reason: v.Reason, Detail: v.Detail, LatencyMs: float64(v.Latency().Microseconds()) / 1000}
		if l := byName[v.Lane]; l != nil {
			gv := l.final(v)
			line.Action = string(gv.Action)
			fields := []zap.Field{zap.String("bearer", v.Bearer), zap.String("outcome", string(v.Outcome))}
			if v.Reason != "" {
				fields = append(fields, zap.String("check", v.Reason))
			}
			if gv.Match != nil {
				line.HolderVerification = string(gv.Match.Verdict)
				fields = append(fields, zap.String("holder_verification", string(gv.Match.Verdict)))
				if gv.Match.By != "" {
					fields = append(fields, zap.String("verified_by", gv.Match.By))
				}
			}
			if cfg.LogElementValues {
				fields = append(fields, zap.Any("elements", loggedElements(v.Result)))
			}
			l.act.push(actJob{session: v.SessionID, v: gv, fields: fields})
		}
		out.line(line)
	})
	defer unsub()
	stopLanes := func(ctx context.Context) {
		for _, l := range lanes {
			if l.act != nil {
				l.act.close(ctx)
			}
			if l.bearer != nil {
				l.bearer.Close()
			}
		}
	}
	abort := func(err error) int {
		eng.Shutdown(context.Background())
		stopLanes(context.Background())
		if srv != nil {
			srv.Close()
			ln.Close()
		}
		return fail(stderr, "serve", err)
	}
	radios := map[string]supervisor.Bearer{}
	for i, l := range lanes {
		var src transports.Listener
		var framer transports.Framer = web.WholeMessage{}
		switch l.cfg.Bearer {
		case web.BearerHTTP:
			src = srv.HTTPListener()
		case web.BearerWebSocket:
			src = srv.WebSocketListener()
		default:
			field := "bearer"
			if l.cfg.Bearer == bearerNFCPCSC {
				field = "reader"
			}
			b, err := supervisor.OpenBearer(l.cfg.Bearer, l.cfg.bearerOptions())
			if err != nil {
				return abort(fmt.Errorf("config: lanes[%d].%s: %w", i, field, err))
			}
			l.bearer = b
			if src, err = b.Listen(l.cfg.Name, min(l.cfg.MaxInFlight, 1024)); err != nil {
				return abort(fmt.Errorf("config: lanes[%d].%s: %w", i, field, err))
			}
			framer = b.Framer()
			radios[l.cfg.Name] = b
		}
		l.current.Store(l.readerConfig(ts))
		if err := eng.AddLane(&actors.LaneConfig{Name: l.cfg.Name, Listener: src, MaxInFlight: l.cfg.MaxInFlight,
			Sessions: actors.SessionSettings{ReaderFunc: l.current.Load, EngagementTimeout: l.cfg.EngagementTimeout,
				InactivityTimeout: l.cfg.InactivityTimeout, Framer: framer}}); err != nil {
			return abort(fmt.Errorf("lanes[%d]: %w", i, err))
		}
	}
	var ops *opsServer
	if cfg.HTTPAddr != "" {
		var extra func(*http.ServeMux)
		if desk != nil {
			extra = desk.register
		}
		if ops, err = startOps(cfg.HTTPAddr, eng, cfg.Name, extra, actions); err != nil {
			return abort(fmt.Errorf("http_addr: %w", err))
		}
	}
	if hook, ok := ctx.Value(gateLanesKey{}).(func(map[string]supervisor.Bearer)); ok {
		hook(radios)
	}

	served := make(chan error, 1)
	info := serveInfo{Name: cfg.Name}
	if srv != nil {
		go func() { served <- srv.Serve(ln) }()
		info.Listen, info.Origin, info.Engage = ln.Addr().String(), srv.Origin(), srv.Origin()+web.EngagePath
	}
	if ops != nil {
		info.HTTP = ops.addr
	}
	for _, l := range lanes {
		info.Lanes = append(info.Lanes, serveLaneInfo{Name: l.cfg.Name, Bearer: l.cfg.Bearer})
	}
	out.line(info)
	log.Info("serving", zap.String("origin", info.Origin), zap.String("listen", info.Listen),
		zap.String("http_addr", info.HTTP), zap.Int("anchors", ts.Len()), zap.Int("lanes", len(lanes)))

	code := waitForStop(ctx, sigs, served, stderr, func() { reloadTrust(cfg, lanes, log, out) })
	log.Info("shutting down: finishing sessions under way", zap.Int64("in_flight", eng.Counters().InFlight.Load()))
	shutdownWeb(srv, eng, ops, served, cfg.ShutdownTimeout, stderr, stopLanes)
	return code
}

// reloadTrust re-reads the trust anchors and gives every lane a reader configuration
// using them for its next sessions; sessions under way keep the store they started with.
// A failed reload keeps the current trust.
func reloadTrust(cfg *gateConfig, lanes []*gateLane, log *zap.Logger, out *lockedWriter) {
	ts, err := cfg.loadTrust(time.Now())
	if err == nil {
		for _, l := range lanes {
			l.current.Store(l.readerConfig(ts))
		}
	}
	if err != nil {
		log.Error("trust reload failed; keeping the current trust", zap.Error(err))
		out.line(serveEvent{Event: "trust_reload_failed", Error: err.Error()})
		return
	}
	log.Info("trust reloaded", zap.Int("anchors", ts.Len()))
	out.line(serveEvent{Event: "trust_reloaded", Anchors: ts.Len()})
}

// opsServer serves /metrics, /healthz and /dashboard/ (and /operator/ when a lane has
// an operator).
type opsServer struct {
	addr    string
	healthy atomic.Bool
	http    *http.Server
	metrics *metrics.Metrics
	dash    *dashboard.Dashboard
	served  chan struct{}
}

// startOps listens on addr and serves the operations endpoints of eng; extra, when not
// nil, adds handlers, and the collectors join the /metrics registry.
func startOps(addr string, eng *supervisor.Engine, title string, extra func(*http.ServeMux), collectors ...prometheus.Collector) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &opsServer{addr: ln.Addr().String(), served: make(chan struct{})}
	o.healthy.Store(true)
	reg := prometheus.NewRegistry()
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			ln.Close()
			return nil, errors.New("metrics: " + err.Error())
		}
	}
	o.metrics = metrics.New(reg, metrics.FromEngine(eng))
	o.dash = dashboard.New(dashboard.FromEngine(eng), dashboard.Options{Title: title})
	mux := http.NewServeMux()
	mux.Handle("/metrics", o.metrics.Handler())
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", o.dash))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !o.healthy.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	if extra != nil {
		extra(mux)
	}
	o.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(o.served)
		o.http.Serve(ln)
	}()
	return o, nil
}

// close ends the dashboard's event streams first (they would hold Shutdown up), then
// stops the server.
func (o *opsServer) close(ctx context.Context) {
	o.healthy.Store(false)
	o.dash.Close()
	o.http.Shutdown(ctx)
	o.metrics.Close()
	select {
	case <-o.served:
	case <-ctx.Done():
	}
}
