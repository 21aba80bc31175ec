package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/supervisor/daemon"
	"github.com/mdocgate/mdocgate/transports/web"
)

// runningServe is serve running in-process; its JSON lines come out of lines.
type runningServe struct {
	info   daemon.Info
	cancel context.CancelFunc
	done   chan int
	lines  chan map[string]any
}

func startServe(t *testing.T, args ...string) *runningServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &runningServe{cancel: cancel, done: make(chan int, 1), lines: make(chan map[string]any, 100)}
	go func() {
		s.done <- serveSignals(ctx, nil, append([]string{"--listen", "127.0.0.1:0", "--log-level", "error"}, args...), pw, io.Discard)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(line, &s.info); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				close(s.lines)
				return
			}
			var m map[string]any
			if json.Unmarshal(line, &m) == nil {
				s.lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
		wg.Wait()
	})
	return s
}

func (s *runningServe) verdict(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-s.lines:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict line")
		return nil
	}
}

func TestServeSessions(t *testing.T) {
	a := testgate.NewAuthority(t, "serve test")
	iaca, cred := a.IACAFile(t), a.Cred
	s := startServe(t, "--trust", iaca, "--request", "org.iso.18013.5.1:family_name,org.iso.18013.5.1:age_over_18")
	if !strings.HasPrefix(s.info.Origin, "http://127.0.0.1:") || s.info.Engage != s.info.Origin+"/engage" {
		t.Fatalf("info %+v", s.info)
	}
	hc := &holdersession.Config{Credentials: []*issuer.Credential{cred}}
	for _, bearer := range []string{"http", "websocket"} {
		e, err := web.FetchEngagement(context.Background(), nil, s.info.Origin, true)
		if err != nil {
			t.Fatal(err)
		}
		if e.QRPNGBase64 == "" || !strings.HasPrefix(e.UniversalLink, s.info.Origin+"/engage?re=") {
			t.Fatalf("engagement %+v", e)
		}
		if err := webholder.Present(context.Background(), e.MdocURI, hc, "", web.DialOptions{WebSocket: bearer == "websocket"}); err != nil {
			t.Fatalf("%s: %v; verdict %v", bearer, err, s.verdict(t))
		}
		v := s.verdict(t)
		if v["outcome"] != "accepted" || v["bearer"] != bearer || v["lane"] != bearer {
			t.Fatalf("%s: verdict %v", bearer, v)
		}
	}
	// a credential under another IACA is rejected
	other := testgate.NewAuthority(t, "other").Cred
	e, err := web.FetchEngagement(context.Background(), nil, s.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = webholder.Present(context.Background(), e.MdocURI, &holdersession.Config{Credentials: []*issuer.Credential{other}}, "", web.DialOptions{WebSocket: true})
	if v := s.verdict(t); v["outcome"] != "rejected" {
		t.Fatalf("untrusted: verdict %v", v)
	}
	s.cancel()
	if code := <-s.done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	s.done <- exitOK // for Cleanup
}

func TestServeFlags(t *testing.T) {
	iaca := testgate.NewAuthority(t, "serve test").IACAFile(t)
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--trust", "/nonexistent"},
		{"serve", "--trust", iaca, "--request", "nocolon"},
		{"serve", "--trust", iaca, "--tls-cert", "x.pem"},
		{"serve", "--trust", iaca, "--origin", "ftp://x", "--listen", "127.0.0.1:0"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Fatalf("%v: exit %d (%s)", args, code, stderr)
		}
	}
}

// runningGate is serve --config running in-process with an injectable signal channel.
type runningGate struct {
	info  daemon.Info
	sigs  chan os.Signal
	done  chan int
	lines chan map[string]any
	stop  func(t *testing.T) int // SIGTERM, then the exit code
}

func startGate(t *testing.T, cfgFile string, args ...string) *runningGate {
	t.Helper()
	pr, pw := io.Pipe()
	g := &runningGate{sigs: make(chan os.Signal, 1), done: make(chan int, 1), lines: make(chan map[string]any, 1000)}
	go func() {
		g.done <- serveSignals(context.Background(), g.sigs, append([]string{"--config", cfgFile}, args...), pw, io.Discard)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(line, &g.info); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(g.lines)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(line, &m) == nil {
				g.lines <- m
			}
		}
	}()
	var stopped bool
	t.Cleanup(func() {
		if !stopped {
			g.sigs <- syscall.SIGTERM
			<-g.done
		}
		go io.Copy(io.Discard, pr)
		wg.Wait()
	})
	g.stop = func(t *testing.T) int {
		t.Helper()
		stopped = true
		g.sigs <- syscall.SIGTERM
		select {
		case code := <-g.done:
			return code
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not exit")
			return -1
		}
	}
	return g
}

// next returns the next line for which keep is true.
func (g *runningGate) next(t *testing.T, keep func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-g.lines:
			if !ok {
				t.Fatal("serve output ended")
			}
			if keep(m) {
				return m
			}
		case <-timeout:
			t.Fatal("no such line")
			return nil
		}
	}
}

// The acceptance run: serve --config examples/gate.yaml, loadtest --target against it
// with no session lost, and /metrics agreeing with the loadtest's counts.
func TestServeGateLoadtest(t *testing.T) {
	if _, err := daemon.LoadConfig(testgate.Example("gate.yaml")); err != nil {
		t.Fatalf("examples/gate.yaml: %v", err)
	}
	a := testgate.NewAuthority(t, "gate")
	cfg, _ := testgate.ConfigFile(t, a)
	g := startGate(t, cfg)
	if g.info.HTTP == "" || g.info.Name != "demo-gate" {
		t.Fatalf("info %+v", g.info)
	}
	ops := "http://" + g.info.HTTP
	if code, body := testgate.HTTPGet(t, ops+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := testgate.HTTPGet(t, ops+"/dashboard/"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("/dashboard/: %d", code)
	}
	reportFile := filepath.Join(t.TempDir(), "report.html")
	const holders = 40
	code, stdout, stderr := runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", fmt.Sprint(holders), "--concurrency", "8",
		"--timeout", "30s", "--json", "--report", reportFile,
		"--bearer-opt", "credential="+a.CredDir, "--bearer-opt", "metrics="+ops+"/metrics")
	if code != exitOK {
		t.Fatalf("loadtest exit %d: %s\n%s", code, stderr, stdout)
	}
	var rep struct {
		Sessions, Accepted, Lost, Busy int64
		ByTransport                    map[string]struct{ Sessions int64 } `json:"by_transport"`
		VerdictsFrom                   string                              `json:"verdicts_from"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if rep.Sessions != holders || rep.Accepted != holders || rep.Lost != 0 || rep.ByTransport["websocket"].Sessions != holders/2 ||
		rep.ByTransport["http"].Sessions != holders/2 || rep.VerdictsFrom != "target_metrics" {
		t.Fatalf("report %s", stdout)
	}
	code, body := testgate.HTTPGet(t, ops+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	byOutcome, err := parseSessionsTotal(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if sumValues(byOutcome) != holders || byOutcome["accepted"] != holders {
		t.Fatalf("/metrics sessions %v, loadtest %d", byOutcome, rep.Sessions)
	}
	html, err := os.ReadFile(reportFile)
	if err != nil || !strings.Contains(string(html), "<svg") {
		t.Fatalf("report: %v", err)
	}
	// Without the metrics option the holders' view is all there is, and the report says so:
	// their throwaway credentials are untrusted here, yet their sessions complete.
	code, stdout, stderr = runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", "4", "--concurrency", "2",
		"--timeout", "30s", "--json")
	if code != exitOK || !strings.Contains(stdout, `"verdicts_from": "holders"`) || !strings.Contains(stderr, "cannot see the gate's verdict") {
		t.Fatalf("holder-side run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// --bearer-opt bearer= picks the lanes the holders use: one of them, or both in turn
	for _, c := range []struct {
		bearer  string
		ws, htt int64
	}{{"websocket", 4, 0}, {"http", 0, 4}, {"both", 2, 2}} {
		code, stdout, stderr = runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", "4", "--concurrency", "2",
			"--timeout", "30s", "--json", "--bearer-opt", "bearer="+c.bearer, "--bearer-opt", "credential="+a.CredDir,
			"--bearer-opt", "metrics="+ops+"/metrics")
		rep.ByTransport = nil
		if err := json.Unmarshal([]byte(stdout), &rep); code != exitOK || err != nil {
			t.Fatalf("bearer=%s: exit %d %v\n%s\n%s", c.bearer, code, err, stdout, stderr)
		}
		if rep.Accepted != 4 || rep.Lost != 0 || rep.ByTransport["websocket"].Sessions != c.ws || rep.ByTransport["http"].Sessions != c.htt {
			t.Fatalf("bearer=%s: report %s", c.bearer, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", "1", "--concurrency", "1",
		"--bearer-opt", "bearer=ble"); code != exitUsage || !strings.Contains(stderr, "want websocket, http or both") {
		t.Fatalf("bearer=ble: exit %d %s", code, stderr)
	}
	if code := g.stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

func TestServeGateConfigErrors(t *testing.T) {
	a := testgate.NewAuthority(t, "cfg")
	_, iacaDir := testgate.ConfigFile(t, a)
	lanes := "lanes:\n  - {name: a, bearer: websocket, profile: mdl}\n"
	for _, c := range []struct{ yaml, want string }{
		{"trust: {iaca_dir: " + iacaDir + "}\n" + lanes + "  - {name: b, bearer: http, profile: foo}\n", `config: lanes[1].profile: unknown profile "foo"`},
		{"trust: {iaca_dir: " + iacaDir + "}\n" + lanes + "  - {name: b, bearer: bluetooth, profile: mdl}\n", `lanes[1].bearer: unknown bearer "bluetooth"`},
		{"trust: {iaca_dir: " + iacaDir + "}\n" + lanes + "  - {name: a, bearer: http, profile: mdl}\n", `lanes[1].name: duplicate lane "a"`},
		{"trust: {iaca_dir: " + iacaDir + "}\n" + lanes + "  - {name: b, bearer: websocket, profile: mdl}\n", `lanes[1].bearer: a second websocket lane`},
		{"trust: {iaca_dir: " + iacaDir + "}\nlanes: []\n", "config: lanes: configure at least one lane"},
		{lanes, "config: trust.iaca_dir: give an IACA folder"},
		{"trust: {iaca_dir: /nonexistent}\n" + lanes, "config: trust.iaca_dir:"},
		{"trust: {iaca_dir: " + iacaDir + ", vical: v.cbor}\n" + lanes, "config: trust.vical_anchor:"},
		{"trust: {iaca_dir: " + iacaDir + "}\nreader_auth: {key: k.pem}\n" + lanes, "config: reader_auth: key and chain go together"},
		{"trust: {iaca_dir: " + iacaDir + "}\nreader_auth: {key: k.pem, chain: c.pem}\n" + lanes, "config: reader_auth.key:"},
		{"trust: {iaca_dir: " + iacaDir + "}\nlog_level: loud\n" + lanes, "config: log_level:"},
		{"trust: {iaca_dir: " + iacaDir + "}\nlisten: nowhere\n" + lanes, "config: listen:"},
		{"trust: {iaca_dir: " + iacaDir + "}\nhttp_addr: nowhere\n" + lanes, "config: http_addr:"},
		{"trust: {iaca_dir: " + iacaDir + "}\n" + "lanes:\n  - {name: a, bearer: websocket, profile: mdl, max_in_flight: -1}\n", "config: lanes[0].max_in_flight:"},
		{"trust: {iaca_dir: " + iacaDir + "}\n" + "lanes:\n  - {name: a, bearer: websocket, profile: mdl, engagement_timeout: soon}\n", "config:"},
		{"trust: {iaca_dir: " + iacaDir + "}\nlanez: []\n", "field lanez not found"},
		// the operator desk and the dashboard are never handed to the network unauthenticated
		{"trust: {iaca_dir: " + iacaDir + "}\nhttp_addr: 0.0.0.0:0\n" + lanes, "config: ops_auth: http_addr 0.0.0.0:0 is reachable from other hosts"},
		{"trust: {iaca_dir: " + iacaDir + "}\nlimits: {max_connections: 100000000}\n" + lanes, "config: limits.max_connections: 100000000 is more than the file limit"},
		{"trust: {iaca_dir: " + iacaDir + "}\nlimits: {engagement_ttl: -1s}\n" + lanes, "config: limits.engagement_ttl: must not be negative"},
		{"trust: {iaca_dir: " + iacaDir + "}\nlanes:\n  - {name: a, bearer: websocket, profile: mdl, max_response_bytes: 100}\n", "config: lanes[0].max_response_bytes:"},
	} {
		f := filepath.Join(t.TempDir(), "gate.yaml")
		if err := os.WriteFile(f, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "serve", "--config", f, "--listen", "127.0.0.1:0")
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.yaml, code, stderr, c.want)
		}
	}
	if code, _, stderr := runCLI(t, "serve", "--config", "/nonexistent.yaml"); code != exitUsage || !strings.Contains(stderr, "config:") {
		t.Errorf("missing file: exit %d %q", code, stderr)
	}
	// the same through --http-addr, with a config and without one
	cfg, _ := testgate.ConfigFile(t, a)
	if code, _, stderr := runCLI(t, "serve", "--config", cfg, "--http-addr", "0.0.0.0:0"); code != exitUsage || !strings.Contains(stderr, "config: ops_auth: http_addr") {
		t.Errorf("--http-addr 0.0.0.0:0: exit %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "serve", "--trust", a.IACAFile(t), "--listen", "127.0.0.1:0", "--http-addr", "[::]:0"); code != exitUsage || !strings.Contains(stderr, "ops_auth") {
		t.Errorf("serve --trust --http-addr [::]:0: exit %d %q", code, stderr)
	}
}

// SIGHUP prints the trust reload's outcome as a line.
func TestServeGateReloadLine(t *testing.T) {
	a := testgate.NewAuthority(t, "A")
	cfg, _ := testgate.ConfigFile(t, a)
	g := startGate(t, cfg)
	g.sigs <- syscall.SIGHUP
	if ev := g.next(t, func(m map[string]any) bool { return m["event"] != nil }); ev["event"] != "trust_reloaded" || ev["anchors"] != 1.0 {
		t.Fatalf("reload event %v", ev)
	}
	if code := g.stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// --trust with --config adds an anchor to the file's, and a reload keeps it: B's holders
// are accepted before and after SIGHUP.
func TestServeGateTrustFlagWithConfig(t *testing.T) {
	a, b := testgate.NewAuthority(t, "A"), testgate.NewAuthority(t, "B")
	cfg, _ := testgate.ConfigFile(t, a)
	g := startGate(t, cfg, "--trust", b.IACAFile(t))
	present := func(when string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, "loadtest", "--target", g.info.Origin, "--holders", "2", "--concurrency", "2", "--timeout", "30s",
			"--json", "--bearer-opt", "credential="+b.CredDir, "--bearer-opt", "metrics=http://"+g.info.HTTP+"/metrics")
		if code != exitOK || !strings.Contains(stdout, `"accepted": 2,`) {
			t.Fatalf("%s: exit %d\n%s\n%s", when, code, stdout, stderr)
		}
	}
	present("before the reload")
	g.sigs <- syscall.SIGHUP
	if ev := g.next(t, func(m map[string]any) bool { return m["event"] != nil }); ev["event"] != "trust_reloaded" || ev["anchors"] != 2.0 {
		t.Fatalf("reload event %v", ev)
	}
	present("after the reload")
	if code := g.stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// --http-addr serves the operations endpoints where the config has none.
func TestServeGateHTTPAddrFlag(t *testing.T) {
	a := testgate.NewAuthority(t, "A")
	cfg, _ := testgate.ConfigFile(t, a)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), "http_addr: 127.0.0.1:0", `http_addr: ""`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if g := startGate(t, cfg); g.info.HTTP != "" {
		t.Fatalf("ops served without http_addr: %+v", g.info)
	}
	g := startGate(t, cfg, "--http-addr", "127.0.0.1:0")
	if g.info.HTTP == "" {
		t.Fatalf("info %+v", g.info)
	}
	if code, body := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
}

// Errors in the lane fields of the radio bearers, holder verification and the actuator
// name the field and exit 2, without a panic.
func TestServeGateLaneConfigErrors(t *testing.T) {
	a := testgate.NewAuthority(t, "cfg")
	_, iacaDir := testgate.ConfigFile(t, a)
	head := "trust: {iaca_dir: " + iacaDir + "}\nlanes:\n"
	for _, c := range []struct{ lanes, want string }{
		{"  - {name: a, bearer: nfc-pcsc, profile: mdl}\n", "config: lanes[0].reader: an nfc-pcsc lane needs"},
		{"  - {name: a, bearer: nfc, reader: ACR122, profile: mdl}\n", "config: lanes[0].reader: only nfc-pcsc lanes"},
		{"  - {name: a, bearer: nfc-pcsc, reader: X, profile: mdl}\n  - {name: b, bearer: nfc-pcsc, reader: X, profile: mdl}\n",
			`config: lanes[1].reader: reader "X" is already the reader of lanes[0]`},
		{"  - {name: a, bearer: nfc, ble_mode: central_client, profile: mdl}\n", "config: lanes[0].ble_mode: only ble lanes"},
		{"  - {name: a, bearer: websocket, ble_l2cap: true, profile: mdl}\n", "config: lanes[0].ble_l2cap: only ble lanes"},
		{"  - {name: a, bearer: ble, ble_mode: sideways, profile: mdl}\n", `config: lanes[0].ble_mode: unknown mode "sideways"`},
		{"  - {name: a, bearer: ble, profile: mdl, holder_verification: face}\n", `config: lanes[0].holder_verification: unknown matcher "face"`},
		{"  - {name: a, bearer: ble, profile: age_over_18}\n", "config: lanes[0].holder_verification: profile age_over_18 asks for holder verification"},
		{"  - {name: a, bearer: ble, profile: age_over_18, holder_verification: none}\n", "config: lanes[0].holder_verification: profile age_over_18 asks"},
		{"  - {name: a, bearer: ble, profile: mdl, operator_timeout: 5s}\n", "config: lanes[0].operator_timeout: only with holder_verification: operator"},
		{"  - {name: a, bearer: ble, profile: mdl, holder_verification: operator, operator_timeout: -1s}\n", "config: lanes[0].operator_timeout: must not be negative"},
		{"  - {name: a, bearer: ble, profile: mdl, holder_verification: operator}\n", "config: lanes[0].holder_verification: operator needs http_addr"},
		{"  - {name: a, bearer: ble, profile: mdl, actuator: relay}\n", `config: lanes[0].actuator: unknown actuator "relay"`},
		{"  - {name: a, bearer: zigbee, profile: mdl}\n", `config: lanes[0].bearer: unknown bearer "zigbee" (want websocket, http, nfc, nfc-pcsc, ble, wifiaware or memory)`},
		{"  - {name: a, bearer: nfc-pcsc, reader: no such reader anywhere, profile: mdl}\n", "config: lanes[0].reader:"},
	} {
		f := filepath.Join(t.TempDir(), "gate.yaml")
		if err := os.WriteFile(f, []byte(head+c.lanes), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "serve", "--config", f, "--listen", "127.0.0.1:0")
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.lanes, code, stderr, c.want)
		}
	}
}

// `mdocgate serve --config examples/gate.yaml` starts as shipped (its example IACA).
func TestServeExampleConfigStarts(t *testing.T) {
	g := startGate(t, testgate.Example("gate.yaml"), "--listen", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "error")
	if g.info.Name != "demo-gate" || g.info.Engage == "" || len(g.info.Lanes) != 2 {
		t.Fatalf("info %+v", g.info)
	}
	if code, body := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code := g.stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// A profiles file that cannot be used exits 2 with one line naming the profile's field.
func TestServeGateProfilesErrors(t *testing.T) {
	dir := t.TempDir()
	profiles := "profiles:\n  - name: adult\n    documents:\n      - doc_type: org.iso.18013.5.1.mDL\n        elements:\n" +
		"          - {namespace: org.iso.18013.5.1, identifier: age_over_18}\n    rule: age_over_21 == true\n"
	gate := "trust: {iaca_dir: " + testgate.Example("iaca") + "}\nprofiles: profiles.yaml\nlanes:\n  - {name: a, bearer: nfc, profile: adult}\n"
	for name, content := range map[string]string{"profiles.yaml": profiles, "gate.yaml": gate} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := "mdocgate serve: config: profiles: " + filepath.Join(dir, "profiles.yaml") + ": profiles[0].rule: element age_over_21 is not requested"
	code, _, stderr := runCLI(t, "serve", "--config", filepath.Join(dir, "gate.yaml"))
	if code != exitUsage || !strings.HasPrefix(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q, want %q", code, stderr, want)
	}
}

// Without --config the errors name the flag behind the failing setting.
func TestServeFlagErrorsNameTheFlag(t *testing.T) {
	iaca := testgate.NewAuthority(t, "serve test").IACAFile(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--trust", "/nonexistent"}, "mdocgate serve: --trust: open /nonexistent: "},
		{[]string{"--trust", iaca, "--origin", "ftp://x"}, "mdocgate serve: --origin: "},
		{[]string{"--trust", iaca, "--listen", "nowhere"}, "mdocgate serve: --listen: "},
		{[]string{"--trust", iaca, "--timeout", "-1s"}, "mdocgate serve: --timeout: must not be negative"},
		{[]string{"--trust", iaca, "--http-addr", "nowhere"}, "mdocgate serve: --http-addr: "},
		{[]string{"--trust", iaca, "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"}, "mdocgate serve: --tls-cert/--tls-key: "},
		{[]string{"--trust", iaca, "--log-level", "loud"}, "mdocgate serve: --log-level: "},
	} {
		args := append([]string{"serve", "--listen", "127.0.0.1:0"}, c.args...)
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.HasPrefix(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
