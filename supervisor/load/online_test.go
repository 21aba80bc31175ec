package load

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/daemon"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// startExampleGate runs examples/online.yaml (its oid4vp lane web-qr and dcapi lane web-dc)
// on free ports, trusting the IACA of dir; it returns the gate's info.
func startExampleGate(t *testing.T, dir string) daemon.Info {
	t.Helper()
	cfg, err := daemon.LoadConfig(filepath.Join("..", "..", "examples", "online.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.HTTPAddr, cfg.LogLevel = "localhost:0", "127.0.0.1:0", "error"
	cfg.Trust.IACAFiles = []string{filepath.Join(dir, "iaca.pem")}
	g, err := daemon.New(cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return g.Info()
}

// RunTarget drives a gate's online lanes: each holder begins its transaction, presents
// over the real sockets (the OpenID4VP wallet, or the DC API wallet answering the
// page's request) and reads its verdict from the gate; the gate's /metrics confirms
// every verdict and gives its process's figures.
func TestRunTargetOnline(t *testing.T) {
	dir, _ := issuedDir(t)
	info := startExampleGate(t, dir)
	target := "http://" + info.Listen // 127.0.0.1:PORT; the gate's origin names localhost
	root := filepath.Join("..", "..", "examples", "online", "reader_root.pem")
	for _, lane := range []string{"web-qr", "web-dc"} {
		const holders = 9
		rep, err := RunTarget(context.Background(), TargetConfig{Target: target, Holders: holders, Concurrency: 3, Credential: dir,
			Metrics: "http://" + info.HTTP + "/metrics", Lane: lane, ReaderRoot: root, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		bearer := map[string]string{"web-qr": "oid4vp", "web-dc": "dcapi"}[lane]
		if rep.VerdictsFrom != "transactions" || rep.Transport != bearer || rep.Sessions != holders || rep.Accepted != holders ||
			rep.Lost != 0 || rep.ByLane[lane] == nil || rep.ByLane[lane].Sessions != holders || rep.PeakRSSBytes < 1<<20 ||
			rep.TargetCPUSeconds <= 0 {
			t.Fatalf("%s: %+v reasons %v", lane, rep, rep.Reasons)
		}
	}
	// one protocol only, untrusted credential: the gate rejects every holder, and says why
	rep, err := RunTarget(context.Background(), TargetConfig{Target: target, Holders: 3, Concurrency: 3, Lane: "web-dc",
		Protocol: oid4vp.ProtocolSigned})
	if err != nil || rep.Rejected != 3 || rep.Reasons["rejected:issuer_auth.chain"] != 3 {
		t.Fatalf("untrusted: %v %+v", err, rep)
	}
	for _, bad := range []TargetConfig{{Lane: "nope"}, {Lane: "web-dc", Protocol: "openid4vp"}} {
		bad.Target, bad.Holders, bad.Concurrency = target, 1, 1
		if _, err := RunTarget(context.Background(), bad); err == nil || !strings.Contains(err.Error(), bad.Lane) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
