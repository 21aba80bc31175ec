package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Check names of issuer data authentication.
const (
	CheckIssuerAuthAlg       = "issuer_auth.alg"
	CheckIssuerAuthX5Chain   = "issuer_auth.x5chain"
	CheckIssuerAuthSignature = "issuer_auth.signature"
	CheckIssuerAuthChain     = "issuer_auth.chain"
	CheckIssuerAuthProfile   = "issuer_auth.certificate_profile"
	CheckIssuerAuthEncoding  = "issuer_auth.encoding"
	CheckMSODecode           = "mso.decode"
	CheckMSODigestAlgorithm  = "mso.digest_algorithm"
	CheckMSODocType          = "mso.doc_type"
	CheckMSOValidity         = "mso.validity"
	CheckMSOSigned           = "mso.signed_within_certificate"
	CheckMSOEncoding         = "mso.encoding"
	CheckValueDigests        = "mso.value_digests"
)

// IssuerOptions are the inputs of issuer data authentication.
type IssuerOptions struct {
	Trust *TrustStore
	Now   time.Time
	Cache *ChainCache // optional
	// Revocation, when set, is asked about the DS certificate and the MSO status list
	// entry once everything else passed (checkRevocation).
	Revocation Revocation
}

// IssuerResult is what issuer data authentication established.
type IssuerResult struct {
	MSO      *messages.MobileSecurityObject // nil when the MSO could not be decoded
	DSCert   *x509.Certificate
	Anchor   *x509.Certificate
	Verified map[string]map[string]*messages.IssuerSignedItem // items whose digest matched
}

// digestFor returns the hash named by an MSO digestAlgorithm. Lowercase spellings
// ("sha256", seen in pyMDOC-CBOR output) are accepted with a warning by the caller.
func digestFor(name string) (func() hash.Hash, bool) {
	switch strings.ToUpper(strings.ReplaceAll(name, "-", "")) {
	case "SHA256":
		return sha256.New, true
	case "SHA384":
		return sha512.New384, true
	case "SHA512":
		return sha512.New, true
	}
	return nil, false
}

// verifySign1 verifies a COSE_Sign1 with go-cose over the given payload (attached or
// detached), using the protected header bytes exactly as received.
func verifySign1(s *messages.CoseSign1, payload []byte, pub any) error {
	alg, inProtected, err := s.Alg()
	if err != nil {
		return err
	}
	if !inProtected {
		return fmt.Errorf("alg %d is not in the protected header", alg)
	}
	if payload == nil {
		return errors.New("no payload to verify the signature over")
	}
	if len(s.Signature) == 0 {
		return errors.New("signature does not verify: empty signature")
	}
	if err := keys.Verify(pub, alg, messages.SigStructure(s.Protected, payload), s.Signature); err != nil {
		if errors.Is(err, keys.ErrVerification) {
			return fmt.Errorf("signature does not verify: %w", err)
		}
		return err
	}
	return nil
}

// verifyIssuerAuth is issuer data authentication (18013-5 9.3.1) of one IssuerSigned for
// docType. It records every check in c, in this order, and never panics on hostile input:
//
//  1. the issuerAuth header: alg in the protected header, the x5chain parsed (dsChain);
//  2. the MSO signature with the DS key, and the DS chain to a trust anchor with the DS
//     certificate's profile (verifyDS);
//  3. the MSO decoded (decodeMSO);
//  4. its digestAlgorithm, its docType against the document's, its validityInfo against
//     now and the DS certificate (checkDigestAlgorithm, checkMSODocType, checkValidity);
//  5. the digest of every IssuerSignedItemBytes exactly as received (checkValueDigests);
//  6. with a Revocation, the DS certificate's CRL and the MSO's status list entry
//     (checkRevocation).
func verifyIssuerAuth(c *checks, is *messages.IssuerSigned, docType string, opts IssuerOptions) *IssuerResult {
	res := &IssuerResult{Verified: map[string]map[string]*messages.IssuerSignedItem{}}
	ia := &is.IssuerAuth
	checkIssuerAuthAlg(c, ia)
	chain := dsChain(c, ia, opts.Cache)
	if chain != nil {
		res.DSCert = chain[0]
		res.Anchor = verifyDS(c, ia, chain, opts)
	}
	mso := decodeMSO(c, ia.Payload)
	if mso == nil {
		return res
	}
	res.MSO = mso
	newHash := checkDigestAlgorithm(c, mso)
	checkMSODocType(c, mso, docType)
	checkValidity(c, mso.ValidityInfo, res.DSCert, opts.Now)
	if newHash != nil {
		checkValueDigests(c, is, mso, newHash, res.Verified)
	}
	checkRevocation(c, chain, res, opts.Revocation)
	return res
}

// checkIssuerAuthAlg requires the signature algorithm in the protected header.
func checkIssuerAuthAlg(c *checks, ia *messages.CoseSign1) {
	alg, inProtected, err := ia.Alg()
	switch {
	case err != nil:
		c.fail(CheckIssuerAuthAlg, "%v", err)
	case !inProtected:
		c.fail(CheckIssuerAuthAlg, "alg %d only in the unprotected header", alg)
	default:
		c.pass(CheckIssuerAuthAlg)
	}
}

// dsChain parses the x5chain of issuerAuth, DS certificate first; nil when it cannot. The
// encodings real wallets use but 18013-5 does not are warnings.
func dsChain(c *checks, ia *messages.CoseSign1, cache *ChainCache) []*x509.Certificate {
	chainDER, asArray, inProt, err := ia.X5Chain()
	var chain []*x509.Certificate
	if err == nil {
		for i, der := range chainDER {
			cert, perr := cache.ParseCertificate(der)
			if perr != nil {
				err = fmt.Errorf("x5chain certificate %d: %w", i, perr)
				break
			}
			chain = append(chain, cert)
		}
	}
	if !c.result(CheckIssuerAuthX5Chain, err) {
		return nil
	}
	var quirks []string
	if asArray && len(chainDER) == 1 {
		quirks = append(quirks, "x5chain is a one-element array")
	}
	if inProt {
		quirks = append(quirks, "x5chain is in the protected header")
	}
	if ia.Tagged {
		quirks = append(quirks, "COSE_Sign1 is tagged 18")
	}
	if ia.Detached {
		quirks = append(quirks, "payload is detached")
	}
	if len(quirks) > 0 {
		c.warn(CheckIssuerAuthEncoding, "%s", strings.Join(quirks, "; "))
	}
	return chain
}

// verifyDS verifies the MSO signature with the DS certificate's key, then the chain to
// a trust anchor and the DS certificate's profile; it returns the anchor, nil when the
// chain does not verify.
func verifyDS(c *checks, ia *messages.CoseSign1, chain []*x509.Certificate, opts IssuerOptions) *x509.Certificate {
	ds := chain[0]
	c.result(CheckIssuerAuthSignature, verifySign1(ia, ia.Payload, ds.PublicKey))
	anchor, err := VerifyChain(chain, opts.Trust, opts.Now, opts.Cache)
	if !c.result(CheckIssuerAuthChain, err) {
		return nil
	}
	if dev := profileDeviations(ds, anchor, OIDMdlDS, OIDMdocDS); len(dev) > 0 {
		c.warn(CheckIssuerAuthProfile, "%s", strings.Join(dev, "; "))
	} else {
		c.pass(CheckIssuerAuthProfile)
	}
	return anchor
}

// decodeMSO decodes the signed payload; encodings real issuers use but 18013-5 does not
// are warnings. nil when it does not decode.
func decodeMSO(c *checks, payload []byte) *messages.MobileSecurityObject {
	mso, err := messages.DecodeMSO(payload)
	if !c.result(CheckMSODecode, err) {
		return nil
	}
	if mso.NotTagged {
		c.warn(CheckMSOEncoding, "MSO is not wrapped in tag 24")
	}
	vi := mso.ValidityInfo
	if vi.Signed.Fractional || vi.ValidFrom.Fractional || vi.ValidUntil.Fractional {
		c.warn(CheckMSOEncoding, "validityInfo tdate has fractional seconds")
	}
	if vi.Signed.Untagged || vi.ValidFrom.Untagged || vi.ValidUntil.Untagged {
		c.warn(CheckMSOEncoding, "validityInfo tdate without tag 0")
	}
	return mso
}

// checkDigestAlgorithm returns the hash of the MSO's digestAlgorithm, nil when it is not
// one of SHA-256, SHA-384, SHA-512 (other spellings are warnings).
func checkDigestAlgorithm(c *checks, mso *messages.MobileSecurityObject) func() hash.Hash {
	newHash, ok := digestFor(mso.DigestAlgorithm)
	switch {
	case !ok:
		c.fail(CheckMSODigestAlgorithm, "unsupported digestAlgorithm %q", mso.DigestAlgorithm)
	case mso.DigestAlgorithm != "SHA-256" && mso.DigestAlgorithm != "SHA-384" && mso.DigestAlgorithm != "SHA-512":
		c.warn(CheckMSODigestAlgorithm, "digestAlgorithm spelled %q", mso.DigestAlgorithm)
	default:
		c.pass(CheckMSODigestAlgorithm)
	}
	return newHash
}

// checkMSODocType requires the MSO's docType to be the document's.
func checkMSODocType(c *checks, mso *messages.MobileSecurityObject, docType string) {
	if mso.DocType != docType {
		c.fail(CheckMSODocType, "MSO docType %q does not match document docType %q", mso.DocType, docType)
	} else {
		c.pass(CheckMSODocType)
	}
}

// checkValidity requires now within validFrom..validUntil and signed not after now; an
// MSO signed outside the DS certificate's validity (ds nil: no certificate) is a warning.
func checkValidity(c *checks, vi messages.ValidityInfo, ds *x509.Certificate, now time.Time) {
	switch {
	case vi.ValidFrom.After(vi.ValidUntil.Time):
		c.fail(CheckMSOValidity, "validFrom %s is after validUntil %s", rfc(vi.ValidFrom.Time), rfc(vi.ValidUntil.Time))
	case now.Before(vi.ValidFrom.Time):
		c.fail(CheckMSOValidity, "not yet valid: validFrom %s is after %s", rfc(vi.ValidFrom.Time), rfc(now))
	case now.After(vi.ValidUntil.Time):
		c.fail(CheckMSOValidity, "expired: validUntil %s is before %s", rfc(vi.ValidUntil.Time), rfc(now))
	case vi.Signed.After(now):
		c.fail(CheckMSOValidity, "signed %s lies after %s", rfc(vi.Signed.Time), rfc(now))
	default:
		c.pass(CheckMSOValidity)
	}
	if ds == nil {
		return
	}
	if vi.Signed.Before(ds.NotBefore) || vi.Signed.After(ds.NotAfter) {
		c.warn(CheckMSOSigned, "MSO signed %s outside the DS certificate validity %s to %s",
			rfc(vi.Signed.Time), rfc(ds.NotBefore), rfc(ds.NotAfter))
	} else {
		c.pass(CheckMSOSigned)
	}
}

// checkValueDigests hashes every IssuerSignedItemBytes as received and compares it with
// the MSO's valueDigests; the items that match, each disclosed once, go into verified.
func checkValueDigests(c *checks, is *messages.IssuerSigned, mso *messages.MobileSecurityObject, newHash func() hash.Hash, verified map[string]map[string]*messages.IssuerSignedItem) {
	var bad []string
	if is.NameSpaces != nil {
		h := newHash()
		var sum [64]byte
		for ns, items := range is.NameSpaces.All() {
			digests, _ := mso.ValueDigests.Get(ns)
			for i, b := range items {
				it, err := messages.DecodeIssuerSignedItem(b)
				if err != nil {
					bad = append(bad, fmt.Sprintf("%s[%d]: %v", ns, i, err))
					continue
				}
				want, ok := digests.Get(it.DigestID)
				if !ok {
					bad = append(bad, fmt.Sprintf("%s/%s: no digest %d in the MSO", ns, it.ElementIdentifier, it.DigestID))
					continue
				}
				h.Reset()
				h.Write(b.Raw())
				if subtle.ConstantTimeCompare(h.Sum(sum[:0]), want) != 1 {
					bad = append(bad, fmt.Sprintf("%s/%s: digest mismatch", ns, it.ElementIdentifier))
					continue
				}
				if len(it.Random) < 16 {
					c.warn(CheckMSOEncoding, "%s/%s: random shorter than 16 bytes", ns, it.ElementIdentifier)
				}
				if verified[ns] == nil {
					verified[ns] = make(map[string]*messages.IssuerSignedItem, len(items))
				}
				if _, dup := verified[ns][it.ElementIdentifier]; dup {
					bad = append(bad, fmt.Sprintf("%s/%s: element disclosed twice", ns, it.ElementIdentifier))
					continue
				}
				verified[ns][it.ElementIdentifier] = it
			}
		}
	}
	if len(bad) > 0 {
		c.fail(CheckValueDigests, "%s", strings.Join(bad, "; "))
	} else {
		c.pass(CheckValueDigests)
	}
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
