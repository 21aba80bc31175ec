package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/mdocgate/mdocgate/supervisor"
)

// Soak limits: what a healthy run stays under after warm-up.
const (
	soakMaxRSSGrowthPct    = 5.0
	soakMaxGoroutineGrowth = 16
)

func runSoak(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("soak", stderr)
	duration := fs.Duration("duration", 30*time.Minute, "how long to run")
	rate := fs.Float64("rate", 100, "holders started per second")
	concurrency := fs.Int("concurrency", 64, "holders active at once at most")
	transport := fs.String("transport", "memory", "bearer")
	mix := fs.String("mix", "valid=90,tampered=3,expired=3,garbage=2,dropping=2", "holder behaviours with weights")
	every := fs.Duration("sample", 10*time.Second, "sampling interval of RSS and goroutines")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	logLevel := fs.String("log-level", "warn", "log level on stderr")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	m, err := supervisor.ParseMix(*mix)
	if err != nil {
		return fail(stderr, "soak", fmt.Errorf("--mix: %w", err))
	}
	if *duration <= 0 || *rate <= 0 {
		return fail(stderr, "soak", fmt.Errorf("--duration and --rate must be positive"))
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return fail(stderr, "soak", err)
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := supervisor.RunSoak(ctx, supervisor.SoakConfig{SampleEvery: *every, Load: supervisor.LoadConfig{
		Transport: *transport, Lanes: 2, Duration: *duration, Rate: *rate, Concurrency: *concurrency, Mix: m,
		Timeout: 2 * time.Second, Log: log}})
	if rep == nil || rep.Load == nil {
		return fail(stderr, "soak", err)
	}
	if *jsonOut {
		writeJSON(stdout, rep)
	} else {
		printReport(stdout, "soak", rep.Load)
		fmt.Fprintf(stdout, "\nafter warm-up: RSS %d → %d bytes (%+.2f %%), goroutines %d → %d (%+d), %d samples\n",
			rep.RSSStartBytes, rep.RSSEndBytes, rep.RSSGrowthPct, rep.GoroutinesStart, rep.GoroutinesEnd, rep.GoroutineGrowth, len(rep.Samples))
	}
	if !rep.RSSJudged {
		fmt.Fprintf(stderr, "mdocgate soak: RSS growth reported, not judged: a run under %v ends before the runtime's RSS settles\n",
			supervisor.SoakMinJudged)
	}
	rssExceeded := rep.RSSJudged && rep.RSSGrowthPct >= soakMaxRSSGrowthPct
	if rep.Load.Lost != 0 || rssExceeded || rep.GoroutineGrowth > soakMaxGoroutineGrowth {
		fmt.Fprintf(stderr, "mdocgate soak: limits exceeded (lost %d, RSS growth %.2f %% ≥ %.0f %% or goroutine growth %d > %d)\n",
			rep.Load.Lost, rep.RSSGrowthPct, soakMaxRSSGrowthPct, rep.GoroutineGrowth, soakMaxGoroutineGrowth)
		return exitInvalid
	}
	return exitOK
}
