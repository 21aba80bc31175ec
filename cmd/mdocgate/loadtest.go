package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/supervisor"
)

func runLoadtest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("loadtest", stderr)
	transport := fs.String("transport", "memory", "bearer: "+strings.Join(append(supervisor.Bearers(), supervisor.Runners()...), ", "))
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
	target := fs.String("target", "", "base URL of a running 'mdocgate serve': drive its WebSocket and HTTP lanes instead of in-process lanes (--bearer-opt credential=DIR, metrics=URL)")
	reportFile := fs.String("report", "", "with --target: write a self-contained HTML report to this file")
	floor := fs.Duration("floor", 0, "after the run, measure the floor (the session's unavoidable crypto, on every CPU) for this long and report floor_sessions_per_second and floor_ratio")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *target != "" || *reportFile != "" {
		return runLoadtestTarget(targetOptions{Target: *target, Holders: *holders, Concurrency: *concurrency,
			Duration: *duration, Timeout: *timeout, Report: *reportFile, JSON: *jsonOut, Options: kvOptions(bearerOpts)}, stdout, stderr)
	}
	m, err := supervisor.ParseMix(*mix)
	if err != nil {
		return fail(stderr, "loadtest", fmt.Errorf("--mix: %w", err))
	}
	if *holders < 0 || *concurrency <= 0 || *chaos < 0 || *chaos > 1 {
		return fail(stderr, "loadtest", fmt.Errorf("--holders ≥ 0, --concurrency > 0 and --chaos in [0,1] please"))
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return fail(stderr, "loadtest", err)
	}
	defer log.Sync()
	opts := supervisor.BearerOptions{}
	for k, v := range map[string]string{"ble-mode": *bleMode, "phy": *phy} {
		if v != "" {
			opts[k] = v
		}
	}
	if *mtu != 0 {
		opts["mtu"] = fmt.Sprint(*mtu)
	}
	if *l2cap {
		opts["l2cap"] = "true"
	}
	for _, kv := range bearerOpts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt %q: want key=value", kv))
		}
		opts[k] = v
	}
	cfg := supervisor.LoadConfig{Transport: *transport, Lanes: *lanes, Holders: *holders, Concurrency: *concurrency,
		Duration: *duration, Chaos: *chaos, Mix: m, Workers: *workers, Timeout: *timeout, Log: log, BearerOptions: opts}
	rep, code := runWithProgress(cfg, stderr)
	if rep == nil {
		return code
	}
	if *floor > 0 {
		fps, err := supervisor.MeasureFloor(*floor)
		if err != nil {
			return fail(stderr, "loadtest", fmt.Errorf("--floor: %w", err))
		}
		rep.FloorSessionsPerSecond = fps
		rep.FloorRatio = rep.SessionsPerSecond / fps
	}
	if *jsonOut {
		writeJSON(stdout, rep)
	} else {
		printReport(stdout, "loadtest", rep)
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

// runWithProgress runs the load with a progress bar on a terminal and Ctrl-C handling.
func runWithProgress(cfg supervisor.LoadConfig, stderr io.Writer) (*supervisor.Report, int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var bar *progressBar
	if isTTY(stderr) {
		bar = &progressBar{w: stderr, start: time.Now()}
		cfg.Progress = bar.update
	}
	rep, err := supervisor.RunLoad(ctx, cfg)
	if bar != nil {
		bar.finish()
	}
	if rep == nil {
		return nil, fail(stderr, "loadtest", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mdocgate: warning: %v\n", err)
	}
	return rep, exitOK
}

type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
}

func (p *progressBar) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = now
	rate := float64(done) / now.Sub(p.start).Seconds()
	if total > 0 {
		const width = 30
		n := int(float64(width) * float64(done) / float64(total))
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d holders  %.0f/s ", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total, rate)
	} else {
		fmt.Fprintf(p.w, "\r%d holders  %.0f/s ", done, rate)
	}
}

func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w)
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// printReport prints the summary tables: per outcome, per lane, per behaviour.
func printReport(w io.Writer, title string, r *supervisor.Report) {
	fmt.Fprintf(w, "%s: %d sessions in %.2fs (%.0f/s), latency p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms\n",
		title, r.Sessions, r.Seconds, r.SessionsPerSecond, r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max)
	if r.FloorSessionsPerSecond > 0 {
		fmt.Fprintf(w, "floor (the session's unavoidable crypto on every CPU) %.0f/s: the run reached %.0f%% of it\n",
			r.FloorSessionsPerSecond, 100*r.FloorRatio)
	}
	if r.AirTimeSeconds > 0 {
		fmt.Fprintf(w, "modelled air time %.2fs (%.1f ms per session) next to wall time %.2fs\n",
			r.AirTimeSeconds, 1000*r.AirTimeSeconds/float64(max(r.Sessions, 1)), r.Seconds)
	}
	fmt.Fprintf(w, "accepted %d  rejected %d  errors %d  timeouts %d  lost %d  mismatched %d  busy %d  restarts %d\n\n",
		r.Accepted, r.Rejected, r.Errors, r.Timeouts, r.Lost, r.Mismatched, r.Busy, r.Restarts)
	table := func(name string, m map[string]*supervisor.Counts) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "%-14s %9s %9s %9s %9s %9s %6s %10s\n", name, "sessions", "accepted", "rejected", "errors", "timeouts", "lost", "mismatched")
		for _, k := range keys {
			c := m[k]
			fmt.Fprintf(w, "%-14s %9d %9d %9d %9d %9d %6d %10d\n", k, c.Sessions, c.Accepted, c.Rejected, c.Errors, c.Timeouts, c.Lost, c.Mismatched)
		}
		fmt.Fprintln(w)
	}
	if len(r.ByTransport) > 1 {
		table("bearer", r.ByTransport)
	}
	table("lane", r.ByLane)
	if len(r.ByBehaviour) > 1 {
		table("holder", r.ByBehaviour)
	}
	if len(r.Reasons) > 0 {
		keys := make([]string, 0, len(r.Reasons))
		for k := range r.Reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "reasons:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %-40s %d\n", k, r.Reasons[k])
		}
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "mismatch: %s\n", m)
	}
}
