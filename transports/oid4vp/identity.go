package oid4vp

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/keys"
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

// NewIdentity is a verifier identity from a request-signing key and its certificate
// chain (DER, leaf first): the leaf's public key must be the key's. For the x509_san_dns
// client_id the leaf needs a DNS subjectAltName (crypto/issuer's ReaderOptions.DNSNames
// makes such test certificates).
func NewIdentity(key *keys.PrivateKey, chain [][]byte) (*Identity, error) {
	if key == nil || len(chain) == 0 {
		return nil, errors.New("oid4vp: identity: a key and a certificate chain are required")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("oid4vp: identity: leaf certificate: %w", err)
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Signer().Public()) {
		return nil, errors.New("oid4vp: identity: the key is not the leaf certificate's")
	}
	return &Identity{Key: key, Chain: chain, Leaf: leaf}, nil
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
