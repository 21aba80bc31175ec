package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

func init() {
	register(command{"serve", "run the reader as an HTTP/WebSocket service (device retrieval over the Internet)", runServe})
}

// defaultServeRequest is asked for when --request is not given.
const defaultServeRequest = "org.iso.18013.5.1:family_name,org.iso.18013.5.1:given_name,org.iso.18013.5.1:portrait," +
	"org.iso.18013.5.1:age_over_18"

func runServe(args []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return serveSignals(context.Background(), sigs, args, stdout, stderr)
}

// serve runs the service until ctx ends; see serveSignals.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return serveSignals(ctx, nil, args, stdout, stderr)
}

// serveInfo is the line printed once the service listens.
type serveInfo struct {
	// Listen, Origin and Engage are the web server's; a gate without web lanes has none.
	Listen string `json:"listen,omitempty"`
	Origin string `json:"origin,omitempty"`
	Engage string `json:"engage,omitempty"`
	// HTTP is where /metrics, /healthz and /dashboard/ listen, when they do.
	HTTP  string          `json:"http,omitempty"`
	Name  string          `json:"name,omitempty"`
	Lanes []serveLaneInfo `json:"lanes,omitempty"`
}

// serveLaneInfo names a configured lane and its bearer.
type serveLaneInfo struct {
	Name   string `json:"name"`
	Bearer string `json:"bearer"`
}

// serveVerdict is the line printed per session: never element values.
type serveVerdict struct {
	Session   string  `json:"session"`
	Lane      string  `json:"lane"`
	Bearer    string  `json:"bearer"`
	Outcome   string  `json:"outcome"`
	Reason    string  `json:"reason,omitempty"`
	Detail    string  `json:"detail,omitempty"`
	LatencyMs float64 `json:"latency_ms"`
	// Action is what the lane's actuator was told (open, deny, call_staff); --config only.
	Action string `json:"action,omitempty"`
	// HolderVerification is the matcher's answer (match, no_match, undecided) when the
	// lane verified the holder.
	HolderVerification string `json:"holder_verification,omitempty"`
}

// lockedWriter serializes the JSON lines of concurrent sessions.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(v any) {
	b, _ := json.Marshal(v)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(append(b, '\n'))
}

// serveSignals runs the service until ctx ends or SIGINT/SIGTERM arrives on sigs, then
// shuts down gracefully: no new engagements or sessions, sessions under way finish
// (within --shutdown-timeout), then the HTTP server stops. SIGHUP reloads the trust
// anchors of a --config service. sigs may be nil (tests inject their own channel).
func serveSignals(ctx context.Context, sigs <-chan os.Signal, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", stderr)
	listen := fs.String("listen", "127.0.0.1:8443", "address to listen on")
	origin := fs.String("origin", "", "the reader's origin as holders see it (default http(s)://<listen address>)")
	var trust multiFlag
	fs.Var(&trust, "trust", "IACA certificate file, PEM or DER (repeatable; at least one)")
	request := fs.String("request", defaultServeRequest, "elements to request, namespace:element,...")
	docType := fs.String("doctype", profile.DocTypeMDL, "document type to request")
	tlsCert := fs.String("tls-cert", "", "TLS certificate chain (PEM); with --tls-key serves HTTPS")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	timeout := fs.Duration("timeout", 60*time.Second, "session engagement and inactivity timeout")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long sessions under way may take to finish on shutdown")
	maxInFlight := fs.Int("max-in-flight", 10_000, "sessions at once per lane")
	requireOrigin := fs.Bool("require-origin", false, "refuse DeviceEngagements without a website OriginInfo")
	logLevel := fs.String("log-level", "info", "log level on stderr: debug, info, warn, error")
	config := fs.String("config", "", "gate configuration (YAML, see examples/gate.yaml); the other flags but --listen, --http-addr and --log-level are then ignored")
	httpAddr := fs.String("http-addr", "", "address of /metrics, /healthz and /dashboard/ (overrides the config's http_addr; default: not served without --config)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *config != "" {
		o := gateOverrides{httpAddr: *httpAddr}
		if set["listen"] {
			o.listen = *listen
		}
		if set["log-level"] {
			o.logLevel = *logLevel
		}
		return serveGate(ctx, sigs, *config, o, stdout, stderr)
	}
	if len(trust) == 0 {
		return fail(stderr, "serve", errors.New("--trust: give at least one IACA certificate"))
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fail(stderr, "serve", errors.New("--tls-cert and --tls-key go together"))
	}
	store := verify.NewTrustStore()
	for _, f := range trust {
		data, err := os.ReadFile(f)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("--trust %s: %w", f, err))
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("--trust %s: %w", f, err))
		}
		store.Add(certs...)
	}
	req, err := parseRequest(*docType, *request)
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("--request: %w", err))
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("--log-level: %w", err))
	}
	defer log.Sync()

	var tlsConfig *tls.Config
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("--tls-cert/--tls-key: %w", err))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(stderr, "serve", fmt.Errorf("--listen: %w", err))
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	if *origin == "" {
		*origin = scheme + "://" + ln.Addr().String()
	}
	srv, err := web.NewServer(web.Config{Origin: *origin, RequireOrigin: *requireOrigin, Backlog: 1024})
	if err != nil {
		ln.Close()
		return fail(stderr, "serve", fmt.Errorf("--origin: %w", err))
	}

	eng := supervisor.Start(supervisor.Config{Log: log})
	out := &lockedWriter{w: stdout}
	unsub := eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		out.line(serveVerdict{Session: v.SessionID, Lane: v.Lane, Bearer: v.Bearer, Outcome: string(v.Outcome),
			Reason: v.Reason, Detail: v.Detail, LatencyMs: float64(v.Latency().Microseconds()) / 1000})
	})
	defer unsub()
	readerCfg := &readersession.Config{Request: req, Trust: store, Cache: verify.NewChainCache(64)}
	for _, l := range []struct {
		name     string
		listener transports.Listener
	}{{web.BearerHTTP, srv.HTTPListener()}, {web.BearerWebSocket, srv.WebSocketListener()}} {
		lc := &actors.LaneConfig{Name: l.name, Listener: l.listener, MaxInFlight: *maxInFlight,
			Sessions: actors.SessionSettings{Reader: readerCfg, EngagementTimeout: *timeout, InactivityTimeout: *timeout,
				Framer: web.WholeMessage{}}}
		if err := eng.AddLane(lc); err != nil {
			eng.Shutdown(context.Background())
			srv.Close()
			ln.Close()
			return fail(stderr, "serve", fmt.Errorf("lane %s: %w", l.name, err))
		}
	}

	var ops *opsServer
	if *httpAddr != "" {
		if ops, err = startOps(*httpAddr, eng, "mdocgate", nil); err != nil {
			eng.Shutdown(context.Background())
			srv.Close()
			ln.Close()
			return fail(stderr, "serve", fmt.Errorf("--http-addr: %w", err))
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	info := serveInfo{Listen: ln.Addr().String(), Origin: srv.Origin(), Engage: srv.Origin() + web.EngagePath}
	if ops != nil {
		info.HTTP = ops.addr
	}
	out.line(info)
	log.Info("serving", zap.String("origin", srv.Origin()), zap.String("listen", ln.Addr().String()))

	code := waitForStop(ctx, sigs, served, stderr, func() { log.Warn("SIGHUP: trust reload needs --config; ignored") })
	log.Info("shutting down: finishing sessions under way", zap.Int64("in_flight", eng.Counters().InFlight.Load()))
	shutdownWeb(srv, eng, ops, served, *shutdownTimeout, stderr, nil)
	return code
}

// waitForStop serves until ctx ends, a stop signal arrives or the server fails (exit 1);
// SIGHUP calls onHUP and goes on.
func waitForStop(ctx context.Context, sigs <-chan os.Signal, served <-chan error, stderr io.Writer, onHUP func()) int {
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				onHUP()
				continue
			}
			return exitOK
		case err := <-served:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(stderr, "mdocgate serve: %v\n", err)
				return 1
			}
			return exitOK
		}
	}
}

// shutdownWeb stops a service in order: no new engagements, sessions under way finish
// (within timeout), afterEngine (when not nil) runs with every verdict out, the
// dashboard's event streams end, then the HTTP servers stop. srv may be nil (a gate
// without web lanes).
func shutdownWeb(srv *web.Server, eng *supervisor.Engine, ops *opsServer, served <-chan error,
	timeout time.Duration, stderr io.Writer, afterEngine func(context.Context)) {
	if ops != nil {
		ops.healthy.Store(false)
	}
	if srv != nil {
		srv.Drain()
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := eng.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "mdocgate serve: %v\n", err)
	}
	if afterEngine != nil {
		afterEngine(sctx)
	}
	if ops != nil {
		ops.close(sctx)
	}
	if srv == nil {
		return
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "mdocgate serve: %v\n", err)
	}
	select {
	case <-served:
	case <-sctx.Done():
	}
}

// parseRequest reads "namespace:element,..." into one requested document.
func parseRequest(docType, spec string) ([]request.Doc, error) {
	doc := request.Doc{DocType: docType}
	index := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndex(item, ":")
		if i <= 0 || i == len(item)-1 {
			return nil, fmt.Errorf("%q: want namespace:element", item)
		}
		ns, el := item[:i], item[i+1:]
		n, ok := index[ns]
		if !ok {
			n = len(doc.NameSpaces)
			index[ns] = n
			doc.NameSpaces = append(doc.NameSpaces, request.NameSpace{Name: ns})
		}
		doc.NameSpaces[n].Elements = append(doc.NameSpaces[n].Elements, el)
	}
	if len(doc.NameSpaces) == 0 {
		return nil, errors.New("no elements")
	}
	return []request.Doc{doc}, nil
}
