package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// vectors is the Annex D folder (testdata/iso18013-5/), for the file arguments.
var vectors = testvectors.Path("iso18013-5") + string(filepath.Separator)

func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeAnnexDInputs writes the Annex D IACA (DER) and the EReaderKey as a PKCS#8 PEM.
func writeAnnexDInputs(t *testing.T) (iaca, readerKey string) {
	dir := t.TempDir()
	iaca = filepath.Join(dir, "iaca.der")
	if err := os.WriteFile(iaca, testvectors.AnnexD(t, "iaca_cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	pemBytes, err := keys.MarshalPrivateKeyPEM(testpki.AnnexDKey(t, "ereader_key"))
	if err != nil {
		t.Fatal(err)
	}
	readerKey = filepath.Join(dir, "reader.pem")
	if err := os.WriteFile(readerKey, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return iaca, readerKey
}

type verifyJSON struct {
	Valid     bool   `json:"valid"`
	Status    uint64 `json:"status"`
	Documents []struct {
		DocType string `json:"docType"`
		Valid   bool   `json:"valid"`
		Checks  []struct {
			Name   string  `json:"name"`
			OK     bool    `json:"ok"`
			Reason *string `json:"reason"`
		} `json:"checks"`
		Elements map[string]map[string]any `json:"elements"`
	} `json:"documents"`
	Errors []string `json:"errors"`
}

func TestVerifyAnnexD(t *testing.T) {
	iaca, readerKey := writeAnnexDInputs(t)
	args := []string{"verify", "--response", vectors + "device_response.hex", "--transcript", vectors + "session_transcript_bytes.hex",
		"--trust", iaca, "--reader-key", readerKey}

	code, out, stderr := runCLI(t, append(args, "--at", "2021-01-05T14:01:00Z")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q, out %s", code, stderr, out)
	}
	var res verifyJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Valid || res.Status != 0 || len(res.Documents) != 1 || res.Errors == nil {
		t.Fatalf("%+v", res)
	}
	doc := res.Documents[0]
	if doc.DocType != "org.iso.18013.5.1.mDL" || !doc.Valid {
		t.Fatalf("%+v", doc)
	}
	for _, c := range doc.Checks {
		if c.Reason == nil {
			t.Fatalf("check %s has no reason field", c.Name)
		}
	}
	mdl := doc.Elements["org.iso.18013.5.1"]
	for _, id := range []string{"family_name", "issue_date", "expiry_date", "document_number", "portrait", "driving_privileges"} {
		if _, ok := mdl[id]; !ok {
			t.Errorf("element %s missing", id)
		}
	}
	if mdl["family_name"] != "Doe" {
		t.Fatalf("family_name = %v", mdl["family_name"])
	}

	code, out, _ = runCLI(t, append(args, "--at", "2026-01-01T00:00:00Z")...)
	if code != 1 {
		t.Fatalf("at 2026: exit %d, want 1", code)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Valid {
		t.Fatalf("at 2026: %v %+v", err, res)
	}

	code, out, _ = runCLI(t, append(args, "--at", "2021-01-05T14:01:00Z", "--format", "text")...)
	if code != 0 || !strings.Contains(out, "VALID") || !strings.Contains(out, "family_name") {
		t.Fatalf("text: exit %d\n%s", code, out)
	}
}

// panicTrace matches what a Go panic prints, not the words in the usage text.
var panicTrace = regexp.MustCompile(`panic: |goroutine \d+ \[`)

func TestVerifyUnreadableInputExits2(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.cbor")
	os.WriteFile(garbage, []byte{0xa1, 0x61}, 0o644)
	cases := [][]string{
		{"verify", "--response", garbage, "--transcript", vectors + "session_transcript.hex"},
		{"verify", "--response", vectors + "device_response.hex", "--transcript", garbage},
		{"verify", "--response", filepath.Join(dir, "missing"), "--transcript", vectors + "session_transcript.hex"},
		{"verify", "--response", vectors + "device_response.hex"},
		{"verify", "--response", vectors + "device_response.hex", "--transcript", vectors + "session_transcript.hex", "--trust", garbage},
		{"verify", "--response", vectors + "device_response.hex", "--transcript", vectors + "session_transcript.hex", "--at", "yesterday"},
		{"verify", "--bogus"},
		{"nosuchcommand"},
	}
	for _, args := range cases {
		code, _, stderr := runCLI(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if panicTrace.MatchString(stderr) {
			t.Errorf("%v: stderr has a panic trace: %s", args, stderr)
		}
		if args[0] == "verify" && args[1] != "--bogus" && len(lines) != 1 {
			t.Errorf("%v: want a one-line error, got %q", args, stderr)
		}
	}
}

func TestIssuePresentVerifyRoundTrip(t *testing.T) {
	transcript := vectors + "session_transcript_bytes.hex"
	for _, curve := range []string{"P-256", "P-384", "P-521", "Ed25519"} {
		for _, doctype := range []string{"mdl", "photoid"} {
			t.Run(curve+"/"+doctype, func(t *testing.T) {
				dir := t.TempDir()
				if code, _, stderr := runCLI(t, "issue", "--out", dir, "--doctype", doctype, "--curve", curve); code != 0 {
					t.Fatalf("issue: %d %s", code, stderr)
				}
				for _, f := range []string{"iaca.pem", "ds.pem", "device_key.pem", "credential.cbor"} {
					if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
						t.Fatal(err)
					}
				}
				resp := filepath.Join(dir, "response.cbor")
				if code, _, stderr := runCLI(t, "present", "--credential", dir, "--transcript", transcript, "--out", resp); code != 0 {
					t.Fatalf("present: %d %s", code, stderr)
				}
				code, out, stderr := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--trust", filepath.Join(dir, "iaca.pem"))
				if code != 0 {
					t.Fatalf("verify: %d %s %s", code, stderr, out)
				}
				// the same response against another transcript must fail
				code, _, _ = runCLI(t, "verify", "--response", resp, "--transcript", vectors+"oid4vp_session_transcript.hex", "--trust", filepath.Join(dir, "iaca.pem"))
				if code != 1 {
					t.Fatalf("foreign transcript: exit %d, want 1", code)
				}
			})
		}
	}
}

func TestPresentWithMACAndRequest(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "issue", "--out", dir); code != 0 {
		t.Fatal(stderr)
	}
	_, readerKey := writeAnnexDInputs(t)
	transcript := vectors + "session_transcript_bytes.hex"
	resp := filepath.Join(dir, "response.cbor")
	code, out, stderr := runCLI(t, "present", "--credential", dir, "--transcript", transcript,
		"--request", vectors+"device_request.hex", "--mac-reader-key", readerKey, "--out", resp)
	if code != 0 || !strings.Contains(out, "deviceMac") {
		t.Fatalf("present: %d %s %s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--trust", filepath.Join(dir, "iaca.pem"), "--reader-key", readerKey)
	if code != 0 {
		t.Fatalf("verify: %d %s %s", code, stderr, out)
	}
	var res verifyJSON
	json.Unmarshal([]byte(out), &res)
	got := res.Documents[0].Elements["org.iso.18013.5.1"]
	if len(got) != 6 {
		t.Fatalf("the Annex D request asks for 6 elements, got %d: %v", len(got), got)
	}
	// without the reader key deviceMac cannot be checked
	if code, _, _ := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--trust", filepath.Join(dir, "iaca.pem")); code != 1 {
		t.Fatalf("verify without reader key: exit %d, want 1", code)
	}
}

func TestDecode(t *testing.T) {
	for name, kind := range map[string]string{
		"device_response": "DeviceResponse", "device_request": "DeviceRequest", "session_establishment": "SessionEstablishment",
		"device_engagement_qr": "Engagement", "session_transcript_bytes": "SessionTranscript",
	} {
		code, out, stderr := runCLI(t, "decode", vectors+name+".hex")
		if code != 0 {
			t.Fatalf("%s: %d %s", name, code, stderr)
		}
		var v struct {
			Kind  string `json:"kind"`
			Value any    `json:"value"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(v.Kind, kind) {
			t.Errorf("%s: kind %q, want %q", name, v.Kind, kind)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte{0x9b, 0xff}, 0o644)
	if code, _, _ := runCLI(t, "decode", bad); code != 2 {
		t.Fatalf("bad input: exit %d", code)
	}
}

func TestSingleDemoAccepts(t *testing.T) {
	code, out, stderr := runCLI(t, "demo", "--single")
	if code != 0 || !strings.Contains(out, "verdict: accepted") {
		t.Fatalf("demo: %d\n%s\n%s", code, out, stderr)
	}
}

func TestDemoJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "demo", "--json", "--holders", "120")
	if code != 0 {
		t.Fatalf("demo --json: exit %d\n%s\n%s", code, out, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"sessions", "accepted", "rejected", "errors", "timeouts", "lost", "mismatched", "by_transport", "latency_ms"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if rep["lost"].(float64) != 0 || rep["mismatched"].(float64) != 0 || rep["sessions"].(float64) != 120 {
		t.Fatalf("lost %v mismatched %v sessions %v", rep["lost"], rep["mismatched"], rep["sessions"])
	}
	for _, k := range []string{"p50", "p90", "p99", "max"} {
		if _, ok := rep["latency_ms"].(map[string]any)[k]; !ok {
			t.Errorf("latency_ms.%s missing", k)
		}
	}
	total := 0.0
	for _, name := range []string{"memory", "nfc", "nfc>ble-central", "ble", "wifiaware"} {
		bt, ok := rep["by_transport"].(map[string]any)[name].(map[string]any)
		if !ok {
			t.Fatalf("no lanes on %s: %v", name, rep["by_transport"])
		}
		total += bt["sessions"].(float64)
	}
	if total != 120 {
		t.Fatalf("by_transport sessions add up to %v, want 120", total)
	}
	// and the online lanes, through the same engine kind as serve's
	online, ok := rep["online"].(map[string]any)
	if !ok || online["sessions"].(float64) != 60 || online["lost"].(float64) != 0 || online["mismatched"].(float64) != 0 {
		t.Fatalf("online: %v", rep["online"])
	}
	for _, name := range []string{"oid4vp", "dcapi"} {
		if bt, ok := online["by_transport"].(map[string]any)[name].(map[string]any); !ok || bt["sessions"].(float64) == 0 {
			t.Fatalf("no online sessions on %s: %v", name, online["by_transport"])
		}
	}
}

func TestLoadtestJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "loadtest", "--transport", "memory", "--holders", "200", "--concurrency", "32", "--chaos", "0.2", "--json")
	if code != 0 {
		t.Fatalf("loadtest: exit %d\n%s\n%s", code, out, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"transport", "sessions", "accepted", "rejected", "errors", "timeouts", "lost", "seconds",
		"sessions_per_second", "latency_ms", "peak_rss_bytes", "goroutines_end"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if rep["lost"].(float64) != 0 {
		t.Fatalf("lost %v under chaos", rep["lost"])
	}
	if code, _, _ := runCLI(t, "loadtest", "--transport", "carrier-pigeon", "--holders", "1"); code != 2 {
		t.Fatalf("unknown transport: exit %d, want 2", code)
	}
}

// loadtest --floor measures the floor after the run and reports the ratio to it.
func TestLoadtestFloor(t *testing.T) {
	code, out, stderr := runCLI(t, "loadtest", "--holders", "50", "--concurrency", "16", "--floor", "300ms", "--json")
	if code != 0 {
		t.Fatalf("loadtest --floor: exit %d\n%s\n%s", code, out, stderr)
	}
	var rep struct {
		Floor float64 `json:"floor_sessions_per_second"`
		Ratio float64 `json:"floor_ratio"`
		Rate  float64 `json:"sessions_per_second"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Floor <= 0 || rep.Ratio <= 0 || rep.Rate <= 0 {
		t.Fatalf("floor %v ratio %v rate %v", rep.Floor, rep.Ratio, rep.Rate)
	}
	if r := rep.Rate / rep.Floor; r/rep.Ratio < 0.999 || r/rep.Ratio > 1.001 {
		t.Errorf("floor_ratio %v, sessions_per_second/floor %v", rep.Ratio, r)
	}
	if _, out, _ := runCLI(t, "loadtest", "--holders", "10", "--concurrency", "4"); strings.Contains(out, "floor") {
		t.Error("floor reported without --floor")
	}
}

// loadtest on the modelled bearers reports air time next to wall time.
func TestLoadtestBearers(t *testing.T) {
	for _, args := range [][]string{
		{"--transport", "ble", "--ble-mode", "peripheral", "--mtu", "23", "--phy", "1M"},
		{"--transport", "ble", "--ble-mode", "central", "--mtu", "517", "--phy", "2M", "--l2cap"},
		{"--transport", "nfc"},
		{"--transport", "wifiaware"},
	} {
		code, out, stderr := runCLI(t, append([]string{"loadtest", "--holders", "20", "--concurrency", "8", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep["lost"].(float64) != 0 || rep["accepted"].(float64) != 20 {
			t.Fatalf("%v: lost %v accepted %v", args, rep["lost"], rep["accepted"])
		}
		if args[1] != "wifiaware" {
			if air, _ := rep["air_time_seconds"].(float64); air <= 0 {
				t.Fatalf("%v: no modelled air time reported", args)
			}
		}
		code, text, _ := runCLI(t, append([]string{"loadtest", "--holders", "5", "--concurrency", "5"}, args...)...)
		if code != 0 || (args[1] != "wifiaware" && !strings.Contains(text, "modelled air time")) {
			t.Fatalf("%v: text output %q", args, text)
		}
	}
}

// A short soak reports its RSS growth without judging it (the runtime's RSS is still
// settling), so a healthy short run exits 0; the JSON says which it was.
func TestSoakShortRunNotJudged(t *testing.T) {
	code, stdout, stderr := runCLI(t, "soak", "--duration", "2s", "--rate", "50", "--sample", "200ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Load      struct{ Lost int64 } `json:"load"`
		RSSJudged *bool                `json:"rss_judged"`
		RSSGrowth *float64             `json:"rss_growth_pct"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RSSJudged == nil || *rep.RSSJudged || rep.RSSGrowth == nil || rep.Load.Lost != 0 {
		t.Fatalf("report %s", stdout)
	}
	if !strings.Contains(stderr, "not judged") {
		t.Fatalf("stderr does not say the RSS growth was not judged: %q", stderr)
	}
}

// A key, certificate or list file larger than its kind can be is refused unread (exit
// 2), the error naming the flag: --trust and --vical-anchor over trust.MaxAnchorFileSize,
// --reader-key and --mac-reader-key over keys.MaxKeyFileSize, serve's --trust too.
func TestOversizedFileFlagsExit2(t *testing.T) {
	dir := t.TempDir()
	big := func(name string, size int64) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, size); err != nil { // sparse: nothing written
			t.Fatal(err)
		}
		return f
	}
	cert, key := big("anchor.pem", trust.MaxAnchorFileSize+1), big("key.pem", keys.MaxKeyFileSize+1)
	verifyArgs := []string{"verify", "--response", vectors + "device_response.hex", "--transcript", vectors + "session_transcript_bytes.hex"}
	credDir, _ := issuedResponse(t)
	for flag, args := range map[string][]string{
		"--trust":          append(slices.Clone(verifyArgs), "--trust", cert),
		"--reader-key":     append(slices.Clone(verifyArgs), "--reader-key", key),
		"--vical-anchor":   append(slices.Clone(verifyArgs), "--vical", vectors+"device_response.hex", "--vical-anchor", cert),
		"--mac-reader-key": {"present", "--credential", credDir, "--transcript", vectors + "session_transcript_bytes.hex", "--out", filepath.Join(dir, "out"), "--mac-reader-key", key},
		"serve --trust":    {"serve", "--check", "--trust", cert},
	} {
		code, _, stderr := runCLI(t, args...)
		name := strings.TrimPrefix(flag, "serve ")
		if code != 2 || !strings.Contains(stderr, name) || !strings.Contains(stderr, "larger than") {
			t.Errorf("%s over its limit: exit %d, %q", flag, code, stderr)
		}
	}
}
