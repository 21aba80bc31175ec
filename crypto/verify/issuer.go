package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"slices"
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
	CheckIssuerAuthScope     = "issuer_auth.doc_type_scope"
	CheckIssuerAuthPurpose   = "issuer_auth.certificate_purpose"
	CheckIssuerAuthCountry   = "issuer_auth.country"
	CheckIssuerAuthIACA      = "issuer_auth.iaca_profile"
	CheckIssuerAuthProfile   = "issuer_auth.certificate_profile"
	CheckIssuerAuthEncoding  = "issuer_auth.encoding"
	CheckIssuingCountry      = "issuer_auth.issuing_country"
	CheckMSODecode           = "mso.decode"
	CheckMSODigestAlgorithm  = "mso.digest_algorithm"
	CheckMSODocType          = "mso.doc_type"
	CheckMSOValidity         = "mso.validity"
	CheckMSOSigned           = "mso.signed_within_certificate"
	CheckMSOEncoding         = "mso.encoding"
	CheckValueDigests        = "mso.value_digests"
)

// MaxX5Chain is the most certificates an x5chain may carry; a longer one is refused
// before any certificate is parsed. A Document Signer chain is the DS and at most its
// IACA; reader chains seen in the wild have three.
const MaxX5Chain = 4

// IssuerOptions are the inputs of issuer data authentication.
type IssuerOptions struct {
	Trust *TrustStore
	Now   time.Time
	Cache *ChainCache // optional
	// ClockSkew relaxes the not-yet-valid checks (validFrom, signed, certificate
	// notBefore) by this much; never expiry.
	ClockSkew time.Duration
	// Revocation, when set, is asked about the DS certificate and the MSO status list
	// entry once everything else passed (checkRevocation).
	Revocation Revocation

	budget *budget                    // nil: no limit
	want   map[string]map[string]bool // requested elements by name space; nil: all
}

// IssuerResult is what issuer data authentication established.
type IssuerResult struct {
	MSO      *messages.MobileSecurityObject // nil when the MSO could not be decoded
	DSCert   *x509.Certificate
	Anchor   *x509.Certificate
	Verified map[string]map[string]*messages.IssuerSignedItem // items whose digest matched
	// Authentic says the MSO is signed by a Document Signer that chains to a trust
	// anchor: chain and signature passed (scope and purpose are checks of their own).
	// Only then is its device key used.
	Authentic bool
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

// verifySign1 verifies a COSE_Sign1 over the given payload (attached or detached), using
// the protected header bytes exactly as received; der reports an ECDSA signature in ASN.1
// DER instead of COSE's r||s (accepted, a deviation the caller reports).
func verifySign1(s *messages.CoseSign1, payload []byte, pub any) (der bool, err error) {
	alg, inProtected, err := s.Alg()
	if err != nil {
		return false, err
	}
	if !inProtected {
		return false, fmt.Errorf("alg %d is not in the protected header", alg)
	}
	if payload == nil {
		return false, errors.New("no payload to verify the signature over")
	}
	if len(s.Signature) == 0 {
		return false, errors.New("signature does not verify: empty signature")
	}
	der, err = keys.VerifyDetail(pub, alg, messages.SigStructure(s.Protected, payload), s.Signature)
	if err != nil {
		if errors.Is(err, keys.ErrVerification) {
			return der, fmt.Errorf("signature does not verify: %w", err)
		}
		return der, err
	}
	return der, nil
}

// derWarning is the deviation reported for a DER-encoded ECDSA signature in COSE.
const derWarning = "ECDSA signature in ASN.1 DER instead of r||s"

// verifyIssuerAuth is issuer data authentication (18013-5 9.3.1) of one IssuerSigned for
// docType. It records every check in c, in this order, and never panics on hostile input:
//
//  1. the issuerAuth header: alg in the protected header, the x5chain parsed (dsChain);
//  2. the DS certificate: its chain to a trust anchor, the anchor's docType scope, the
//     certificate's purpose, country and profile, the IACA's profile; then the MSO
//     signature with its key, only once the chain holds (verifyDS);
//  3. the MSO decoded (decodeMSO);
//  4. its digestAlgorithm, its docType against the document's, its validityInfo against
//     now and the DS certificate (checkDigestAlgorithm, checkMSODocType, checkValidity);
//  5. the digest of every requested IssuerSignedItemBytes exactly as received
//     (checkValueDigests), and the disclosed issuing_country and issuing_jurisdiction
//     against the DS certificate (checkIssuingCountry);
//  6. with a Revocation, the DS certificate's CRL and the MSO's status list entry
//     (checkRevocation).
func verifyIssuerAuth(c *checks, is *messages.IssuerSigned, docType string, opts IssuerOptions) *IssuerResult {
	res := &IssuerResult{Verified: map[string]map[string]*messages.IssuerSignedItem{}}
	ia := &is.IssuerAuth
	checkIssuerAuthAlg(c, ia)
	trusted := false
	chain := dsChain(c, ia, opts.Cache)
	if chain != nil {
		res.DSCert = chain[0]
		res.Anchor, res.Authentic = verifyDS(c, ia, chain, docType, opts)
		trusted = res.Anchor != nil
	}
	mso := decodeMSO(c, ia.Payload)
	if mso == nil {
		res.Authentic = false
		return res
	}
	res.MSO = mso
	newHash := checkDigestAlgorithm(c, mso)
	checkMSODocType(c, mso, docType)
	checkValidity(c, mso.ValidityInfo, res.DSCert, opts.Now, opts.ClockSkew)
	if newHash != nil {
		checkValueDigests(c, is, mso, newHash, res.Verified, opts.want)
	}
	if trusted {
		checkIssuingCountry(c, res.Verified, res.DSCert)
	}
	if chain != nil {
		chain = chain[:1] // the DS is issued by its anchor directly: the rest was not used
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

// parseX5Chain parses a COSE x5chain, leaf first, refusing more than MaxX5Chain
// certificates before parsing any.
func parseX5Chain(s *messages.CoseSign1, cache *ChainCache) (chain []*x509.Certificate, asArray, inProtected bool, err error) {
	chainDER, asArray, inProtected, err := s.X5Chain()
	if err != nil {
		return nil, asArray, inProtected, err
	}
	if len(chainDER) > MaxX5Chain {
		return nil, asArray, inProtected, fmt.Errorf("x5chain holds %d certificates, at most %d accepted", len(chainDER), MaxX5Chain)
	}
	for i, der := range chainDER {
		cert, err := cache.ParseCertificate(der)
		if err != nil {
			return nil, asArray, inProtected, fmt.Errorf("x5chain certificate %d: %w", i, err)
		}
		chain = append(chain, cert)
	}
	return chain, asArray, inProtected, nil
}

// dsChain parses the x5chain of issuerAuth, DS certificate first; nil when it cannot. The
// encodings real wallets use but 18013-5 does not are warnings.
func dsChain(c *checks, ia *messages.CoseSign1, cache *ChainCache) []*x509.Certificate {
	chain, asArray, inProt, err := parseX5Chain(ia, cache)
	if !c.result(CheckIssuerAuthX5Chain, err) {
		return nil
	}
	var quirks []string
	if asArray && len(chain) == 1 {
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

// verifyDS establishes the Document Signer: its chain to a trust anchor (the DS issued
// by the anchor directly, or pinned), the anchor's trust for docType, the certificate's
// purpose, its country against the IACA's and both certificates' profiles; then the
// MSO signature with the DS key. Nothing is verified with a key before the chain vouches
// for it: an untrusted DS costs no signature check. It returns the anchor (nil when the
// chain does not verify) and whether the MSO signature verified.
func verifyDS(c *checks, ia *messages.CoseSign1, chain []*x509.Certificate, docType string, opts IssuerOptions) (*x509.Certificate, bool) {
	ds := chain[0]
	anchors, err := verifyChain(chain, opts.Trust, opts.Now, opts.Cache, chainOptions{skew: opts.ClockSkew, leafOnly: true, budget: opts.budget})
	if errors.Is(err, errBudget) {
		c.budgetExhausted(opts.budget, "the DS chain")
		return nil, false
	}
	if !c.result(CheckIssuerAuthChain, err) {
		c.fail(CheckIssuerAuthSignature, "not verified: the Document Signer is not trusted")
		return nil, false
	}
	var anchor *Anchor
	for i := range anchors {
		if anchors[i].inScope(docType) {
			anchor = &anchors[i]
			break
		}
	}
	if anchor == nil {
		anchor = &anchors[0]
		c.fail(CheckIssuerAuthScope, "trust anchor %q is trusted for %s, not for %s",
			anchor.Certificate.Subject.CommonName, strings.Join(anchor.DocTypes, ", "), docType)
	} else {
		c.pass(CheckIssuerAuthScope)
	}
	warning, err := SignerPurpose(ds, opts.Trust, OIDMdlDS, OIDMdocDS)
	switch {
	case err != nil:
		c.fail(CheckIssuerAuthPurpose, "Document Signer %v", err)
	case warning != "":
		c.warn(CheckIssuerAuthPurpose, "Document Signer %s", warning)
	default:
		c.pass(CheckIssuerAuthPurpose)
	}
	if !anchor.Pinned {
		if dc, ac := firstOf(ds.Subject.Country), firstOf(anchor.Certificate.Subject.Country); !strings.EqualFold(dc, ac) {
			c.fail(CheckIssuerAuthCountry, "Document Signer country %q differs from its IACA's %q", dc, ac)
		} else {
			c.pass(CheckIssuerAuthCountry)
		}
		if dev := iacaDeviations(anchor.Certificate); len(dev) > 0 {
			c.warn(CheckIssuerAuthIACA, "%s", strings.Join(dev, "; "))
		} else {
			c.pass(CheckIssuerAuthIACA)
		}
	}
	if dev := dsDeviations(ds, anchor); len(dev) > 0 {
		c.warn(CheckIssuerAuthProfile, "%s", strings.Join(dev, "; "))
	} else {
		c.pass(CheckIssuerAuthProfile)
	}
	if !opts.budget.charge(keys.PublicKeyCost(ds.PublicKey)) {
		c.budgetExhausted(opts.budget, "the MSO signature")
		return anchor.Certificate, false
	}
	der, err := verifySign1(ia, ia.Payload, ds.PublicKey)
	if der {
		c.warn(CheckIssuerAuthEncoding, "%s", derWarning)
	}
	return anchor.Certificate, c.result(CheckIssuerAuthSignature, err)
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
	dates := []messages.TDate{vi.Signed, vi.ValidFrom, vi.ValidUntil}
	if vi.ExpectedUpdate != nil {
		dates = append(dates, *vi.ExpectedUpdate)
	}
	for _, q := range []struct {
		what string
		has  func(messages.TDate) bool
	}{
		{"has fractional seconds", func(d messages.TDate) bool { return d.Fractional }},
		{"without tag 0", func(d messages.TDate) bool { return d.Untagged }},
		{"not in UTC with Z", func(d messages.TDate) bool { return d.NonUTC }},
		{"wrapped in a byte string", func(d messages.TDate) bool { return d.Embedded }},
	} {
		if slices.ContainsFunc(dates, q.has) {
			c.warn(CheckMSOEncoding, "validityInfo tdate %s", q.what)
		}
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

// checkValidity requires now within validFrom..validUntil and signed not after now (the
// not-yet-valid sides relaxed by skew, expiry never), and the MSO signed within the DS
// certificate's validity (ds nil: no certificate, not checked).
func checkValidity(c *checks, vi messages.ValidityInfo, ds *x509.Certificate, now time.Time, skew time.Duration) {
	switch {
	case vi.ValidFrom.After(vi.ValidUntil.Time):
		c.fail(CheckMSOValidity, "validFrom %s is after validUntil %s", rfc(vi.ValidFrom.Time), rfc(vi.ValidUntil.Time))
	case now.Add(skew).Before(vi.ValidFrom.Time):
		c.fail(CheckMSOValidity, "not yet valid: validFrom %s is after %s", rfc(vi.ValidFrom.Time), rfc(now))
	case now.After(vi.ValidUntil.Time):
		c.fail(CheckMSOValidity, "expired: validUntil %s is before %s", rfc(vi.ValidUntil.Time), rfc(now))
	case vi.Signed.After(now.Add(skew)):
		c.fail(CheckMSOValidity, "signed %s lies after %s", rfc(vi.Signed.Time), rfc(now))
	default:
		c.pass(CheckMSOValidity)
	}
	if ds == nil {
		return
	}
	if vi.Signed.Before(ds.NotBefore) || vi.Signed.After(ds.NotAfter) {
		c.fail(CheckMSOSigned, "MSO signed %s outside the DS certificate validity %s to %s",
			rfc(vi.Signed.Time), rfc(ds.NotBefore), rfc(ds.NotAfter))
	} else {
		c.pass(CheckMSOSigned)
	}
}

// checkValueDigests hashes every requested IssuerSignedItemBytes as received and
// compares it with the MSO's valueDigests; the items that match, each disclosed once, go
// into verified. Items not requested (want names them by name space; nil: all) are
// neither hashed nor disclosed, and reported.
func checkValueDigests(c *checks, is *messages.IssuerSigned, mso *messages.MobileSecurityObject, newHash func() hash.Hash,
	verified map[string]map[string]*messages.IssuerSignedItem, want map[string]map[string]bool) {
	var bad, unrequested []string
	if is.NameSpaces != nil {
		h := newHash()
		var sum [64]byte
		for ns, items := range is.NameSpaces.All() {
			wantNS, nsWanted := want[ns]
			if want != nil && !nsWanted {
				unrequested = append(unrequested, fmt.Sprintf("%s (%d elements)", ns, len(items)))
				continue
			}
			digests, _ := mso.ValueDigests.Get(ns)
			for i, b := range items {
				it, err := messages.DecodeIssuerSignedItem(b)
				if err != nil {
					bad = append(bad, fmt.Sprintf("%s[%d]: %v", ns, i, err))
					continue
				}
				if wantNS != nil && !wantNS[it.ElementIdentifier] {
					unrequested = append(unrequested, ns+"/"+it.ElementIdentifier)
					continue
				}
				digest, ok := digests.Get(it.DigestID)
				if !ok {
					bad = append(bad, fmt.Sprintf("%s/%s: no digest %d in the MSO", ns, it.ElementIdentifier, it.DigestID))
					continue
				}
				h.Reset()
				h.Write(b.Raw())
				if subtle.ConstantTimeCompare(h.Sum(sum[:0]), digest) != 1 {
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
	if len(unrequested) > 0 {
		c.warn(CheckUnrequestedElements, "not requested, neither checked nor disclosed: %s", strings.Join(unrequested, ", "))
	}
}

// checkIssuingCountry requires the disclosed issuing_country (any name space) to be the
// DS certificate's countryName, and issuing_jurisdiction its stateOrProvinceName when
// both are there: one trusted jurisdiction must not issue for another. Without either
// element disclosed there is nothing to compare and the check is not listed.
func checkIssuingCountry(c *checks, verified map[string]map[string]*messages.IssuerSignedItem, ds *x509.Certificate) {
	var bad []string
	seen := false
	dsCountry, dsState := firstOf(ds.Subject.Country), firstOf(ds.Subject.Province)
	for ns, items := range verified {
		if it, ok := items["issuing_country"]; ok {
			seen = true
			v, isText := JSONValue(it.ElementValue).(string)
			switch {
			case !isText:
				bad = append(bad, ns+"/issuing_country is not a text string")
			case !strings.EqualFold(v, dsCountry):
				bad = append(bad, fmt.Sprintf("%s/issuing_country %q differs from the Document Signer's country %q", ns, v, dsCountry))
			}
		}
		if it, ok := items["issuing_jurisdiction"]; ok {
			seen = true
			v, isText := JSONValue(it.ElementValue).(string)
			if isText && v != "" && dsState != "" && !strings.EqualFold(v, dsState) {
				bad = append(bad, fmt.Sprintf("%s/issuing_jurisdiction %q differs from the Document Signer's stateOrProvinceName %q", ns, v, dsState))
			}
		}
	}
	switch {
	case len(bad) > 0:
		slices.Sort(bad)
		c.fail(CheckIssuingCountry, "%s", strings.Join(bad, "; "))
	case seen:
		c.pass(CheckIssuingCountry)
	}
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
