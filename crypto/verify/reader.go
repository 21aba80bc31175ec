package verify

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/messages"
)

// Check names of reader authentication.
const (
	CheckReaderAuthX5Chain   = "reader_auth.x5chain"
	CheckReaderAuthSignature = "reader_auth.signature"
	CheckReaderAuthChain     = "reader_auth.chain"
	CheckReaderAuthProfile   = "reader_auth.certificate_profile"
	CheckReaderAuthPurpose   = "reader_auth.certificate_purpose"
	CheckReaderAuthEncoding  = "reader_auth.encoding"
)

// ReaderAuthResult is the outcome of reader authentication for one DocRequest.
type ReaderAuthResult struct {
	Checks     []Check
	Valid      bool
	ReaderCert *x509.Certificate
}

// VerifyReaderAuth checks a DocRequest's readerAuth: the detached COSE_Sign1 over
// ReaderAuthenticationBytes built from the holder's own transcript and the ItemsRequestBytes
// exactly as received, and the reader certificate chain (intermediates allowed) to store.
// A certificate without the reader-auth EKU is a conformance deviation.
func VerifyReaderAuth(ra *messages.CoseSign1, transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR,
	store *TrustStore, now time.Time, policy Policy) *ReaderAuthResult {
	return VerifyReaderAuthCached(ra, transcript, itemsRequest, store, now, policy, nil)
}

// VerifyReaderAuthCached is VerifyReaderAuth with a cache for parsed certificates and
// verified reader chains (a holder meeting the same gate readers again and again).
func VerifyReaderAuthCached(ra *messages.CoseSign1, transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR,
	store *TrustStore, now time.Time, policy Policy, cache *ChainCache) *ReaderAuthResult {
	return VerifyReaderAuthWith(ra, transcript, itemsRequest, ReaderAuthOptions{Trust: store, Now: now, Policy: policy, Cache: cache})
}

// ReaderAuthOptions are the inputs of VerifyReaderAuthWith.
type ReaderAuthOptions struct {
	Trust  *TrustStore
	Now    time.Time
	Policy Policy
	Cache  *ChainCache // optional
	// Revocation, when set, checks the reader certificate against its issuer's CRL once
	// the chain verified (CheckReaderAuthRevocation).
	Revocation Revocation
}

// VerifyReaderAuthWith is VerifyReaderAuth with every option.
func VerifyReaderAuthWith(ra *messages.CoseSign1, transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR, opts ReaderAuthOptions) *ReaderAuthResult {
	var c checks
	res := &ReaderAuthResult{}
	defer func() {
		d := DocumentResult{Checks: c.list}
		d.finish(opts.Policy)
		res.Checks, res.Valid = d.Checks, d.Valid
	}()
	return verifyReaderAuthSign1(&c, res, ra, func() ([]byte, error) {
		b, err := messages.ReaderAuthenticationBytes(transcript, itemsRequest)
		return b.Raw(), err
	}, opts)
}

// VerifyReaderAuthAll checks a readerAuthAll COSE_Sign1 over ReaderAuthenticationAllBytes.
func VerifyReaderAuthAll(ra *messages.CoseSign1, transcript messages.SessionTranscript, items []messages.EncodedCBOR,
	info *messages.EncodedCBOR, store *TrustStore, now time.Time, policy Policy) *ReaderAuthResult {
	var c checks
	res := &ReaderAuthResult{}
	defer func() {
		d := DocumentResult{Checks: c.list}
		d.finish(policy)
		res.Checks, res.Valid = d.Checks, d.Valid
	}()
	return verifyReaderAuthSign1(&c, res, ra, func() ([]byte, error) {
		b, err := messages.ReaderAuthenticationAllBytes(transcript, items, info)
		return b.Raw(), err
	}, ReaderAuthOptions{Trust: store, Now: now, Policy: policy})
}

func verifyReaderAuthSign1(c *checks, res *ReaderAuthResult, ra *messages.CoseSign1, payload func() ([]byte, error),
	opts ReaderAuthOptions) *ReaderAuthResult {
	store, now, cache := opts.Trust, opts.Now, opts.Cache
	if ra == nil {
		c.fail(CheckReaderAuthX5Chain, "no readerAuth")
		return res
	}
	chain, _, _, err := parseX5Chain(ra, cache)
	if !c.result(CheckReaderAuthX5Chain, err) {
		return res
	}
	res.ReaderCert = chain[0]
	signed, err := payload()
	if err != nil {
		c.fail(CheckReaderAuthSignature, "building the signed bytes: %v", err)
		return res
	}
	if !ra.Detached {
		if string(ra.Payload) != string(signed) {
			c.fail(CheckReaderAuthSignature, "attached payload is not the ReaderAuthenticationBytes of this session")
			return res
		}
	}
	der, err := verifySign1(ra, signed, chain[0].PublicKey)
	if der {
		c.warn(CheckReaderAuthEncoding, "%s", derWarning)
	}
	c.result(CheckReaderAuthSignature, err)
	// A certificate made for another purpose (a Document Signer, a TLS server) must not
	// authenticate a reader. One without any extended key usage is a profile deviation.
	leaf := chain[0]
	allowed, present := ekuPurpose(leaf, OIDMdlReaderAuth, OIDMdocReaderAuth)
	switch {
	case !present:
		c.warn(CheckReaderAuthPurpose, "reader certificate has no extended key usage")
	case allowed:
		c.pass(CheckReaderAuthPurpose)
	default:
		c.fail(CheckReaderAuthPurpose, "reader certificate is for another purpose: extended key usage lacks %v", []asn1.ObjectIdentifier{OIDMdlReaderAuth, OIDMdocReaderAuth})
	}
	anchor, err := VerifyChain(chain, store, now, cache)
	if c.result(CheckReaderAuthChain, err) {
		if dev := profileDeviations(chain[0], anchor, OIDMdlReaderAuth, OIDMdocReaderAuth); len(dev) > 0 {
			c.warn(CheckReaderAuthProfile, "%s", strings.Join(dev, "; "))
		} else {
			c.pass(CheckReaderAuthProfile)
		}
		if opts.Revocation != nil && !c.failedAuthenticity() {
			checkCertificateRevocation(c, CheckReaderAuthRevocation, chain, anchor, opts.Revocation)
		}
	}
	return res
}
