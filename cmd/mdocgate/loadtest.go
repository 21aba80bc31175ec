package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/load"
	"github.com/mdocgate/mdocgate/supervisor/loadgen"
	"github.com/mdocgate/mdocgate/supervisor/report"
)

func runLoadtest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("loadtest", stderr)
	transport := fs.String("transport", "memory", "bearer: "+strings.Join(load.Transports(), ", ")+"; or ENGAGEMENT>DATA, e.g. nfc>ble-central (= --bearer-opt handoff=ble-central)")
	bleMode := fs.String("ble-mode", "", "BLE: peripheral (mdoc peripheral server) or central (mdoc central client)")
	mtu := fs.Int("mtu", 0, "BLE: ATT MTU (23..517; 0: bearer default)")
	phy := fs.String("phy", "", "BLE: 1M or 2M")
	l2cap := fs.Bool("l2cap", false, "BLE: use an L2CAP channel instead of GATT characteristics")
	var bearerOpts multiFlag
	fs.Var(&bearerOpts, "bearer-opt", "bearer option key=value (repeatable)")
	holders := fs.Int("holders", 1000, "simulated holders in total (0 with --duration: no limit)")
	concurrency := fs.Int("concurrency", 64, "holders active at once")
	duration := fs.Duration("duration", 0, "stop starting holders after this long")
	chaos := fs.Float64("chaos", 0, "probability of injected link faults per holder and worker panics per job")
	lanes := fs.Int("lanes", 2, "reader lanes")
	workers := fs.Int("workers", 0, "crypto workers (0: one per CPU)")
	mix := fs.String("mix", "valid=1", "holder behaviours with weights, e.g. valid=90,tampered=5,expired=5")
	timeout := fs.Duration("timeout", 2*time.Second, "lane engagement and inactivity timeout")
	jsonOut := fs.Bool("json", false, "print the final report as JSON")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	target := fs.String("target", "", "base URL of a running 'mdocgate serve' (or several, comma-separated: holders spread over them and retry the next after an error): drive its WebSocket and HTTP lanes instead of in-process lanes (--bearer-opt credential=DIR, metrics=URL or metrics=M1,M2,… one per target, ca=FILE: the CA certificates an https:// gate is checked against, bearer=websocket|http|both: the lanes the holders use, default both in turn), or with --bearer-opt lane=NAME one gate's oid4vp or dcapi lane (protocol=P, reader_root=PEM)")
	venueURL := fs.String("venue", "", "with --target: a NATS URL of a venue whose load workers ('mdocgate loadgen --venue URL') run the holders; the report adds by_worker")
	loadWorkers := fs.Int("load-workers", 0, "with --venue: wait for this many load workers (0: whoever answers within 2 s)")
	reportFile := fs.String("report", "", "write a self-contained HTML report to this file")
	floor := fs.Duration("floor", 0, "after the run, measure the floor (the session's unavoidable crypto, on every CPU) for this long and report floor_sessions_per_second and floor_ratio")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *venueURL != "" && *target == "" {
		return fail(stderr, "loadtest", errors.New("--venue needs --target (the gates the workers' holders present to)"))
	}
	opts := map[string]string{}
	for _, kv := range bearerOpts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok && *target == "" {
			return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt %q: want key=value", kv))
		}
		opts[k] = v
	}
	var run func(ctx context.Context, progress func(done, total int64)) (*load.Report, error)
	title := "loadtest"
	if *target != "" {
		for k := range opts {
			switch k {
			case "credential", "metrics", "ca", "bearer", "lane", "protocol", "reader_root":
			default:
				return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt %s: with --target only credential=, metrics=, ca=, bearer=, lane=, protocol= and reader_root= apply", k))
			}
		}
		cfg := load.TargetConfig{Target: *target, Holders: *holders, Concurrency: *concurrency, Duration: *duration,
			Timeout: *timeout, Credential: opts["credential"], Metrics: opts["metrics"], CA: opts["ca"],
			Bearer: opts["bearer"], Lane: opts["lane"], Protocol: opts["protocol"], ReaderRoot: opts["reader_root"]}
		if targets := strings.Split(*target, ","); len(targets) > 1 || *venueURL != "" {
			cfg.Targets = targets
			if m := opts["metrics"]; m != "" {
				cfg.TargetMetrics = strings.Split(m, ",")
				if len(cfg.TargetMetrics) != len(targets) {
					return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt metrics=: %d URLs for %d targets (one per target, in order)", len(cfg.TargetMetrics), len(targets)))
				}
			}
		}
		if *venueURL != "" {
			nc, err := loadgen.Connect(*venueURL, "mdocgate loadtest")
			if err != nil {
				return fail(stderr, "loadtest", err)
			}
			defer nc.Close()
			cfg.Remote = loadgen.Remote(nc, loadgen.Options{Workers: *loadWorkers})
		}
		title += " " + strings.TrimRight(*target, "/")
		run = func(ctx context.Context, progress func(done, total int64)) (*load.Report, error) {
			cfg.Progress = progress
			return load.RunTarget(ctx, cfg)
		}
	} else {
		m, err := load.ParseMix(*mix)
		if err != nil {
			return fail(stderr, "loadtest", fmt.Errorf("--mix: %w", err))
		}
		if *holders < 0 || *concurrency <= 0 || *chaos < 0 || *chaos > 1 {
			return fail(stderr, "loadtest", fmt.Errorf("--holders ≥ 0, --concurrency > 0 and --chaos in [0,1] please"))
		}
		// the BLE flags are bearer options; --bearer-opt wins
		flagOpts := map[string]string{"ble-mode": *bleMode, "phy": *phy}
		if *mtu != 0 {
			flagOpts["mtu"] = fmt.Sprint(*mtu)
		}
		if *l2cap {
			flagOpts["l2cap"] = "true"
		}
		for k, v := range flagOpts {
			if _, set := opts[k]; !set && v != "" {
				opts[k] = v
			}
		}
		log, err := supervisor.NewLogger(stderr, *logLevel)
		if err != nil {
			return fail(stderr, "loadtest", err)
		}
		defer log.Sync()
		cfg := load.Config{Transport: *transport, Lanes: *lanes, Holders: *holders, Concurrency: *concurrency,
			Duration: *duration, Chaos: *chaos, Mix: m, Workers: *workers, Timeout: *timeout, Log: log, BearerOptions: opts}
		run = func(ctx context.Context, progress func(done, total int64)) (*load.Report, error) {
			cfg.Progress = progress
			return load.Run(ctx, cfg)
		}
	}
	rep, code := runWithProgress(run, stderr)
	if rep == nil {
		return code
	}
	if rep.VerdictsFrom == "holders" {
		fmt.Fprintln(stderr, "mdocgate: note: a holder cannot see the gate's verdict: \"accepted\" counts completed sessions; "+
			"--bearer-opt metrics=http://HTTP_ADDR/metrics reads the gate's verdicts")
	}
	if *floor > 0 {
		if err := rep.AddFloor(*floor); err != nil {
			return fail(stderr, "loadtest", fmt.Errorf("--floor: %w", err))
		}
	}
	if *reportFile != "" {
		if err := report.WriteFile(*reportFile, rep); err != nil {
			return fail(stderr, "loadtest", fmt.Errorf("--report: %w", err))
		}
	}
	if *jsonOut {
		writeJSON(stdout, stderr, "loadtest", rep)
	} else {
		rep.WriteText(stdout, title)
	}
	if rep.Lost != 0 {
		fmt.Fprintf(stderr, "mdocgate loadtest: %d sessions lost (every session must end in exactly one verdict)\n", rep.Lost)
		for _, l := range rep.Losses {
			fmt.Fprintf(stderr, "  %s\n", l)
		}
		return exitInvalid
	}
	return code
}

// runWithProgress runs with a progress bar on a terminal and Ctrl-C handling. A run
// that reports and fails too is warned about on stderr.
func runWithProgress(run func(context.Context, func(done, total int64)) (*load.Report, error), stderr io.Writer) (*load.Report, int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := load.NewProgressBar(stderr)
	rep, err := run(ctx, bar.Progress())
	bar.Finish()
	if rep == nil {
		return nil, fail(stderr, "loadtest", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mdocgate: warning: %v\n", err)
	}
	return rep, exitOK
}
