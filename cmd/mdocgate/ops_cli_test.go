package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/internal/testpki"
)

// version prints what the binary was built from, as a line or JSON.
func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "mdocgate ") || !strings.HasSuffix(strings.TrimSpace(stdout), runtime.Version()) {
		t.Fatalf("exit %d: %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, "version", "--json")
	var v struct{ Version, Go string }
	if code != exitOK || json.Unmarshal([]byte(stdout), &v) != nil || v.Go != runtime.Version() || v.Version == "" {
		t.Fatalf("exit %d: %q", code, stdout)
	}
	if code, _, stderr := runCLI(t, "version", "extra"); code != exitUsage || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Fatalf("exit %d: %q", code, stderr)
	}
}

// serve --check validates a configuration without starting the gate: exit 0 with a
// summary, or 2 naming the field.
func TestServeCheck(t *testing.T) {
	a := testgate.NewAuthority(t, "check")
	cfg, _ := testgate.ConfigFile(t, a)
	code, stdout, stderr := runCLI(t, "serve", "--check", "--config", cfg)
	var rep struct {
		Config         string
		Lanes, Anchors int
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Config != "ok" || rep.Lanes != 2 || rep.Anchors != 1 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	data, _ := os.ReadFile(cfg)
	bad := strings.Replace(string(data), "    actuator: log\n", "    actuator: webhook\n    actuator_options: {url: http://127.0.0.1:1/hook, secret_file: missing.secret}\n", 1)
	badFile := filepath.Join(t.TempDir(), "gate.yaml")
	os.WriteFile(badFile, []byte(bad), 0o644)
	code, stdout, stderr = runCLI(t, "serve", "--check", "--config", badFile)
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, "config: lanes[0].actuator_options.secret_file: ") {
		t.Fatalf("exit %d: %q %q", code, stdout, stderr)
	}
}

// loadtest --target https://… against a gate serving TLS, trusting its CA with
// --bearer-opt ca=FILE: every holder presents over HTTPS or WSS and the gate's
// verdicts are read from its /metrics.
func TestLoadtestTargetHTTPS(t *testing.T) {
	ca := testpki.NewTLSCA(t, "loadtest CA")
	cert, key := ca.Server(t, "gate")
	a := testgate.NewAuthority(t, "https")
	cfg, _ := testgate.ConfigFile(t, a)
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "\ntls: {cert: %s, key: %s}\n", cert, key)
	f.Close()
	g := startGate(t, cfg)
	if !strings.HasPrefix(g.info.Origin, "https://") {
		t.Fatalf("origin %q", g.info.Origin)
	}
	const holders = 12
	code, stdout, stderr := runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", fmt.Sprint(holders), "--concurrency", "4",
		"--timeout", "30s", "--json", "--bearer-opt", "ca="+ca.File, "--bearer-opt", "credential="+a.CredDir,
		"--bearer-opt", "metrics=http://"+g.info.HTTP+"/metrics")
	var rep struct {
		Sessions, Accepted, Lost int64
		VerdictsFrom             string `json:"verdicts_from"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Sessions != holders || rep.Accepted != holders ||
		rep.Lost != 0 || rep.VerdictsFrom != "target_metrics" {
		t.Fatalf("exit %d: %s\n%s", code, stdout, stderr)
	}
	// without the CA no holder gets through the handshake
	code, stdout, _ = runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", "2", "--concurrency", "2", "--timeout", "10s", "--json")
	if code != exitOK || !strings.Contains(stdout, `"errors": 2`) {
		t.Fatalf("without the CA: exit %d: %s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", "1", "--concurrency", "1", "--bearer-opt", "ca=/nonexistent.pem"); code != exitUsage || !strings.Contains(stderr, "ca") {
		t.Fatalf("missing CA file: exit %d: %s", code, stderr)
	}
	if code := g.stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
