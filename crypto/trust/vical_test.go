package trust

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// vicalSigner makes a VICAL signing certificate under root, with the VICAL EKU when eku.
func vicalSigner(t *testing.T, root *issuer.Authority, eku bool) *issuer.CertKey {
	t.Helper()
	key, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{Country: []string{"UT"}, CommonName: "test VICAL signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		SubjectKeyId: []byte{1, 2, 3, 4},
	}
	if eku {
		tmpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{OIDVICALSigner}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Certificate, key.Public(), root.Key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer.CertKey{Certificate: cert, Key: key}
}

type vicalFixture struct {
	root   *issuer.Authority // VICAL provider's anchor
	signer *issuer.CertKey
	iacas  []*issuer.Authority
	vical  *VICAL
}

func newVICALFixture(t *testing.T, eku bool) *vicalFixture {
	t.Helper()
	root, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "VICAL root"})
	if err != nil {
		t.Fatal(err)
	}
	f := &vicalFixture{root: root, signer: vicalSigner(t, root, eku)}
	mdl, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "mDL IACA", Country: "UT"})
	pid, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "Photo ID IACA", Country: "UV"})
	old, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "expired IACA",
		NotBefore: time.Now().AddDate(-3, 0, 0), NotAfter: time.Now().AddDate(0, 0, -1)})
	f.iacas = []*issuer.Authority{mdl, pid, old}
	next := time.Now().Add(30 * 24 * time.Hour)
	id := uint64(7)
	f.vical = &VICAL{Provider: "mdocgate test VICAL", Date: time.Now(), NextUpdate: &next, IssueID: &id, Entries: []VICALEntry{
		{Certificate: mdl.Certificate, DocTypes: []string{issuer.DocTypeMDL}, IssuingCountry: "UT", IssuingAuthority: "UT DMV"},
		{Certificate: pid.Certificate, DocTypes: []string{issuer.DocTypePhotoID, "org.iso.23220.photoID.1"}, IssuingCountry: "UV"},
		{Certificate: old.Certificate, DocTypes: []string{issuer.DocTypeMDL}},
	}}
	return f
}

func (f *vicalFixture) sign(t *testing.T) []byte {
	t.Helper()
	b, err := f.vical.Sign(f.signer.Key, [][]byte{f.signer.Certificate.Raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *vicalFixture) opts() VICALOptions {
	return VICALOptions{Anchors: verifyStore(f.root.Certificate)}
}

func TestVICALRoundTrip(t *testing.T) {
	f := newVICALFixture(t, true)
	data := f.sign(t)
	v, err := ParseVICAL(data, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Warnings) != 0 {
		t.Fatalf("warnings %v", v.Warnings)
	}
	if v.Version != "1.0" || v.Provider != "mdocgate test VICAL" || *v.IssueID != 7 || v.NextUpdate == nil || len(v.Entries) != 3 {
		t.Fatalf("vical %+v", v)
	}
	e := v.Entries[0]
	if e.SerialNumber.Cmp(f.iacas[0].Certificate.SerialNumber) != 0 || e.IssuingAuthority != "UT DMV" || e.IssuingCountry != "UT" {
		t.Fatalf("entry %+v", e)
	}
	now := time.Now()
	if n := v.TrustStore(issuer.DocTypeMDL, now).Len(); n != 1 { // the expired IACA is left out
		t.Fatalf("mDL anchors: %d", n)
	}
	if n := v.TrustStore("org.iso.23220.photoID.1", now).Len(); n != 1 {
		t.Fatalf("photoID anchors: %d", n)
	}
	if n := v.TrustStore("", now).Len(); n != 2 {
		t.Fatalf("all anchors: %d", n)
	}
	// serialNumber is a tag-2 bignum on the wire
	var s messages.CoseSign1
	if err := messages.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s.Payload), "serialNumber\xc2") {
		t.Fatal("serialNumber is not encoded as tag 2")
	}

	st := &Store{}
	rep, err := st.AddVICAL(v, now)
	if err != nil || rep.Loaded != 2 || len(rep.Skipped) != 1 {
		t.Fatalf("%v %+v", err, rep)
	}
	if st.TrustStore(issuer.DocTypePhotoID, now).Len() != 1 || st.TrustStore("", now).Len() != 2 {
		t.Fatal("store per docType")
	}
}

func TestVICALTampered(t *testing.T) {
	f := newVICALFixture(t, true)
	data := f.sign(t)
	i := strings.Index(string(data), "mdocgate test VICAL")
	bad := append([]byte(nil), data...)
	bad[i] ^= 0x20 // "Mdocgate..." still decodes, signature no longer holds
	if _, err := ParseVICAL(bad, f.opts()); err == nil || !strings.Contains(err.Error(), "vical: signature") {
		t.Fatalf("tampered VICAL: %v", err)
	}
	// signature fine, but the signer does not chain to the configured anchor
	other, _ := issuer.NewIACA(issuer.IACAOptions{})
	if _, err := ParseVICAL(data, VICALOptions{Anchors: verifyStore(other.Certificate)}); err == nil || !strings.Contains(err.Error(), "vical: chain") {
		t.Fatalf("foreign signer: %v", err)
	}
	// signed by a key that is not the x5chain leaf's
	wrong := vicalSigner(t, f.root, true)
	b, _ := f.vical.Sign(wrong.Key, [][]byte{f.signer.Certificate.Raw}, nil)
	if _, err := ParseVICAL(b, f.opts()); err == nil || !strings.Contains(err.Error(), "vical: signature") {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := ParseVICAL([]byte{0x84, 0x40}, f.opts()); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestVICALWarnings(t *testing.T) {
	f := newVICALFixture(t, false) // no VICAL EKU
	past := time.Now().Add(-time.Hour)
	f.vical.NextUpdate = &past
	f.vical.Entries[1].SKI = []byte{9, 9, 9}
	v, err := ParseVICAL(f.sign(t), f.opts())
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(v.Warnings, "\n")
	for _, want := range []string{"vical.signer_eku", "vical.next_update", "vical.certificate_info[1]: ski does not match"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if len(v.Entries) != 2 {
		t.Fatalf("inconsistent entry kept: %d entries", len(v.Entries))
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "A"})
	b, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "B", NotAfter: now.Add(10 * 24 * time.Hour)})
	expired, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "old", NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)})
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.pem", a.CertificatePEM())
	write("b.der", b.Certificate.Raw)
	write("old.crt", expired.CertificatePEM())
	write("dup.pem", a.CertificatePEM())
	write("junk.pem", []byte("not a certificate"))
	write("README.txt", []byte("ignored"))
	write("big.cer", make([]byte, MaxAnchorFileSize+1))

	st, rep, err := LoadDir(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != 2 || st.Len() != 2 {
		t.Fatalf("loaded %d: %+v", rep.Loaded, rep)
	}
	skipped := strings.Join(rep.Skipped, "\n")
	for _, want := range []string{"old.crt", "expired on", "duplicate", "junk.pem", "big.cer: larger than"} {
		if !strings.Contains(skipped, want) {
			t.Errorf("skipped lacks %q:\n%s", want, skipped)
		}
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), `"B" expires on`) {
		t.Errorf("no expiry warning: %v", rep.Warnings)
	}
	if got := st.Expiring(now, 30*24*time.Hour); len(got) != 1 || got[0].Certificate.Subject.CommonName != "B" {
		t.Fatalf("expiring %v", got)
	}
	if st.TrustStore(issuer.DocTypeMDL, now).Len() != 2 || st.TrustStore("", now.Add(20*24*time.Hour)).Len() != 1 {
		t.Fatal("trust store by time")
	}

	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "old.pem"), expired.CertificatePEM(), 0o644)
	if _, _, err := LoadDir(empty, now); err == nil || !strings.Contains(err.Error(), "no usable trust anchor") {
		t.Fatalf("empty folder: %v", err)
	}
	if _, _, err := LoadDir(filepath.Join(dir, "missing"), now); err == nil {
		t.Fatal("missing folder accepted")
	}
}
