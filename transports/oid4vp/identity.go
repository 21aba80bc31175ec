package oid4vp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Client identifier prefixes (OpenID4VP 1.0 §5.9.3).
const (
	PrefixX509SanDNS = "x509_san_dns"
	PrefixX509Hash   = "x509_hash"
)

// Identity is a verifier's request-signing key and certificate chain (x5c, leaf first).
type Identity struct {
	Key   *keys.PrivateKey
	Chain [][]byte
	Leaf  *x509.Certificate
}

// NewIdentity makes a reader-authentication certificate for a verifier under root (an
// issuer.NewReaderAuthority): P-256 key, keyUsage digitalSignature, EKU
// 1.0.18013.5.1.6 and 1.0.23220.4.1.6, SKI/AKI, and the DNS names as subjectAltName
// (needed by the x509_san_dns client_id prefix). The chain is [leaf].
func NewIdentity(root *issuer.Authority, commonName string, dnsNames ...string) (*Identity, error) {
	if root == nil {
		return nil, errors.New("oid4vp: identity: no root")
	}
	key, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return nil, err
	}
	ski, err := issuer.SubjectKeyID(key)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	ca := root.Certificate
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.AddDate(1, 0, 0)
	if nb.Before(ca.NotBefore) {
		nb = ca.NotBefore
	}
	if na.After(ca.NotAfter) {
		na = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial.Add(serial, big.NewInt(1)),
		Subject:            pkix.Name{CommonName: commonName, Country: ca.Subject.Country},
		NotBefore:          nb.UTC().Truncate(time.Second),
		NotAfter:           na.UTC().Truncate(time.Second),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{issuer.OIDMdlReaderAuth, issuer.OIDMdocReaderAuth},
		SubjectKeyId:       ski,
		AuthorityKeyId:     ca.SubjectKeyId,
		DNSNames:           dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), root.Key.Signer())
	if err != nil {
		return nil, fmt.Errorf("oid4vp: identity certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{Key: key, Chain: [][]byte{der}, Leaf: leaf}, nil
}

// ClientID returns the client_id for prefix: "x509_san_dns:" + the leaf's first DNS
// subjectAltName, or "x509_hash:" + base64url(SHA-256(leaf DER)).
func (id *Identity) ClientID(prefix string) (string, error) {
	switch prefix {
	case PrefixX509SanDNS:
		if len(id.Leaf.DNSNames) == 0 {
			return "", errors.New("oid4vp: x509_san_dns: the certificate has no DNS subjectAltName")
		}
		return PrefixX509SanDNS + ":" + id.Leaf.DNSNames[0], nil
	case PrefixX509Hash:
		return PrefixX509Hash + ":" + X509Hash(id.Leaf.Raw), nil
	}
	return "", fmt.Errorf("oid4vp: client_id prefix %q is not supported (x509_san_dns, x509_hash)", prefix)
}

// X509Hash is the x509_hash value of a DER certificate: base64url (no padding) of its
// SHA-256.
func X509Hash(der []byte) string {
	h := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// CheckClientID checks that clientID is bound to the leaf certificate: for
// x509_san_dns the name is one of the leaf's DNS subjectAltNames, for x509_hash the
// hash is that of the leaf's DER. Other prefixes are refused.
func CheckClientID(clientID string, leaf *x509.Certificate) error {
	prefix, value, ok := strings.Cut(clientID, ":")
	if !ok || value == "" {
		return fmt.Errorf("client_id %q has no prefix", clientID)
	}
	switch prefix {
	case PrefixX509SanDNS:
		if !slices.Contains(leaf.DNSNames, value) {
			return fmt.Errorf("client_id: %q is not a DNS subjectAltName of the request's certificate %v", value, leaf.DNSNames)
		}
		return nil
	case PrefixX509Hash:
		if value != X509Hash(leaf.Raw) {
			return fmt.Errorf("client_id: x509_hash %q is not the hash of the request's certificate", value)
		}
		return nil
	}
	return fmt.Errorf("client_id prefix %q is not supported (x509_san_dns, x509_hash)", prefix)
}
