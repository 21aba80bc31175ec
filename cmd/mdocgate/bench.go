package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

func init() {
	register(command{"bench", "benchmarks of the product: 'bench gate' measures a gate's CPU per session against the reader's floor, and its memory per in-flight WebSocket session", runBench})
}

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "gate" {
		return runBenchGate(args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: mdocgate bench gate [flags]  (mdocgate bench gate -h for its flags)")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return exitOK
	}
	return exitUsage
}

func runBenchGate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench gate", stderr)
	sessions := fs.Int("sessions", 4000, "sessions per bearer (WebSocket, then HTTP)")
	concurrency := fs.Int("concurrency", 64, "holders at once")
	warmup := fs.Int("warmup", 200, "sessions on the bearers before measuring (0: none)")
	floorSessions := fs.Int("floor-sessions", 2000, "sessions of the reader floor measured after each bearer")
	config := fs.String("config", "", "the gate's configuration (YAML) with a websocket and an http lane; default: an embedded one (the web lanes of examples/gate.yaml, profile mdl)")
	cpuProfile := fs.String("gate-cpuprofile", "", "write the gate's CPU profile (serve --cpuprofile) to this file")
	bearers := fs.String("bearers", strings.Join(load.GateBenchBearers, ","), "the web bearers measured, in order (websocket, http)")
	gateBin := fs.String("gate-bin", "", "run this mdocgate binary as the gate (default: this one), e.g. another commit's, side by side with this one's; it must take serve --config, --listen, --http-addr, --log-level")
	inflight := fs.Int("inflight", 2000, "WebSocket sessions then held open at the gate to read its memory and goroutines per in-flight session (0: none)")
	jsonOut := fs.Bool("json", false, "print the report as JSON (otherwise text)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *sessions <= 0 || *concurrency <= 0 || *warmup < 0 || *floorSessions <= 0 || *inflight < 0 {
		return fail(stderr, "bench gate", errors.New("--sessions, --concurrency and --floor-sessions > 0 and --warmup, --inflight ≥ 0 please"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.RunGateBench(ctx, load.GateBenchConfig{GateBin: *gateBin,
		Config: *config, Sessions: *sessions, Concurrency: *concurrency, Warmup: *warmup, FloorSessions: *floorSessions,
		Bearers: strings.Split(*bearers, ","), CPUProfile: *cpuProfile, Inflight: *inflight, Log: stderr})
	if rep == nil {
		return fail(stderr, "bench gate", err)
	}
	rep.Command = strings.Join(append([]string{"mdocgate", "bench", "gate"}, args...), " ")
	if *jsonOut {
		if code := writeJSON(stdout, stderr, "bench gate", rep); code != exitOK {
			return code
		}
	} else {
		rep.WriteText(stdout)
	}
	if err != nil {
		return fail(stderr, "bench gate", err)
	}
	if rep.Lost != 0 || rep.NotAccepted != 0 {
		fmt.Fprintf(stderr, "mdocgate bench gate: %d sessions lost, %d not accepted (every session must be accepted)\n", rep.Lost, rep.NotAccepted)
		return exitInvalid
	}
	return exitOK
}
