package issuer

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/messages"
)

// Extended key usage OIDs of 18013-5 Annex B and TS 23220-4.
var (
	OIDMdlDS          = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 2} // mDL Document Signer
	OIDMdlReaderAuth  = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 6} // mdoc reader authentication
	OIDMdocDS         = asn1.ObjectIdentifier{1, 0, 23220, 4, 1, 2} // generic mdoc Document Signer
	OIDMdocReaderAuth = asn1.ObjectIdentifier{1, 0, 23220, 4, 1, 6} // generic mdoc reader authentication

	oidExtKeyUsage     = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidIssuerAltName   = asn1.ObjectIdentifier{2, 5, 29, 18}
	defaultIssuerAltNm = "https://issuer.mdocgate.invalid"
)

// CertKey is a certificate with its private key.
type CertKey struct {
	Certificate *x509.Certificate
	Key         *keys.PrivateKey
}

// CertificateDER returns the DER certificate (the bytes that go into an x5chain).
func (c *CertKey) CertificateDER() []byte { return c.Certificate.Raw }

// CertificatePEM returns the certificate as a PEM "CERTIFICATE" block.
func (c *CertKey) CertificatePEM() []byte { return EncodeCertificatesPEM(c.Certificate.Raw) }

// KeyPEM returns the private key as PEM PKCS#8 (keys.MarshalPrivateKeyPEM).
func (c *CertKey) KeyPEM() ([]byte, error) { return keys.MarshalPrivateKeyPEM(c.Key) }

// Authority is a self-signed root: an IACA (NewIACA) or a reader-authentication root
// (NewReaderAuthority).
type Authority struct {
	CertKey
	reader bool   // a reader root: issues reader certificates only
	ianURI string // issuerAltName, copied into the certificates it issues
}

// IACAOptions configures NewIACA and NewReaderAuthority. The zero value is usable.
type IACAOptions struct {
	Country      string // C, ISO 3166-1 alpha-2; default "UT"
	State        string // ST; optional, then copied into every certificate issued
	Organization string // O; optional
	CommonName   string // CN; default "mdocgate test IACA" / "mdocgate test reader root"
	// IssuerAltNameURI is the issuerAltName (a URI), copied into issued certificates;
	// default https://issuer.mdocgate.invalid.
	IssuerAltNameURI string
	CRLURL           string // CRL distribution point; none by default
	// Curve is the key's COSE curve: messages.CurveP256 (default), CurveP384, CurveP521 or
	// CurveEd25519. Ignored when Key is set.
	Curve               int64
	Key                 *keys.PrivateKey // use this key instead of generating one
	NotBefore, NotAfter time.Time        // default now-1h .. now+5y
	Rand                io.Reader        // serial numbers and keys; default crypto/rand

	// For verifier tests, roots that depart from the profile: KeyUsage replaces
	// keyCertSign+cRLSign when not 0; PathLen is the pathLenConstraint (default 0, -1
	// leaves it out).
	KeyUsage x509.KeyUsage
	PathLen  int
}

// DSOptions configures NewDocumentSigner. The zero value is usable.
type DSOptions struct {
	CommonName   string // default "mdocgate test Document Signer"
	Organization string
	// Also23220 adds the TS 23220-4 EKU 1.0.23220.4.1.2 next to 1.0.18013.5.1.2.
	Also23220 bool
	CRLURL    string
	Curve     int64 // as IACAOptions.Curve; default P-256
	Key       *keys.PrivateKey
	// NotBefore, NotAfter default to now-1h .. now+1y, clipped to the IACA's validity; a
	// value given explicitly outside the IACA's validity is an error.
	NotBefore, NotAfter time.Time
	Rand                io.Reader

	// For verifier tests, Document Signers that depart from the profile: EKU, when not
	// nil, replaces the mdoc EKU (an empty slice leaves the extension out); CA marks the
	// certificate basicConstraints CA=true; Country and State replace the IACA's C and ST
	// in the subject.
	EKU            []asn1.ObjectIdentifier
	CA             bool
	Country, State string
}

// ReaderOptions configures NewReaderCert. The zero value is usable.
type ReaderOptions struct {
	CommonName   string // default "mdocgate test reader"
	Organization string
	// Also23220 adds the TS 23220-4 EKU 1.0.23220.4.1.6 next to 1.0.18013.5.1.6.
	Also23220 bool
	// DNSNames go into subjectAltName: an OpenID4VP verifier's x509_san_dns client_id
	// names one of them.
	DNSNames            []string
	CRLURL              string
	Curve               int64 // default P-256
	Key                 *keys.PrivateKey
	NotBefore, NotAfter time.Time // default now-1h .. now+1y, clipped to the root's
	Rand                io.Reader
}

// Signer is a Document Signer: it signs MSOs (Issue).
type Signer struct {
	CertKey
}

// ReaderSigner is a reader-authentication certificate and key: it signs ReaderAuth
// (SignReaderAuth).
type ReaderSigner struct {
	CertKey
	// Chain is the x5chain sent in readerAuth, leaf first; by default the leaf alone.
	Chain [][]byte
}

// NewIACA makes a self-signed IACA certificate (18013-5 B.1.2): random positive serial of
// 127 bits, subject C (and ST, O if set) and CN, keyUsage keyCertSign+cRLSign (critical),
// basicConstraints CA=true pathLen=0 (critical), SKI = SHA-1 of the public key, AKI = SKI,
// issuerAltName URI, optional CRL distribution point.
func NewIACA(opts IACAOptions) (*Authority, error) {
	return newRoot(opts, false)
}

// NewReaderAuthority makes a self-signed root for reader-authentication certificates,
// with the same profile as an IACA (18013-5 does not specify one; this follows Multipaz).
func NewReaderAuthority(opts IACAOptions) (*Authority, error) {
	return newRoot(opts, true)
}

func newRoot(opts IACAOptions, reader bool) (*Authority, error) {
	what := "IACA"
	if reader {
		what = "reader root"
	}
	if opts.Country == "" {
		opts.Country = "UT"
	}
	if opts.CommonName == "" {
		opts.CommonName = "mdocgate test " + what
	}
	if opts.IssuerAltNameURI == "" {
		opts.IssuerAltNameURI = defaultIssuerAltNm
	}
	now := time.Now()
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.AddDate(5, 0, 0)
	}
	if !opts.NotAfter.After(opts.NotBefore) {
		return nil, fmt.Errorf("issuer: %s validity: NotAfter %v is not after NotBefore %v", what, opts.NotAfter, opts.NotBefore)
	}
	key, err := certKey(opts.Key, opts.Curve, opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s key: %w", what, err)
	}
	ski, err := SubjectKeyID(key)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s SKI: %w", what, err)
	}
	serial, err := randomSerial(opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s serial: %w", what, err)
	}
	ian, err := issuerAltNameExt(opts.IssuerAltNameURI)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s issuerAltName: %w", what, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject(opts.Country, opts.State, opts.Organization, opts.CommonName),
		NotBefore:             opts.NotBefore.UTC().Truncate(time.Second),
		NotAfter:              opts.NotAfter.UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            opts.PathLen,
		MaxPathLenZero:        opts.PathLen == 0,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ski,
		ExtraExtensions:       []pkix.Extension{ian},
	}
	if opts.KeyUsage != 0 {
		tmpl.KeyUsage = opts.KeyUsage
	}
	if opts.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{opts.CRLURL}
	}
	cert, err := createCert(tmpl, tmpl, key, key, opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s certificate: %w", what, err)
	}
	return &Authority{CertKey: CertKey{cert, key}, reader: reader, ianURI: opts.IssuerAltNameURI}, nil
}

// NewDocumentSigner makes a Document Signer certificate (18013-5 B.1.4) issued by the
// IACA: keyUsage digitalSignature (critical), EKU 1.0.18013.5.1.2 (critical; plus
// 1.0.23220.4.1.2 with Also23220), no basicConstraints, SKI, AKI = IACA SKI, the IACA's C
// and ST, the IACA's issuerAltName, validity within the IACA's.
func (a *Authority) NewDocumentSigner(opts DSOptions) (*Signer, error) {
	if a.reader {
		return nil, errors.New("issuer: Document Signer: a reader root cannot issue Document Signer certificates")
	}
	if opts.CommonName == "" {
		opts.CommonName = "mdocgate test Document Signer"
	}
	eku := []asn1.ObjectIdentifier{OIDMdlDS}
	if opts.Also23220 {
		eku = append(eku, OIDMdocDS)
	}
	if opts.EKU != nil {
		eku = opts.EKU
	}
	ck, err := a.issueLeaf("Document Signer", leafSpec{cn: opts.CommonName, org: opts.Organization, crl: opts.CRLURL,
		eku: eku, curve: opts.Curve, key: opts.Key, notBefore: opts.NotBefore, notAfter: opts.NotAfter, rand: opts.Rand,
		ca: opts.CA, country: opts.Country, state: opts.State})
	if err != nil {
		return nil, err
	}
	return &Signer{CertKey: *ck}, nil
}

// NewReaderCert makes a reader-authentication certificate (18013-5 B.1.7) issued by a
// reader root: keyUsage digitalSignature (critical), EKU 1.0.18013.5.1.6 (critical; plus
// 1.0.23220.4.1.6 with Also23220), SKI, AKI, issuerAltName, validity within the root's.
func (a *Authority) NewReaderCert(opts ReaderOptions) (*ReaderSigner, error) {
	if !a.reader {
		return nil, errors.New("issuer: reader certificate: an IACA cannot issue reader certificates; use NewReaderAuthority")
	}
	if opts.CommonName == "" {
		opts.CommonName = "mdocgate test reader"
	}
	eku := []asn1.ObjectIdentifier{OIDMdlReaderAuth}
	if opts.Also23220 {
		eku = append(eku, OIDMdocReaderAuth)
	}
	ck, err := a.issueLeaf("reader certificate", leafSpec{cn: opts.CommonName, org: opts.Organization, crl: opts.CRLURL,
		eku: eku, curve: opts.Curve, key: opts.Key, notBefore: opts.NotBefore, notAfter: opts.NotAfter, rand: opts.Rand,
		dnsNames: opts.DNSNames})
	if err != nil {
		return nil, err
	}
	return &ReaderSigner{CertKey: *ck, Chain: [][]byte{ck.Certificate.Raw}}, nil
}

type leafSpec struct {
	cn, org, crl        string
	eku                 []asn1.ObjectIdentifier
	curve               int64
	key                 *keys.PrivateKey
	notBefore, notAfter time.Time
	rand                io.Reader
	ca                  bool   // basicConstraints CA=true (a profile violation, for tests)
	country, state      string // replace the issuer's C and ST
	dnsNames            []string
}

func (a *Authority) issueLeaf(what string, s leafSpec) (*CertKey, error) {
	ca := a.Certificate
	now := time.Now()
	if s.notBefore.IsZero() {
		s.notBefore = maxTime(now.Add(-time.Hour), ca.NotBefore)
	}
	if s.notAfter.IsZero() {
		s.notAfter = minTime(now.AddDate(1, 0, 0), ca.NotAfter)
	}
	s.notBefore, s.notAfter = s.notBefore.UTC().Truncate(time.Second), s.notAfter.UTC().Truncate(time.Second)
	if s.notBefore.Before(ca.NotBefore) || s.notAfter.After(ca.NotAfter) {
		return nil, fmt.Errorf("issuer: %s validity %v..%v is outside the issuer's %v..%v", what, s.notBefore, s.notAfter, ca.NotBefore, ca.NotAfter)
	}
	if !s.notAfter.After(s.notBefore) {
		return nil, fmt.Errorf("issuer: %s validity: NotAfter %v is not after NotBefore %v", what, s.notAfter, s.notBefore)
	}
	key, err := certKey(s.key, s.curve, s.rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s key: %w", what, err)
	}
	ski, err := SubjectKeyID(key)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s SKI: %w", what, err)
	}
	serial, err := randomSerial(s.rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s serial: %w", what, err)
	}
	ian, err := issuerAltNameExt(a.ianURI)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s issuerAltName: %w", what, err)
	}
	exts := []pkix.Extension{ian}
	if len(s.eku) > 0 {
		ekuDER, err := asn1.Marshal(s.eku)
		if err != nil {
			return nil, fmt.Errorf("issuer: %s EKU: %w", what, err)
		}
		exts = append([]pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: ekuDER}}, exts...)
	}
	country, state := firstOr(ca.Subject.Country), firstOr(ca.Subject.Province)
	if s.country != "" {
		country = s.country
	}
	if s.state != "" {
		state = s.state
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         subject(country, state, s.org, s.cn),
		NotBefore:       s.notBefore,
		NotAfter:        s.notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		SubjectKeyId:    ski,
		AuthorityKeyId:  ca.SubjectKeyId,
		ExtraExtensions: exts,
	}
	if s.ca {
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	}
	if len(s.eku) == 0 { // a certificate without extended key usage
		tmpl.ExtraExtensions = tmpl.ExtraExtensions[1:]
	}
	if s.crl != "" {
		tmpl.CRLDistributionPoints = []string{s.crl}
	}
	tmpl.DNSNames = s.dnsNames
	cert, err := createCert(tmpl, ca, key, a.Key, s.rand)
	if err != nil {
		return nil, fmt.Errorf("issuer: %s certificate: %w", what, err)
	}
	return &CertKey{cert, key}, nil
}

// certKey returns key, or a new key on curve (default P-256), checking that crypto/x509
// can put it in a certificate.
func certKey(key *keys.PrivateKey, curve int64, rnd io.Reader) (*keys.PrivateKey, error) {
	if key == nil {
		if curve == 0 {
			curve = messages.CurveP256
		}
		if err := certCurve(curve); err != nil {
			return nil, err
		}
		return keys.Generate(curve, rnd)
	}
	if err := certCurve(key.Curve()); err != nil {
		return nil, err
	}
	return key, nil
}

func certCurve(curve int64) error {
	switch curve {
	case messages.CurveP256, messages.CurveP384, messages.CurveP521, messages.CurveEd25519:
		return nil
	}
	name := fmt.Sprint(curve)
	if c, ok := messages.LookupCurve(curve); ok {
		name = c.Name
	}
	return fmt.Errorf("crypto/x509 cannot make certificates on %s (use P-256, P-384, P-521 or Ed25519)", name)
}

func createCert(tmpl, parent *x509.Certificate, subjectKey, signerKey *keys.PrivateKey, rnd io.Reader) (*x509.Certificate, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	der, err := x509.CreateCertificate(rnd, tmpl, parent, subjectKey.Public(), signerKey.Signer())
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// subjectKeyID is RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bit string.
// SubjectKeyID is the certificate profile's SubjectKeyIdentifier of key: SHA-1 of the
// subjectPublicKey bits (RFC 5280 method 1; Go's automatic SKI uses truncated SHA-256).
func SubjectKeyID(key *keys.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	h := sha1.Sum(spki.PublicKey.Bytes)
	return h[:], nil
}

// randomSerial returns a positive serial number of 127 random bits (18013-5 B.1.1 asks
// for at least 63).
func randomSerial(rnd io.Reader) (*big.Int, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	b := make([]byte, 16)
	for {
		if _, err := io.ReadFull(rnd, b); err != nil {
			return nil, err
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b); n.BitLen() >= 64 {
			return n, nil
		}
	}
}

func issuerAltNameExt(uri string) (pkix.Extension, error) {
	// GeneralNames ::= SEQUENCE OF GeneralName; uniformResourceIdentifier [6] IA5String
	v, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)}})
	return pkix.Extension{Id: oidIssuerAltName, Value: v}, err
}

func subject(c, st, o, cn string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	if c != "" {
		n.Country = []string{c}
	}
	if st != "" {
		n.Province = []string{st}
	}
	if o != "" {
		n.Organization = []string{o}
	}
	return n
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// EncodeCertificatesPEM writes DER certificates as consecutive PEM "CERTIFICATE" blocks.
func EncodeCertificatesPEM(der ...[]byte) []byte {
	var buf bytes.Buffer
	for _, d := range der {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	return buf.Bytes()
}

// ParseCertificatesPEM reads every PEM "CERTIFICATE" block of data, in order. Other block
// types are an error, as is data holding no certificate.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("issuer: PEM block %q is not a certificate", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("issuer: certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return nil, errors.New("issuer: trailing data after the PEM certificates")
	}
	if len(out) == 0 {
		return nil, errors.New("issuer: no PEM certificate found")
	}
	return out, nil
}

// SignReaderAuth signs a DocRequest's readerAuth with r's key and Chain
// (request.SignReaderAuth), so a ReaderSigner is a request.Signer.
func (r *ReaderSigner) SignReaderAuth(transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR) (*messages.CoseSign1, error) {
	return request.SignReaderAuth(r.Key, r.Chain, transcript, itemsRequest, nil)
}
