package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/dashboard"
	"github.com/mdocgate/mdocgate/supervisor/metrics"
)

// opsServer serves /metrics, /healthz (liveness), /readyz (readiness), /dashboard/
// (and /operator/ when a lane has an operator).
type opsServer struct {
	addr    string
	healthy atomic.Bool
	http    *http.Server
	metrics *metrics.Metrics
	dash    *dashboard.Dashboard
	served  chan struct{}
}

// startOps listens on addr (over TLS with tlsConfig) and serves the operations
// endpoints of eng, /readyz from ready; extra, when not nil, adds handlers, fleet, when
// not nil, gives the dashboard the venue's fleet, and the collectors join the /metrics
// registry.
func startOps(addr string, eng *supervisor.Engine, title string, extra func(*http.ServeMux), fleet func() any, tlsConfig *tls.Config,
	ready http.Handler, errLog *log.Logger, collectors ...prometheus.Collector) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
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
	o.dash = dashboard.New(dashboard.FromEngine(eng), dashboard.Options{Title: title, Fleet: fleet})
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
	mux.Handle("/readyz", ready)
	if extra != nil {
		extra(mux)
	}
	o.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
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
