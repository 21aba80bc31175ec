package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/transports/web"
)

// syncBuffer collects the gate's log (zap writes from many goroutines).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// entries returns the JSON log lines whose msg is msg.
func (s *syncBuffer) entries(msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// runningGate is a gate running in-process with an injectable signal channel: its
// verdicts and reload events arrive on channels, its JSON log in log.
type runningGate struct {
	*Gate
	info     Info
	log      *syncBuffer
	sigs     chan os.Signal
	done     chan error
	verdicts chan Verdict
	events   chan Event
	stop     func(t *testing.T) error // SIGTERM, then what Run returned
}

// startGate loads cfgFile and runs its gate.
func startGate(t *testing.T, cfgFile string) *runningGate {
	t.Helper()
	cfg, err := LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	return runGate(t, cfg)
}

// runGate runs the gate of cfg until the test ends (or stop).
func runGate(t *testing.T, cfg *Config) *runningGate {
	t.Helper()
	var err error
	g := runGateNoFatal(t, cfg, &err)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// runGateNoFatal is runGate for a goroutine of the test: New's error goes to *errp.
func runGateNoFatal(t *testing.T, cfg *Config, errp *error) *runningGate {
	g := &runningGate{log: &syncBuffer{}, sigs: make(chan os.Signal, 1), done: make(chan error, 1),
		verdicts: make(chan Verdict, 1000), events: make(chan Event, 100)}
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zapcore.InfoLevel
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(g.log), level))
	g.Gate, err = New(cfg, Options{Log: log, OnVerdict: func(v Verdict) { g.verdicts <- v }, OnEvent: func(e Event) { g.events <- e }})
	if err != nil {
		*errp = err
		return nil
	}
	g.info = g.Info()
	go func() { g.done <- g.Run(context.Background(), g.sigs) }()
	var stopped bool
	t.Cleanup(func() {
		if !stopped {
			g.sigs <- syscall.SIGTERM
			<-g.done
		}
	})
	g.stop = func(t *testing.T) error {
		t.Helper()
		stopped = true
		g.sigs <- syscall.SIGTERM
		select {
		case err := <-g.done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("the gate did not stop")
			return nil
		}
	}
	return g
}

// verdict returns the next session verdict.
func (g *runningGate) verdict(t *testing.T) Verdict {
	t.Helper()
	select {
	case v := <-g.verdicts:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("no verdict")
		return Verdict{}
	}
}

// event returns the next trust reload event.
func (g *runningGate) event(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-g.events:
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("no reload event")
		return Event{}
	}
}

// beginSession engages and answers up to the reader's request, leaving the session in
// flight; finish completes it.
func beginSession(t *testing.T, origin string, cred *issuer.Credential) (finish func() error) {
	t.Helper()
	return beginSessionWith(t, nil, origin, cred)
}

// beginSessionWith is beginSession with an HTTP client (nil: the default one).
func beginSessionWith(t *testing.T, client *http.Client, origin string, cred *issuer.Credential) (finish func() error) {
	t.Helper()
	e, err := web.FetchEngagement(context.Background(), client, origin, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{cred}}, e.ReaderEngagement, origin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return func() error {
		defer conn.Close()
		st := h.Receive(msg)
		if err := conn.WriteFrame(context.Background(), st.Send); err != nil {
			return err
		}
		if _, err := conn.ReadFrame(context.Background()); err != nil && !errors.Is(err, web.ErrSessionEnded) {
			return err
		}
		return nil
	}
}

func presentOnce(t *testing.T, origin string, cred *issuer.Credential) {
	t.Helper()
	e, err := web.FetchEngagement(context.Background(), nil, origin, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = webholder.Present(context.Background(), e.MdocURI, &holdersession.Config{Credentials: []*issuer.Credential{cred}}, "", web.DialOptions{WebSocket: true})
}

// plainConfig is what serve builds from its flags: the http and websocket lanes asking
// for request, trusting the IACA files.
func plainConfig(request []request.Doc, iacaFiles ...string) *Config {
	cfg := &Config{Listen: "127.0.0.1:0", LogLevel: "error", Trust: TrustConfig{IACAFiles: iacaFiles}}
	for _, bearer := range []string{web.BearerHTTP, web.BearerWebSocket} {
		cfg.Lanes = append(cfg.Lanes, LaneConfig{Name: bearer, Bearer: bearer, Request: request})
	}
	return cfg
}

var mdlNames = []request.Doc{{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{
	{Name: "org.iso.18013.5.1", Elements: []string{"family_name", "age_over_18"}}}}}

// A gate built in code (serve's flags) runs plain lanes: a trusted credential is
// accepted on both web bearers, another IACA's rejected, and no lane acts.
func TestPlainLanes(t *testing.T) {
	a, other := testgate.NewAuthority(t, "plain"), testgate.NewAuthority(t, "other")
	g := runGate(t, plainConfig(mdlNames, a.IACAFile(t)))
	if !strings.HasPrefix(g.info.Origin, "http://127.0.0.1:") || g.info.Engage != g.info.Origin+"/engage" || g.info.Name != "mdocgate" ||
		len(g.info.Lanes) != 2 {
		t.Fatalf("info %+v", g.info)
	}
	hc := &holdersession.Config{Credentials: []*issuer.Credential{a.Cred}}
	for _, bearer := range []string{"http", "websocket"} {
		e, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := webholder.Present(context.Background(), e.MdocURI, hc, "", web.DialOptions{WebSocket: bearer == "websocket"}); err != nil {
			t.Fatalf("%s: %v", bearer, err)
		}
		if v := g.verdict(t); v.Outcome != "accepted" || v.Bearer != bearer || v.Lane != bearer || v.Action != "" {
			t.Fatalf("%s: verdict %+v", bearer, v)
		}
	}
	presentOnce(t, g.info.Origin, other.Cred)
	if v := g.verdict(t); v.Outcome != "rejected" || v.Action != "" {
		t.Fatalf("untrusted: verdict %+v", v)
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// Shutdown in the middle of a session: no new engagements, the session finishes, then
// Run returns.
func TestGracefulShutdown(t *testing.T) {
	a := testgate.NewAuthority(t, "serve")
	g := runGate(t, plainConfig(mdlNames, a.IACAFile(t)))
	e, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{a.Cred}}, e.ReaderEngagement, g.info.Origin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.sigs <- syscall.SIGTERM // shutdown begins while the holder thinks
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false); err != nil {
			break // draining: 503 (or the server is gone)
		}
		if time.Now().After(deadline) {
			t.Fatal("still handing out engagements after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := h.Receive(msg)
	if err := conn.WriteFrame(context.Background(), st.Send); err != nil {
		t.Fatal(err)
	}
	// status 20, or the reader closing the session (the engine may stop the link before
	// the status is written)
	msg, err = conn.ReadFrame(context.Background())
	if err == nil {
		if st := h.Receive(msg); !st.Done || st.Err != nil {
			t.Fatalf("holder end %+v", st)
		}
	} else if !errors.Is(err, web.ErrSessionEnded) {
		t.Fatal(err)
	}
	if v := g.verdict(t); v.Outcome != "accepted" {
		t.Fatalf("verdict %+v", v)
	}
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatal(err)
		}
		g.done <- err // for Cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

// examples/gate.yaml loads as shipped, with examples/profiles.yaml.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := LoadConfig(testgate.Example("gate.yaml"))
	if err != nil {
		t.Fatalf("examples/gate.yaml: %v", err)
	}
	if cfg.Name != "demo-gate" || len(cfg.Lanes) != 2 || len(cfg.custom) == 0 {
		t.Fatalf("%+v", cfg)
	}
}

// SIGHUP swaps the trust anchors for new sessions; a session under way keeps the ones
// it started with. A reload that fails keeps the current trust.
func TestReload(t *testing.T) {
	a, b := testgate.NewAuthority(t, "A"), testgate.NewAuthority(t, "B")
	cfg, iacaDir := testgate.ConfigFile(t, a)
	g := startGate(t, cfg)

	presentOnce(t, g.info.Origin, b.Cred)
	if v := g.verdict(t); v.Outcome != "rejected" {
		t.Fatalf("B before reload: %+v", v)
	}
	finish := beginSession(t, g.info.Origin, a.Cred) // in flight across the reload

	// trust B instead of A
	if err := os.Remove(filepath.Join(iacaDir, "iaca0.pem")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(iacaDir, "b.pem"), b.IACAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	g.sigs <- syscall.SIGHUP
	if ev := g.event(t); ev.Event != "trust_reloaded" || ev.Anchors != 1 {
		t.Fatalf("reload event %+v", ev)
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if v := g.verdict(t); v.Outcome != "accepted" || v.Lane != "web-ws" {
		t.Fatalf("session in flight across the reload: %+v", v)
	}
	presentOnce(t, g.info.Origin, b.Cred)
	if v := g.verdict(t); v.Outcome != "accepted" || v.Lane != "web-ws" {
		t.Fatalf("B after reload: %+v", v)
	}
	presentOnce(t, g.info.Origin, a.Cred)
	if v := g.verdict(t); v.Outcome != "rejected" {
		t.Fatalf("A after reload: %+v", v)
	}

	// an empty folder fails the reload: B stays trusted
	if err := os.Remove(filepath.Join(iacaDir, "b.pem")); err != nil {
		t.Fatal(err)
	}
	g.sigs <- syscall.SIGHUP
	if ev := g.event(t); ev.Event != "trust_reload_failed" || !strings.Contains(ev.Error, "trust.iaca_dir") {
		t.Fatalf("reload event %+v", ev)
	}
	presentOnce(t, g.info.Origin, b.Cred)
	if v := g.verdict(t); v.Outcome != "accepted" {
		t.Fatalf("B after failed reload: %+v", v)
	}
	// Reload itself names the field too
	var ce *ConfigError
	if err := g.Reload(); !errors.As(err, &ce) || ce.Field != "trust.iaca_dir" {
		t.Fatalf("Reload: %v", err)
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// SIGTERM during a session: /healthz stops answering ok, no new engagements, the session
// finishes with its verdict, then Run returns nil.
func TestSIGTERM(t *testing.T) {
	a := testgate.NewAuthority(t, "A")
	cfg, _ := testgate.ConfigFile(t, a)
	g := startGate(t, cfg)
	finish := beginSession(t, g.info.Origin, a.Cred)
	g.sigs <- syscall.SIGTERM
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still handing out engagements after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + g.info.HTTP + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("/healthz still ok while shutting down")
		}
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if v := g.verdict(t); v.Outcome != "accepted" {
		t.Fatalf("verdict %+v", v)
	}
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatal(err)
		}
		g.done <- err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
}

// The operations endpoints of a config gate: /healthz, /dashboard/ and /metrics.
func TestOpsEndpoints(t *testing.T) {
	a := testgate.NewAuthority(t, "ops")
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
	presentOnce(t, g.info.Origin, a.Cred)
	if v := g.verdict(t); v.Outcome != "accepted" || v.Action != "open" {
		t.Fatalf("verdict %+v", v)
	}
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "web-ws", "outcome": "accepted"}, 1)
	waitMetric(t, g.info.HTTP, "mdocgate_gate_actions_total", map[string]string{"lane": "web-ws", "action": "open"}, 1)
}
