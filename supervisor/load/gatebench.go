package load

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/transports/web"
)

// GateBenchConfig is a benchmark of what a gate operator pays: a real gate (`mdocgate
// serve`, a process of its own), holders in another process (`mdocgate loadtest
// --target`) on its WebSocket lane, then on its HTTP lane, and the reader's floor of the
// same sessions measured here, on one thread, while nothing else runs in this process.
type GateBenchConfig struct {
	// GateBin is the mdocgate binary whose `serve` is the gate (empty: this executable,
	// which must be mdocgate); RunGateBench adds --listen and --http-addr (loopback,
	// ports the system picks), --log-level error, --trust (the IACA of the credential it
	// issues), --cpuprofile with CPUProfile, and --config. The holders are this
	// executable's `loadtest` (--target, --holders, --concurrency, --json and the bearer
	// options), whose JSON report RunGateBench reads.
	GateBin string
	// Config is the gate's configuration file; empty runs GateBenchYAML (a WebSocket and
	// an HTTP lane, profile mdl). It needs one lane of each web bearer measured. The
	// reader floor digests the items the built-in mdl profile asks for, whatever the
	// lanes' profiles.
	Config string
	// Sessions per bearer (default 4000), Concurrency holders at once (default 64),
	// Warmup sessions on the bearers before (0: none), FloorSessions of the reader floor
	// after each bearer (default 2000).
	Sessions, Concurrency, Warmup, FloorSessions int
	// Bearers are the bearers measured, in order (default GateBenchBearers).
	Bearers []string
	// Inflight WebSocket sessions are held open at the gate after the CPU runs (0: none;
	// only when websocket is among Bearers), to read the gate's memory and goroutines per
	// in-flight session: once with each holder's engagement connection closed before the
	// upgrade, once with it kept open (HTTP keep-alive). Memory is read after forced GCs
	// when the gate's ops listener serves pprof (the embedded config does).
	Inflight int
	// CPUProfile, when set, is a file the gate writes its CPU profile to (from its start
	// to its shutdown; the profiler's own cost is then in the figures).
	CPUProfile string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// GateBenchYAML is the gate of RunGateBench without a configuration file: the web lanes
// of examples/gate.yaml (the shipped limits), trusting the folder "iaca" next to it.
const GateBenchYAML = `name: bench-gate
listen: 127.0.0.1:0
http_addr: 127.0.0.1:0
log_level: error
pprof: true
trust: {iaca_dir: iaca}
lanes:
  - {name: web-ws, bearer: websocket, profile: mdl}
  - {name: web-http, bearer: http, profile: mdl}
`

// GateBenchBearers are the bearers RunGateBench measures, in order.
var GateBenchBearers = []string{web.BearerWebSocket, web.BearerHTTP}

// GateBenchReport is what RunGateBench measured.
type GateBenchReport struct {
	Command     string `json:"command,omitempty"` // set by the caller
	Config      string `json:"config"`            // the file, or "embedded"
	Sessions    int    `json:"sessions_per_bearer"`
	Concurrency int    `json:"concurrency"`
	Warmup      int    `json:"warmup_sessions"`
	// Bearers are the figures per bearer measured ("websocket", "http").
	Bearers map[string]*GateBenchBearer `json:"bearers"`
	// ReaderFloorUs is the mean of the bearers' reader floors.
	ReaderFloorUs float64 `json:"reader_floor_us"`
	// GateRSSBytes is the gate's peak resident set (VmHWM) after the CPU runs.
	GateRSSBytes int64  `json:"gate_rss_bytes"`
	GateCPUFrom  string `json:"gate_cpu_from"` // where the gate's CPU time was read
	// Lost is summed over the bearers and the in-flight sessions, NotAccepted over the
	// bearers.
	Lost        int64  `json:"lost"`
	NotAccepted int64  `json:"not_accepted"`
	CPUProfile  string `json:"gate_cpuprofile,omitempty"`
	// InflightSessions WebSocket sessions were held open at the gate after the CPU runs
	// (GateBenchConfig.Inflight); InflightBytesPerSession is the gate's heap and stacks in
	// use per session, InflightGoroutinesPerSession its goroutines, with each holder's
	// engagement connection closed before the upgrade; the KeepAlive figures with it kept
	// open. InflightMemoryFrom says how memory was read; InflightLost (in Lost too) counts
	// held sessions without a verdict once closed.
	InflightSessions                      int     `json:"inflight_sessions,omitempty"`
	InflightBytesPerSession               float64 `json:"inflight_bytes_per_session,omitempty"`
	InflightGoroutinesPerSession          float64 `json:"inflight_goroutines_per_session,omitempty"`
	InflightKeepAliveBytesPerSession      float64 `json:"inflight_keepalive_bytes_per_session,omitempty"`
	InflightKeepAliveGoroutinesPerSession float64 `json:"inflight_keepalive_goroutines_per_session,omitempty"`
	InflightMemoryFrom                    string  `json:"inflight_memory_from,omitempty"`
	InflightLost                          int64   `json:"inflight_lost,omitempty"`
	GoVersion                             string  `json:"go_version"`
	GOMAXPROCS                            int     `json:"gomaxprocs"`
	CPUs                                  int     `json:"cpus"`
}

// GateBenchBearer is one bearer's run.
type GateBenchBearer struct {
	// Sessions the holders began (Busy more were turned away before a session);
	// Accepted, Rejected, Errors and Timeouts are the gate's verdicts (its /metrics);
	// Lost the sessions without one.
	Sessions int64 `json:"sessions"`
	Busy     int64 `json:"busy"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	Errors   int64 `json:"errors"`
	Timeouts int64 `json:"timeouts"`
	Lost     int64 `json:"lost"`
	// Reasons counts the verdicts other than accepted by "outcome:reason".
	Reasons map[string]int64 `json:"reasons,omitempty"`
	// GateCPUSeconds is the gate process's CPU time over the run; per accepted session
	// in GateCPUUsPerSession.
	GateCPUSeconds      float64 `json:"gate_cpu_seconds"`
	GateCPUUsPerSession float64 `json:"gate_cpu_us_per_session"`
	// ReaderFloorUs is the reader's floor (MeasureReaderFloor) measured right after the
	// run; Ratio is ReaderFloorUs over GateCPUUsPerSession (1: the gate spends only the
	// floor).
	ReaderFloorUs float64 `json:"reader_floor_us"`
	Ratio         float64 `json:"ratio"`
	// Seconds of the holders' run, SessionsPerSecond through it, HolderCPUSeconds of
	// the holders' process.
	Seconds           float64 `json:"seconds"`
	SessionsPerSecond float64 `json:"sessions_per_second"`
	HolderCPUSeconds  float64 `json:"holder_cpu_seconds"`
}

// RunGateBench runs the benchmark: it issues a credential and trusts its IACA, starts
// the gate, warms it up, then for each bearer runs the holders' process against it,
// reading the gate's CPU time from /proc before and after (the sum of its threads'
// schedstat run time, in ns; /proc/PID/stat's 10 ms ticks where that is missing) and
// its verdicts from its /metrics, and measures the reader floor. An error after some
// bearers ran comes with the report so far.
func RunGateBench(ctx context.Context, cfg GateBenchConfig) (*GateBenchReport, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if cfg.Sessions <= 0 {
		cfg.Sessions = 4000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Inflight < 0 {
		return nil, errors.New("gate bench: inflight ≥ 0 please")
	}
	if cfg.FloorSessions <= 0 {
		cfg.FloorSessions = 2000
	}
	if len(cfg.Bearers) == 0 {
		cfg.Bearers = GateBenchBearers
	}
	if cfg.Config != "" {
		if _, err := os.Stat(cfg.Config); err != nil {
			return nil, fmt.Errorf("gate bench: config: %w", err)
		}
	}
	gate, err := filepath.Abs(cmp.Or(cfg.GateBin, self)) // the gate runs in its config's folder
	if err != nil {
		return nil, fmt.Errorf("gate bench: the gate: %w", err)
	}
	if _, err := os.Stat(gate); err != nil {
		return nil, fmt.Errorf("gate bench: the gate: %w", err)
	}
	for _, b := range cfg.Bearers {
		if !slices.Contains(GateBenchBearers, b) {
			return nil, fmt.Errorf("gate bench: bearer %q (want %s)", b, strings.Join(GateBenchBearers, " or "))
		}
	}
	warmOn := BearersBoth
	if len(cfg.Bearers) == 1 {
		warmOn = cfg.Bearers[0]
	}
	logf := logTo(cfg.Log)
	dir, err := os.MkdirTemp("", "mdocgate-gatebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cred, err := gateBenchCredential(dir)
	if err != nil {
		return nil, err
	}
	rep := &GateBenchReport{Config: cfg.Config, Sessions: cfg.Sessions, Concurrency: cfg.Concurrency, Warmup: cfg.Warmup,
		Bearers: map[string]*GateBenchBearer{}, CPUProfile: cfg.CPUProfile, GoVersion: runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), CPUs: runtime.NumCPU()}
	config := cfg.Config
	if config == "" {
		rep.Config = "embedded"
		config = filepath.Join(dir, "gate.yaml")
		if err := os.WriteFile(config, []byte(GateBenchYAML), 0o644); err != nil {
			return nil, err
		}
	}
	argv := append([]string{gate, "serve"}, "--listen", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-level", "error", "--trust", filepath.Join(dir, "iaca", "iaca.pem"))
	inflightGate := func() (*gateProcess, error) { return startGateProcess(ctx, argv, config, gateFileLimit(cfg.Inflight)) }
	if cfg.CPUProfile != "" {
		argv = append(slices.Clip(argv), "--cpuprofile", cfg.CPUProfile)
	}
	logf("starting the gate (%s)", rep.Config)
	g, err := startGateProcess(ctx, argv, config, 4096)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	holders := func(n int, bearer string) (*Report, float64, error) {
		args := append([]string{self, "loadtest"}, "--target", g.origin, "--holders", strconv.Itoa(n),
			"--concurrency", strconv.Itoa(cfg.Concurrency), "--timeout", "30s", "--json", "--log-level", "error",
			"--bearer-opt", "credential="+filepath.Join(dir, "cred"), "--bearer-opt", "bearer="+bearer)
		return runHolderProcess(ctx, args)
	}
	if cfg.Warmup > 0 {
		logf("warm-up: %d sessions (bearer %s)", cfg.Warmup, warmOn)
		if _, _, err := holders(cfg.Warmup, warmOn); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	disclosed := profileElements("mdl")
	var floors float64
	for _, bearer := range cfg.Bearers {
		logf("%s: %d sessions, %d at once", bearer, cfg.Sessions, cfg.Concurrency)
		b, err := benchBearer(ctx, g, func() (*Report, float64, error) { return holders(cfg.Sessions, bearer) })
		if err != nil {
			return rep, fmt.Errorf("%s: %w", bearer, err)
		}
		floor, err := MeasureReaderFloor(cred, disclosed, cfg.FloorSessions)
		if err != nil {
			return rep, err
		}
		b.ReaderFloorUs = round3(float64(floor) / 1e3)
		if b.GateCPUUsPerSession > 0 {
			b.Ratio = round3(b.ReaderFloorUs / b.GateCPUUsPerSession)
		}
		floors += b.ReaderFloorUs
		rep.Bearers[bearer] = b
		rep.Lost += b.Lost
		rep.NotAccepted += b.Sessions - b.Accepted + b.Busy
		logf("%s: %d accepted, %d lost; gate %.0f µs per session, reader floor %.0f µs, ratio %.3f", bearer, b.Accepted,
			b.Lost, b.GateCPUUsPerSession, b.ReaderFloorUs, b.Ratio)
	}
	rep.ReaderFloorUs = round3(floors / float64(len(cfg.Bearers)))
	rep.GateRSSBytes = g.peakRSS()
	_, rep.GateCPUFrom = g.preciseCPU()
	if cfg.Inflight > 0 && slices.Contains(cfg.Bearers, web.BearerWebSocket) {
		if err := benchInflight(ctx, inflightGate, cred, cfg, rep); err != nil {
			return rep, fmt.Errorf("in-flight sessions: %w", err)
		}
	}
	return rep, nil
}

// inflightWarm sessions are held and closed at each in-flight gate before it is measured.
const inflightWarm = 32

// benchInflight holds cfg.Inflight sessions at a gate started for it (start), with the
// holders' engagement connections closed, then at another with them kept open, and sets
// the report's in-flight figures. A fresh gate each time: what sessions before left in
// its heap (partly used spans) would take in part of the held sessions' memory unseen.
func benchInflight(ctx context.Context, start func() (*gateProcess, error), cred *issuer.Credential, cfg GateBenchConfig,
	rep *GateBenchReport) error {
	logf := logTo(cfg.Log)
	rep.InflightSessions = cfg.Inflight
	for _, keep := range []bool{false, true} {
		logf("in flight: %d WebSocket sessions held at a gate of their own (engagement connection kept open: %v)", cfg.Inflight, keep)
		g, err := start()
		if err != nil {
			return err
		}
		gc := true
		rep.InflightMemoryFrom = InflightForcedGC
		if err = forceGateGC(ctx, g); errors.Is(err, errNoPprof) {
			gc, rep.InflightMemoryFrom, err = false, InflightNoForcedGC, nil
		}
		var r *inflightResult
		if err == nil {
			r, err = measureInflight(ctx, g, cred, cfg.Inflight, inflightWarm, cfg.Concurrency, gc, keep)
		}
		g.stop()
		if err != nil {
			return err
		}
		rep.InflightLost += r.lost
		rep.Lost += r.lost
		if keep {
			rep.InflightKeepAliveBytesPerSession, rep.InflightKeepAliveGoroutinesPerSession = r.bytesPerSession, r.goroutinesPerSession
		} else {
			rep.InflightBytesPerSession, rep.InflightGoroutinesPerSession = r.bytesPerSession, r.goroutinesPerSession
		}
		logf("in flight: gate %.0f B (%.1f KiB) and %.2f goroutines per session, %d lost", r.bytesPerSession,
			r.bytesPerSession/1024, r.goroutinesPerSession, r.lost)
	}
	return nil
}

// benchBearer runs one bearer's holders (run) and reads the gate around it.
func benchBearer(ctx context.Context, g *gateProcess, run func() (*Report, float64, error)) (*GateBenchBearer, error) {
	before, err := scrapeGate(ctx, g.client, g.ops+"/metrics")
	if err != nil {
		return nil, err
	}
	cpu0, _ := g.preciseCPU()
	hr, holderCPU, err := run()
	if err != nil {
		return nil, err
	}
	after, err := awaitVerdicts(ctx, g.client, g.ops+"/metrics", before, hr.Sessions)
	if err != nil {
		return nil, err
	}
	cpu1, _ := g.preciseCPU()
	d := func(outcome string) int64 { return int64(after.sessions[outcome] - before.sessions[outcome]) }
	b := &GateBenchBearer{Sessions: hr.Sessions, Busy: hr.Busy, Accepted: d("accepted"), Rejected: d("rejected"),
		Errors: d("error"), Timeouts: d("timeout"), Seconds: hr.Seconds, SessionsPerSecond: hr.SessionsPerSecond,
		HolderCPUSeconds: round3(holderCPU), GateCPUSeconds: round3((cpu1 - cpu0).Seconds())}
	b.Lost = max(0, hr.Sessions-int64(after.verdicts()-before.verdicts()))
	for k, v := range after.reasons {
		if n := int64(v - before.reasons[k]); n > 0 && !strings.HasPrefix(k, "accepted:") {
			if b.Reasons == nil {
				b.Reasons = map[string]int64{}
			}
			b.Reasons[k] = n
		}
	}
	if b.Accepted > 0 {
		b.GateCPUUsPerSession = round3(float64(cpu1-cpu0) / 1e3 / float64(b.Accepted))
	}
	return b, nil
}

// runHolderProcess runs a holders' process (loadtest --json) and returns its report
// and its CPU seconds.
func runHolderProcess(ctx context.Context, args []string) (*Report, float64, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) || ee != nil && ee.ExitCode() != 1 { // 1: sessions lost, reported
		return nil, 0, fmt.Errorf("the holders' process: %v: %s", err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, 0, fmt.Errorf("the holders' report: %w: %s", err, stderr.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return &rep, cpu.Seconds(), nil
}

// gateBenchCredential issues an IACA (dir/iaca/iaca.pem), a DS and an mDL
// (dir/cred, as `mdocgate issue --out` writes it).
func gateBenchCredential(dir string) (*issuer.Credential, error) {
	iaca, ds, cred, err := freshIssuer("gate bench")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "iaca"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "iaca", "iaca.pem"), iaca.CertificatePEM(), 0o644); err != nil {
		return nil, err
	}
	return cred, issuer.WriteDir(filepath.Join(dir, "cred"), iaca, ds, cred, cred.DevicePrivateKey)
}

// profileElements are the element identifiers a built-in profile asks for.
func profileElements(name string) []string {
	var out []string
	for _, d := range profile.Builtin(name).Docs {
		for _, e := range d.Elements {
			out = append(out, e.Identifier)
		}
	}
	return out
}

// WriteText prints the report as a table.
func (rep *GateBenchReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s\nconfig %s, %d sessions per bearer, %d at once, %s, GOMAXPROCS %d\n\n", rep.Command, rep.Config,
		rep.Sessions, rep.Concurrency, rep.GoVersion, rep.GOMAXPROCS)
	fmt.Fprintf(w, "%-10s %9s %9s %5s %18s %13s %6s %10s\n", "bearer", "sessions", "accepted", "lost", "gate CPU/session", "reader floor", "ratio", "sessions/s")
	for _, name := range GateBenchBearers {
		if b := rep.Bearers[name]; b != nil {
			fmt.Fprintf(w, "%-10s %9d %9d %5d %15.0f µs %10.0f µs %6.3f %10.0f\n", name, b.Sessions, b.Accepted, b.Lost,
				b.GateCPUUsPerSession, b.ReaderFloorUs, b.Ratio, b.SessionsPerSecond)
		}
	}
	fmt.Fprintf(w, "\ngate peak RSS %.1f MB; gate CPU from /proc (%s)\n", float64(rep.GateRSSBytes)/1e6, rep.GateCPUFrom)
	if rep.InflightSessions > 0 {
		fmt.Fprintf(w, "gate memory per in-flight WebSocket session (%d held; %s): %.0f B (%.1f KiB), %.2f goroutines; engagement connection kept open: %.0f B (%.1f KiB), %.2f goroutines; %d lost\n",
			rep.InflightSessions, rep.InflightMemoryFrom, rep.InflightBytesPerSession, rep.InflightBytesPerSession/1024,
			rep.InflightGoroutinesPerSession, rep.InflightKeepAliveBytesPerSession, rep.InflightKeepAliveBytesPerSession/1024,
			rep.InflightKeepAliveGoroutinesPerSession, rep.InflightLost)
	}
	if rep.CPUProfile != "" {
		fmt.Fprintf(w, "gate CPU profile: %s (go tool pprof %s)\n", rep.CPUProfile, rep.CPUProfile)
	}
}
