package daemon

import (
	"encoding/asn1"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

// trustGate writes files into a fresh folder and a config with an nfc lane (mdl
// profile) and the given trust section, relative to that folder.
func trustGate(t *testing.T, trustYAML string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yaml := "name: trust-gate\nhttp_addr: 127.0.0.1:0\nlisten: 127.0.0.1:0\nlog_level: error\ntrust:\n" + trustYAML +
		"lanes:\n  - {name: nfc-1, bearer: nfc, profile: mdl}\n"
	f := filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// issueMDL issues an mDL with a fresh device key under a DS of iaca made with opts.
func issueMDL(t *testing.T, iaca *issuer.Authority, opts issuer.DSOptions, req issuer.IssueRequest) *issuer.Credential {
	t.Helper()
	ds, err := iaca.NewDocumentSigner(opts)
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := keys.Generate(messages.CurveP256, nil)
	req.DocType, req.NameSpaces, req.DeviceKey = issuer.DocTypeMDL, issuer.SampleMDL(nil), dk.COSEKey()
	cred, err := ds.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	cred.DevicePrivateKey = dk
	return cred
}

// signedVICAL is a VICAL listing iaca for docTypes, and its provider's anchor (PEM).
func signedVICAL(t *testing.T, iaca *issuer.Authority, docTypes ...string) (vical, anchor []byte) {
	t.Helper()
	root, signer := testpki.VICALProvider(t)
	v := &trust.VICAL{Provider: "test", Date: time.Now(), Entries: []trust.VICALEntry{{Certificate: iaca.Certificate, DocTypes: docTypes}}}
	vical, err := v.Sign(signer.Key, [][]byte{signer.Certificate.Raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return vical, root.CertificatePEM()
}

// Issue 14 at the gate: a VICAL's IACA is trusted for the docTypes of its entry, a
// scoped IACA folder for its doc_types; strict and clock_skew reach the lanes.
// Before, the gate flattened its VICAL into one unscoped store (the mDL was accepted)
// and had neither option.
func TestGateTrustRules(t *testing.T) {
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "gate IACA"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	plain := issueMDL(t, iaca, issuer.DSOptions{}, issuer.IssueRequest{Signed: now.Add(-time.Minute)})
	noEKU := issueMDL(t, iaca, issuer.DSOptions{EKU: []asn1.ObjectIdentifier{}}, issuer.IssueRequest{Signed: now.Add(-time.Minute)})
	early := issueMDL(t, iaca, issuer.DSOptions{}, issuer.IssueRequest{Signed: now.Add(30 * time.Second)})
	photoVICAL, photoAnchor := signedVICAL(t, iaca, issuer.DocTypePhotoID)
	mdlVICAL, mdlAnchor := signedVICAL(t, iaca, issuer.DocTypeMDL)
	files := map[string][]byte{"iaca/iaca.pem": iaca.CertificatePEM(), "photo.vical": photoVICAL, "photo-anchor.pem": photoAnchor,
		"mdl.vical": mdlVICAL, "mdl-anchor.pem": mdlAnchor}
	type present struct {
		cred    *issuer.Credential
		outcome string
		reason  string
	}
	for _, tc := range []struct {
		name  string
		trust string
		want  []present
	}{
		{"VICAL listing the IACA for the Photo ID", "  vical: photo.vical\n  vical_anchor: photo-anchor.pem\n",
			[]present{{plain, "rejected", "issuer_auth.doc_type_scope"}}},
		{"VICAL listing the IACA for the mDL", "  vical: mdl.vical\n  vical_anchor: mdl-anchor.pem\n",
			[]present{{plain, "accepted", ""}}},
		{"IACA folder scoped to the Photo ID", "  iaca_folders: [{dir: iaca, doc_types: [" + issuer.DocTypePhotoID + "]}]\n",
			[]present{{plain, "rejected", "issuer_auth.doc_type_scope"}}},
		{"IACA folder unscoped", "  iaca_folders: [{dir: iaca, doc_types: []}]\n",
			[]present{{plain, "accepted", ""}}},
		{"default policy", "  iaca_dir: iaca\n",
			[]present{{noEKU, "accepted", ""}, {early, "accepted", ""}}},
		{"strict", "  iaca_dir: iaca\n  strict: true\n",
			[]present{{noEKU, "rejected", "issuer_auth.certificate_purpose"}, {plain, "accepted", ""}}},
		{"no clock skew", "  iaca_dir: iaca\n  clock_skew: 0s\n",
			[]present{{early, "rejected", "mso.validity"}}},
		{"a tight crypto budget", "  iaca_dir: iaca\n  crypto_budget: 2\n",
			[]present{{plain, "error", "response.crypto_budget"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startRadioGate(t, trustGate(t, tc.trust, files))
			for _, p := range tc.want {
				if v := g.present(t, "nfc-1", holderOf(p.cred)); v.Outcome != p.outcome || v.Reason != p.reason {
					t.Fatalf("verdict %s (%s), want %s (%s)", v.Outcome, v.Reason, p.outcome, p.reason)
				}
			}
		})
	}
}

func TestGateTrustRulesValidate(t *testing.T) {
	for trustYAML, field := range map[string]string{
		"  iaca_folders: [{doc_types: [x]}]\n":               "trust.iaca_folders[0].dir",
		"  iaca_folders: [{dir: iaca, doc_types: [\"\"]}]\n": "trust.iaca_folders[0].doc_types[0]",
		"  iaca_dir: iaca\n  clock_skew: -1s\n":              "trust.clock_skew",
		"  iaca_dir: iaca\n  crypto_budget: -2\n":            "trust.crypto_budget",
		"  iaca_folders: [{dir: missing}]\n":                 "trust.iaca_folders[0]",
	} {
		cfg, err := LoadConfig(trustGate(t, trustYAML, map[string][]byte{"iaca/x.pem": []byte("-")}))
		if err == nil {
			_, err = New(cfg, Options{})
		}
		ce, ok := err.(*ConfigError)
		if !ok || ce.Field != field {
			t.Errorf("%q: %v, want field %s", trustYAML, err, field)
		}
	}
}
