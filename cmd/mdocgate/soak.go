package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/load"
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
	m, err := load.ParseMix(*mix)
	if err != nil {
		return fail(stderr, "soak", fmt.Errorf("--mix: %w", err))
	}
	if *duration <= 0 || *rate <= 0 {
		return fail(stderr, "soak", fmt.Errorf("--duration and --rate must be positive"))
	}
	log, err := supervisor.NewLogger(stderr, *logLevel)
	if err != nil {
		return fail(stderr, "soak", err)
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.RunSoak(ctx, load.SoakConfig{SampleEvery: *every, Load: load.Config{
		Transport: *transport, Lanes: 2, Duration: *duration, Rate: *rate, Concurrency: *concurrency, Mix: m,
		Timeout: 2 * time.Second, Log: log}})
	if rep == nil || rep.Load == nil {
		return fail(stderr, "soak", err)
	}
	if *jsonOut {
		writeJSON(stdout, stderr, "soak", rep)
	} else {
		rep.WriteText(stdout)
	}
	for _, n := range rep.Notes() {
		fmt.Fprintf(stderr, "mdocgate soak: %s\n", n)
	}
	if !rep.WithinLimits() {
		return exitInvalid
	}
	return exitOK
}
