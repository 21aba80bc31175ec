package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/dashboard"
	"github.com/mdocgate/mdocgate/supervisor/metrics"
	"github.com/mdocgate/mdocgate/transports/admission"
)

// opsServer serves /metrics, /healthz (liveness), /readyz (readiness), /dashboard/ (and
// /operator/ when a lane has an operator) on its own listener, with connections bounded
// apart from the web listener's, so a flood there leaves these reachable. The dashboard
// and the operator desk are behind the guard (ops_auth), /metrics too with
// protect_metrics.
type opsServer struct {
	addr    string
	healthy atomic.Bool
	http    *http.Server
	ln      *admission.Listener
	metrics *metrics.Metrics
	dash    *dashboard.Dashboard
	served  chan struct{}
}

// opsConfig is what startOps serves.
type opsConfig struct {
	addr   string
	title  string
	tls    *tls.Config // nil: plain HTTP
	guard  *opsGuard
	limits *LimitsConfig
	// ready answers /readyz.
	ready http.Handler
	// desk, when not nil, is served at /operator/.
	desk *operatorDesk
	// fleet, when not nil, gives the dashboard the venue's fleet.
	fleet  func() any
	errLog *log.Logger
	// collectors join the /metrics registry.
	collectors []prometheus.Collector
	// pprof serves /debug/pprof/ behind the guard.
	pprof bool
}

// startOps listens on oc.addr and serves the operations endpoints of eng.
func startOps(oc opsConfig, eng *supervisor.Engine) (*opsServer, error) {
	raw, err := net.Listen("tcp", oc.addr)
	if err != nil {
		return nil, err
	}
	lim := oc.limits
	ln := admission.NewListener(raw, admission.ListenerLimits{Max: lim.OpsMaxConnections, PerClient: lim.ConnectionsPerClient,
		Prefixes: lim.prefixes(), Lifetime: lim.ConnLifetime})
	o := &opsServer{addr: raw.Addr().String(), ln: ln, served: make(chan struct{})}
	o.healthy.Store(true)
	reg := prometheus.NewRegistry()
	for _, c := range append(append(oc.collectors, oc.guard.failures), listenerCollectors("ops", ln)...) {
		if err := reg.Register(c); err != nil {
			raw.Close()
			return nil, errors.New("metrics: " + err.Error())
		}
	}
	o.metrics = metrics.New(reg, metrics.FromEngine(eng))
	o.dash = dashboard.New(dashboard.FromEngine(eng), dashboard.Options{Title: oc.title, Fleet: oc.fleet})
	mux := http.NewServeMux()
	var metricsHandler = o.metrics.Handler()
	if oc.guard.metrics {
		metricsHandler = oc.guard.protect(metricsHandler, false)
	}
	mux.Handle("/metrics", metricsHandler)
	dash := http.StripPrefix("/dashboard", o.dash)
	mux.Handle("/dashboard/", oc.guard.protect(dash, false))
	// the page itself holds no data: without credentials it is answered 401, and asks
	// for the token (the page's sign-in form, or #token= in its URL)
	mux.Handle("GET /dashboard/{$}", oc.guard.protect(dash, true))
	mux.Handle("GET /dashboard/index.html", oc.guard.protect(dash, true))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !o.healthy.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.Handle("/readyz", oc.ready)
	if oc.desk != nil {
		desk := http.NewServeMux()
		oc.desk.register(desk)
		mux.Handle("/operator/", oc.guard.protect(desk, false))
	}
	if oc.pprof {
		prof := http.NewServeMux()
		prof.HandleFunc("/debug/pprof/", pprof.Index)
		prof.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		prof.HandleFunc("/debug/pprof/profile", pprof.Profile)
		prof.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		prof.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", oc.guard.protect(prof, false))
	}
	o.http = &http.Server{Handler: mux, ReadHeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout,
		MaxHeaderBytes: 16 << 10, ConnState: ln.ConnState, ErrorLog: oc.errLog}
	var served net.Listener = ln
	if oc.tls != nil {
		served = tls.NewListener(ln, oc.tls)
	}
	go func() {
		defer close(o.served)
		o.http.Serve(served)
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

// listenerCollectors export a listener's connections: open, refused, evicted to make
// room, expired past their lifetime.
func listenerCollectors(name string, l *admission.Listener) []prometheus.Collector {
	labels := prometheus.Labels{"listener": name}
	counter := func(metric, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: metric, Help: help, ConstLabels: labels}, func() float64 { return float64(f()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mdocgate_connections_open", Help: "Connections open, by listener (web, ops).",
			ConstLabels: labels}, func() float64 { return float64(l.Open()) }),
		counter("mdocgate_connections_refused_total", "Connections reset for a limit (per client, or every one busy at the maximum), by listener.", l.Refused),
		counter("mdocgate_connections_evicted_total", "Idle connections closed to make room for a new one at the maximum, by listener.", l.Evicted),
		counter("mdocgate_connections_expired_total", "Connections closed when idle past their lifetime, by listener.", l.Expired),
	}
}
