package testpki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// oidVICALSigner is the VICAL signer's extended key usage (ISO/IEC 18013-5 Annex C;
// crypto/trust.OIDVICALSigner, which this package may not import).
var oidVICALSigner = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 8}

// VICALProvider is a VICAL provider: its root (what a verifier anchors the VICAL on)
// and a signer certificate under it. crypto/trust's VICAL.Sign takes Signer.Key and
// Signer.Certificate.Raw.
type VICALProvider struct {
	Root   *issuer.Authority
	Signer *issuer.CertKey
}

// NewVICALProvider makes a provider valid from an hour ago for a day.
func NewVICALProvider(t testing.TB, name string) *VICALProvider {
	t.Helper()
	root, err := issuer.NewIACA(issuer.IACAOptions{CommonName: name + " VICAL root", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{Country: []string{"UT"}, CommonName: name + " VICAL signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidVICALSigner}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Certificate, key.Public(), root.Key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &VICALProvider{Root: root, Signer: &issuer.CertKey{Certificate: cert, Key: key}}
}
