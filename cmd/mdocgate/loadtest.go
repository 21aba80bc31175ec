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
	bleFlags := map[string]string{} // bearer options under flags of their own; --bearer-opt wins
	bleFlag := func(name string) func(string) error { return func(v string) error { bleFlags[name] = v; return nil } }
	fs.Func("ble-mode", "BLE: peripheral (mdoc peripheral server) or central (mdoc central client)", bleFlag("ble-mode"))
	fs.Func("mtu", "BLE: ATT MTU (23..517; default: the bearer's)", bleFlag("mtu"))
	fs.Func("phy", "BLE: 1M or 2M", bleFlag("phy"))
	fs.BoolFunc("l2cap", "BLE: use an L2CAP channel instead of GATT characteristics", bleFlag("l2cap"))
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
		cfg, err := load.NewTargetConfig(*target, opts, *venueURL != "")
		if err != nil {
			return fail(stderr, "loadtest", err)
		}
		cfg.Holders, cfg.Concurrency, cfg.Duration, cfg.Timeout = *holders, *concurrency, *duration, *timeout
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
		for k, v := range bleFlags {
			if _, set := opts[k]; !set {
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
