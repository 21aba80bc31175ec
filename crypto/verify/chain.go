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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
)

// Extended key usage OIDs of the mdoc certificate profiles.
var (
	OIDMdlDS          = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 2}
	OIDMdlReaderAuth  = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 6}
	OIDMdocDS         = asn1.ObjectIdentifier{1, 0, 23220, 4, 1, 2}
	OIDMdocReaderAuth = asn1.ObjectIdentifier{1, 0, 23220, 4, 1, 6}
)

// An Anchor is a trust anchor and what it is trusted for.
type Anchor struct {
	Certificate *x509.Certificate
	// DocTypes are the document types the anchor is trusted for (a VICAL entry's
	// docType list, a configured IACA folder's scope); none means every docType.
	DocTypes []string
	// Pinned trusts the certificate as a signer itself, matched byte for byte, and never
	// as the issuer of another certificate (a published Document Signer without its
	// IACA). An anchor that is not pinned is an issuer: an IACA, a reader root.
	Pinned bool
}

// inScope reports whether a is trusted for docType ("" asks for no particular one).
func (a *Anchor) inScope(docType string) bool {
	return a.DocTypes == nil || docType == "" || slices.Contains(a.DocTypes, docType)
}

// TrustStore holds trust anchors: IACA certificates, reader roots, or (as in test setups
// and some published samples) a signing certificate trusted directly. Fill it before
// use; it must not change while a verification reads it.
type TrustStore struct {
	anchors []Anchor
	// gen is the store's identity for the chain cache: drawn from a process-wide
	// counter at every change, so no other store, nor this one before the change,
	// ever shares it (a pointer can be reused once a store is collected).
	gen uint64
}

var storeGenerations atomic.Uint64

// NewTrustStore returns a store with the given anchors, as Add adds them.
func NewTrustStore(certs ...*x509.Certificate) *TrustStore {
	t := &TrustStore{gen: storeGenerations.Add(1)}
	t.Add(certs...)
	return t
}

// Add adds certificates trusted for every docType: a CA certificate (basicConstraints
// CA=true) as an issuer, any other as a pinned signer.
func (t *TrustStore) Add(certs ...*x509.Certificate) {
	for _, c := range certs {
		t.AddAnchor(Anchor{Certificate: c, Pinned: !(c.BasicConstraintsValid && c.IsCA)})
	}
}

// AddAnchor adds a. A certificate already in the store keeps one entry: its docType
// scopes are joined (nil, every docType, wins) and it stays an issuer if either says so.
func (t *TrustStore) AddAnchor(a Anchor) {
	t.gen = storeGenerations.Add(1)
	a.DocTypes = slices.Clone(a.DocTypes)
	if len(a.DocTypes) == 0 {
		a.DocTypes = nil // every docType
	}
	for i := range t.anchors {
		e := &t.anchors[i]
		if !bytes.Equal(e.Certificate.Raw, a.Certificate.Raw) {
			continue
		}
		e.Pinned = e.Pinned && a.Pinned
		if e.DocTypes != nil && a.DocTypes != nil {
			for _, d := range a.DocTypes {
				if !slices.Contains(e.DocTypes, d) {
					e.DocTypes = append(e.DocTypes, d)
				}
			}
		} else {
			e.DocTypes = nil
		}
		return
	}
	t.anchors = append(t.anchors, a)
}

// Len returns the number of anchors.
func (t *TrustStore) Len() int {
	if t == nil {
		return 0
	}
	return len(t.anchors)
}

// Anchors returns the anchors' certificates.
func (t *TrustStore) Anchors() []*x509.Certificate {
	if t == nil {
		return nil
	}
	out := make([]*x509.Certificate, len(t.anchors))
	for i := range t.anchors {
		out[i] = t.anchors[i].Certificate
	}
	return out
}

// issuerAnchor reports whether c is one of the store's issuer (not pinned) anchors.
func (t *TrustStore) issuerAnchor(c *x509.Certificate) bool {
	if t == nil {
		return false
	}
	for i := range t.anchors {
		if !t.anchors[i].Pinned && bytes.Equal(t.anchors[i].Certificate.Raw, c.Raw) {
			return true
		}
	}
	return false
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

// chainEntry is a verified chain: valid for any time within [from, until], leading to
// anchors (every anchor a path reached, for the docType scope).
type chainEntry struct {
	anchors     []Anchor
	from, until time.Time
}

// ChainCache remembers verified certificate chains, keyed by the exact certificate bytes
// and the trust store's identity (a generation that changes with every change to a
// store and is never shared by two stores), so that each session pays for the MSO and
// device auth only. An entry is used only for a time inside the validity of every
// certificate of its chain. Reset empties it (a daemon does on every trust reload). It
// is safe for concurrent use.
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

// Reset forgets every verified chain and parsed certificate.
func (c *ChainCache) Reset() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	clear(c.certs)
}

// Len returns the number of verified chains held.
func (c *ChainCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
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

func chainKey(chain []*x509.Certificate, store *TrustStore, leafOnly bool) [32]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], store.gen)
	h.Write(n[:])
	if leafOnly {
		h.Write([]byte{1})
		chain = chain[:1]
	} else {
		h.Write([]byte{0})
	}
	for _, c := range chain {
		binary.BigEndian.PutUint32(n[:4], uint32(len(c.Raw)))
		h.Write(n[:4])
		h.Write(c.Raw)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *ChainCache) get(key [32]byte, now time.Time, skew time.Duration) ([]Anchor, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Add(skew).Before(e.from) || now.After(e.until) {
		return nil, false
	}
	c.hits++
	return e.anchors, true
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

// VerifyChain checks that the leaf (chain[0]) chains to an issuer anchor of store at
// now, with chain[1:] as intermediates, or is itself a pinned anchor (byte for byte).
// It returns the anchor used.
func VerifyChain(chain []*x509.Certificate, store *TrustStore, now time.Time, cache *ChainCache) (*x509.Certificate, error) {
	anchors, err := verifyChain(chain, store, now, cache, chainOptions{})
	if err != nil {
		return nil, err
	}
	return anchors[0].Certificate, nil
}

// chainOptions are the issuer side's additions to VerifyChain.
type chainOptions struct {
	// skew relaxes notBefore (never notAfter) by this much.
	skew time.Duration
	// leafOnly ignores chain[1:]: a Document Signer is issued by its IACA directly
	// (18013-5 B.1.1), so a holder's extra certificates never make the verifier check
	// signatures with keys the holder chose.
	leafOnly bool
	// budget is charged before the chain's signatures are checked; nil is no limit.
	budget *budget
}

// errBudget is verifyChain's answer when the budget does not cover the chain.
var errBudget = errors.New("crypto budget exhausted")

// verifyChain is VerifyChain returning every anchor a path reached.
func verifyChain(chain []*x509.Certificate, store *TrustStore, now time.Time, cache *ChainCache, o chainOptions) ([]Anchor, error) {
	if len(chain) == 0 {
		return nil, errors.New("empty certificate chain")
	}
	if store.Len() == 0 {
		return nil, errors.New("no trust anchor given")
	}
	key := chainKey(chain, store, o.leafOnly)
	if anchors, ok := cache.get(key, now, o.skew); ok {
		return anchors, nil
	}
	leaf := chain[0]
	for _, a := range store.anchors {
		if !a.Pinned || !bytes.Equal(a.Certificate.Raw, leaf.Raw) {
			continue
		}
		if now.Add(o.skew).Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return nil, fmt.Errorf("pinned certificate %q is not valid at %s (valid %s to %s)",
				leaf.Subject.CommonName, now.Format(time.RFC3339), leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
		}
		anchors := []Anchor{a}
		cache.put(key, chainEntry{anchors: anchors, from: leaf.NotBefore, until: leaf.NotAfter})
		return anchors, nil
	}
	var inter []*x509.Certificate
	if !o.leafOnly {
		inter = chain[1:]
	}
	roots, interPool := x509.NewCertPool(), x509.NewCertPool()
	cost, notBefore := 0, now
	for _, c := range inter {
		interPool.AddCert(c)
		cost += keys.PublicKeyCost(c.PublicKey) // it may check the certificate below it
		notBefore = laterNotBefore(notBefore, c, now, o.skew)
	}
	notBefore = laterNotBefore(notBefore, leaf, now, o.skew)
	byCert := make(map[string]Anchor) // by DER: a leaf that is an anchor comes back as itself
	for _, a := range store.anchors {
		if a.Pinned {
			continue
		}
		roots.AddCert(a.Certificate)
		byCert[string(a.Certificate.Raw)] = a
		if issues(a.Certificate, leaf, inter) {
			cost += keys.PublicKeyCost(a.Certificate.PublicKey)
			notBefore = laterNotBefore(notBefore, a.Certificate, now, o.skew)
		}
	}
	vo := x509.VerifyOptions{Roots: roots, Intermediates: interPool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if !o.budget.charge(cost) {
		return nil, errBudget
	}
	paths, err := leaf.Verify(vo)
	if err != nil && notBefore.After(now) {
		// not yet valid within the skew? Verify again at the latest notBefore in reach:
		// later than now, so no expiry is relaxed.
		if !o.budget.charge(cost) {
			return nil, errBudget
		}
		vo.CurrentTime = notBefore
		paths, err = leaf.Verify(vo)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %q does not chain to a trust anchor: %w", leaf.Subject.CommonName, err)
	}
	e := chainEntry{from: leaf.NotBefore, until: leaf.NotAfter}
	for _, path := range paths {
		for _, c := range path {
			if c.NotBefore.After(e.from) {
				e.from = c.NotBefore
			}
			if c.NotAfter.Before(e.until) {
				e.until = c.NotAfter
			}
		}
		a, ok := byCert[string(path[len(path)-1].Raw)]
		if ok && !slices.ContainsFunc(e.anchors, func(x Anchor) bool { return x.Certificate == a.Certificate }) {
			e.anchors = append(e.anchors, a)
		}
	}
	if len(e.anchors) == 0 {
		return nil, fmt.Errorf("certificate %q chains to no configured anchor", leaf.Subject.CommonName)
	}
	cache.put(key, e)
	return e.anchors, nil
}

// laterNotBefore returns c's notBefore when it lies after t and within now+skew.
func laterNotBefore(t time.Time, c *x509.Certificate, now time.Time, skew time.Duration) time.Time {
	if c.NotBefore.After(t) && !c.NotBefore.After(now.Add(skew)) {
		return c.NotBefore
	}
	return t
}

// issues reports whether anchor may have issued leaf or one of inter (by name, as
// crypto/x509 picks candidate parents).
func issues(anchor, leaf *x509.Certificate, inter []*x509.Certificate) bool {
	if bytes.Equal(anchor.RawSubject, leaf.RawIssuer) {
		return true
	}
	return slices.ContainsFunc(inter, func(c *x509.Certificate) bool { return bytes.Equal(anchor.RawSubject, c.RawIssuer) })
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

// ekuPurpose says whether leaf's extended key usage allows one of ekus (anyExtendedKeyUsage
// allows every purpose), and whether it has an extended key usage at all.
func ekuPurpose(leaf *x509.Certificate, ekus ...asn1.ObjectIdentifier) (allowed, present bool) {
	present = len(leaf.ExtKeyUsage) > 0 || len(leaf.UnknownExtKeyUsage) > 0
	return hasEKU(leaf, ekus...) || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny), present
}

// SignerPurpose applies the rule for a certificate that signs data a verifier relies on
// (a Document Signer, a server-retrieval JWS signer, a VICAL signer): it is an error
// for it to be a CA certificate, to be one of store's issuer anchors itself (an IACA
// signing directly), or to carry an extended key usage without any of ekus (a
// certificate made for another purpose). A certificate with no extended key usage at
// all is accepted with a warning, since real wallets' signers have none.
func SignerPurpose(leaf *x509.Certificate, store *TrustStore, ekus ...asn1.ObjectIdentifier) (warning string, err error) {
	allowed, present := ekuPurpose(leaf, ekus...)
	switch {
	case leaf.BasicConstraintsValid && leaf.IsCA:
		return "", errors.New("certificate is a CA certificate (basicConstraints CA=true)")
	case store.issuerAnchor(leaf):
		return "", errors.New("certificate is a trust anchor itself: the issuing authority signs directly")
	case present && !allowed:
		return "", fmt.Errorf("certificate is for another purpose: extended key usage lacks %v", ekus)
	case !present:
		return fmt.Sprintf("certificate has no extended key usage (want %v)", ekus), nil
	}
	return "", nil
}

// profileDeviations lists how a reader certificate departs from the 18013-5 Annex B /
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

// dsDeviations lists how a Document Signer certificate departs from its profile (18013-5
// B.1.4) in ways that do not touch its purpose or country (separate checks): key usage,
// and for a DS under an IACA, validity inside the IACA's and the IACA's
// stateOrProvinceName.
func dsDeviations(ds *x509.Certificate, anchor *Anchor) []string {
	var out []string
	if ds.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		out = append(out, "key usage lacks digitalSignature")
	}
	if anchor.Pinned {
		return out
	}
	iaca := anchor.Certificate
	if ds.NotBefore.Before(iaca.NotBefore) || ds.NotAfter.After(iaca.NotAfter) {
		out = append(out, "validity is not inside the IACA's validity")
	}
	if st := firstOf(iaca.Subject.Province); st != "" && !strings.EqualFold(st, firstOf(ds.Subject.Province)) {
		out = append(out, fmt.Sprintf("stateOrProvinceName %q differs from the IACA's %q", firstOf(ds.Subject.Province), st))
	}
	return out
}

// iacaDeviations lists how an IACA certificate departs from its profile (18013-5
// B.1.2): keyUsage keyCertSign and cRLSign, basicConstraints CA=true with pathLen 0.
func iacaDeviations(iaca *x509.Certificate) []string {
	var out []string
	if iaca.KeyUsage&x509.KeyUsageCertSign == 0 || iaca.KeyUsage&x509.KeyUsageCRLSign == 0 {
		out = append(out, "IACA key usage lacks keyCertSign or cRLSign")
	}
	switch {
	case !iaca.BasicConstraintsValid || !iaca.IsCA:
		out = append(out, "IACA lacks basicConstraints CA=true")
	case iaca.MaxPathLen != 0 || !iaca.MaxPathLenZero:
		out = append(out, "IACA pathLenConstraint is not 0")
	}
	return out
}
