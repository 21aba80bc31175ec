package trust

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

// VerifyFiles loads anchors, a VICAL (scoped by docType), the reader key and offline
// revocation files into verify.Options, judged at opts.Now.
func TestVerifyFilesLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pki, other := testpki.New(t, testpki.Options{}), testpki.New(t, testpki.Options{Name: "other"})
	root, signer := testpki.VICALProvider(t)
	v := &VICAL{Provider: "test", Date: time.Now(), Entries: []VICALEntry{{Certificate: other.IACA.Certificate, DocTypes: []string{issuer.DocTypePhotoID}}}}
	signed, err := v.Sign(signer.Key, [][]byte{signer.Certificate.Raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	readerKey, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keys.MarshalPrivateKeyPEM(readerKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	uri := "https://issuer.example/status"
	list := signedList(t, pki.StatusListSigner(t), uri, []uint8{StatusValid, StatusInvalid}, now, now.Add(time.Hour), time.Minute)
	f := VerifyFiles{
		Trust: []string{pki.WriteIACA(t)},
		VICAL: write("vical.hex", []byte(hex.EncodeToString(signed))), VICALAnchors: []string{write("provider.pem", root.CertificatePEM())},
		ReaderKey:   write("reader.pem", keyPEM),
		StatusLists: []string{write("list.cwt", list)}, CRLs: []string{write("iaca.crl", pki.CRL(t))},
	}
	opts := verify.Options{Now: now}
	if err := f.Load(&opts); err != nil {
		t.Fatal(err)
	}
	if opts.Trust.Len() != 2 || opts.ReaderKey == nil || !opts.ReaderKey.COSEKey().Equal(readerKey.COSEKey()) {
		t.Fatalf("trust %d anchors, reader key %v", opts.Trust.Len(), opts.ReaderKey)
	}
	sc, ok := opts.Revocation.(*StatusClient)
	if !ok || !sc.Offline {
		t.Fatalf("revocation %#v: want an offline StatusClient", opts.Revocation)
	}
	for idx, valid := range []bool{true, false} {
		cred := pki.Issue(t, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: uint64(idx), URI: uri}})
		if d := verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts); d.Valid != valid {
			t.Errorf("status list index %d: valid %v, want %v: %+v", idx, d.Valid, valid, d.Failed())
		}
	}
	// the VICAL's IACA is trusted for its entry's docTypes only
	for docType, valid := range map[string]bool{issuer.DocTypePhotoID: true, issuer.DocTypeMDL: false} {
		cred := other.Issue(t, issuer.IssueRequest{DocType: docType})
		if d := verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts); d.Valid != valid {
			t.Errorf("VICAL IACA for %s: valid %v, want %v", docType, d.Valid, valid)
		}
	}
	// online without files; no files and no mode: no revocation checks
	opts = verify.Options{Now: now}
	if err := (VerifyFiles{Status: "online"}).Load(&opts); err != nil {
		t.Fatal(err)
	}
	if sc, ok := opts.Revocation.(*StatusClient); !ok || sc.Offline {
		t.Fatalf("online: %#v", opts.Revocation)
	}
	opts = verify.Options{Now: now}
	if err := (VerifyFiles{}).Load(&opts); err != nil || opts.Revocation != nil || opts.Trust == nil || opts.Trust.Len() != 0 {
		t.Fatalf("nothing: %v %#v %v", err, opts.Revocation, opts.Trust)
	}
}

// Each error names the input as the verify command's flag does.
func TestVerifyFilesErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a certificate"), 0o644)
	big := filepath.Join(dir, "big.crl")
	os.WriteFile(big, make([]byte, DefaultStatusMaxBody*4+1), 0o644)
	pki := testpki.New(t, testpki.Options{})
	iaca := pki.WriteIACA(t)
	for _, c := range []struct {
		f    VerifyFiles
		want string
	}{
		{VerifyFiles{Status: "sometimes"}, `--status "sometimes": want online, offline or off`},
		{VerifyFiles{Status: "off", CRLs: []string{garbage}}, "--status off with --status-list or --crl"},
		{VerifyFiles{StatusLists: []string{filepath.Join(dir, "missing")}}, "--status-list: open "},
		{VerifyFiles{CRLs: []string{big}}, "--crl: " + big + ": larger than"},
		{VerifyFiles{CRLs: []string{filepath.Join(dir, "missing")}}, "--crl: stat "},
		{VerifyFiles{CRLs: []string{garbage}}, "--status-list/--crl: "},
		{VerifyFiles{Trust: []string{garbage}}, "--trust " + garbage + ": "},
		{VerifyFiles{VICAL: garbage, VICALAnchors: []string{garbage}}, "--vical-anchor " + garbage + ": "},
		{VerifyFiles{VICAL: garbage, VICALAnchors: []string{iaca}}, "--vical: "},
		{VerifyFiles{ReaderKey: garbage}, "--reader-key: "},
	} {
		opts := verify.Options{Now: time.Now()}
		if err := c.f.Load(&opts); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
}
