package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Extended key usage OIDs of the mdoc certificate profiles.
var (
	OIDMdlDS          = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 2}
	OIDMdlReaderAuth  = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 6}
	OIDMdocDS         = asn1.ObjectIdentifier{1, 0, 23220, 4, 1, 2}
	OIDMdocReaderAuth = asn1.ObjectIdentifier{1, 0, 23220, 4, 1, 6}
)

// TrustStore holds trust anchors: IACA certificates, reader roots, or (as in test setups
// and some published samples) a signing certificate trusted directly.
type TrustStore struct {
	anchors []*x509.Certificate
}

// NewTrustStore returns a store with the given anchors.
func NewTrustStore(certs ...*x509.Certificate) *TrustStore {
	return &TrustStore{anchors: slices.Clone(certs)}
}

// Add adds anchors.
func (t *TrustStore) Add(certs ...*x509.Certificate) { t.anchors = append(t.anchors, certs...) }

// Len returns the number of anchors.
func (t *TrustStore) Len() int {
	if t == nil {
		return 0
	}
	return len(t.anchors)
}

// Anchors returns the anchors. Callers must not modify the slice.
func (t *TrustStore) Anchors() []*x509.Certificate {
	if t == nil {
		return nil
	}
	return t.anchors
}

// ParseCertificates reads one or more certificates from PEM or DER data.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		return x509.ParseCertificates(data)
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return out, nil
}

// chainEntry is a verified chain: valid for any time within [from, until].
type chainEntry struct {
	anchor      *x509.Certificate
	from, until time.Time
}

// ChainCache remembers verified certificate chains, keyed by the exact certificate bytes
// and the trust store, so that each session pays for the MSO and device auth only. An
// entry is used only for a time inside the validity of every certificate of its chain.
// It is safe for concurrent use.
type ChainCache struct {
	mu      sync.Mutex
	entries map[[32]byte]chainEntry
	certs   map[string]*x509.Certificate // parsed certificates by DER
	max     int
	hits    uint64
}

// NewChainCache returns a cache holding at most max chains (0 means 4096).
func NewChainCache(max int) *ChainCache {
	if max <= 0 {
		max = 4096
	}
	return &ChainCache{entries: make(map[[32]byte]chainEntry), certs: make(map[string]*x509.Certificate), max: max}
}

// ParseCertificate parses DER, remembering the result: a gate sees the same few signer
// certificates over and over. A nil cache just parses. Parsed certificates are shared
// and must not be modified.
func (c *ChainCache) ParseCertificate(der []byte) (*x509.Certificate, error) {
	if c == nil {
		return x509.ParseCertificate(der)
	}
	c.mu.Lock()
	cert, ok := c.certs[string(der)]
	c.mu.Unlock()
	if ok {
		return cert, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.certs) >= c.max {
		for k := range c.certs { // evict an arbitrary entry
			delete(c.certs, k)
			break
		}
	}
	c.certs[string(der)] = cert
	c.mu.Unlock()
	return cert, nil
}

// Hits returns how many lookups were answered from the cache.
func (c *ChainCache) Hits() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

func chainKey(chain [][]byte, store *TrustStore) [32]byte {
	h := sha256.New()
	for _, c := range chain {
		binary.Write(h, binary.BigEndian, uint32(len(c)))
		h.Write(c)
	}
	fmt.Fprintf(h, "|store:%p", store)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *ChainCache) get(key [32]byte, now time.Time) (*x509.Certificate, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Before(e.from) || now.After(e.until) {
		return nil, false
	}
	c.hits++
	return e.anchor, true
}

func (c *ChainCache) put(key [32]byte, e chainEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k := range c.entries { // evict an arbitrary entry; chains are cheap to re-verify
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// VerifyChain checks that the leaf (chain[0]) chains to an anchor of store at now, with
// chain[1:] as intermediates. A leaf that is itself an anchor (byte for byte) is trusted
// directly. It returns the anchor used.
func VerifyChain(chain []*x509.Certificate, store *TrustStore, now time.Time, cache *ChainCache) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("empty certificate chain")
	}
	if store.Len() == 0 {
		return nil, errors.New("no trust anchor given")
	}
	raws := make([][]byte, len(chain))
	for i, c := range chain {
		raws[i] = c.Raw
	}
	key := chainKey(raws, store)
	if anchor, ok := cache.get(key, now); ok {
		return anchor, nil
	}
	leaf := chain[0]
	from, until := leaf.NotBefore, leaf.NotAfter
	var anchor *x509.Certificate
	for _, a := range store.anchors {
		if bytes.Equal(a.Raw, leaf.Raw) {
			anchor = a
			break
		}
	}
	if anchor != nil {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return nil, fmt.Errorf("pinned certificate %q is not valid at %s (valid %s to %s)",
				leaf.Subject.CommonName, now.Format(time.RFC3339), leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
		}
	} else {
		roots := x509.NewCertPool()
		for _, a := range store.anchors {
			roots.AddCert(a)
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return nil, fmt.Errorf("certificate %q does not chain to a trust anchor: %w", leaf.Subject.CommonName, err)
		}
		path := chains[0]
		anchor = path[len(path)-1]
		for _, c := range path {
			if c.NotBefore.After(from) {
				from = c.NotBefore
			}
			if c.NotAfter.Before(until) {
				until = c.NotAfter
			}
		}
	}
	cache.put(key, chainEntry{anchor: anchor, from: from, until: until})
	return anchor, nil
}

func hasEKU(c *x509.Certificate, oids ...asn1.ObjectIdentifier) bool {
	for _, u := range c.UnknownExtKeyUsage {
		for _, o := range oids {
			if u.Equal(o) {
				return true
			}
		}
	}
	return false
}

// profileDeviations lists how a signer certificate departs from the 18013-5 Annex B /
// 23220-4 profile: EKU, key usage, basic constraints, validity nesting in the issuer, and
// country match. An empty result means the certificate follows the profile.
func profileDeviations(leaf, anchor *x509.Certificate, ekus ...asn1.ObjectIdentifier) []string {
	var out []string
	if !hasEKU(leaf, ekus...) {
		out = append(out, fmt.Sprintf("extended key usage lacks %v", ekus))
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		out = append(out, "key usage lacks digitalSignature")
	}
	if leaf.IsCA {
		out = append(out, "signer certificate is a CA certificate")
	}
	if anchor != nil && anchor != leaf && !bytes.Equal(anchor.Raw, leaf.Raw) {
		if !anchor.IsCA || !anchor.BasicConstraintsValid {
			out = append(out, "trust anchor lacks basicConstraints CA=true")
		}
		if leaf.NotBefore.Before(anchor.NotBefore) || leaf.NotAfter.After(anchor.NotAfter) {
			out = append(out, "signer validity is not inside the issuer's validity")
		}
		if !slices.Equal(leaf.Subject.Country, anchor.Subject.Country) {
			out = append(out, fmt.Sprintf("country %v differs from the issuer's %v", leaf.Subject.Country, anchor.Subject.Country))
		}
	}
	return out
}
