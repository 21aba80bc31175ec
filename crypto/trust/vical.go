package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// OIDVICALSigner is the extended key usage of a VICAL signing certificate.
var OIDVICALSigner = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 8}

// MaxVICALSize bounds the VICAL input (messages.MaxMessageSize).
const MaxVICALSize = messages.MaxMessageSize

// VICAL is a verified Verified Issuer Certificate Authority List.
type VICAL struct {
	Version    string
	Provider   string
	Date       time.Time
	NextUpdate *time.Time
	IssueID    *uint64
	Entries    []VICALEntry
	// Signer is the VICAL signing certificate (x5chain leaf); nil for an unsigned VICAL
	// being built.
	Signer *x509.Certificate
	// Warnings lists deviations that did not stop parsing: signer EKU, a passed
	// nextUpdate, skipped inconsistent entries.
	Warnings []string
}

// VICALEntry is one certificateInfo: an IACA certificate and what it is trusted for.
type VICALEntry struct {
	Certificate         *x509.Certificate
	SerialNumber        *big.Int
	SKI                 []byte
	DocTypes            []string
	CertificateProfiles []string
	IssuingAuthority    string
	IssuingCountry      string
	StateOrProvinceName string
}

type vicalWire struct {
	Version          string          `cbor:"version"`
	VicalProvider    string          `cbor:"vicalProvider"`
	Date             messages.TDate  `cbor:"date"`
	NextUpdate       *messages.TDate `cbor:"nextUpdate,omitempty"`
	VicalIssueID     *uint64         `cbor:"vicalIssueID,omitempty"`
	CertificateInfos []certInfoWire  `cbor:"certificateInfos"`
}

type certInfoWire struct {
	Certificate         []byte   `cbor:"certificate"`
	SerialNumber        bignum   `cbor:"serialNumber"`
	SKI                 []byte   `cbor:"ski"`
	DocType             []string `cbor:"docType"`
	CertificateProfile  []string `cbor:"certificateProfile,omitempty"`
	IssuingAuthority    string   `cbor:"issuingAuthority,omitempty"`
	IssuingCountry      string   `cbor:"issuingCountry,omitempty"`
	StateOrProvinceName string   `cbor:"stateOrProvinceName,omitempty"`
}

// VICALOptions are the inputs of ParseVICAL.
type VICALOptions struct {
	// Anchors are the VICAL provider's trust anchors; the signer chain must lead to one.
	Anchors *verify.TrustStore
	// Now is the verification time; zero means time.Now().
	Now time.Time
}

// ParseVICAL verifies and decodes a VICAL: a COSE_Sign1 (tag 18 optional) with the
// payload attached, alg in the protected header and the signer chain in x5chain. It
// guarantees that a returned VICAL's signature verified with the x5chain leaf key and
// that the leaf chains to opts.Anchors at opts.Now. The signer EKU (1.0.18013.5.1.8) and
// a passed nextUpdate are warnings. A certificateInfo whose certificate does not parse,
// or whose serialNumber or ski disagree with the certificate, is left out with a
// warning.
func ParseVICAL(data []byte, opts VICALOptions) (*VICAL, error) {
	if len(data) > MaxVICALSize {
		return nil, fmt.Errorf("vical: larger than %d bytes", MaxVICALSize)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var s messages.CoseSign1
	if err := messages.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("vical: COSE_Sign1: %w", err)
	}
	if s.Detached || len(s.Payload) == 0 {
		return nil, errors.New("vical: payload: the VICAL payload must be attached")
	}
	v := &VICAL{}
	signer, err := verifyCOSESign1(&s, opts.Anchors, opts.Now, &v.Warnings)
	if err != nil {
		return nil, err
	}
	v.Signer = signer
	// a certificate for another purpose, a CA, or the provider's anchor itself must not
	// sign the list of who is trusted; one without any EKU is a deviation
	warning, err := verify.SignerPurpose(signer, opts.Anchors, OIDVICALSigner)
	if err != nil {
		return nil, fmt.Errorf("vical: signer %q: %w", signer.Subject.CommonName, err)
	}
	if warning != "" {
		v.Warnings = append(v.Warnings, fmt.Sprintf("vical.signer_eku: signer %q: %s", signer.Subject.CommonName, warning))
	}

	payload := s.Payload
	if len(payload) > 2 && payload[0] == 0xd8 && payload[1] == 0x18 { // tolerated #6.24 wrapping
		e, err := messages.ParseEncodedCBOR(payload)
		if err != nil {
			return nil, fmt.Errorf("vical: payload: %w", err)
		}
		payload = e.Content()
		v.Warnings = append(v.Warnings, "vical.encoding: payload wrapped in tag 24")
	}
	var w vicalWire
	if err := messages.Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("vical: payload: %w", err)
	}
	switch {
	case w.Version == "":
		return nil, errors.New("vical: payload: version missing")
	case w.VicalProvider == "":
		return nil, errors.New("vical: payload: vicalProvider missing")
	case w.Date.IsZero():
		return nil, errors.New("vical: payload: date missing")
	case len(w.CertificateInfos) == 0:
		return nil, errors.New("vical: payload: certificateInfos missing or empty")
	}
	v.Version, v.Provider, v.Date, v.IssueID = w.Version, w.VicalProvider, w.Date.Time, w.VicalIssueID
	if w.NextUpdate != nil {
		t := w.NextUpdate.Time
		v.NextUpdate = &t
		if opts.Now.After(t) {
			v.Warnings = append(v.Warnings, fmt.Sprintf("vical.next_update: nextUpdate %s has passed", t.UTC().Format(time.RFC3339)))
		}
	}
	for i, ci := range w.CertificateInfos {
		e, err := ci.entry()
		if err != nil {
			v.Warnings = append(v.Warnings, fmt.Sprintf("vical.certificate_info[%d]: %v; entry skipped", i, err))
			continue
		}
		v.Entries = append(v.Entries, *e)
	}
	if len(v.Entries) == 0 {
		return nil, errors.New("vical: no usable certificateInfo")
	}
	return v, nil
}

func (ci certInfoWire) entry() (*VICALEntry, error) {
	cert, err := x509.ParseCertificate(ci.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if ci.SerialNumber.Int == nil || ci.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		return nil, errors.New("serialNumber does not match the certificate")
	}
	if !bytes.Equal(ci.SKI, cert.SubjectKeyId) {
		return nil, errors.New("ski does not match the certificate's SubjectKeyIdentifier")
	}
	if len(ci.DocType) == 0 {
		return nil, errors.New("docType list is empty")
	}
	return &VICALEntry{Certificate: cert, SerialNumber: ci.SerialNumber.Int, SKI: ci.SKI, DocTypes: ci.DocType,
		CertificateProfiles: ci.CertificateProfile, IssuingAuthority: ci.IssuingAuthority,
		IssuingCountry: ci.IssuingCountry, StateOrProvinceName: ci.StateOrProvinceName}, nil
}

// TrustStore returns the IACA certificates trusted for docType ("" for every entry)
// that are valid at now, each scoped to the docTypes of its entry.
func (v *VICAL) TrustStore(docType string, now time.Time) *verify.TrustStore {
	ts := verify.NewTrustStore()
	for _, e := range v.Entries {
		if docType != "" && !slices.Contains(e.DocTypes, docType) {
			continue
		}
		if now.Before(e.Certificate.NotBefore) || now.After(e.Certificate.NotAfter) {
			continue
		}
		ts.AddAnchor(verify.Anchor{Certificate: e.Certificate, DocTypes: e.DocTypes})
	}
	return ts
}

// Sign encodes v's fields (Version defaults to "1.0") and entries as a VICAL payload
// and signs it: COSE_Sign1 with protected {1: alg}, unprotected {33: chain}, attached
// payload. Entries' SerialNumber and SKI default to the certificate's. For VICAL
// providers and tests; rand nil means crypto/rand.
func (v *VICAL) Sign(key *keys.PrivateKey, chain [][]byte, rand io.Reader) ([]byte, error) {
	w := vicalWire{Version: v.Version, VicalProvider: v.Provider, Date: messages.NewTDate(v.Date), VicalIssueID: v.IssueID}
	if w.Version == "" {
		w.Version = "1.0"
	}
	if v.NextUpdate != nil {
		t := messages.NewTDate(*v.NextUpdate)
		w.NextUpdate = &t
	}
	for _, e := range v.Entries {
		ci := certInfoWire{Certificate: e.Certificate.Raw, SerialNumber: bignum{e.SerialNumber}, SKI: e.SKI, DocType: e.DocTypes,
			CertificateProfile: e.CertificateProfiles, IssuingAuthority: e.IssuingAuthority,
			IssuingCountry: e.IssuingCountry, StateOrProvinceName: e.StateOrProvinceName}
		if ci.SerialNumber.Int == nil {
			ci.SerialNumber.Int = e.Certificate.SerialNumber
		}
		if ci.SKI == nil {
			ci.SKI = e.Certificate.SubjectKeyId
		}
		w.CertificateInfos = append(w.CertificateInfos, ci)
	}
	payload, err := messages.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("vical: encoding: %w", err)
	}
	s, err := signCOSESign1(key, chain, payload, rand)
	if err != nil {
		return nil, fmt.Errorf("vical: signing: %w", err)
	}
	return messages.Marshal(s)
}

func signCOSESign1(key *keys.PrivateKey, chain [][]byte, payload []byte, rand io.Reader) (*messages.CoseSign1, error) {
	alg := keys.DefaultAlg(key.Curve())
	if alg == 0 {
		return nil, fmt.Errorf("no signature algorithm for curve %d", key.Curve())
	}
	protected := messages.EncodeProtectedHeader(alg)
	sig, err := keys.Sign(key, alg, rand, messages.SigStructure(protected, payload))
	if err != nil {
		return nil, err
	}
	return &messages.CoseSign1{Protected: protected, Unprotected: messages.EncodeX5ChainHeader(chain), Payload: payload, Signature: sig}, nil
}

// verifyCOSESign1 checks the signature of an attached-payload COSE_Sign1 with its
// x5chain leaf and the chain to anchors; it returns the leaf.
func verifyCOSESign1(s *messages.CoseSign1, anchors *verify.TrustStore, now time.Time, warnings *[]string) (*x509.Certificate, error) {
	alg, inProtected, err := s.Alg()
	if err != nil {
		return nil, fmt.Errorf("vical: alg: %w", err)
	}
	if !inProtected {
		return nil, fmt.Errorf("vical: alg: %d is not in the protected header", alg)
	}
	ders, _, _, err := s.X5Chain()
	if err != nil {
		return nil, fmt.Errorf("vical: x5chain: %w", err)
	}
	if len(ders) == 0 {
		return nil, errors.New("vical: x5chain: empty")
	}
	if len(ders) > verify.MaxX5Chain {
		return nil, fmt.Errorf("vical: x5chain: %d certificates, at most %d accepted", len(ders), verify.MaxX5Chain)
	}
	var chain []*x509.Certificate
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("vical: x5chain: certificate %d: %w", i, err)
		}
		chain = append(chain, c)
	}
	der, err := keys.VerifyDetail(chain[0].PublicKey, alg, messages.SigStructure(s.Protected, s.Payload), s.Signature)
	if err != nil {
		return nil, fmt.Errorf("vical: signature: %w", err)
	}
	if der {
		*warnings = append(*warnings, "vical.encoding: ECDSA signature in ASN.1 DER instead of r||s")
	}
	if _, err := verify.VerifyChain(chain, anchors, now, nil); err != nil {
		return nil, fmt.Errorf("vical: chain: %w", err)
	}
	return chain[0], nil
}

// bignum is serialNumber: #6.2(bstr) (an unsigned bignum) on output; a plain uint is
// accepted on input too.
type bignum struct{ *big.Int }

func (b bignum) MarshalCBOR() ([]byte, error) {
	if b.Int == nil || b.Sign() < 0 {
		return nil, errors.New("serialNumber must be a non-negative integer")
	}
	return messages.Marshal(cbor.Tag{Number: 2, Content: b.Bytes()})
}

func (b *bignum) UnmarshalCBOR(data []byte) error {
	var n big.Int
	if err := messages.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("serialNumber: %w", err)
	}
	if n.Sign() < 0 {
		return errors.New("serialNumber is negative")
	}
	b.Int = &n
	return nil
}
