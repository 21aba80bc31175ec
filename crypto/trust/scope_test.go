package trust

import (
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// scopeCase presents cred and verifies it against ts.
func verifyAgainst(t *testing.T, ts *verify.TrustStore, cred *issuer.Credential) *verify.Result {
	t.Helper()
	st, err := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&holder.Presenter{Credentials: []*issuer.Credential{cred}}).BuildResponse(nil, *st, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return verify.VerifyDecodedResponse(resp, verify.Options{Trust: ts, Transcript: st})
}

// Issue 14: the gate flattened its VICAL into one unscoped store (TrustStore("", now)),
// so an IACA the VICAL lists for the Photo ID only was trusted to sign mDLs. The store
// now keeps every entry's docTypes; the same call gives a store that refuses the mDL.
func TestVICALScopeSurvivesTheStore(t *testing.T) {
	f := newVICALFixture(t, true)
	pki := testpki.New(t, testpki.Options{Name: "photo"})
	f.vical.Entries = append(f.vical.Entries, VICALEntry{Certificate: pki.IACA.Certificate, DocTypes: []string{issuer.DocTypePhotoID}})
	v, err := ParseVICAL(f.sign(t), f.opts())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := &Store{}
	if _, err := st.AddVICAL(v, now); err != nil {
		t.Fatal(err)
	}
	mdl := pki.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	photo := pki.IssueOn(t, messages.CurveP256, issuer.IssueRequest{DocType: issuer.DocTypePhotoID})
	for name, ts := range map[string]*verify.TrustStore{"store": st.TrustStore("", now), "vical": v.TrustStore("", now)} {
		res := verifyAgainst(t, ts, mdl)
		if res.Valid {
			t.Fatalf("%s: an IACA listed for the Photo ID authenticated an mDL", name)
		}
		if c, _ := res.Documents[0].Check(verify.CheckIssuerAuthScope); c.OK || c.Severity != "error" {
			t.Fatalf("%s: scope check %+v", name, c)
		}
		if res := verifyAgainst(t, ts, photo); !res.Valid {
			t.Fatalf("%s: the Photo ID it is listed for: %+v", name, res.Documents[0].Failed())
		}
	}
}

// An IACA folder can be scoped; unscoped it serves every docType. The same IACA from
// a scoped folder and a VICAL is trusted for what either says.
func TestFolderScope(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "iaca.pem"), pki.IACA.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mdl := pki.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	photo := pki.IssueOn(t, messages.CurveP256, issuer.IssueRequest{DocType: issuer.DocTypePhotoID})

	scoped := &Store{}
	if _, err := scoped.AddDir(dir, []string{issuer.DocTypePhotoID}, now); err != nil {
		t.Fatal(err)
	}
	if verifyAgainst(t, scoped.TrustStore("", now), mdl).Valid || !verifyAgainst(t, scoped.TrustStore("", now), photo).Valid {
		t.Fatal("scoped folder")
	}
	if _, err := scoped.AddVICAL(&VICAL{Provider: "p", Entries: []VICALEntry{{Certificate: pki.IACA.Certificate, DocTypes: []string{issuer.DocTypeMDL}}}}, now); err != nil {
		t.Fatal(err)
	}
	if !verifyAgainst(t, scoped.TrustStore("", now), mdl).Valid || !verifyAgainst(t, scoped.TrustStore("", now), photo).Valid {
		t.Fatal("scopes from two sources are not joined")
	}
	all, _, err := LoadDir(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !verifyAgainst(t, all.TrustStore("", now), mdl).Valid {
		t.Fatal("unscoped folder")
	}
}

// The VICAL signer follows the signer purpose rule: another purpose, a CA certificate
// or the provider's anchor itself signing is an error (before: a warning at most).
func TestVICALSignerPurpose(t *testing.T) {
	serverAuth := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	f := newVICALFixture(t, true)
	for _, tc := range []struct {
		name   string
		signer *issuer.CertKey
		want   string
	}{
		{"another purpose", signerWith(t, f.root, issuer.DSOptions{EKU: []asn1.ObjectIdentifier{serverAuth}}), "another purpose"},
		{"a CA certificate", signerWith(t, f.root, issuer.DSOptions{EKU: []asn1.ObjectIdentifier{OIDVICALSigner}, CA: true}), "CA certificate"},
		{"the provider's anchor", &f.root.CertKey, "CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := f.vical.Sign(tc.signer.Key, [][]byte{tc.signer.Certificate.Raw}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseVICAL(data, f.opts()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func signerWith(t *testing.T, root *issuer.Authority, opts issuer.DSOptions) *issuer.CertKey {
	t.Helper()
	s, err := root.NewDocumentSigner(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &s.CertKey
}
