package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/daemon"
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

// serveSignals runs the gate (supervisor/daemon) of --config, or of the other flags,
// until ctx ends or SIGINT/SIGTERM arrives on sigs (SIGHUP reloads its trust anchors):
// it prints a line once it listens, one per verdict and one per trust reload. sigs may
// be nil (tests inject their own channel).
func serveSignals(ctx context.Context, sigs <-chan os.Signal, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", stderr)
	listen := fs.String("listen", "127.0.0.1:8443", "address to listen on")
	origin := fs.String("origin", "", "the reader's origin as holders see it (default http(s)://<listen address>)")
	var trust multiFlag
	fs.Var(&trust, "trust", "IACA certificate file, PEM or DER (repeatable; at least one without --config, added to the config's anchors with it)")
	reqSpec := fs.String("request", defaultServeRequest, "elements to request, namespace:element,...")
	docType := fs.String("doctype", profile.DocTypeMDL, "document type to request")
	tlsCert := fs.String("tls-cert", "", "TLS certificate chain (PEM); with --tls-key serves HTTPS")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	timeout := fs.Duration("timeout", 60*time.Second, "session engagement and inactivity timeout")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long sessions under way may take to finish on shutdown")
	maxInFlight := fs.Int("max-in-flight", 10_000, "sessions at once per lane")
	requireOrigin := fs.Bool("require-origin", false, "refuse DeviceEngagements without a website OriginInfo")
	logLevel := fs.String("log-level", "info", "log level on stderr: debug, info, warn, error")
	config := fs.String("config", "", "gate configuration (YAML, see examples/gate.yaml); the other flags but --listen, --http-addr, --log-level, --trust and --cpuprofile are then ignored")
	httpAddr := fs.String("http-addr", "", "address of /metrics, /healthz, /readyz and /dashboard/ (overrides the config's http_addr; default: not served without --config)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the gate (runtime/pprof) to this file, from start to shutdown")
	checkOnly := fs.Bool("check", false, "validate the configuration and every file it names without binding a port, print {\"config\":\"ok\",…} and exit 0 (2 naming the field otherwise)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var cfg *daemon.Config
	if *config != "" {
		var err error
		if cfg, err = daemon.LoadConfig(*config); err != nil {
			return fail(stderr, "serve", err)
		}
		if set["listen"] {
			cfg.Listen = *listen
		}
		if *httpAddr != "" {
			cfg.HTTPAddr = *httpAddr
		}
		if set["log-level"] {
			cfg.LogLevel = *logLevel
		}
		if err := cfg.AddIACAFiles(trust...); err != nil {
			return fail(stderr, "serve", err)
		}
	} else {
		if len(trust) == 0 {
			return fail(stderr, "serve", errors.New("--trust: give at least one IACA certificate"))
		}
		if (*tlsCert == "") != (*tlsKey == "") {
			return fail(stderr, "serve", errors.New("--tls-cert and --tls-key go together"))
		}
		req, err := request.ParseElements(*docType, *reqSpec)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("--request: %w", err))
		}
		cfg = &daemon.Config{Listen: *listen, Origin: *origin, RequireOrigin: *requireOrigin, HTTPAddr: *httpAddr,
			LogLevel: *logLevel, ShutdownTimeout: *shutdownTimeout, Trust: daemon.TrustConfig{IACAFiles: trust}}
		if *tlsCert != "" {
			cfg.TLS = &daemon.TLSConfig{Cert: *tlsCert, Key: *tlsKey}
		}
		for _, bearer := range []string{web.BearerHTTP, web.BearerWebSocket} {
			cfg.Lanes = append(cfg.Lanes, daemon.LaneConfig{Name: bearer, Bearer: bearer, Request: []request.Doc{req},
				MaxInFlight: *maxInFlight, EngagementTimeout: *timeout, InactivityTimeout: *timeout})
		}
	}
	if *checkOnly {
		rep, err := daemon.Check(cfg)
		if err != nil {
			return fail(stderr, "serve", flagError(*config, err))
		}
		out, _ := json.Marshal(struct {
			Config string `json:"config"`
			*daemon.CheckReport
		}{"ok", rep})
		fmt.Fprintln(stdout, string(out))
		return exitOK
	}
	log, err := supervisor.NewLogger(stderr, cfg.LogLevel)
	if err != nil {
		return fail(stderr, "serve", flagError(*config, &daemon.ConfigError{Field: "log_level", Err: err}))
	}
	defer log.Sync()
	out := daemon.NewLines(stdout)
	g, err := daemon.New(cfg, out.Options(daemon.Options{Log: log}))
	if err != nil {
		return fail(stderr, "serve", flagError(*config, err))
	}
	if *cpuProfile != "" {
		stop, err := supervisor.StartCPUProfile(*cpuProfile)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("--cpuprofile: %w", err))
		}
		defer stop()
	}
	out.Print(g.Info())
	if err := g.Run(ctx, sigs); err != nil {
		fmt.Fprintf(stderr, "mdocgate serve: %v\n", err)
		return exitInvalid // the web server failed
	}
	return exitOK
}

// serveFlags are the flags behind the config fields of serve without --config.
var serveFlags = map[string]string{"listen": "--listen", "origin": "--origin", "http_addr": "--http-addr",
	"log_level": "--log-level", "shutdown_timeout": "--shutdown-timeout", "trust.iaca_files": "--trust",
	"tls": "--tls-cert/--tls-key", "max_in_flight": "--max-in-flight", "engagement_timeout": "--timeout",
	"inactivity_timeout": "--timeout"}

// flagError names the flag behind a config field in an error of serve without --config
// (config is the --config value).
func flagError(config string, err error) error {
	var ce *daemon.ConfigError
	if config != "" || !errors.As(err, &ce) {
		return err
	}
	field := ce.Field
	if _, rest, ok := strings.Cut(field, "]."); ok && strings.HasPrefix(field, "lanes[") {
		field = rest
	}
	field, _, _ = strings.Cut(field, "[")
	if f := serveFlags[field]; f != "" {
		return fmt.Errorf("%s: %w", f, ce.Err)
	}
	return err
}
