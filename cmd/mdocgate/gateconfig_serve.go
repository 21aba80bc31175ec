package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
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

// gateLane is a configured lane at run time: its switch and what it needs to build a
// reader configuration for a trust store.
type gateLane struct {
	cfg      laneConfig
	current  atomic.Pointer[readersession.Config] // what new sessions use; swapped on reload
	request  []holder.RequestedDoc
	decider  *gate.SessionDecider
	readAuth holder.ReaderAuthSigner
	cache    *verify.ChainCache
}

func (l *gateLane) readerConfig(ts *verify.TrustStore) *readersession.Config {
	return &readersession.Config{Request: l.request, ReaderAuth: l.readAuth, Trust: ts, Cache: l.cache,
		Verify: l.decider.Run, Decide: l.decider.Decide}
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
	lanes := make([]*gateLane, len(cfg.Lanes))
	for i, lc := range cfg.Lanes {
		p, err := laneProfile(lc.Profile)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("config: lanes[%d].profile: %w", i, err))
		}
		// the decider runs on the crypto worker with the DeviceResponse at hand, so the
		// profile's MSO checks (freshness, device-auth kind, curves, status) apply
		lanes[i] = &gateLane{cfg: lc, request: p.Request(), decider: &gate.SessionDecider{Profile: p},
			readAuth: readAuth, cache: verify.NewChainCache(64)}
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("config: listen: %w", err))
	}
	origin := cfg.Origin
	if origin == "" {
		origin = "http://" + ln.Addr().String()
	}
	srv, err := web.NewServer(web.Config{Origin: origin, RequireOrigin: cfg.RequireOrigin, Backlog: 1024})
	if err != nil {
		ln.Close()
		return fail(stderr, "serve", fmt.Errorf("config: origin: %w", err))
	}
	eng := supervisor.Start(supervisor.Config{Log: log})
	out := &lockedWriter{w: stdout}
	unsub := eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		out.line(serveVerdict{Session: v.SessionID, Lane: v.Lane, Bearer: v.Bearer, Outcome: string(v.Outcome),
			Reason: v.Reason, Detail: v.Detail, LatencyMs: float64(v.Latency().Microseconds()) / 1000})
	})
	defer unsub()
	abort := func(err error) int {
		eng.Shutdown(context.Background())
		srv.Close()
		ln.Close()
		return fail(stderr, "serve", err)
	}
	for i, l := range lanes {
		var src transports.Listener = srv.HTTPListener()
		if l.cfg.Bearer == web.BearerWebSocket {
			src = srv.WebSocketListener()
		}
		l.current.Store(l.readerConfig(ts))
		if err := eng.AddLane(&actors.LaneConfig{Name: l.cfg.Name, Listener: src, MaxInFlight: l.cfg.MaxInFlight,
			Sessions: actors.SessionSettings{ReaderFunc: l.current.Load, EngagementTimeout: l.cfg.EngagementTimeout,
				InactivityTimeout: l.cfg.InactivityTimeout, Framer: web.WholeMessage{}}}); err != nil {
			return abort(fmt.Errorf("lanes[%d]: %w", i, err))
		}
	}
	var ops *opsServer
	if cfg.HTTPAddr != "" {
		if ops, err = startOps(cfg.HTTPAddr, eng, cfg.Name); err != nil {
			return abort(fmt.Errorf("http_addr: %w", err))
		}
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	info := serveInfo{Name: cfg.Name, Listen: ln.Addr().String(), Origin: srv.Origin(), Engage: srv.Origin() + web.EngagePath}
	if ops != nil {
		info.HTTP = ops.addr
	}
	out.line(info)
	log.Info("serving", zap.String("origin", srv.Origin()), zap.String("listen", ln.Addr().String()),
		zap.String("http_addr", info.HTTP), zap.Int("anchors", ts.Len()), zap.Int("lanes", len(lanes)))

	code := waitForStop(ctx, sigs, served, stderr, func() { reloadTrust(cfg, lanes, log, out) })
	log.Info("shutting down: finishing sessions under way", zap.Int64("in_flight", eng.Counters().InFlight.Load()))
	shutdownWeb(srv, eng, ops, served, cfg.ShutdownTimeout, stderr)
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

// opsServer serves /metrics, /healthz and /dashboard/.
type opsServer struct {
	addr    string
	healthy atomic.Bool
	http    *http.Server
	metrics *metrics.Metrics
	dash    *dashboard.Dashboard
	served  chan struct{}
}

// startOps listens on addr and serves the operations endpoints of eng.
func startOps(addr string, eng *supervisor.Engine, title string) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &opsServer{addr: ln.Addr().String(), served: make(chan struct{})}
	o.healthy.Store(true)
	o.metrics = metrics.New(prometheus.NewRegistry(), metrics.FromEngine(eng))
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
