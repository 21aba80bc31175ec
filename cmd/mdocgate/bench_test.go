package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/supervisor/load"
)

// bench gate end to end on a small scale (the built binary: it starts itself as the
// gate and as the holders' process): every session accepted on both bearers, the gate's
// CPU and the reader floor read, the report's fields in place. Not a timed test.
func TestBenchGate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gate and holders' processes")
	}
	bin := gateBinary(t)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append([]string{"bench", "gate"}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	const sessions = 50
	code, stdout, stderr := run("--sessions", "50", "--concurrency", "8", "--warmup", "10", "--floor-sessions", "200", "--inflight", "50", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep load.GateBenchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	for _, name := range []string{"websocket", "http"} {
		b := rep.Bearers[name]
		if b == nil {
			t.Fatalf("no %s in %s", name, stdout)
		}
		if b.Sessions != sessions || b.Accepted != sessions || b.Lost != 0 || b.GateCPUSeconds <= 0 || b.GateCPUUsPerSession <= 0 ||
			b.ReaderFloorUs <= 0 || b.Ratio <= 0 || b.HolderCPUSeconds <= 0 {
			t.Fatalf("%s: %+v", name, b)
		}
		// the gate does at least the reader's share of the crypto, and a session is not
		// dearer than 0.2 s of CPU
		if b.Ratio > 1.5 || b.GateCPUUsPerSession > 200_000 {
			t.Fatalf("%s: implausible %+v", name, b)
		}
	}
	if rep.Sessions != sessions || rep.Lost != 0 || rep.NotAccepted != 0 || rep.GateRSSBytes <= 0 || rep.ReaderFloorUs <= 0 ||
		rep.GateCPUFrom == "" || rep.Config != "embedded" || rep.GoVersion == "" || rep.GOMAXPROCS <= 0 ||
		!strings.HasPrefix(rep.Command, "mdocgate bench gate --sessions 50") {
		t.Fatalf("report %s", stdout)
	}
	// the sessions held in flight after the CPU runs: what the gate holds for each is more
	// than nothing and less than 1 MiB, one goroutine at least (the link's reader), every
	// one of them ended with a verdict once closed
	if rep.InflightSessions != 50 || rep.InflightLost != 0 || rep.InflightMemoryFrom != load.InflightForcedGC {
		t.Fatalf("in flight: %s", stdout)
	}
	for _, f := range [][2]float64{{rep.InflightBytesPerSession, rep.InflightGoroutinesPerSession},
		{rep.InflightKeepAliveBytesPerSession, rep.InflightKeepAliveGoroutinesPerSession}} {
		if f[0] <= 0 || f[0] >= 1<<20 || f[1] < 0.5 || f[1] > 10 {
			t.Fatalf("in flight: implausible %v: %s", f, stdout)
		}
	}
	for _, field := range []string{`"gate_cpu_us_per_session"`, `"reader_floor_us"`, `"ratio"`, `"sessions"`, `"lost"`,
		`"inflight_sessions"`, `"inflight_bytes_per_session"`, `"inflight_goroutines_per_session"`} {
		if !strings.Contains(stdout, field) {
			t.Errorf("no %s in %s", field, stdout)
		}
	}

	// another configuration (examples/gate.yaml trusting another IACA): the bench's own
	// IACA is added to its anchors (serve --trust), the gate (--gate-bin: a binary named)
	// writes its CPU profile
	a := testgate.NewAuthority(t, "other")
	cfg, _ := testgate.ConfigFile(t, a)
	prof := filepath.Join(t.TempDir(), "gate.pprof")
	code, stdout, stderr = run("--config", cfg, "--sessions", "6", "--concurrency", "2", "--warmup", "0", "--floor-sessions", "10",
		"--gate-cpuprofile", prof, "--bearers", "http", "--gate-bin", bin)
	if code != exitOK || strings.Contains(stdout, "websocket ") || !strings.Contains(stdout, "http ") || !strings.Contains(stdout, "reader floor") {
		t.Fatalf("--config: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Fatalf("profile: %v", err)
	}

	for _, args := range [][]string{{"--sessions", "0"}, {"--warmup", "-1"}, {"--config", "/nonexistent.yaml"}, {"--nosuch"}, {"--bearers", "ble"},
		{"--gate-bin", "/nonexistent/mdocgate"}} {
		if code, _, stderr := run(args...); code != exitUsage {
			t.Errorf("%v: exit %d %s", args, code, stderr)
		}
	}
	if code, _, _ := runCLI(t, "bench"); code != exitUsage {
		t.Errorf("bench without gate: exit %d", code)
	}
}
