// Package testgate is what the tests of the gate daemon (supervisor/daemon) and of
// `mdocgate serve` (cmd/mdocgate) share: an issuing authority whose mDL a gate trusts,
// a gate configuration made from examples/gate.yaml that runs on free loopback ports,
// and a plain GET of an operations endpoint. Tests only.
package testgate

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testpki"
)

// Authority is a test PKI (internal/testpki) with an mDL issued under it.
type Authority struct {
	PKI *testpki.PKI
	// Cred is the mDL, with its device private key.
	Cred *issuer.Credential
	// CredDir holds Cred as `mdocgate issue --out` writes it (for holders that read a
	// folder, like loadtest --target's).
	CredDir string
}

// NewAuthority makes an authority whose certificates are named after name.
func NewAuthority(t testing.TB, name string) *Authority {
	t.Helper()
	p := testpki.New(t, testpki.Options{Name: name})
	cred := p.IssueOn(t, 0, issuer.IssueRequest{})
	return &Authority{PKI: p, Cred: cred, CredDir: p.WriteCredential(t, cred)}
}

// IACAPEM is the authority's IACA certificate, the anchor a gate trusts.
func (a *Authority) IACAPEM() []byte { return a.PKI.IACA.CertificatePEM() }

// IACAFile writes the IACA certificate into a fresh folder and returns the file.
func (a *Authority) IACAFile(t testing.TB) string { return a.PKI.WriteIACA(t) }

// root is the module's folder, found from this file's place in it.
var root = func() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testgate: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// Example is the absolute path of elem under the module's examples/ folder.
func Example(elem ...string) string {
	return filepath.Join(append([]string{root, "examples"}, elem...)...)
}

// WriteIACADir writes the authorities' IACA certificates (iaca0.pem, iaca1.pem, ...)
// into a new folder dir/iaca and returns it: a gate's trust.iaca_dir.
func WriteIACADir(t testing.TB, dir string, authorities ...*Authority) string {
	t.Helper()
	iacaDir := filepath.Join(dir, "iaca")
	if err := os.Mkdir(iacaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, a := range authorities {
		if err := os.WriteFile(filepath.Join(iacaDir, fmt.Sprintf("iaca%d.pem", i)), a.IACAPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return iacaDir
}

// ConfigFile writes examples/gate.yaml with free ports (listen and http_addr on
// 127.0.0.1:0), log level error, profiles pointing at examples/profiles.yaml and
// iaca_dir at a fresh folder holding the authorities' IACAs; it returns the
// configuration file and the IACA folder.
func ConfigFile(t testing.TB, authorities ...*Authority) (cfgFile, iacaDir string) {
	t.Helper()
	data, err := os.ReadFile(Example("gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	iacaDir = WriteIACADir(t, dir, authorities...)
	s := string(data)
	for _, r := range [][2]string{{"listen: 127.0.0.1:8443", "listen: 127.0.0.1:0"}, {"http_addr: 127.0.0.1:9090", "http_addr: 127.0.0.1:0"},
		{"log_level: info", "log_level: error"}, {"iaca_dir: iaca", "iaca_dir: " + iacaDir},
		{"\nprofiles: profiles.yaml\n", "\nprofiles: " + Example("profiles.yaml") + "\n"}} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("examples/gate.yaml has no %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	cfgFile = filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(cfgFile, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgFile, iacaDir
}

// HTTPGet GETs url and returns the status code and the body.
func HTTPGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
