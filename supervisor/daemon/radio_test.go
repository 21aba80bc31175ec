package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/internal/testpcsc"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/audit"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/bearers"
	"github.com/mdocgate/mdocgate/transports/nfc"
)

// radioGate is a gate with radio lanes, the supervisor bearer of each, and an engine of
// simulated holders to send through them.
type radioGate struct {
	*runningGate
	bearers map[string]transports.Bearer
	holders *supervisor.Engine
	seq     atomic.Int64
}

// writeGateConfig writes a config with the IACAs of authorities, ops on a free port and
// the given top-level extra YAML and lanes.
func writeGateConfig(t *testing.T, extra, lanes string, authorities ...*testgate.Authority) string {
	t.Helper()
	dir := t.TempDir()
	testgate.WriteIACADir(t, dir, authorities...)
	yaml := "name: radio-gate\nhttp_addr: 127.0.0.1:0\nlisten: 127.0.0.1:0\nlog_level: info\ntrust: {iaca_dir: iaca}\n" + extra + "lanes:\n" + lanes
	f := filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func startRadioGate(t *testing.T, cfgFile string) *radioGate {
	t.Helper()
	g := &radioGate{runningGate: startGate(t, cfgFile)}
	g.bearers = g.radios
	g.holders = supervisor.Start(supervisor.Config{})
	t.Cleanup(func() { g.holders.Shutdown(context.Background()) })
	return g
}

// present sends one simulated holder through lane's bearer and returns the verdict.
func (g *radioGate) present(t *testing.T, lane string, hs *holdersession.Config) Verdict {
	t.Helper()
	b := g.bearers[lane]
	if b == nil {
		t.Fatalf("no radio lane %s (have %v)", lane, g.bearers)
	}
	hs.Methods = b.HolderMethods(int(g.seq.Add(1)))
	g.holders.SpawnHolder(&actors.HolderConfig{NewSession: func() (actors.HolderSession, error) { return holdersession.New(hs) }, Framer: b.Framer(), Retries: 20, RetryAfter: 20 * time.Millisecond,
		Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
			return b.Engage(ctx, lane, de, handover, transports.LinkFaults{})
		}})
	v := g.verdict(t)
	if v.Lane != lane {
		t.Fatalf("verdict of lane %v, want %s: %+v", v.Lane, lane, v)
	}
	return v
}

func holderOf(cred *issuer.Credential) *holdersession.Config {
	return &holdersession.Config{Credentials: []*issuer.Credential{cred}}
}

// metricSum adds the values of the series of family name whose labels include want.
func metricSum(t *testing.T, body, name string, want map[string]string) float64 {
	t.Helper()
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		labels := map[string]string{}
		for _, kv := range strings.Split(line[len(name)+1:end], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

// waitMetric polls /metrics until the series sum reaches want (the actuator runs after
// the verdict line is printed).
func waitMetric(t *testing.T, ops, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := testgate.HTTPGet(t, "http://"+ops+"/metrics")
		got := metricSum(t, body, name, labels)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits for n log lines with message msg.
func waitLog(t *testing.T, log *syncBuffer, msg string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if e := log.entries(msg); len(e) >= n {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %q log lines, want %d", len(log.entries(msg)), msg, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Radio lanes from a config: in-memory NFC, BLE in each mode (one on L2CAP), Wi-Fi Aware
// and memory, with no web lane (serve then binds no web port). Simulated holders go
// through each lane's bearer; the verdicts are counted in /metrics by lane and bearer.
func TestServeGateRadioLanes(t *testing.T) {
	a, other := testgate.NewAuthority(t, "radio"), testgate.NewAuthority(t, "other")
	cfg := writeGateConfig(t, "", `  - {name: nfc-1, bearer: nfc, profile: mdl}
  - {name: ble-c, bearer: ble, ble_mode: central_client, profile: mdl}
  - {name: ble-p, bearer: ble, ble_mode: peripheral_server, ble_l2cap: true, profile: mdl}
  - {name: ble-any, bearer: ble, profile: mdl}
  - {name: nan-1, bearer: wifiaware, profile: mdl}
  - {name: mem-1, bearer: memory, profile: mdl}
`, a)
	g := startRadioGate(t, cfg)
	if g.info.Listen != "" || g.info.Engage != "" || len(g.info.Lanes) != 6 {
		t.Fatalf("info %+v", g.info)
	}
	lanes := map[string]string{"nfc-1": "nfc", "ble-c": "ble", "ble-p": "ble", "ble-any": "ble", "nan-1": "wifiaware", "mem-1": "memory"}
	for lane, bearer := range lanes {
		for i := 0; i < 2; i++ {
			if v := g.present(t, lane, holderOf(a.Cred)); v.Outcome != "accepted" || v.Bearer != bearer || v.Action != "open" {
				t.Fatalf("%s: %+v", lane, v)
			}
		}
	}
	// an untrusted issuer is rejected on a radio lane like on the web
	if v := g.present(t, "nfc-1", holderOf(other.Cred)); v.Outcome != "rejected" || v.Reason != "issuer_auth.chain" || v.Action != "deny" {
		t.Fatalf("untrusted: %+v", v)
	}
	for lane, bearer := range lanes {
		waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": lane, "bearer": bearer, "outcome": "accepted"}, 2)
		waitMetric(t, g.info.HTTP, "mdocgate_gate_actions_total", map[string]string{"lane": lane, "action": "open"}, 2)
	}
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "nfc-1", "bearer": "nfc", "outcome": "rejected",
		"reason": "issuer_auth.chain"}, 1)
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{}, 13)
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// A BLE lane in one mode refuses a holder that offers only the other: one error verdict,
// and the actuator calls staff.
func TestServeGateBLEModeMismatch(t *testing.T) {
	a := testgate.NewAuthority(t, "ble")
	cfg := writeGateConfig(t, "", "  - {name: ble-p, bearer: ble, ble_mode: peripheral_server, profile: mdl}\n", a)
	g := startRadioGate(t, cfg)
	// the lane's bearer makes peripheral-server holders; offer central client instead
	hs := holderOf(a.Cred)
	b := g.bearers["ble-p"]
	central, err := bearers.Open("ble", transports.BearerOptions{"ble-mode": "central"})
	if err != nil {
		t.Fatal(err)
	}
	defer central.Close()
	hs.Methods = central.HolderMethods(0)
	g.holders.SpawnHolder(&actors.HolderConfig{NewSession: func() (actors.HolderSession, error) { return holdersession.New(hs) }, Framer: b.Framer(),
		Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
			return b.Engage(ctx, "ble-p", de, handover, transports.LinkFaults{})
		}})
	v := g.verdict(t)
	if v.Outcome != "error" || v.Action != "call_staff" || !strings.Contains(v.Detail, "the only mode of this lane") {
		t.Fatalf("verdict %+v", v)
	}
}

// holder_verification: the rejecting test matcher turns sessions the profile accepts
// into rejections (reason holder_verification.no_match, action deny), the accepting one
// keeps them accepted; both show in /metrics and in the actuator's log.
func TestServeGateHolderVerification(t *testing.T) {
	a := testgate.NewAuthority(t, "hv")
	cfg := writeGateConfig(t, "", `  - {name: nfc-reject, bearer: nfc, profile: mdl, holder_verification: test-reject}
  - {name: ble-accept, bearer: ble, profile: age_over_18, holder_verification: test-accept}
  - {name: nfc-none, bearer: nfc, profile: mdl, holder_verification: none}
`, a)
	g := startRadioGate(t, cfg)
	for i := 0; i < 3; i++ {
		v := g.present(t, "nfc-reject", holderOf(a.Cred))
		if v.Outcome != "rejected" || v.Reason != "holder_verification.no_match" || v.Action != "deny" || v.HolderVerification != "no_match" {
			t.Fatalf("test-reject lane: %+v", v)
		}
		v = g.present(t, "ble-accept", holderOf(a.Cred))
		if v.Outcome != "accepted" || v.Action != "open" || v.HolderVerification != "match" {
			t.Fatalf("test-accept lane: %+v", v)
		}
		v = g.present(t, "nfc-none", holderOf(a.Cred))
		if v.Outcome != "accepted" || v.Action != "open" || v.HolderVerification != "" {
			t.Fatalf("lane without holder verification: %+v", v)
		}
	}
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "nfc-reject", "bearer": "nfc", "outcome": "rejected",
		"reason": "holder_verification.no_match"}, 3)
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "nfc-reject", "outcome": "accepted"}, 0)
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "ble-accept", "bearer": "ble", "outcome": "accepted"}, 3)
	waitMetric(t, g.info.HTTP, "mdocgate_gate_actions_total", map[string]string{"lane": "nfc-reject", "action": "deny",
		"reason": "holder_verification.no_match"}, 3)
	waitMetric(t, g.info.HTTP, "mdocgate_gate_actions_total", map[string]string{"lane": "ble-accept", "action": "open"}, 3)
	for _, e := range waitLog(t, g.log, "gate action", 9) {
		switch e["lane"] {
		case "nfc-reject":
			if e["action"] != "deny" || e["reason"] != "holder_verification.no_match" || e["holder_verification"] != "no_match" || e["verified_by"] != "test" {
				t.Fatalf("log %v", e)
			}
		case "ble-accept":
			if e["action"] != "open" || e["holder_verification"] != "match" {
				t.Fatalf("log %v", e)
			}
		}
	}
}

// The actuator gets every verdict with the mapped action (accepted → open, rejected →
// deny; a silent holder, timeout, is nobody at the gate: action none, the actuator is
// not told); its log lines carry session, lane, bearer, outcome and failing check, and
// never element values unless log_element_values is set.
func TestServeGateActuatorLog(t *testing.T) {
	a, other := testgate.NewAuthority(t, "act"), testgate.NewAuthority(t, "rogue")
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_element_values=%v", debug), func(t *testing.T) {
			extra := ""
			if debug {
				extra = "log_element_values: true\n"
			}
			cfg := writeGateConfig(t, extra, "  - {name: tap, bearer: nfc, profile: mdl, engagement_timeout: 1s, inactivity_timeout: 1s}\n", a)
			g := startRadioGate(t, cfg)
			want := map[string][3]string{} // session → outcome, action, check
			for _, hs := range []*holdersession.Config{holderOf(a.Cred), holderOf(other.Cred),
				{Credentials: []*issuer.Credential{a.Cred}, Misbehave: holdersession.Silent}} {
				v := g.present(t, "tap", hs)
				want[v.Session] = [3]string{v.Outcome, v.Action, v.Reason}
			}
			outcomes := map[string]string{}
			for _, w := range want {
				outcomes[w[0]] = w[1]
			}
			if len(outcomes) != 3 || outcomes["accepted"] != "open" || outcomes["rejected"] != "deny" || outcomes["timeout"] != "none" {
				t.Fatalf("outcome → action: %v", outcomes)
			}
			waitMetric(t, g.info.HTTP, "mdocgate_gate_actions_total", map[string]string{"lane": "tap", "action": "none",
				"reason": "engagement_timeout"}, 1)
			entries := waitLog(t, g.log, "gate action", 2)
			if len(entries) != 2 {
				t.Fatalf("%d gate action lines, want 2 (none for the silent holder)", len(entries))
			}
			for _, e := range entries {
				w, ok := want[fmt.Sprint(e["session"])]
				if !ok || e["lane"] != "tap" || e["bearer"] != "nfc" || e["outcome"] != w[0] || e["action"] != w[1] {
					t.Fatalf("log %v, want %v", e, w)
				}
				if w[0] != "accepted" && (e["check"] != w[2] || e["reason"] != w[2] || w[2] == "") {
					t.Fatalf("log %v: failing check %q", e, w[2])
				}
				line, _ := json.Marshal(e)
				hasValues := strings.Contains(string(line), "Mustermann") || strings.Contains(string(line), "Erika")
				if e["outcome"] == "accepted" && hasValues != debug {
					t.Fatalf("element values logged: %v, log_element_values %v: %s", hasValues, debug, line)
				}
				if !debug && (hasValues || e["elements"] != nil) {
					t.Fatalf("element values without the debug setting: %s", line)
				}
				if debug && e["outcome"] == "accepted" {
					els := e["elements"].(map[string]any)["org.iso.18013.5.1"].(map[string]any)
					if els["family_name"] != "Mustermann" || els["portrait"] != "(binary, not logged)" {
						t.Fatalf("elements %v", els)
					}
				}
			}
		})
	}
}

// holder_verification: operator: the portrait waits at /operator/ on http_addr until the
// operator confirms or rejects; an unanswered one calls staff after operator_timeout.
func TestServeGateOperator(t *testing.T) {
	a := testgate.NewAuthority(t, "op")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("op-7:"+opToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := writeGateConfig(t, "ops_auth: {token_file: "+tokens+"}\naudit_log: {path: "+auditFile+", fsync: always}\n",
		"  - {name: desk, bearer: nfc, profile: age_over_18, holder_verification: operator, operator_timeout: 5s}\n"+
			"  - {name: hurry, bearer: nfc, profile: age_over_18, holder_verification: operator, operator_timeout: 200ms}\n", a)
	g := startRadioGate(t, cfg)
	ops := "http://" + g.info.HTTP
	var csrf string
	pending := func() []operatorPending {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body := opsRequest(t, http.MethodGet, ops+"/operator/pending", opToken, "")
			var p struct {
				Pending   []operatorPending
				Operator  string
				CSRFToken string `json:"csrf_token"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || code != http.StatusOK {
				t.Fatalf("%d %v: %s", code, err, body)
			}
			if p.Operator != "op-7" || p.CSRFToken == "" {
				t.Fatalf("pending list for %q, csrf %q", p.Operator, p.CSRFToken)
			}
			csrf = p.CSRFToken
			if len(p.Pending) > 0 {
				return p.Pending
			}
			if time.Now().After(deadline) {
				t.Fatal("no pending request")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	post := func(url string) int {
		t.Helper()
		code, _ := opsRequest(t, http.MethodPost, url, opToken, csrf)
		return code
	}
	decided := map[string]string{} // session → the operator's decision
	for _, c := range []struct {
		answer, outcome, action, match string
	}{{"confirm", "accepted", "open", "match"}, {"reject", "rejected", "deny", "no_match"}} {
		b := g.bearers["desk"]
		hs := holderOf(a.Cred)
		hs.Methods = b.HolderMethods(0)
		g.holders.SpawnHolder(&actors.HolderConfig{NewSession: func() (actors.HolderSession, error) { return holdersession.New(hs) }, Framer: b.Framer(),
			Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
				return b.Engage(ctx, "desk", de, handover, transports.LinkFaults{})
			}})
		p := pending()
		if len(p) != 1 || p[0].Lane != "desk" || p[0].MediaType != "image/jpeg" || p[0].DocType != issuer.DocTypeMDL {
			t.Fatalf("pending %+v", p)
		}
		code, img := opsRequest(t, http.MethodGet, ops+"/operator/"+p[0].ID+"/portrait", opToken, "")
		if code != 200 || img != string(issuer.SamplePortrait()) {
			t.Fatalf("portrait: %d, %d bytes", code, len(img))
		}
		if code := post(ops + "/operator/" + p[0].ID + "/" + c.answer + "?operator=someone-else"); code != http.StatusBadRequest {
			t.Fatalf("%s naming the operator in the request: %d", c.answer, code)
		}
		if code := post(ops + "/operator/" + p[0].ID + "/" + c.answer); code != http.StatusNoContent {
			t.Fatalf("%s: %d", c.answer, code)
		}
		if code := post(ops + "/operator/" + p[0].ID + "/" + c.answer); code != http.StatusNotFound {
			t.Fatalf("second answer: %d", code)
		}
		v := g.verdict(t)
		if v.Outcome != c.outcome || v.Action != c.action || v.HolderVerification != c.match || v.Session == "" {
			t.Fatalf("%s: verdict %+v", c.answer, v)
		}
		decided[v.Session] = c.match
	}
	// nobody answers at the hurried lane: staff is called
	v := g.present(t, "hurry", holderOf(a.Cred))
	if v.Outcome != "rejected" || v.Reason != "holder_verification.undecided" || v.Action != "call_staff" {
		t.Fatalf("unanswered: %+v", v)
	}
	for _, e := range waitLog(t, g.log, "gate action", 3) {
		if e["holder_verification"] == "match" && e["verified_by"] != "op-7" {
			t.Fatalf("log %v", e)
		}
	}
	audit := waitLog(t, g.log, "operator decision", 2)
	for i, want := range []string{"confirm", "reject"} {
		if e := audit[i]; e["decision"] != want || e["operator"] != "op-7" || e["auth"] != "token" || e["lane"] != "desk" {
			t.Fatalf("audit line %v", e)
		}
	}
	if code := post(ops + "/operator/nosuch/confirm"); code != http.StatusNotFound {
		t.Fatalf("unknown id: %d", code)
	}
	checkOperatorAudit(t, g.runningGate, auditFile, decided)
}

// checkOperatorAudit checks the audit log of a gate whose operator decided (session →
// match or no_match): each decision is a record naming the session, the operator of
// the credential and the decision, and the session's verdict record (the same session
// id) names the operator too.
func checkOperatorAudit(t *testing.T, g *runningGate, file string, decided map[string]string) {
	t.Helper()
	if err := g.stop(t); err != nil { // closes the audit log
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	decisions, verdicts := map[string]audit.Record{}, map[string]audit.Record{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		switch r.Kind {
		case audit.KindOperatorDecision:
			decisions[r.Session] = r
		case audit.KindVerdict:
			verdicts[r.Session] = r
		}
	}
	if len(decisions) != len(decided) {
		t.Fatalf("operator decisions in the audit log, by session: %+v; want sessions %v", decisions, decided)
	}
	for session, match := range decided {
		d, v := decisions[session], verdicts[session]
		if d.Decision != match || d.Operator != "op-7" || d.Lane != "desk" || d.Request == "" {
			t.Fatalf("decision record of session %s: %+v", session, d)
		}
		if v.HolderVerification != match || v.Operator != "op-7" {
			t.Fatalf("verdict record of session %s: %+v (decision %+v)", session, v, d)
		}
	}
}

// An nfc-pcsc lane from the config, on a vpcd reader named by part of its name; the
// simulated phone is a virtual card dialling vpcd (pcscd + vpcd: .ci/pcscd.sh).
func TestServeGatePCSC(t *testing.T) {
	testpcsc.Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	slots, err := nfc.VPCDSlots(ctx)
	cancel()
	if err != nil {
		if os.Geteuid() != 0 && errors.Is(err, nfc.ErrPCSCMissing) {
			t.Skipf("PC/SC test skipped: not root and %v (run .ci/pcscd.sh as root)", err)
		}
		t.Fatalf("pcscd with vpcd is required (run .ci/pcscd.sh): %v", err)
	}
	// the last slot: the supervisor's PC/SC load test takes the first ones
	slot := slots[len(slots)-1]
	part := strings.TrimPrefix(slot.Reader, "Virtual PCD")
	a, other := testgate.NewAuthority(t, "pcsc"), testgate.NewAuthority(t, "rogue")
	cfg := writeGateConfig(t, "", fmt.Sprintf("  - {name: turnstile, bearer: nfc-pcsc, reader: %q, profile: mdl}\n", part), a)
	g := startRadioGate(t, cfg)
	for _, c := range []struct {
		cred            *issuer.Credential
		outcome, action string
	}{{a.Cred, "accepted", "open"}, {other.Cred, "rejected", "deny"}, {a.Cred, "accepted", "open"}} {
		v := g.present(t, "turnstile", holderOf(c.cred))
		if v.Outcome != c.outcome || v.Bearer != "nfc-pcsc" || v.Action != c.action {
			t.Fatalf("verdict %+v", v)
		}
		t.Logf("%s at %q: %s in %v ms", v.Session, slot.Reader, v.Outcome, v.LatencyMs)
	}
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "turnstile", "bearer": "nfc-pcsc", "outcome": "accepted"}, 2)
	waitMetric(t, g.info.HTTP, "mdocgate_gate_actions_total", map[string]string{"lane": "turnstile", "action": "deny"}, 1)
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}
