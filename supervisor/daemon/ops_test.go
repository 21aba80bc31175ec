package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/mdocgate/mdocgate/internal/testmqtt"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/supervisor/actuator"
	"github.com/mdocgate/mdocgate/supervisor/audit"
	"github.com/mdocgate/mdocgate/transports/web"
)

// webhookReceiver is an HTTP receiver of webhook events that checks every signature
// against its secret; secretFile holds the secret.
type webhookReceiver struct {
	*httptest.Server
	secretFile string
	mu         sync.Mutex
	events     []actuator.Event
	badSig     int
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	secret := "whsec-" + t.Name()
	r := &webhookReceiver{secretFile: filepath.Join(t.TempDir(), "webhook.secret")}
	if err := os.WriteFile(r.secretFile, []byte(secret+"\n"), 0o600); err != nil { // the newline is not part of it
		t.Fatal(err)
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !hmac.Equal([]byte(req.Header.Get(actuator.SignatureHeader)), []byte(actuator.Sign([]byte(secret), body))) {
			r.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e actuator.Event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.events = append(r.events, e)
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the events once there are n.
func (r *webhookReceiver) wait(t *testing.T, n int) []actuator.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		ev, bad := append([]actuator.Event(nil), r.events...), r.badSig
		r.mu.Unlock()
		if bad > 0 {
			t.Fatalf("%d webhook requests with a bad signature", bad)
		}
		if len(ev) >= n {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook: %d events, want %d", len(ev), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// relayScript writes an exec actuator's script: each run appends
// "ACTION OUTCOME LANE SESSION" to the returned file.
func relayScript(t *testing.T) (script, out string) {
	t.Helper()
	dir := t.TempDir()
	script, out = filepath.Join(dir, "relay.sh"), filepath.Join(dir, "relay.log")
	body := "#!/bin/sh\necho \"$MDOCGATE_ACTION $MDOCGATE_OUTCOME $MDOCGATE_LANE $MDOCGATE_SESSION\" >> " + out + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, out
}

// waitLines returns the file's lines once there are n.
func waitLines(t *testing.T, file string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(data) == 0 {
			lines = nil
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines, want %d", file, len(lines), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// A gate with tls and ops_tls from the config: holders engage and present over HTTPS and
// WSS; the operations endpoints answer only clients with a certificate of client_ca,
// /readyz names its parts, /metrics has the build information and the certificates'
// expiry.
func TestTLSGateAndOps(t *testing.T) {
	ca := testpki.NewTLSCA(t, "gate CA")
	webCert, webKey := ca.Server(t, "web")
	opsCert, opsKey := ca.Server(t, "ops")
	monitorCert, monitorKey := ca.Client(t, "monitor")
	a := testgate.NewAuthority(t, "tls")
	extra := fmt.Sprintf("tls: {cert: %s, key: %s}\nops_tls: {cert: %s, key: %s, client_ca: %s}\n", webCert, webKey, opsCert, opsKey, ca.File)
	g := startGate(t, writeGateConfig(t, extra, "  - {name: web-ws, bearer: websocket, profile: mdl}\n  - {name: web-http, bearer: http, profile: mdl}\n", a))
	if !strings.HasPrefix(g.info.Origin, "https://127.0.0.1:") {
		t.Fatalf("origin %q", g.info.Origin)
	}
	holders := httpsClient(ca.ClientConfig(t, "", ""))
	for _, ws := range []bool{true, false} {
		e, err := web.FetchEngagement(context.Background(), holders, g.info.Origin, false)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.SessionURL, "https://") {
			t.Fatalf("session URL %q", e.SessionURL)
		}
		if err := webholder.Present(context.Background(), e.MdocURI, holderOf(a.Cred), "", web.DialOptions{WebSocket: ws, Client: holders}); err != nil {
			t.Fatalf("websocket %v: %v", ws, err)
		}
		if v := g.verdict(t); v.Outcome != "accepted" || v.Action != "open" || (v.Bearer == "websocket") != ws {
			t.Fatalf("verdict %+v", v)
		}
	}
	ops := "https://" + g.info.HTTP
	if _, err := httpsClient(ca.ClientConfig(t, "", "")).Get(ops + "/healthz"); err == nil {
		t.Fatal("ops endpoint answered a client without a certificate")
	}
	other := testpki.NewTLSCA(t, "other CA")
	strangerCert, strangerKey := other.Client(t, "stranger")
	if _, err := httpsClient(ca.ClientConfig(t, strangerCert, strangerKey)).Get(ops + "/healthz"); err == nil {
		t.Fatal("ops endpoint answered a certificate of another CA")
	}
	monitor := httpsClient(ca.ClientConfig(t, monitorCert, monitorKey))
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := monitor.Get(ops + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 || !strings.HasPrefix(body, "ready\n") ||
		!strings.Contains(body, "ok trust\n") || !strings.Contains(body, "ok lane web-ws\n") || !strings.Contains(body, "ok serving\n") {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	_, body := get("/metrics")
	for _, want := range []string{`mdocgate_build_info{commit=`, `mdocgate_tls_certificate_expiry_timestamp_seconds{listener="web"}`,
		`mdocgate_tls_certificate_expiry_timestamp_seconds{listener="ops"}`, `mdocgate_trust_anchors{expires_in="later"} 1`,
		`mdocgate_trust_anchors_expiring 0`, `mdocgate_lane_busy_total{lane="web-ws"} 0`, "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// reloadGate writes the config of TestReloadWithSessionInFlight: a TLS websocket lane
// with the given actuator lines.
func reloadGateConfig(t *testing.T, file, iacaDir, cert, key, actuatorYAML string) {
	t.Helper()
	yaml := fmt.Sprintf(`name: reload-gate
listen: 127.0.0.1:0
http_addr: 127.0.0.1:0
log_level: info
tls: {cert: %s, key: %s}
trust: {iaca_dir: %s}
lanes:
  - name: door
    bearer: websocket
    profile: mdl
%s`, cert, key, iacaDir, actuatorYAML)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// SIGHUP with a session in flight: a new anchor, a new TLS certificate and another
// actuator (a webhook, then a command) take effect for what follows; the session in
// flight finishes with its verdict, and its action goes to the actuator configured when
// its verdict is out. Changes a reload cannot apply are named; a bad configuration
// changes nothing.
func TestReloadWithSessionInFlight(t *testing.T) {
	ca := testpki.NewTLSCA(t, "reload CA")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "web.pem"), filepath.Join(dir, "web-key.pem")
	c1, k1 := ca.Server(t, "first")
	copyFile(t, c1, cert)
	copyFile(t, k1, key)
	a, b := testgate.NewAuthority(t, "A"), testgate.NewAuthority(t, "B")
	iacaDir := filepath.Join(dir, "iaca")
	os.Mkdir(iacaDir, 0o755)
	os.WriteFile(filepath.Join(iacaDir, "a.pem"), a.IACAPEM(), 0o644)
	hook := newWebhookReceiver(t)
	script, relayLog := relayScript(t)
	cfgFile := filepath.Join(dir, "gate.yaml")
	reloadGateConfig(t, cfgFile, iacaDir, cert, key, fmt.Sprintf("    actuator: webhook\n    actuator_options: {url: %s, secret_file: %s, timeout: 2s}\n", hook.URL, hook.secretFile))
	g := startGate(t, cfgFile)
	holders := httpsClient(ca.ClientConfig(t, "", ""))
	present := func(cred *issuer.Credential) Verdict {
		t.Helper()
		e, err := web.FetchEngagement(context.Background(), holders, g.info.Origin, false)
		if err != nil {
			t.Fatal(err)
		}
		_ = webholder.Present(context.Background(), e.MdocURI, &holdersession.Config{Credentials: []*issuer.Credential{cred}}, "", web.DialOptions{WebSocket: true, Client: holders})
		return g.verdict(t)
	}
	serverCN := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", g.info.Listen, ca.ClientConfig(t, "", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if v := present(a.Cred); v.Outcome != "accepted" {
		t.Fatalf("A before: %+v", v)
	}
	if v := present(b.Cred); v.Outcome != "rejected" {
		t.Fatalf("B before: %+v", v)
	}
	if ev := hook.wait(t, 2); ev[0].Action != "open" || ev[1].Action != "deny" || ev[0].Gate != "reload-gate" || ev[0].Lane != "door" {
		t.Fatalf("webhook events %+v", ev)
	}
	if cn := serverCN(); cn != "first" {
		t.Fatalf("certificate %q", cn)
	}

	finish := beginSessionWith(t, holders, g.info.Origin, a.Cred) // in flight across the reload
	os.WriteFile(filepath.Join(iacaDir, "b.pem"), b.IACAPEM(), 0o644)
	c2, k2 := ca.Server(t, "second")
	copyFile(t, c2, cert)
	copyFile(t, k2, key)
	reloadGateConfig(t, cfgFile, iacaDir, cert, key, fmt.Sprintf("    actuator: exec\n    actuator_options: {command: [%s], timeout: 5s}\n", script))
	g.sigs <- syscall.SIGHUP
	if ev := g.event(t); ev.Event != "trust_reloaded" || ev.Anchors != 2 || len(ev.RestartNeeded) != 0 {
		t.Fatalf("reload event %+v", ev)
	}
	if cn := serverCN(); cn != "second" {
		t.Fatalf("certificate after the reload %q", cn)
	}
	if err := finish(); err != nil {
		t.Fatalf("session in flight: %v", err)
	}
	inFlight := g.verdict(t)
	if inFlight.Outcome != "accepted" || inFlight.Action != "open" {
		t.Fatalf("session in flight across the reload: %+v", inFlight)
	}
	if v := present(b.Cred); v.Outcome != "accepted" {
		t.Fatalf("B after the reload: %+v", v)
	}
	lines := waitLines(t, relayLog, 2)
	if lines[0] != "open accepted door "+inFlight.Session || !strings.HasPrefix(lines[1], "open accepted door ") {
		t.Fatalf("relay runs %q", lines)
	}
	if ev := hook.wait(t, 2); len(ev) != 2 {
		t.Fatalf("the old webhook got %d events after the reload", len(ev)-2)
	}
	waitMetric(t, g.info.HTTP, "mdocgate_actuator_deliveries_total", map[string]string{"lane": "door", "actuator": "exec", "result": "delivered"}, 2)
	waitMetric(t, g.info.HTTP, "mdocgate_actuator_deliveries_total", map[string]string{"lane": "door", "actuator": "webhook", "result": "delivered"}, 2)

	// what a reload cannot apply is named, the rest still applies
	reloadGateConfig(t, cfgFile, iacaDir, cert, key, fmt.Sprintf("    max_in_flight: 5\n    actuator: exec\n    actuator_options: {command: [%s]}\n", script))
	g.sigs <- syscall.SIGHUP
	if ev := g.event(t); ev.Event != "trust_reloaded" || len(ev.RestartNeeded) != 1 || !strings.HasPrefix(ev.RestartNeeded[0], "lanes[0] (door") {
		t.Fatalf("reload event %+v", ev)
	}
	// a configuration that does not validate changes nothing
	reloadGateConfig(t, cfgFile, iacaDir, cert, key, "    actuator: teleport\n")
	g.sigs <- syscall.SIGHUP
	if ev := g.event(t); ev.Event != "trust_reload_failed" || !strings.Contains(ev.Error, "lanes[0].actuator: unknown actuator") {
		t.Fatalf("reload event %+v", ev)
	}
	if v := present(a.Cred); v.Outcome != "accepted" {
		t.Fatalf("after a failed reload: %+v", v)
	}
	waitLines(t, relayLog, 3)
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// Every verdict reaches each kind of actuator once — a real Mosquitto broker, an HTTP
// receiver checking the signature, a command writing a file — and the audit log records
// each with its document type and issuing country but no element value.
func TestActuatorsAndAuditLog(t *testing.T) {
	broker := testmqtt.Broker(t)
	topic := fmt.Sprintf("mdocgate-test/gate-%d", time.Now().UnixNano())
	msgs := testmqtt.Subscribe(t, broker, topic)
	hook := newWebhookReceiver(t)
	script, relayLog := relayScript(t)
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	a, rogue := testgate.NewAuthority(t, "act"), testgate.NewAuthority(t, "rogue")
	extra := fmt.Sprintf("audit_log: {path: %s, max_size_mb: 1, max_files: 2, fsync: always}\n", auditFile)
	lanes := fmt.Sprintf(`  - {name: tap-mqtt, bearer: nfc, profile: mdl, actuator: mqtt, actuator_options: {broker: "%s", topic: "%s", qos: 1}}
  - {name: tap-hook, bearer: nfc, profile: mdl, actuator: webhook, actuator_options: {url: "%s", secret_file: %s}}
  - {name: tap-exec, bearer: nfc, profile: mdl, actuator: exec, actuator_options: {command: [%s], timeout: 5s}}
`, broker, topic, hook.URL, hook.secretFile, script)
	g := startRadioGate(t, writeGateConfig(t, extra, lanes, a))
	// the MQTT client connects in the background: wait for it before the first verdict
	deadline := time.Now().Add(10 * time.Second)
	for !g.byName["tap-mqtt"].act.cur.sink.(*actuator.MQTT).Connected() {
		if time.Now().After(deadline) {
			t.Fatal("MQTT actuator not connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := map[string]string{} // session → action
	for _, lane := range []string{"tap-mqtt", "tap-hook", "tap-exec"} {
		for _, cred := range []*issuer.Credential{a.Cred, rogue.Cred} {
			v := g.present(t, lane, holderOf(cred))
			want[v.Session] = v.Action
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case m := <-msgs:
			var e actuator.Event
			if err := json.Unmarshal(m, &e); err != nil || e.Lane != "tap-mqtt" || want[e.Session] != e.Action || e.Bearer != "nfc" {
				t.Fatalf("MQTT message %s", m)
			}
			if bytes.Contains(m, []byte("Mustermann")) {
				t.Fatalf("element values in %s", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no MQTT message")
		}
	}
	select {
	case m := <-msgs:
		t.Fatalf("a third MQTT message for two verdicts: %s", m)
	case <-time.After(300 * time.Millisecond):
	}
	for _, e := range hook.wait(t, 2) {
		if e.Lane != "tap-hook" || want[e.Session] != e.Action || e.Elements != nil {
			t.Fatalf("webhook event %+v", e)
		}
	}
	for _, line := range waitLines(t, relayLog, 2) {
		f := strings.Fields(line)
		if len(f) != 4 || f[2] != "tap-exec" || want[f[3]] != f[0] {
			t.Fatalf("relay line %q", line)
		}
	}
	for _, lane := range []string{"tap-mqtt", "tap-hook", "tap-exec"} {
		waitMetric(t, g.info.HTTP, "mdocgate_actuator_deliveries_total", map[string]string{"lane": lane, "result": "delivered"}, 2)
	}
	if err := g.stop(t); err != nil { // closes the audit log
		t.Fatal(err)
	}
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("Mustermann")) || bytes.Contains(data, []byte("Erika")) {
		t.Fatalf("element values in the audit log:\n%s", data)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		n++
		if r.Kind != audit.KindVerdict || r.Seq != uint64(n) || r.Gate != "radio-gate" || want[r.Session] != r.Action || r.Bearer != "nfc" ||
			r.DocType != issuer.DocTypeMDL || r.Started == nil || r.Ended == nil || r.Ended.Before(*r.Started) {
			t.Fatalf("audit record %s", sc.Text())
		}
		if r.Outcome == "accepted" && r.IssuingCountry != "UT" || r.Outcome == "rejected" && r.Reason == "" {
			t.Fatalf("audit record %s", sc.Text())
		}
	}
	if n != 6 {
		t.Fatalf("%d audit records for 6 verdicts", n)
	}
}

// Configuration errors of the operations fields name their field.
func TestOpsConfigErrors(t *testing.T) {
	iaca := testgate.Example("iaca")
	lane := func(extra string) string {
		return "lanes:\n  - {name: l, bearer: nfc, profile: mdl" + extra + "}\n"
	}
	for _, c := range []struct{ yaml, field, want string }{
		{"tls: {cert: a.pem}\n" + lane(""), "tls", "cert and key go together"},
		{"tls: {cert: a.pem, key: b.pem}\norigin: http://gate.example\n" + lane(""), "origin", "with tls the origin is https://"},
		{"ops_tls: {cert: a.pem, key: b.pem}\n" + lane(""), "ops_tls", "no http_addr"},
		{lane(", actuator: webhook"), "lanes[0].actuator_options.url", "needs the URL"},
		{lane(", actuator: webhook, actuator_options: {url: ftp://x/y, secret_file: s}"), "lanes[0].actuator_options.url", "want http(s)"},
		{lane(", actuator: webhook, actuator_options: {url: http://x/y}"), "lanes[0].actuator_options.secret_file", "shared secret"},
		{lane(", actuator: mqtt, actuator_options: {broker: tcp://localhost}"), "lanes[0].actuator_options.broker", "tcp://HOST:PORT"},
		{lane(", actuator: mqtt, actuator_options: {broker: tcp://h:1883, topic: gate/#}"), "lanes[0].actuator_options.topic", "wildcard"},
		{lane(", actuator: mqtt, actuator_options: {broker: tcp://h:1883, topic: g, qos: 3}"), "lanes[0].actuator_options.qos", "want 0, 1 or 2"},
		{lane(", actuator: exec"), "lanes[0].actuator_options.command", "needs a command"},
		{lane(", actuator: log, actuator_options: {topic: x}"), "lanes[0].actuator_options.topic", "not an option of the log actuator"},
		{lane(", actuator: exec, actuator_options: {command: [x], url: http://h/}"), "lanes[0].actuator_options.url", "only of webhook"},
		{lane(", actuator: exec, actuator_options: {command: [x], timeout: -1s}"), "lanes[0].actuator_options.timeout", "negative"},
		{lane(", actuator: gpio"), "lanes[0].actuator", "want log, webhook, mqtt or exec"},
		{"audit_log: {max_files: 3}\n" + lane(""), "audit_log.path", "give the file"},
		{"audit_log: {path: a.jsonl, fsync: never}\n" + lane(""), "audit_log.fsync", "want always or interval"},
		{"audit_log: {path: a.jsonl, max_size_mb: -1}\n" + lane(""), "audit_log.max_size_mb", "negative"},
	} {
		dir := writeFiles(t, map[string]string{"gate.yaml": "trust: {iaca_dir: " + iaca + "}\n" + c.yaml})
		msg, ce := loadErr(t, dir)
		if ce.Field != c.field || !strings.Contains(msg, c.want) {
			t.Errorf("%q: %q (field %q), want field %q and %q", c.yaml, msg, ce.Field, c.field, c.want)
		}
	}
	for _, c := range []struct{ trust, field, want string }{
		{"{vical_url: https://x/v.cbor}", "trust.vical_anchor", "anchor certificate"},
		{"{vical_url: file:///v.cbor, vical_anchor: a.pem}", "trust.vical_url", "want http(s)"},
		{"{iaca_dir: IACA, vical_refresh: 1h}", "trust.vical_refresh", "only with vical_url"},
		{"{vical_url: https://x/v, vical_anchor: a.pem, vical_refresh: 1h, vical_max_age: 10m}", "trust.vical_max_age", "shorter than vical_refresh"},
		{"{iaca_dir: IACA, expiry_warning_days: -1}", "trust.expiry_warning_days", "negative"},
	} {
		dir := writeFiles(t, map[string]string{"gate.yaml": "trust: " + strings.ReplaceAll(c.trust, "IACA", iaca) + "\n" + lane("")})
		msg, ce := loadErr(t, dir)
		if ce.Field != c.field || !strings.Contains(msg, c.want) {
			t.Errorf("%q: %q (field %q), want field %q and %q", c.trust, msg, ce.Field, c.field, c.want)
		}
	}
}

// Check reads every file a configuration names without starting anything; an actuator
// whose secret or program is missing is named.
func TestCheck(t *testing.T) {
	iaca := testgate.Example("iaca")
	script, _ := relayScript(t)
	good := writeFiles(t, map[string]string{"secret": "k\n", "gate.yaml": "http_addr: 127.0.0.1:1\ntrust: {iaca_dir: " + iaca + "}\nlanes:\n" +
		"  - {name: a, bearer: nfc, profile: mdl, actuator: webhook, actuator_options: {url: http://127.0.0.1:1/x, secret_file: secret}}\n" +
		"  - {name: b, bearer: nfc-pcsc, reader: X, profile: mdl, actuator: exec, actuator_options: {command: [" + script + "]}}\n" +
		"audit_log: {path: audit.jsonl}\n"})
	cfg, err := LoadConfig(filepath.Join(good, "gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(cfg)
	if err != nil || rep.Lanes != 2 || rep.Anchors != 1 || len(rep.Skipped) != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(good, "audit.jsonl")); err == nil {
		t.Fatal("Check created the audit log")
	}
	for _, c := range []struct{ lanes, field string }{
		{"  - {name: a, bearer: nfc, profile: mdl, actuator: webhook, actuator_options: {url: http://h/x, secret_file: nope}}\n", "lanes[0].actuator_options.secret_file"},
		{"  - {name: a, bearer: nfc, profile: mdl, actuator: exec, actuator_options: {command: [./no-such-relay]}}\n", "lanes[0].actuator_options.command"},
	} {
		dir := writeFiles(t, map[string]string{"gate.yaml": "trust: {iaca_dir: " + iaca + "}\nlanes:\n" + c.lanes})
		cfg, err := LoadConfig(filepath.Join(dir, "gate.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var ce *ConfigError
		if _, err := Check(cfg); !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%q: %v", c.lanes, err)
		}
	}
}
