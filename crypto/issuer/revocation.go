package issuer

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// StatusListSignerOptions configures NewStatusListSigner. The zero value is usable.
type StatusListSignerOptions struct {
	CommonName          string // default "mdocgate test status list signer"
	Curve               int64  // default P-256
	NotBefore, NotAfter time.Time
	Rand                io.Reader
}

// NewStatusListSigner makes a certificate under the IACA for signing token status lists
// (draft-ietf-oauth-status-list: the status issuer's certificate from the referenced
// token's CA): keyUsage digitalSignature (critical), SKI, AKI = IACA SKI, the IACA's C
// and ST and issuerAltName, validity within the IACA's. It has no extended key usage: the
// draft's id-kp-oauthStatusSigning OID is not assigned yet.
func (a *Authority) NewStatusListSigner(opts StatusListSignerOptions) (*CertKey, error) {
	if a.reader {
		return nil, errors.New("issuer: status list signer: a reader root does not issue credentials")
	}
	if opts.CommonName == "" {
		opts.CommonName = "mdocgate test status list signer"
	}
	return a.issueLeaf("status list signer", leafSpec{cn: opts.CommonName, curve: opts.Curve,
		notBefore: opts.NotBefore, notAfter: opts.NotAfter, rand: opts.Rand})
}

// RevokedCertificate is one CRL entry.
type RevokedCertificate struct {
	SerialNumber *big.Int
	RevokedAt    time.Time
	Reason       int // RFC 5280 CRLReason; 0 unspecified
}

// SignCRL makes a DER CRL of this authority (an IACA or a reader root) listing revoked,
// with CRL number number, valid thisUpdate..nextUpdate (nextUpdate zero: thisUpdate + 7
// days).
func (a *Authority) SignCRL(revoked []RevokedCertificate, number int64, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if nextUpdate.IsZero() {
		nextUpdate = thisUpdate.Add(7 * 24 * time.Hour)
	}
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(number),
		ThisUpdate: thisUpdate.UTC().Truncate(time.Second),
		NextUpdate: nextUpdate.UTC().Truncate(time.Second),
	}
	for _, r := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: r.SerialNumber, RevocationTime: r.RevokedAt.UTC().Truncate(time.Second), ReasonCode: r.Reason})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.Certificate, a.Key.Signer())
	if err != nil {
		return nil, fmt.Errorf("issuer: CRL: %w", err)
	}
	return der, nil
}

// FileIACAKey is the IACA private key written by WriteAuthorityKey (PKCS#8 PEM, mode
// 0600), so that a later run (issuer-serve) can sign status lists and CRLs as the same
// authority. Test material only.
const FileIACAKey = "iaca_key.pem"

// WriteAuthorityKey writes the authority's private key as FileIACAKey into dir.
func WriteAuthorityKey(dir string, a *Authority) error {
	b, err := a.KeyPEM()
	if err != nil {
		return fmt.Errorf("issuer: IACA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileIACAKey), b, 0o600); err != nil {
		return fmt.Errorf("issuer: IACA key: %w", err)
	}
	return nil
}

// LoadAuthority reads FileIACA and FileIACAKey from dir (as written by WriteDir and
// WriteAuthorityKey) and checks that they belong together.
func LoadAuthority(dir string) (*Authority, error) {
	certPEM, err := messages.ReadFileLimited(filepath.Join(dir, FileIACA), keys.MaxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("issuer: load authority: %w", err)
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("issuer: load authority: %s: %w", FileIACA, err)
	}
	keyPEM, err := messages.ReadFileLimited(filepath.Join(dir, FileIACAKey), keys.MaxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("issuer: load authority: %w", err)
	}
	key, err := keys.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("issuer: load authority: %s: %w", FileIACAKey, err)
	}
	cert := certs[0]
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("issuer: load authority: %s does not match %s", FileIACAKey, FileIACA)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("issuer: load authority: %s is not a CA certificate", FileIACA)
	}
	return &Authority{CertKey: CertKey{cert, key}, ianURI: issuerAltNameURI(cert)}, nil
}

// LoadOrNewAuthority is LoadAuthority(dir) when dir is set, else a new IACA made with
// opts: how the commands take an optional --ca folder.
func LoadOrNewAuthority(dir string, opts IACAOptions) (*Authority, error) {
	if dir != "" {
		return LoadAuthority(dir)
	}
	return NewIACA(opts)
}

// issuerAltNameURI returns the first URI of cert's issuerAltName, or the default.
func issuerAltNameURI(cert *x509.Certificate) string {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidIssuerAltName) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &names); err == nil {
			for _, n := range names {
				if n.Class == asn1.ClassContextSpecific && n.Tag == 6 {
					return string(n.Bytes)
				}
			}
		}
	}
	return defaultIssuerAltNm
}
