package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/transports/web"
)

// holder_verification on a profile that does not request the portrait is refused,
// naming the field.
func TestWithHolderVerificationNeedsPortrait(t *testing.T) {
	noPortrait := func() *profile.Profile {
		return &profile.Profile{Name: "names", Docs: []profile.Doc{{DocType: issuer.DocTypeMDL,
			Elements: []profile.Element{{NameSpace: profile.NamespaceMDL, Identifier: "family_name"}}}}}
	}
	if _, err := withHolderVerification(noPortrait(), hvTestAccept); err == nil ||
		!strings.HasPrefix(err.Error(), "holder_verification: test-accept needs a profile requesting the portrait") {
		t.Fatalf("%v", err)
	}
	if p, err := withHolderVerification(noPortrait(), hvNone); err != nil || p.HolderVerification {
		t.Fatalf("%v", err)
	}
	p, err := withHolderVerification(profile.MDL(), hvOperator)
	if err != nil || !p.HolderVerification {
		t.Fatalf("%v", err)
	}
}

// writeFiles writes name → content into a fresh folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadErr loads the gate config of dir and returns its one-line error, which must be a
// *ConfigError.
func loadErr(t *testing.T, dir string) (string, *ConfigError) {
	t.Helper()
	_, err := LoadConfig(filepath.Join(dir, "gate.yaml"))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("%v: not a *ConfigError", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "config: ") || strings.Contains(msg, "\n") {
		t.Fatalf("%q: want one line starting with config:", msg)
	}
	return err.Error(), ce
}

// customProfiles are two custom profiles: adult_entry as in examples/profiles.yaml but
// without holder verification, and nobody, whose rule no sample credential passes.
const customProfiles = `profiles:
  - name: adult_entry
    documents:
      - doc_type: org.iso.18013.5.1.mDL
        schema: mdl
        elements:
          - {namespace: org.iso.18013.5.1, identifier: age_over_18, mandatory: true}
    freshness: {max_signed_age: 2160h}
    rule: age_over_18 == true
  - name: nobody
    documents:
      - doc_type: org.iso.18013.5.1.mDL
        elements:
          - {namespace: org.iso.18013.5.1, identifier: family_name, mandatory: true}
          - {namespace: org.iso.18013.5.1, identifier: portrait}
    rule: family_name == "Nobody"
`

// Lanes name custom profiles of the profiles file: what the profile requests is asked
// for, its rule decides, and holder verification applies as with a built-in one.
func TestCustomProfiles(t *testing.T) {
	a := testgate.NewAuthority(t, "custom")
	cfgFile := writeGateConfig(t, "profiles: profiles.yaml\n", `  - {name: door, bearer: nfc, profile: adult_entry}
  - {name: nobody, bearer: memory, profile: nobody}
  - {name: checked, bearer: nfc, profile: nobody, holder_verification: test-reject}
  - {name: mdl, bearer: nfc, profile: mdl}
`, a)
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfgFile), "profiles.yaml"), []byte(customProfiles), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startRadioGate(t, cfgFile)
	if req := g.byName["door"].rules.Load().profile.Request(); len(req) != 1 || len(req[0].NameSpaces) != 1 ||
		strings.Join(req[0].NameSpaces[0].Elements, ",") != "age_over_18" {
		t.Fatalf("door requests %+v", req)
	}
	if v := g.present(t, "door", holderOf(a.Cred)); v.Outcome != "accepted" || v.Action != "open" {
		t.Fatalf("door: %+v", v)
	}
	if v := g.present(t, "nobody", holderOf(a.Cred)); v.Outcome != "rejected" || v.Reason != profile.CheckRule || v.Action != "deny" {
		t.Fatalf("nobody: %+v", v)
	}
	// the rule rejects before holder verification is asked
	if v := g.present(t, "checked", holderOf(a.Cred)); v.Outcome != "rejected" || v.Reason != profile.CheckRule || v.HolderVerification != "" {
		t.Fatalf("checked: %+v", v)
	}
	if v := g.present(t, "mdl", holderOf(a.Cred)); v.Outcome != "accepted" {
		t.Fatalf("built-in: %+v", v)
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// examples/profiles.yaml loads as shipped and its profile runs on a lane.
func TestExampleProfiles(t *testing.T) {
	custom, err := loadProfiles(testgate.Example("profiles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Profiles: testgate.Example("profiles.yaml"), custom: custom}
	for name := range custom {
		p, err := cfg.profile(&LaneConfig{Profile: name, HolderVerification: hvOperator})
		if err != nil || !p.HolderVerification || len(p.Request()) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if custom["adult_entry"] == nil {
		t.Fatalf("profiles %v", custom)
	}
	// each lane gets a profile of its own
	if p, q := cfg.profileNamed("adult_entry"), cfg.profileNamed("adult_entry"); p == q {
		t.Fatal("one profile shared by two lanes")
	}
}

// A profiles file that cannot be used fails the config with an error naming the field
// of the profile; a lane naming a profile that is not there names the lane's field.
func TestProfilesFileErrors(t *testing.T) {
	iaca := testgate.Example("iaca")
	doc := "    documents:\n      - doc_type: org.iso.18013.5.1.mDL\n        elements:\n          - {namespace: org.iso.18013.5.1, identifier: age_over_18}\n"
	good := "  - name: a\n" + doc
	for _, c := range []struct {
		profiles, lanes, want, field string
	}{
		{"", "", "config: profiles: DIR/profiles.yaml: profiles: no profiles", "profiles: DIR/profiles.yaml: profiles"},
		{"profiles: []\n", "", "profiles: DIR/profiles.yaml: profiles: no profiles", ""},
		{"profiles:\n  - name: a\n    colour: red\n" + doc, "", "config: profiles: DIR/profiles.yaml: profiles[0].colour: line 3: field colour not found", ""},
		{"profiles:\n" + good + "    freshness:\n      max_signed_age: soon\n", "",
			"config: profiles: DIR/profiles.yaml: profiles[0].freshness.max_signed_age: line 8: cannot unmarshal", ""},
		{"profiles:\n  - documents: []\n", "", "profiles: DIR/profiles.yaml: profiles[0].name: missing", ""},
		{"profiles:\n  - name: mdl\n" + doc, "", `profiles[0].name: "mdl" is a built-in profile`, ""},
		{"profiles:\n" + good + good, "", `config: profiles: DIR/profiles.yaml: profiles[1].name: duplicate profile "a"`, ""},
		{"profiles:\n" + good + "  - name: b\n" + doc + "    rule: age_over_21 == true\n", "",
			"config: profiles: DIR/profiles.yaml: profiles[1].rule: element age_over_21 is not requested in documents[0]",
			"profiles: DIR/profiles.yaml: profiles[1].rule"},
		{"profiles:\n  - name: a\n    documents:\n      - {doc_type: x, schema: pid, elements: [{namespace: n, identifier: i}]}\n", "",
			"profiles: DIR/profiles.yaml: profiles[0].documents[0].schema: unknown schema", ""},
		{"profiles:\n" + good + "    status: always\n", "", "profiles[0].status:", ""},
		{"profiles:\n" + good, "  - {name: l, bearer: nfc, profile: b}\n",
			`config: lanes[0].profile: unknown profile "b" (want mdl, photoid, age_over_18 or a profile of DIR/profiles.yaml)`, "lanes[0].profile"},
		{"profiles:\n" + good + "          - {namespace: org.iso.18013.5.1, identifier: portrait}\n    holder_verification: true\n",
			"  - {name: l, bearer: nfc, profile: a}\n",
			"config: lanes[0].holder_verification: profile a asks for holder verification", ""},
		{"profiles:\n" + good, "  - {name: l, bearer: nfc, profile: a, holder_verification: test-accept}\n",
			"config: lanes[0].holder_verification: test-accept needs a profile requesting the portrait", ""},
		{"profiles:\n" + good + "    reader_auth_required: true\n", "  - {name: l, bearer: nfc, profile: a}\n",
			"config: lanes[0].profile: profile a: reader_auth_required", ""},
	} {
		lanes := c.lanes
		if lanes == "" {
			lanes = "  - {name: l, bearer: nfc, profile: mdl}\n"
		}
		dir := writeFiles(t, map[string]string{"profiles.yaml": c.profiles,
			"gate.yaml": "trust: {iaca_dir: " + iaca + "}\nprofiles: profiles.yaml\nlanes:\n" + lanes})
		msg, ce := loadErr(t, dir)
		if want := strings.ReplaceAll(c.want, "DIR", dir); !strings.Contains(msg, want) {
			t.Errorf("%q: error %q, want %q", c.profiles, msg, want)
		}
		if want := strings.ReplaceAll(c.field, "DIR", dir); want != "" && ce.Field != want {
			t.Errorf("%q: field %q, want %q", c.profiles, ce.Field, want)
		}
	}
	dir := writeFiles(t, map[string]string{"gate.yaml": "trust: {iaca_dir: " + iaca + "}\nprofiles: nope.yaml\nlanes:\n  - {name: l, bearer: nfc, profile: mdl}\n"})
	if msg, _ := loadErr(t, dir); msg != "config: profiles: "+filepath.Join(dir, "nope.yaml")+": no such file or directory" {
		t.Errorf("missing file: %q", msg)
	}
}

// A YAML type error names the field of its line; on a flow-style line, the item.
func TestYAMLErrorsNameTheField(t *testing.T) {
	iaca := testgate.Example("iaca")
	for _, c := range []struct{ yaml, want string }{
		{"trust: {iaca_dir: " + iaca + "}\nlanez: []\n", "lanez: line 2: field lanez not found in type daemon.Config"},
		{"trust: {iaca_dir: " + iaca + "}\nlanes:\n  - name: a\n    bearer: websocket\n    profile: mdl\n    engagement_timeout: soon\n",
			"lanes[0].engagement_timeout: line 6: cannot unmarshal !!str `soon` into time.Duration"},
		{"trust: {iaca_dir: " + iaca + "}\nlanes:\n  - {name: a, bearer: websocket, profile: mdl, engagement_timeout: soon}\n",
			"lanes[0]: line 3: cannot unmarshal"},
		{"trust:\n  iaca_dir: " + iaca + "\n  iaca_files: x.pem\nlanes: []\n", "trust.iaca_files: line 3: cannot unmarshal"},
	} {
		dir := writeFiles(t, map[string]string{"gate.yaml": c.yaml})
		msg, ce := loadErr(t, dir)
		if !strings.Contains(msg, c.want) || ce.Field != filepath.Join(dir, "gate.yaml") {
			t.Errorf("%q: error %q (field %q), want %q", c.yaml, msg, ce.Field, c.want)
		}
	}
	dir := t.TempDir()
	if msg, _ := loadErr(t, dir); msg != "config: "+filepath.Join(dir, "gate.yaml")+": no such file or directory" {
		t.Errorf("missing file: %q", msg)
	}
}

// Validate fills the defaults once: validating a loaded config again changes nothing,
// and every lane field a plain lane (Request, built in code) cannot have is refused.
func TestValidate(t *testing.T) {
	cfg, err := LoadConfig(testgate.Example("gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%+v", cfg.Lanes)
	if err := cfg.Validate(); err != nil || fmt.Sprintf("%+v", cfg.Lanes) != before {
		t.Fatalf("second Validate: %v\n%s\n%+v", err, before, cfg.Lanes)
	}
	iaca := testgate.Example("iaca", "example-iaca.pem")
	for _, c := range []struct {
		mod  func(*LaneConfig)
		want string
	}{
		{func(l *LaneConfig) { l.Profile = "mdl" }, "config: lanes[0].profile: a lane has a profile or a request, not both"},
		{func(l *LaneConfig) { l.HolderVerification = hvOperator }, "config: lanes[0].holder_verification: a lane without a profile verifies no holder"},
		{func(l *LaneConfig) { l.Actuator = "log" }, "config: lanes[0].actuator: a lane without a profile has no gate actions"},
		{func(l *LaneConfig) { l.Request = nil }, `config: lanes[0].profile: unknown profile ""`},
		{func(l *LaneConfig) { l.MaxInFlight = -1 }, "config: lanes[0].max_in_flight: must not be negative"},
	} {
		cfg := plainConfig(mdlNames, iaca)
		c.mod(&cfg.Lanes[0])
		var ce *ConfigError
		if err := cfg.Validate(); err == nil || err.Error() != c.want && !strings.HasPrefix(err.Error(), c.want) || !errors.As(err, &ce) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	cfg = plainConfig(mdlNames, iaca)
	cfg.TLS = &TLSConfig{Cert: "c.pem"}
	if err := cfg.Validate(); err == nil || err.Error() != "config: tls: cert and key go together" {
		t.Errorf("tls: %v", err)
	}
	// what only New finds names its field too
	cfg = plainConfig(mdlNames, iaca, filepath.Join(t.TempDir(), "none.pem"))
	var ce *ConfigError
	if _, err := New(cfg, Options{}); !errors.As(err, &ce) || ce.Field != "trust.iaca_files[1]" {
		t.Errorf("missing IACA file: %v", err)
	}
	cfg = plainConfig(mdlNames, iaca)
	cfg.TLS = &TLSConfig{Cert: "c.pem", Key: "k.pem"}
	if _, err := New(cfg, Options{}); !errors.As(err, &ce) || ce.Field != "tls" {
		t.Errorf("missing TLS files: %v", err)
	}
}

// selfSigned writes a TLS certificate for 127.0.0.1 and its key, and returns a client
// trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"cert.pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"key.pem":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))})
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), client
}

// With tls the web lanes serve HTTPS, and the origin says so.
func TestTLS(t *testing.T) {
	a := testgate.NewAuthority(t, "tls")
	cfg := plainConfig(mdlNames, a.IACAFile(t))
	certFile, keyFile, client := selfSigned(t)
	cfg.TLS = &TLSConfig{Cert: certFile, Key: keyFile}
	g := runGate(t, cfg)
	if !strings.HasPrefix(g.info.Origin, "https://127.0.0.1:") {
		t.Fatalf("info %+v", g.info)
	}
	for _, ws := range []bool{false, true} {
		e, err := web.FetchEngagement(context.Background(), client, g.info.Origin, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := webholder.Present(context.Background(), e.MdocURI, holderOf(a.Cred), "", web.DialOptions{WebSocket: ws, Client: client}); err != nil {
			t.Fatalf("websocket %v: %v", ws, err)
		}
		if v := g.verdict(t); v.Outcome != "accepted" {
			t.Fatalf("verdict %+v", v)
		}
	}
	if _, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false); err == nil {
		t.Fatal("an untrusting client got an engagement")
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}
