package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/internal/testvenue"
	"github.com/mdocgate/mdocgate/supervisor/daemon"
	"github.com/mdocgate/mdocgate/supervisor/loadgen"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// gateBinary builds mdocgate once for the multi-process tests (bounded: 4 minutes).
func gateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mdocgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mdocgate")
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// gateProc is `mdocgate serve --config` of one gate of a venue, in its own process.
type gateProc struct {
	cmd  *exec.Cmd
	info daemon.Info
	mu   sync.Mutex
	// verdicts are the verdict lines printed so far, with when they were read.
	verdicts []map[string]any
	at       []time.Time
	done     chan struct{}
}

func (g *gateProc) lines() ([]map[string]any, []time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]any(nil), g.verdicts...), append([]time.Time(nil), g.at...)
}

// startVenueProcs starts n gates of venue "arena", each embedding a JetStream server,
// each with a websocket and an http lane on the mdl profile trusting iacaFiles.
func startVenueProcs(t *testing.T, n int, iacaFiles []string) []*gateProc {
	t.Helper()
	bin := gateBinary(t)
	ports := testvenue.FreePorts(t, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	dir := t.TempDir()
	procs := make([]*gateProc, n)
	infos := make(chan error, n)
	for i := range procs {
		cfg := fmt.Sprintf(`name: gate-%d
listen: 127.0.0.1:0
http_addr: 127.0.0.1:0
log_level: error
shutdown_timeout: 5s
trust: {iaca_files: [%s]}
lanes:
  - {name: ws, bearer: websocket, profile: mdl, zone: zone-%d}
  - {name: http, bearer: http, profile: mdl, zone: zone-%d}
venue:
  name: arena
  nats:
    embedded: {listen: "127.0.0.1:0", cluster_listen: "127.0.0.1:%d", routes: [%s], store_dir: %s}
  anti_passback: {window: 1h, attempt_timeout: 1s, timeout: 20s}
`, i, strings.Join(iacaFiles, ", "), i, i, ports[i], strings.Join(routes, ", "), filepath.Join(dir, fmt.Sprint(i)))
		f := filepath.Join(dir, fmt.Sprintf("gate-%d.yaml", i))
		if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		g := &gateProc{cmd: exec.Command(bin, "serve", "--config", f), done: make(chan struct{})}
		stdout, err := g.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		g.cmd.Stderr = os.Stderr
		if err := g.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = g
		t.Cleanup(func() {
			if g.cmd.ProcessState == nil {
				g.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-g.done:
				case <-time.After(10 * time.Second):
					g.cmd.Process.Kill()
					<-g.done
				}
			}
		})
		go func() {
			defer close(g.done)
			defer g.cmd.Wait()
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			first := true
			for sc.Scan() {
				if first {
					first = false
					infos <- json.Unmarshal(sc.Bytes(), &g.info)
					continue
				}
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil && m["outcome"] != nil {
					g.mu.Lock()
					g.verdicts, g.at = append(g.verdicts, m), append(g.at, time.Now())
					g.mu.Unlock()
				}
			}
			if first {
				infos <- fmt.Errorf("gate %d exited before its first line", i)
			}
		}()
	}
	timeout := time.After(90 * time.Second)
	for range procs {
		select {
		case err := <-infos:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("the gates did not start within 90 s")
		}
	}
	return procs
}

// venueReport is what the venue tests read of loadtest --json.
type venueReport struct {
	Sessions, Accepted, Rejected, Errors, Lost, Retries int64
	TargetReasons                                       map[string]int64 `json:"target_reasons"`
	ByTarget                                            map[string]struct {
		Sessions, Accepted, Rejected int64
		Reasons                      map[string]int64 `json:"reasons"`
		MetricsAfterRun              *bool            `json:"metrics_after_run"`
	} `json:"by_target"`
	ByWorker    map[string]struct{ Sessions int64 }                             `json:"by_worker"`
	ByBehaviour map[string]struct{ Sessions, Accepted, Errors, Timeouts int64 } `json:"by_behaviour"`
	LatencyMs   struct{ P99, Max float64 }                                      `json:"latency_ms"`
}

func targetsOf(procs []*gateProc) (targets, metrics []string) {
	for _, g := range procs {
		targets = append(targets, g.info.Origin)
		metrics = append(metrics, "http://"+g.info.HTTP+"/metrics")
	}
	return targets, metrics
}

func venueLoadtest(t *testing.T, holders int, credDir string, procs []*gateProc, extra ...string) (venueReport, string) {
	t.Helper()
	targets, metrics := targetsOf(procs)
	args := append([]string{"loadtest", "--target", strings.Join(targets, ","), "--holders", fmt.Sprint(holders), "--concurrency", "24",
		"--timeout", "30s", "--json", "--bearer-opt", "credential=" + credDir, "--bearer-opt", "metrics=" + strings.Join(metrics, ",")}, extra...)
	code, stdout, stderr := runCLI(t, args...)
	var rep venueReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("loadtest exit %d: %v\n%s\n%s", code, err, stdout, stderr)
	}
	return rep, stdout
}

// TestVenueLoadtestOneAdmission: 1,000 holders present one credential through three
// gates of a venue (each gate a process embedding a JetStream server): exactly one is
// accepted fleet-wide, 999 are rejected with anti_passback. Then the same with the
// holders run by two load workers found over the venue's NATS (loadtest --venue), and
// the deny command against the venue.
func TestVenueLoadtestOneAdmission(t *testing.T) {
	a, b := testgate.NewAuthority(t, "venue-a"), testgate.NewAuthority(t, "venue-b")
	procs := startVenueProcs(t, 3, []string{a.IACAFile(t), b.IACAFile(t)})
	rep, out := venueLoadtest(t, 1000, a.CredDir, procs)
	if rep.Accepted != 1 || rep.TargetReasons["rejected:anti_passback"] != 999 || rep.Rejected != 999 || rep.Lost != 0 || len(rep.ByTarget) != 3 {
		t.Fatalf("report:\n%s", out)
	}
	accepted := 0
	for _, g := range procs {
		ls, _ := g.lines()
		for _, l := range ls {
			if l["outcome"] == "accepted" {
				accepted++
			}
		}
	}
	if accepted != 1 {
		t.Fatalf("%d accepted verdict lines fleet-wide", accepted)
	}

	// distributed: two load workers on the venue's NATS run the holders
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		nc, err := loadgen.Connect(procs[i].info.NATS, "test worker")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			if err := loadgen.Serve(ctx, nc, fmt.Sprintf("w%d", i), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	rep, out = venueLoadtest(t, 1000, b.CredDir, procs, "--venue", procs[2].info.NATS, "--load-workers", "2")
	if rep.Accepted != 1 || rep.TargetReasons["rejected:anti_passback"] != 999 || rep.Lost != 0 || len(rep.ByWorker) != 2 ||
		rep.ByWorker["w0"].Sessions+rep.ByWorker["w1"].Sessions != 1000 {
		t.Fatalf("distributed report:\n%s", out)
	}

	// deny add|list|remove against the venue
	key := procs[0].acceptedCredential(t)
	code, stdout, stderr := runCLI(t, "deny", "add", "--venue", procs[1].info.NATS, key, "--note", "lost")
	if code != exitOK || !strings.Contains(stdout, key) {
		t.Fatalf("deny add: %d %s %s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "deny", "list", "--venue", procs[1].info.NATS)
	if code != exitOK || !strings.Contains(stdout, key) || !strings.Contains(stdout, `"venue":"arena"`) {
		t.Fatalf("deny list: %d %s", code, stdout)
	}
	if code, stdout, _ = runCLI(t, "deny", "remove", "--venue", procs[1].info.NATS, key); code != exitOK {
		t.Fatalf("deny remove: %d %s", code, stdout)
	}
	if code, _, _ = runCLI(t, "deny", "remove", "--venue", procs[1].info.NATS, key); code != exitInvalid {
		t.Fatalf("deny remove of a key not listed: exit %d", code)
	}
	if code, _, _ = runCLI(t, "deny", "add", "--venue", procs[1].info.NATS); code != exitUsage {
		t.Fatalf("deny add without a key: exit %d", code)
	}
}

// acceptedCredential is the credential key of the gate's accepted verdict (or of any
// verdict naming one).
func (g *gateProc) acceptedCredential(t *testing.T) string {
	t.Helper()
	for _, p := range []*gateProc{g} {
		ls, _ := p.lines()
		for _, l := range ls {
			if c, _ := l["credential"].(string); c != "" {
				return c
			}
		}
	}
	t.Fatal("no verdict names a credential")
	return ""
}

// TestVenueGateKilledMidway: the same 1,000 holders, and one of the three gate
// processes is killed (SIGKILL) midway: its sessions in flight end and their holders
// retry at another gate; the others keep serving; exactly one admission fleet-wide
// (counted from every gate's verdict lines, the dead one's included), every holder ends
// with a session that completed, and the rest are refused with anti_passback.
func TestVenueGateKilledMidway(t *testing.T) {
	a := testgate.NewAuthority(t, "venue-kill")
	procs := startVenueProcs(t, 3, []string{a.IACAFile(t)})
	victim := procs[1] // its server may lead the admissions stream: an election follows
	var killedAt time.Time
	go func() {
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			n := 0
			for _, g := range procs {
				ls, _ := g.lines()
				n += len(ls)
			}
			if n >= 300 {
				killedAt = time.Now()
				victim.cmd.Process.Signal(syscall.SIGKILL)
				return
			}
		}
	}()
	rep, out := venueLoadtest(t, 1000, a.CredDir, procs)
	<-victim.done
	if killedAt.IsZero() {
		t.Fatalf("the gate was not killed:\n%s", out)
	}
	accepted, passback, other := 0, 0, 0
	var lastBefore, firstAfter time.Time
	var gap time.Duration
	var times []time.Time
	for _, g := range procs {
		ls, at := g.lines()
		for i, l := range ls {
			switch {
			case l["outcome"] == "accepted":
				accepted++
			case l["reason"] == "anti_passback":
				passback++
			default:
				other++
				if other <= 3 {
					t.Logf("other verdict at %s (%s after the kill): %v", g.info.Name, at[i].Sub(killedAt).Round(time.Millisecond), l)
				}
			}
			if g != victim {
				times = append(times, at[i])
			}
		}
	}
	// the failover as seen from outside: the longest silence of the surviving gates
	// around the kill
	for _, ts := range times {
		if ts.Before(killedAt) && ts.After(lastBefore) {
			lastBefore = ts
		}
		if ts.After(killedAt) && (firstAfter.IsZero() || ts.Before(firstAfter)) {
			firstAfter = ts
		}
	}
	if !lastBefore.IsZero() && !firstAfter.IsZero() {
		gap = firstAfter.Sub(lastBefore)
	}
	dead := rep.ByTarget[victim.info.Origin]
	t.Logf("kill -9 of %s after 300 verdicts: verdict lines fleet-wide: %d accepted, %d anti_passback, %d other; holders' retries %d; "+
		"surviving gates' longest pause between verdicts around the kill %s; holder latency p99 %.0f ms, max %.0f ms; dead gate's metrics after the run: %v",
		victim.info.Name, accepted, passback, other, rep.Retries, gap.Round(time.Millisecond), rep.LatencyMs.P99, rep.LatencyMs.Max,
		dead.MetricsAfterRun != nil && *dead.MetricsAfterRun)
	valid := rep.ByBehaviour["valid"]
	switch {
	case accepted != 1 || rep.Accepted != 1:
		t.Fatalf("%d accepted verdict lines, report accepted %d; want exactly 1\n%s", accepted, rep.Accepted, out)
	case valid.Sessions != 1000 || valid.Accepted != 1000:
		// a holder's "accepted" is a session that completed (it cannot see the verdict)
		t.Fatalf("holders: %+v; every holder must end with a completed session\n%s", valid, out)
	case passback < 999 || other != 0:
		// the lines are every gate's verdicts, the dead one's up to its death; the report
		// has the dead gate's verdicts up to its last /metrics reading only
		t.Fatalf("verdict lines: %d anti_passback, %d other; want ≥ 999 and 0\n%s", passback, other, out)
	case dead.MetricsAfterRun == nil || *dead.MetricsAfterRun:
		t.Fatalf("the dead gate's metrics were read after the run?\n%s", out)
	}
}
