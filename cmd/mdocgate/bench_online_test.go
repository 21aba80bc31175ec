package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/daemon"
	"github.com/mdocgate/mdocgate/supervisor/load"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// BenchmarkGateCPUPerSession measures the gate's CPU time per accepted session on each
// lane kind with the same profile (examples/online.yaml's online_mdl): the WebSocket
// lane (18013-7 Annex A), the oid4vp lane (direct_post.jwt) and the dcapi lane with each
// protocol. The gate is `mdocgate serve` in a process of its own (built here), so its
// CPU (process_cpu_seconds_total from its /metrics) excludes the simulated holders',
// which run in this process through loadtest's RunTarget. For each online lane kind, b.N
// sessions on the WebSocket lane then b.N on the online lane, after a warm-up;
// "x-websocket" is the online lane's cost over the WebSocket lane's.
//
//	go test -run '^$' -bench GateCPUPerSession -benchtime 2000x ./cmd/mdocgate/
func BenchmarkGateCPUPerSession(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "mdocgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	copyTree(b, "../../examples", filepath.Join(dir, "examples"))
	cred := filepath.Join(dir, "cred")
	if code, _, stderr := runCLI(b, "issue", "--out", cred); code != exitOK {
		b.Fatalf("issue: %s", stderr)
	}
	iaca, err := os.ReadFile(filepath.Join(cred, "iaca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "examples", "iaca", "issued.pem"), iaca, 0o644); err != nil {
		b.Fatal(err)
	}
	// the example gate plus a WebSocket lane with the same profile
	cfgFile := filepath.Join(dir, "examples", "online.yaml")
	cfg, err := os.ReadFile(cfgFile)
	if err != nil {
		b.Fatal(err)
	}
	cfg = append(cfg, []byte("  - {name: web-ws, bearer: websocket, profile: online_mdl}\n")...)
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgFile, "--listen", "localhost:0", "--http-addr", "127.0.0.1:0", "--log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		b.Fatal("serve printed nothing")
	}
	var info daemon.Info
	if err := json.Unmarshal(sc.Bytes(), &info); err != nil {
		b.Fatal(err)
	}
	go func() {
		for sc.Scan() { // the verdict lines
		}
	}()
	target := "http://" + info.Listen
	run := func(b *testing.B, holders int, tc load.TargetConfig) *load.Report {
		tc.Target, tc.Holders, tc.Concurrency, tc.Credential = target, holders, 8, cred
		tc.Metrics, tc.Timeout = "http://"+info.HTTP+"/metrics", 30*time.Second
		rep, err := load.RunTarget(context.Background(), tc)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Accepted != int64(holders) || rep.Lost != 0 {
			b.Fatalf("%+v: accepted %d of %d, lost %d, reasons %v", tc, rep.Accepted, holders, rep.Lost, rep.Reasons)
		}
		return rep
	}
	ws := load.TargetConfig{Bearer: "websocket"}
	run(b, 200, ws) // warm-up: connections, chain caches
	for _, c := range []struct {
		name string
		tc   load.TargetConfig
	}{
		{"oid4vp", load.TargetConfig{Lane: "web-qr"}},
		{"dcapi-annex-c", load.TargetConfig{Lane: "web-dc", Protocol: oid4vp.ProtocolAnnexC}},
		{"dcapi-signed", load.TargetConfig{Lane: "web-dc", Protocol: oid4vp.ProtocolSigned}},
		{"dcapi-unsigned", load.TargetConfig{Lane: "web-dc", Protocol: oid4vp.ProtocolUnsigned}},
	} {
		// each lane kind side by side with the WebSocket lane: this machine's speed
		// drifts, a ratio of neighbours less
		b.Run(c.name, func(b *testing.B) {
			run(b, 200, c.tc) // warm-up
			b.ResetTimer()
			wsRep := run(b, b.N, ws)
			rep := run(b, b.N, c.tc)
			wsMs := wsRep.TargetCPUSeconds * 1000 / float64(wsRep.Accepted)
			ms := rep.TargetCPUSeconds * 1000 / float64(rep.Accepted)
			b.ReportMetric(ms, "gate-cpu-ms/session")
			b.ReportMetric(wsMs, "websocket-gate-cpu-ms/session")
			b.ReportMetric(ms/wsMs, "x-websocket")
		})
	}
}
