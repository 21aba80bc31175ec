package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

// parseSessionsTotal and sumValues read a gate's /metrics in the serve tests.
func parseSessionsTotal(r io.Reader) (map[string]float64, error) { return load.ParseSessionsTotal(r) }

func sumValues(m map[string]float64) (s float64) {
	for _, v := range m {
		s += v
	}
	return s
}

// loadtest --report writes the HTML report of an in-process run too: its histogram
// holds every session.
func TestLoadtestReport(t *testing.T) {
	f := filepath.Join(t.TempDir(), "r.html")
	code, stdout, stderr := runCLI(t, "loadtest", "--holders", "40", "--concurrency", "8", "--json", "--report", f)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep struct{ Sessions int64 }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Sessions != 40 {
		t.Fatalf("%v: %s", err, stdout)
	}
	doc, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	for _, m := range regexp.MustCompile(`<rect class="bar" data-le-ms="[^"]+" data-count="(\d+)"`).FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.Atoi(m[1])
		sum += n
	}
	if sum != 40 || !strings.Contains(string(doc), "40 sessions by latency bucket") {
		t.Fatalf("histogram holds %d sessions", sum)
	}
	if code, _, _ := runCLI(t, "loadtest", "--holders", "1", "--report", filepath.Join(t.TempDir(), "no", "such", "dir.html")); code != exitUsage {
		t.Fatalf("unwritable report: exit %d", code)
	}
}

// copyTree copies the regular files under src into dst (the example configuration and
// what it names).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The acceptance run of the online lanes: `serve --config examples/online.yaml` starts as
// shipped on localhost (only the port is free here), `issue --out DIR` writes a
// credential whose IACA goes into the gate's iaca/ as the example says, and
// `loadtest --target http://127.0.0.1:PORT --bearer-opt lane=NAME --bearer-opt
// credential=DIR` drives each online lane: every holder's transaction accepted, as the
// gate's own verdicts confirm. Without the IACA the gate rejects them.
func TestLoadtestTargetOnlineExample(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "../../examples", dir)
	cred := filepath.Join(t.TempDir(), "cred")
	if code, _, stderr := runCLI(t, "issue", "--out", cred); code != exitOK {
		t.Fatalf("issue: %s", stderr)
	}
	for _, trusted := range []bool{false, true} {
		if trusted {
			b, err := os.ReadFile(filepath.Join(cred, "iaca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "iaca", "issued.pem"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		g := startGate(t, filepath.Join(dir, "online.yaml"), "--listen", "localhost:0", "--http-addr", "127.0.0.1:0", "--log-level", "error")
		if !strings.HasPrefix(g.info.Origin, "http://localhost:") || len(g.info.Lanes) != 2 {
			t.Fatalf("info %+v", g.info)
		}
		for _, lane := range []string{"web-qr", "web-dc"} {
			code, stdout, stderr := runCLI(t, "loadtest", "--target", "http://"+g.info.Listen, "--bearer-opt", "lane="+lane,
				"--bearer-opt", "credential="+cred, "--bearer-opt", "metrics=http://"+g.info.HTTP+"/metrics",
				"--bearer-opt", "reader_root="+filepath.Join(dir, "online", "reader_root.pem"),
				"--holders", "12", "--concurrency", "4", "--timeout", "20s", "--json")
			if code != exitOK {
				t.Fatalf("%s: exit %d\n%s\n%s", lane, code, stdout, stderr)
			}
			var rep struct {
				Transport                          string
				VerdictsFrom                       string `json:"verdicts_from"`
				Sessions, Accepted, Rejected, Lost int64
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			want := rep.Sessions
			if !trusted {
				want = 0
			}
			if rep.Sessions != 12 || rep.Accepted != want || rep.Accepted+rep.Rejected != 12 || rep.Lost != 0 || rep.VerdictsFrom != "transactions" ||
				rep.Transport != map[string]string{"web-qr": "oid4vp", "web-dc": "dcapi"}[lane] {
				t.Fatalf("%s trusted=%v: %s", lane, trusted, stdout)
			}
		}
		if code := g.stop(t); code != exitOK {
			t.Fatalf("serve exit %d", code)
		}
	}
}

// A --bearer-opt key the chosen bearer does not read is a usage error (exit 2) naming
// the key and the bearer's options.
func TestLoadtestUnknownBearerOption(t *testing.T) {
	for _, args := range [][]string{
		{"--transport", "memory", "--bearer-opt", "nosuch=1"},
		{"--transport", "ble", "--bearer-opt", "bitrate=106"},
		{"--transport", "nfc", "--ble-mode", "central"},
		{"--transport", "oid4vp", "--bearer-opt", "mtu=100"},
	} {
		code, _, stderr := runCLI(t, append([]string{"loadtest", "--holders", "1"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "has no such option") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// loadtest --transport nfc with --bearer-opt handoff=…: every session is handed off and
// counted as nfc>CARRIER (the same with --transport nfc>CARRIER); extended=off keeps the
// sessions on NFC in short APDUs. The report times engagement to verdict per bearer.
func TestLoadtestNFCHandoff(t *testing.T) {
	for _, c := range []struct {
		args  []string
		label string
	}{
		{[]string{"--transport", "nfc", "--bearer-opt", "handoff=ble-peripheral", "--bearer-opt", "l2cap=true"}, "nfc>ble-peripheral"},
		{[]string{"--transport", "nfc>wifiaware"}, "nfc>wifiaware"},
		{[]string{"--transport", "nfc", "--bearer-opt", "extended=off", "--bearer-opt", "handover=negotiated"}, "nfc"},
	} {
		code, out, stderr := runCLI(t, append([]string{"loadtest", "--holders", "20", "--concurrency", "4", "--json"}, c.args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		var rep struct {
			Accepted    int64
			Lost        int64
			ByTransport map[string]struct{ Sessions int64 } `json:"by_transport"`
			Timing      map[string]struct {
				Sessions int64
				E2V      struct{ P50 float64 } `json:"engagement_to_verdict_ms"`
			} `json:"timing_by_transport"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Accepted != 20 || rep.Lost != 0 || rep.ByTransport[c.label].Sessions != 20 || rep.Timing[c.label].Sessions != 20 ||
			rep.Timing[c.label].E2V.P50 <= 0 {
			t.Fatalf("%v: %s", c.args, out)
		}
	}
	if code, _, stderr := runCLI(t, "loadtest", "--holders", "1", "--transport", "nfc", "--bearer-opt", "handoff=zigbee"); code != exitUsage ||
		!strings.Contains(stderr, "zigbee") {
		t.Fatalf("handoff=zigbee: exit %d %s", code, stderr)
	}
}
