package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testgate"
)

// opToken is the operator token of the tests.
const opToken = "s3cret-operator-token-0123"

// opsRequest sends a request to the operations endpoints with a bearer token (none when
// empty) and a CSRF token (none when empty), and returns the status and body.
func opsRequest(t *testing.T, method, url, token, csrf string) (int, string) {
	t.Helper()
	return opsDo(t, http.DefaultClient, method, url, token, csrf, nil)
}

func opsDo(t *testing.T, client *http.Client, method, url, token, csrf string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if csrf != "" {
		req.Header.Set(CSRFHeader, csrf)
	}
	for k, v := range header {
		req.Header[k] = v
		if k == "Host" {
			req.Host = v[0]
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tokenFile writes an ops_auth token file.
func tokenFile(t *testing.T, lines string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(f, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// With ops_auth, the operator desk and the dashboard answer only a credential, from an
// allowed host, same-origin, and a change only with the operator's CSRF token;
// /healthz stays open, /metrics unless protect_metrics.
func TestOpsAuth(t *testing.T) {
	a := testgate.NewAuthority(t, "auth")
	for _, protect := range []bool{false, true} {
		extra := "ops_auth: {token_file: " + tokenFile(t, "# operators\nop-7:"+opToken+"\n") + ", protect_metrics: " +
			map[bool]string{false: "false", true: "true"}[protect] + "}\n"
		g := startRadioGate(t, writeGateConfig(t, extra, "  - {name: desk, bearer: nfc, profile: age_over_18, holder_verification: operator}\n", a))
		ops := "http://" + g.info.HTTP
		for _, path := range []string{"/operator/pending", "/operator/abc/portrait", "/dashboard/snapshot.json", "/dashboard/events"} {
			if code, _ := opsRequest(t, http.MethodGet, ops+path, "", ""); code != http.StatusUnauthorized {
				t.Fatalf("%s without a token: %d", path, code)
			}
			if code, _ := opsRequest(t, http.MethodGet, ops+path, "wrong-token-wrong-token", ""); code != http.StatusUnauthorized {
				t.Fatalf("%s with a wrong token: %d", path, code)
			}
		}
		// the page itself (static, its data comes from the event stream) answers 401 and
		// asks for the token
		code, page := opsRequest(t, http.MethodGet, ops+"/dashboard/", "", "")
		if code != http.StatusUnauthorized || !strings.Contains(page, "<html") {
			t.Fatalf("the dashboard page without a token: %d %.80q", code, page)
		}
		if code, _ := opsRequest(t, http.MethodGet, ops+"/dashboard/snapshot.json", opToken, ""); code != http.StatusOK {
			t.Fatalf("snapshot with the token: %d", code)
		}
		if code, authed := opsRequest(t, http.MethodGet, ops+"/dashboard/", opToken, ""); code != http.StatusOK || authed != page {
			t.Fatalf("the dashboard page with the token: %d, same page %v", code, authed == page)
		}
		code, body := opsRequest(t, http.MethodGet, ops+"/operator/pending", opToken, "")
		if code != http.StatusOK || !strings.Contains(body, `"operator":"op-7"`) {
			t.Fatalf("pending with the token: %d %s", code, body)
		}
		if code, _ := opsRequest(t, http.MethodGet, ops+"/healthz", "", ""); code != http.StatusOK {
			t.Fatalf("/healthz: %d", code)
		}
		want := http.StatusOK
		if protect {
			want = http.StatusUnauthorized
		}
		if code, _ := opsRequest(t, http.MethodGet, ops+"/metrics", "", ""); code != want {
			t.Fatalf("/metrics without a token, protect_metrics %v: %d", protect, code)
		}
		if code, _ := opsRequest(t, http.MethodGet, ops+"/metrics", opToken, ""); code != http.StatusOK {
			t.Fatalf("/metrics with the token: %d", code)
		}
		// a change needs the CSRF token
		if code, _ := opsRequest(t, http.MethodPost, ops+"/operator/nosuch/confirm", opToken, ""); code != http.StatusForbidden {
			t.Fatalf("confirm without a CSRF token: %d", code)
		}
		if code, _ := opsRequest(t, http.MethodPost, ops+"/operator/nosuch/confirm", opToken, "forged"); code != http.StatusForbidden {
			t.Fatalf("confirm with a wrong CSRF token: %d", code)
		}
		csrf := ""
		if c, b := opsRequest(t, http.MethodGet, ops+"/operator/pending", opToken, ""); c == http.StatusOK {
			_, rest, _ := strings.Cut(b, `"csrf_token":"`)
			csrf, _, _ = strings.Cut(rest, `"`)
		}
		if code, _ := opsRequest(t, http.MethodPost, ops+"/operator/nosuch/confirm", opToken, csrf); code != http.StatusNotFound {
			t.Fatalf("confirm of an unknown id with the CSRF token: %d", code)
		}
		// DNS rebinding and cross-site requests
		for _, h := range []http.Header{{"Host": {"evil.example:80"}}, {"Origin": {"http://evil.example"}},
			{"Sec-Fetch-Site": {"cross-site"}}} {
			code, _ := opsDo(t, http.DefaultClient, http.MethodGet, ops+"/operator/pending", opToken, "", h)
			if code != http.StatusMisdirectedRequest && code != http.StatusForbidden {
				t.Fatalf("%v: %d", h, code)
			}
		}
		if code, _ := opsDo(t, http.DefaultClient, http.MethodGet, ops+"/operator/pending", opToken, "",
			http.Header{"Host": {"localhost"}, "Origin": {"http://localhost:1234"}}); code != http.StatusOK {
			t.Fatalf("an allowed host and origin: %d", code)
		}
	}
}

// Without ops_auth on loopback the desk answers local clients, still only from an
// allowed host and with the CSRF token: a page rebinding its name to 127.0.0.1 is refused.
func TestOpsLoopbackWithoutAuth(t *testing.T) {
	a := testgate.NewAuthority(t, "local")
	g := startRadioGate(t, writeGateConfig(t, "", "  - {name: desk, bearer: nfc, profile: age_over_18, holder_verification: operator}\n", a))
	ops := "http://" + g.info.HTTP
	code, body := opsRequest(t, http.MethodGet, ops+"/operator/pending", "", "")
	if code != http.StatusOK || !strings.Contains(body, `"operator":"local"`) {
		t.Fatalf("local pending: %d %s", code, body)
	}
	if code, _ := opsDo(t, http.DefaultClient, http.MethodGet, ops+"/operator/pending", "", "", http.Header{"Host": {"rebound.example"}}); code != http.StatusMisdirectedRequest {
		t.Fatalf("a rebound host name: %d", code)
	}
	if code, _ := opsRequest(t, http.MethodPost, ops+"/operator/nosuch/reject", "", ""); code != http.StatusForbidden {
		t.Fatalf("reject without a CSRF token: %d", code)
	}
	if len(g.log.entries("operations endpoints without authentication (ops_auth): anyone on this host can use the operator desk and the dashboard")) != 1 {
		t.Fatal("no warning about the open operations endpoints")
	}
}

// Settings that would expose the desk, or cannot work, refuse to start naming the field.
func TestOpsAuthConfigErrors(t *testing.T) {
	a := testgate.NewAuthority(t, "cfg")
	short := tokenFile(t, "op:short\n")
	for _, c := range []struct{ extra, field string }{
		{"http_addr: 0.0.0.0:0\n", "ops_auth"},
		{"http_addr: 192.0.2.1:0\n", "ops_auth"},
		{"http_addr: 0.0.0.0:0\nops_auth: {token_file: " + tokenFile(t, opToken) + "}\n", "ops_auth.allowed_hosts"},
		{"ops_auth: {allowed_hosts: [gate.example]}\n", "ops_auth"},
		{"ops_auth: {client_ca: ca.pem}\n", "ops_auth.client_ca"},
		{"ops_auth: {token_file: " + short + "}\n", "ops_auth.token_file"},
		{"ops_auth: {token_file: " + tokenFile(t, "a:"+opToken+"\nb:"+opToken+"\n") + "}\n", "ops_auth.token_file"},
		{"ops_auth: {token_file: " + tokenFile(t, opToken) + ", allowed_hosts: [\"http://x\"]}\n", "ops_auth.allowed_hosts[0]"},
		{"ops_tls: {cert: c.pem}\n", "ops_tls"},
	} {
		f := writeGateConfig(t, c.extra, "  - {name: tap, bearer: nfc, profile: mdl}\n", a)
		// writeGateConfig's own http_addr comes first; a later one replaces it
		data, _ := os.ReadFile(f)
		if strings.Contains(c.extra, "http_addr") {
			os.WriteFile(f, []byte(strings.Replace(string(data), "http_addr: 127.0.0.1:0\n", "", 1)), 0o644)
		}
		cfg, err := LoadConfig(f)
		if err == nil {
			var g *Gate
			g, err = New(cfg, Options{})
			if err == nil {
				g.abort()
			}
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%q: %v, want an error naming %s", c.extra, err, c.field)
		}
	}
}

// testCA is a small TLS certificate authority for the operations listener's tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: f}
}

// issue makes a certificate under the CA: a client certificate named cn, or a server
// certificate for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePair writes a certificate and its key as PEM files.
func writePair(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"cert.pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		"key.pem":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))})
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

// With ops_tls and ops_auth.client_ca, a client certificate under the CA authenticates
// the operator (named by its subject); without one, or with one of another CA, only the
// open endpoints answer.
func TestOpsClientCertificates(t *testing.T) {
	a := testgate.NewAuthority(t, "mtls")
	serverCA, operators, strangers := newTestCA(t, "server CA"), newTestCA(t, "operators CA"), newTestCA(t, "strangers CA")
	certFile, keyFile := writePair(t, serverCA.issue(t, "ops", false))
	extra := "ops_tls: {cert: " + certFile + ", key: " + keyFile + "}\nops_auth: {client_ca: " + operators.file + "}\n"
	g := startRadioGate(t, writeGateConfig(t, extra, "  - {name: desk, bearer: nfc, profile: age_over_18, holder_verification: operator}\n", a))
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	client := func(certs ...tls.Certificate) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	ops := "https://" + g.info.HTTP
	code, body := opsDo(t, client(operators.issue(t, "Alice Operator", true)), http.MethodGet, ops+"/operator/pending", "", "", nil)
	if code != http.StatusOK || !strings.Contains(body, `"operator":"Alice Operator"`) {
		t.Fatalf("with an operator certificate: %d %s", code, body)
	}
	for name, c := range map[string]*http.Client{"no certificate": client(), "another CA": client(strangers.issue(t, "Mallory", true))} {
		if code, _ := opsDo(t, c, http.MethodGet, ops+"/operator/pending", "", "", nil); code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", name, code)
		}
		if code, _ := opsDo(t, c, http.MethodGet, ops+"/healthz", "", "", nil); code != http.StatusOK {
			t.Fatalf("/healthz, %s: %d", name, code)
		}
	}
}

// serve --check reads ops_auth's files too: a token file that cannot be used names its
// field without the gate starting.
func TestCheckOpsAuth(t *testing.T) {
	iaca := testgate.Example("iaca")
	dir := writeFiles(t, map[string]string{"tokens": "op:short\n", "gate.yaml": "http_addr: 127.0.0.1:1\ntrust: {iaca_dir: " + iaca +
		"}\nops_auth: {token_file: tokens}\nlanes:\n  - {name: a, bearer: nfc, profile: mdl}\n"})
	cfg, err := LoadConfig(filepath.Join(dir, "gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if _, err := Check(cfg); !errors.As(err, &ce) || ce.Field != "ops_auth.token_file" {
		t.Fatalf("check: %v", err)
	}
}

// pprof: true serves Go's profiles behind ops_auth; by default there are none.
func TestOpsPprof(t *testing.T) {
	a := testgate.NewAuthority(t, "pprof")
	lane := "  - {name: desk, bearer: nfc, profile: age_over_18, holder_verification: operator}\n"
	off := startRadioGate(t, writeGateConfig(t, "", lane, a))
	if code, _ := opsRequest(t, http.MethodGet, "http://"+off.info.HTTP+"/debug/pprof/", "", ""); code != http.StatusNotFound {
		t.Fatalf("/debug/pprof/ without pprof: %d", code)
	}
	on := startRadioGate(t, writeGateConfig(t, "pprof: true\nops_auth: {token_file: "+tokenFile(t, opToken+"\n")+"}\n", lane, a))
	ops := "http://" + on.info.HTTP
	if code, _ := opsRequest(t, http.MethodGet, ops+"/debug/pprof/goroutine?debug=1", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("/debug/pprof/ without a token: %d", code)
	}
	code, body := opsRequest(t, http.MethodGet, ops+"/debug/pprof/goroutine?debug=1", opToken, "")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile with the token: %d %.80q", code, body)
	}
}
