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
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// Options loads anchors, a VICAL (scoped by docType), the reader key and offline
// revocation files into verify.Options, with the settings as the verify command takes
// them.
func TestVerifyInputsOptions(t *testing.T) {
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
	f := VerifyInputs{CryptoBudget: verify.DefaultCryptoBudget,
		Trust: []string{pki.WriteIACA(t)},
		VICAL: write("vical.hex", []byte(hex.EncodeToString(signed))), VICALAnchors: []string{write("provider.pem", root.CertificatePEM())},
		ReaderKey:   write("reader.pem", keyPEM),
		StatusLists: []string{write("list.cwt", list)}, CRLs: []string{write("iaca.crl", pki.CRL(t))},
	}
	opts, err := f.Options()
	if err != nil {
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
	if opts, err = (VerifyInputs{Status: "online", CryptoBudget: -1}).Options(); err != nil {
		t.Fatal(err)
	}
	if sc, ok := opts.Revocation.(*StatusClient); !ok || sc.Offline {
		t.Fatalf("online: %#v", opts.Revocation)
	}
	opts, err = (VerifyInputs{CryptoBudget: -1}).Options()
	if err != nil || opts.Revocation != nil || opts.Trust == nil || opts.Trust.Len() != 0 {
		t.Fatalf("nothing: %v %#v %v", err, opts.Revocation, opts.Trust)
	}
	// the settings: no clock skew is none, not verify's default
	opts, err = (VerifyInputs{At: "2021-01-05T14:01:00Z", CryptoBudget: 7, Strict: true}).Options()
	if err != nil || !opts.Now.Equal(time.Date(2021, 1, 5, 14, 1, 0, 0, time.UTC)) || opts.ClockSkew != -1 || opts.CryptoBudget != 7 || !opts.Policy.Strict {
		t.Fatalf("settings: %v %+v", err, opts)
	}
	if opts, err = (VerifyInputs{ClockSkew: time.Second, CryptoBudget: -1}).Options(); err != nil || opts.ClockSkew != time.Second || opts.CryptoBudget != -1 {
		t.Fatalf("settings: %v %+v", err, opts)
	}
}

// Each error names the input as the verify command's flag does.
func TestVerifyInputsErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a certificate"), 0o644)
	big := filepath.Join(dir, "big.crl")
	os.WriteFile(big, make([]byte, DefaultStatusMaxBody*4+1), 0o644)
	pki := testpki.New(t, testpki.Options{})
	iaca := pki.WriteIACA(t)
	for _, c := range []struct {
		f    VerifyInputs
		want string
	}{
		{VerifyInputs{VICAL: garbage}, "--vical and --vical-anchor go together"},
		{VerifyInputs{VICALAnchors: []string{iaca}}, "--vical and --vical-anchor go together"},
		{VerifyInputs{ClockSkew: -time.Second}, "--clock-skew must not be negative"},
		{VerifyInputs{CryptoBudget: 0}, "--crypto-budget must be positive, or -1 for no limit"},
		{VerifyInputs{CryptoBudget: -2}, "--crypto-budget must be positive, or -1 for no limit"},
		{VerifyInputs{At: "yesterday"}, "--at: "},
		{VerifyInputs{Status: "sometimes"}, `--status "sometimes": want online, offline or off`},
		{VerifyInputs{Status: "off", CRLs: []string{garbage}}, "--status off with --status-list or --crl"},
		{VerifyInputs{StatusLists: []string{filepath.Join(dir, "missing")}}, "--status-list: open "},
		{VerifyInputs{CRLs: []string{big}}, "--crl: " + big + ": larger than"},
		{VerifyInputs{CRLs: []string{filepath.Join(dir, "missing")}}, "--crl: stat "},
		{VerifyInputs{CRLs: []string{garbage}}, "--status-list/--crl: "},
		{VerifyInputs{Trust: []string{garbage}}, "--trust " + garbage + ": "},
		{VerifyInputs{VICAL: garbage, VICALAnchors: []string{garbage}}, "--vical-anchor " + garbage + ": "},
		{VerifyInputs{VICAL: garbage, VICALAnchors: []string{iaca}}, "--vical: "},
		{VerifyInputs{ReaderKey: garbage}, "--reader-key: "},
	} {
		if c.f.CryptoBudget == 0 && !strings.HasPrefix(c.want, "--crypto-budget") {
			c.f.CryptoBudget = -1
		}
		if _, err := c.f.Options(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
}

// Verify reads the Annex D response and transcript and verifies them with the inputs'
// trust and reader key; a response for another transcript is a verdict, unreadable
// input an error naming it.
func TestVerifyInputsVerify(t *testing.T) {
	dir := t.TempDir()
	iaca, reader := filepath.Join(dir, "iaca.der"), filepath.Join(dir, "reader.pem")
	os.WriteFile(iaca, testvectors.AnnexD(t, "iaca_cert"), 0o644)
	keyPEM, err := keys.MarshalPrivateKeyPEM(testpki.AnnexDKey(t, "ereader_key"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(reader, keyPEM, 0o600)
	vec := func(name string) string { return filepath.Join(testvectors.Path("iso18013-5"), name+".hex") }
	f := VerifyInputs{Response: vec("device_response"), Transcript: vec("session_transcript_bytes"), Trust: []string{iaca}, ReaderKey: reader,
		At: "2021-01-05T14:01:00Z", CryptoBudget: verify.DefaultCryptoBudget}
	res, err := f.Verify()
	if err != nil || !res.Valid || len(res.Documents) != 1 || res.Documents[0].Elements["org.iso.18013.5.1"]["family_name"] != "Doe" {
		t.Fatalf("Annex D: %v %+v", err, res)
	}
	other := f
	other.Transcript = vec("oid4vp_session_transcript")
	if res, err := other.Verify(); err != nil || res.Valid {
		t.Fatalf("another transcript: %v, valid %v", err, res != nil && res.Valid)
	}
	for _, c := range []struct {
		f    VerifyInputs
		want string
	}{
		{VerifyInputs{Response: f.Response, Transcript: vec("device_response")}, "--transcript: "},
		{VerifyInputs{Response: f.Transcript, Transcript: f.Transcript}, "--response: "},
		{VerifyInputs{Response: filepath.Join(dir, "missing"), Transcript: f.Transcript}, "open "},
		{VerifyInputs{Response: f.Response, Transcript: f.Transcript, Status: "never"}, "--status "},
		{VerifyInputs{Response: f.Response, Transcript: f.Transcript, At: "2021"}, "--at: "},
	} {
		c.f.CryptoBudget = -1
		if _, err := c.f.Verify(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
}
