package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
)

// issuedResponse issues an mDL with `mdocgate issue` and presents it; it returns the
// credential folder and the response file.
func issuedResponse(t *testing.T) (dir, resp string) {
	t.Helper()
	dir = t.TempDir()
	if code, _, stderr := runCLI(t, "issue", "--out", dir); code != 0 {
		t.Fatalf("issue: %s", stderr)
	}
	resp = filepath.Join(dir, "response.cbor")
	if code, _, stderr := runCLI(t, "present", "--credential", dir, "--transcript", vectors+"session_transcript_bytes.hex", "--out", resp); code != 0 {
		t.Fatalf("present: %s", stderr)
	}
	return dir, resp
}

// writeVICAL signs a VICAL listing iaca for docTypes and writes it with its provider's
// anchor; it returns both paths.
func writeVICAL(t *testing.T, iacaPEM string, docTypes ...string) (vicalPath, anchorPath string) {
	t.Helper()
	data, err := os.ReadFile(iacaPEM)
	if err != nil {
		t.Fatal(err)
	}
	iaca, err := verify.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	root, signer := testpki.VICALProvider(t)
	v := &trust.VICAL{Provider: "test", Date: time.Now(), Entries: []trust.VICALEntry{{Certificate: iaca[0], DocTypes: docTypes}}}
	signed, err := v.Sign(signer.Key, [][]byte{signer.Certificate.Raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vicalPath, anchorPath = filepath.Join(dir, "vical.cbor"), filepath.Join(dir, "provider.pem")
	if err := os.WriteFile(vicalPath, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(anchorPath, root.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return vicalPath, anchorPath
}

// `verify --vical` trusts each VICAL IACA for the docTypes of its entry only.
func TestVerifyVICALScope(t *testing.T) {
	dir, resp := issuedResponse(t)
	transcript := vectors + "session_transcript_bytes.hex"
	photoOnly, photoAnchor := writeVICAL(t, filepath.Join(dir, "iaca.pem"), issuer.DocTypePhotoID)
	code, out, stderr := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--vical", photoOnly, "--vical-anchor", photoAnchor)
	if code != 1 || !strings.Contains(out, `"issuer_auth.doc_type_scope"`) {
		t.Fatalf("mDL under a Photo ID IACA: exit %d %s %s", code, out, stderr)
	}
	mdl, anchor := writeVICAL(t, filepath.Join(dir, "iaca.pem"), issuer.DocTypeMDL)
	if code, out, stderr := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--vical", mdl, "--vical-anchor", anchor); code != 0 {
		t.Fatalf("mDL under an mDL IACA: exit %d %s %s", code, out, stderr)
	}
	// a VICAL checked against another provider's anchor is unreadable input
	if code, _, stderr := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--vical", photoOnly, "--vical-anchor", anchor); code != 2 || !strings.Contains(stderr, "vical: chain") {
		t.Fatalf("the VICAL signed by another provider: exit %d %s", code, stderr)
	}
	// --trust still trusts for every docType, next to a VICAL
	if code, out, _ := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--vical", photoOnly, "--vical-anchor", photoAnchor,
		"--trust", filepath.Join(dir, "iaca.pem")); code != 0 {
		t.Fatalf("--trust next to a VICAL: exit %d %s", code, out)
	}
	for _, args := range [][]string{
		{"--vical", mdl},                            // without its anchor
		{"--vical-anchor", anchor},                  // without a VICAL
		{"--vical", resp, "--vical-anchor", anchor}, // not a VICAL
		{"--clock-skew", "-1s"},
		{"--crypto-budget", "0"},
	} {
		base := []string{"verify", "--response", resp, "--transcript", transcript, "--trust", filepath.Join(dir, "iaca.pem")}
		if code, _, stderr := runCLI(t, append(base, args...)...); code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// --clock-skew relaxes not-yet-valid checks only; --crypto-budget stops verification.
func TestVerifyClockSkewAndBudget(t *testing.T) {
	dir, resp := issuedResponse(t)
	transcript := vectors + "session_transcript_bytes.hex"
	iaca := filepath.Join(dir, "iaca.pem")
	early := time.Now().Add(-30 * time.Second).UTC().Format(time.RFC3339) // the MSO is signed after this
	base := []string{"verify", "--response", resp, "--transcript", transcript, "--trust", iaca, "--at", early}
	if code, out, _ := runCLI(t, base...); code != 0 {
		t.Fatalf("30 s early with the default skew: exit %d %s", code, out)
	}
	if code, out, _ := runCLI(t, append(base, "--clock-skew", "0")...); code != 1 || !strings.Contains(out, "mso.validity") {
		t.Fatalf("30 s early without skew: exit %d %s", code, out)
	}
	late := time.Now().AddDate(1, 0, 1).UTC().Format(time.RFC3339) // after validUntil
	if code, _, _ := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--trust", iaca, "--at", late, "--clock-skew", "24h"); code != 1 {
		t.Fatalf("expired, with a day of skew: exit %d", code)
	}
	code, out, _ := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--trust", iaca, "--crypto-budget", "2")
	if code != 1 || !strings.Contains(out, `"response.crypto_budget"`) {
		t.Fatalf("budget 2: exit %d %s", code, out)
	}
	if code, out, _ := runCLI(t, "verify", "--response", resp, "--transcript", transcript, "--trust", iaca, "--format", "text"); code != 0 || !strings.Contains(out, "crypto cost: 3") {
		t.Fatalf("text: exit %d %s", code, out)
	}
}
