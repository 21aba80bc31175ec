// Package testpki is the test PKI the tests of every package share: an IACA with a
// Document Signer that issues credentials with device keys, and a reader root with a
// reader-authentication certificate. It wraps the test issuing authority
// (crypto/issuer) with the defaults the tests use and fails the test on any error.
// Tests only. It imports no package that verifies (crypto/verify, crypto/session), so
// their own tests can use it too.
package testpki

import (
	"crypto/x509"
	"encoding/asn1"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// Options configures New. The zero value is a P-256 PKI valid from an hour ago.
type Options struct {
	// Name prefixes the common names: "<Name> IACA", "<Name> DS", "<Name> reader root",
	// "<Name> reader"; default "test".
	Name string
	// Curve is the COSE curve of every certificate's key (P-256, P-384, P-521 or
	// Ed25519); default P-256.
	Curve int64
	// NotBefore starts every certificate's validity; default an hour ago. The roots
	// stay valid for five years, the DS and reader certificate for one year from now.
	NotBefore time.Time
	// NotAfter, when set, ends the roots' validity (and so clips the leaves').
	NotAfter time.Time
	// CRLURL, when set, is the CRL distribution point of the DS and the reader
	// certificate.
	CRLURL string
}

// PKI is an issuing side (IACA → DS) and a reader side (reader root → reader
// certificate), unrelated to each other.
type PKI struct {
	IACA       *issuer.Authority
	DS         *issuer.Signer
	ReaderRoot *issuer.Authority
	// Reader is the reader-authentication certificate and key; it is a request.Signer.
	Reader *issuer.ReaderSigner
}

// New makes a PKI.
func New(t testing.TB, opts Options) *PKI {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "test"
	}
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: opts.Name + " IACA", Curve: opts.Curve,
		NotBefore: opts.NotBefore, NotAfter: opts.NotAfter})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: opts.Name + " DS", Curve: opts.Curve,
		NotBefore: opts.NotBefore, CRLURL: opts.CRLURL})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	rr, err := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: opts.Name + " reader root", Curve: opts.Curve,
		NotBefore: opts.NotBefore, NotAfter: opts.NotAfter})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	rc, err := rr.NewReaderCert(issuer.ReaderOptions{CommonName: opts.Name + " reader", Curve: opts.Curve,
		NotBefore: opts.NotBefore, CRLURL: opts.CRLURL})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return &PKI{IACA: iaca, DS: ds, ReaderRoot: rr, Reader: rc}
}

// Issue signs req with the DS. DocType defaults to the mDL; NameSpaces to the sample
// data of the mDL or the Photo ID (issuer.SampleMDL, issuer.SamplePhotoID) by DocType;
// without a DeviceKey the issuer makes a P-256 one (its private part in
// DevicePrivateKey).
func (p *PKI) Issue(t testing.TB, req issuer.IssueRequest) *issuer.Credential {
	t.Helper()
	if req.DocType == "" {
		req.DocType = issuer.DocTypeMDL
	}
	if req.NameSpaces == nil {
		switch req.DocType {
		case issuer.DocTypeMDL:
			req.NameSpaces = issuer.SampleMDL(nil)
		case issuer.DocTypePhotoID:
			req.NameSpaces = issuer.SamplePhotoID(nil)
		}
	}
	cred, err := p.DS.Issue(req)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return cred
}

// IssueOn is Issue with a device key generated on deviceCurve (0: P-256), its private
// part in the credential's DevicePrivateKey.
func (p *PKI) IssueOn(t testing.TB, deviceCurve int64, req issuer.IssueRequest) *issuer.Credential {
	t.Helper()
	if deviceCurve == 0 {
		deviceCurve = messages.CurveP256
	}
	dk, err := keys.Generate(deviceCurve, nil)
	if err != nil {
		t.Fatalf("testpki: device key: %v", err)
	}
	req.DeviceKey = dk.COSEKey()
	cred := p.Issue(t, req)
	cred.DevicePrivateKey = dk
	return cred
}

// StatusListSigner makes a status list signing certificate under the IACA.
func (p *PKI) StatusListSigner(t testing.TB) *issuer.CertKey {
	t.Helper()
	s, err := p.IACA.NewStatusListSigner(issuer.StatusListSignerOptions{})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return s
}

// CRL is the IACA's CRL listing revoked, issued a minute ago and valid for a day.
func (p *PKI) CRL(t testing.TB, revoked ...*x509.Certificate) []byte {
	t.Helper()
	var entries []issuer.RevokedCertificate
	for _, c := range revoked {
		entries = append(entries, issuer.RevokedCertificate{SerialNumber: c.SerialNumber, RevokedAt: time.Now().Add(-time.Hour), Reason: 1})
	}
	now := time.Now()
	der, err := p.IACA.SignCRL(entries, 1, now.Add(-time.Minute), now.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return der
}

// WriteCredential writes cred with the PKI's IACA and DS certificates into a fresh
// folder as `mdocgate issue --out` does (issuer.WriteDir: iaca.pem, ds.pem,
// device_key.pem, credential.cbor) and returns the folder. cred needs its
// DevicePrivateKey (IssueOn sets it).
func (p *PKI) WriteCredential(t testing.TB, cred *issuer.Credential) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "credential")
	if err := issuer.WriteDir(dir, p.IACA, p.DS, cred, nil); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return dir
}

// WriteIACA writes the IACA certificate (PEM) into a fresh folder and returns the file.
func (p *PKI) WriteIACA(t testing.TB) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), issuer.FileIACA)
	if err := os.WriteFile(f, p.IACA.CertificatePEM(), 0o644); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return f
}

// MDLRequest asks for elements of the mDL name space, without intent to retain.
func MDLRequest(elements ...string) []request.Doc {
	return []request.Doc{{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{{
		Name: issuer.NamespaceMDL, Elements: elements}}}}
}

// ElementNames lists the element identifiers of nameSpaces by name space, in order (for
// request.Everything).
func ElementNames(nameSpaces []issuer.NameSpace) map[string][]string {
	out := make(map[string][]string, len(nameSpaces))
	for _, ns := range nameSpaces {
		for _, e := range ns.Elements {
			out[ns.Name] = append(out[ns.Name], e.Identifier)
		}
	}
	return out
}

// AnnexDKey is one of the Annex D private keys, name being "edevice_key", "sdevice_key"
// or "ereader_key": its COSE_Key (name_cose.hex) with the private scalar (name_d.hex).
func AnnexDKey(t testing.TB, name string) *keys.PrivateKey {
	t.Helper()
	ck, err := messages.DecodeCOSEKey(testvectors.AnnexD(t, name+"_cose"))
	if err != nil {
		t.Fatalf("testpki: %s: %v", name, err)
	}
	ck.D = testvectors.AnnexD(t, name+"_d")
	k, err := keys.PrivateKeyFromCOSE(ck)
	if err != nil {
		t.Fatalf("testpki: %s: %v", name, err)
	}
	return k
}

// oidVICALSigner is the VICAL signer EKU (crypto/trust.OIDVICALSigner; not imported:
// crypto/trust verifies).
var oidVICALSigner = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 8}

// VICALProvider makes a VICAL provider: its root (the anchor a reader configures) and a
// signing certificate under it with the VICAL signer EKU, for trust.VICAL.Sign.
func VICALProvider(t testing.TB) (root *issuer.Authority, signer *issuer.Signer) {
	t.Helper()
	root, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "test VICAL provider"})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	signer, err = root.NewDocumentSigner(issuer.DSOptions{CommonName: "test VICAL signer", EKU: []asn1.ObjectIdentifier{oidVICALSigner}})
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return root, signer
}
