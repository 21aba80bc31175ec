// Package testvectors reads the module's test vectors under testdata/ for tests: the
// ISO/IEC 18013-5 Annex D files (testdata/iso18013-5, most of them one line of hex), the
// real-wallet samples (testdata/wallets) and the token status list vectors of
// draft-ietf-oauth-status-list-20 (testdata/status-list). It uses only the standard library, so the
// tests of every package, messages included, can use it.
package testvectors

import (
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// AnnexDNow is a time at which every certificate and the MSO of the Annex D vectors are
// valid.
var AnnexDNow = time.Date(2021, 1, 5, 14, 1, 0, 0, time.UTC)

// root is the module's testdata directory, found from this file's place in the module
// so that it does not depend on the test's working directory.
var root = func() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testvectors: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}()

// Path is the path of elem under testdata/.
func Path(elem ...string) string {
	return filepath.Join(append([]string{root}, elem...)...)
}

// File returns the contents of testdata/elem...; a missing file fails the test.
func File(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hex returns the bytes of the hex file testdata/elem... (surrounding white space
// ignored); a missing file or one that is not hex fails the test.
func Hex(t testing.TB, elem ...string) []byte {
	t.Helper()
	out, err := hex.DecodeString(strings.TrimSpace(string(File(t, elem...))))
	if err != nil {
		t.Fatalf("%s: %v", filepath.Join(elem...), err)
	}
	return out
}

// AnnexD returns the bytes of the Annex D vector name (testdata/iso18013-5/name.hex;
// the ".hex" may be given).
func AnnexD(t testing.TB, name string) []byte {
	t.Helper()
	return Hex(t, "iso18013-5", strings.TrimSuffix(name, ".hex")+".hex")
}

// AnnexDText returns an Annex D file that is not hex (device_engagement_qr_uri.txt,
// server_retrieval_jwt.txt, oid4vp_verifier_jwk.json), surrounding white space removed.
func AnnexDText(t testing.TB, name string) string {
	t.Helper()
	return strings.TrimSpace(string(File(t, "iso18013-5", name)))
}

// AnnexDCertificate parses the Annex D certificate name (iaca_cert, ds_cert,
// reader_root_cert, reader_cert, server_retrieval_jwt_cert).
func AnnexDCertificate(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(AnnexD(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// Wallets returns the names of the real-wallet samples (the folders of
// testdata/wallets), sorted.
func Wallets(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(Path("wallets"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("testvectors: no wallet samples")
	}
	slices.Sort(out)
	return out
}

// WalletResponses returns every wallet sample's device_response.hex by sample name
// (samples without one are left out).
func WalletResponses(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range Wallets(t) {
		if _, err := os.Stat(Path("wallets", name, "device_response.hex")); err == nil {
			out[name] = Hex(t, "wallets", name, "device_response.hex")
		}
	}
	if len(out) == 0 {
		t.Fatal("testvectors: no wallet responses")
	}
	return out
}
