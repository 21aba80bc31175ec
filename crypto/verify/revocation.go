package verify

import (
	"crypto/x509"
	"fmt"

	"github.com/mdocgate/mdocgate/messages"
)

// Check names of revocation. They appear only when a Revocation is configured, and only
// once every authenticity check before them passed: a credential that fails issuer data
// authentication (or a reader certificate that does not chain) is never looked up, so
// an unauthenticated peer cannot make the verifier fetch anything.
const (
	// CheckIssuerAuthRevocation is the DS certificate against its issuer's CRL.
	CheckIssuerAuthRevocation = "issuer_auth.revocation"
	// CheckMSOStatus is the MSO's token status list entry (MSO status.status_list).
	CheckMSOStatus = "mso.status"
	// CheckRevocationEncoding reports a status list token or CRL accepted in a form an
	// older draft used (a warning).
	CheckRevocationEncoding = "revocation.encoding"
	// CheckReaderAuthRevocation is the reader certificate against its issuer's CRL.
	CheckReaderAuthRevocation = "reader_auth.revocation"
)

// Token status values (draft-ietf-oauth-status-list §7.1).
const (
	StatusValid     = 0
	StatusInvalid   = 1
	StatusSuspended = 2
)

// StatusName names token status list values.
func StatusName(s uint8) string {
	switch s {
	case StatusValid:
		return "VALID"
	case StatusInvalid:
		return "INVALID"
	case StatusSuspended:
		return "SUSPENDED"
	}
	return "application-specific"
}

// RevocationAnswer is what a Revocation established.
type RevocationAnswer struct {
	// Status is the token status list value (StatusValid, ...); StatusValid for a
	// certificate that is not revoked.
	Status uint8
	// Note, when set, says why the answer is not a fresh one (a stale list used within
	// the operator's bound, or none at all under a fail-open policy) or that there was
	// nothing to consult (no CRL distribution point). It becomes the check's reason.
	Note string
	// Deviations are older-draft encodings that were accepted; each becomes a
	// CheckRevocationEncoding warning.
	Deviations []string
}

// Revocation answers the revocation questions of issuer data authentication and reader
// authentication. Implementations bound their own time (they may fetch over the
// network), apply their own stale and fail-open policy, and are safe for concurrent
// use; *trust.StatusClient is one.
type Revocation interface {
	// Certificate returns an error when cert, issued by issuer, is revoked, or when its
	// status cannot be established and the policy fails closed.
	Certificate(cert, issuer *x509.Certificate) (RevocationAnswer, error)
	// TokenStatus looks up the status list entry ref. The list must be signed by a
	// certificate that chains to anchor, the credential's trust anchor.
	TokenStatus(ref messages.StatusListRef, anchor *x509.Certificate) (RevocationAnswer, error)
}

// failedAuthenticity reports whether an authenticity check has failed so far.
func (c *checks) failedAuthenticity() bool {
	for _, ch := range c.list {
		if !ch.OK && ch.Kind == Authenticity {
			return true
		}
	}
	return false
}

// answer records a revocation check: a failure from err, else a pass carrying the
// answer's note, plus a warning per deviation.
func (c *checks) answer(name string, a RevocationAnswer, err error) bool {
	for _, d := range a.Deviations {
		c.warn(CheckRevocationEncoding, "%s", d)
	}
	if err != nil {
		c.fail(name, "%v", err)
		return false
	}
	c.add(Check{Name: name, OK: true, Reason: a.Note})
	return true
}

// checkRevocation asks rev about the DS certificate (CRL) and the MSO's status list
// entry, after everything else in issuer data authentication passed.
func checkRevocation(c *checks, chain []*x509.Certificate, res *IssuerResult, rev Revocation) {
	if rev == nil || res.Anchor == nil || res.MSO == nil || c.failedAuthenticity() {
		return
	}
	checkCertificateRevocation(c, CheckIssuerAuthRevocation, chain, res.Anchor, rev)
	ref, err := res.MSO.StatusList()
	switch {
	case err != nil:
		c.fail(CheckMSOStatus, "%v", err)
	case ref == nil: // no reference: nothing to look up (a profile may require one)
	default:
		a, err := rev.TokenStatus(*ref, res.Anchor)
		if err == nil && a.Status != StatusValid {
			err = fmt.Errorf("credential status is %s (%d) in %s at index %d", StatusName(a.Status), a.Status, ref.URI, ref.Idx)
		}
		c.answer(CheckMSOStatus, a, err)
	}
}

// checkCertificateRevocation checks the leaf of a verified chain against its issuer's
// CRL; a leaf that is itself the trust anchor (a pinned certificate) has no issuer to
// consult.
func checkCertificateRevocation(c *checks, name string, chain []*x509.Certificate, anchor *x509.Certificate, rev Revocation) {
	leaf := chain[0]
	issuer := issuerOf(leaf, append(chain[1:len(chain):len(chain)], anchor))
	if issuer == nil {
		c.add(Check{Name: name, OK: true, Reason: "pinned certificate: no issuer whose CRL could list it"})
		return
	}
	a, err := rev.Certificate(leaf, issuer)
	c.answer(name, a, err)
}

// issuerOf returns the candidate named as cert's issuer (subject and, when both are
// present, key identifier), nil when none is (or cert is its own anchor). The chain has
// verified already, so no signature is checked again; a wrong pick could only make the
// CRL's signature fail, never pass.
func issuerOf(cert *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, cand := range candidates {
		if cand == nil || cand.Equal(cert) || string(cand.RawSubject) != string(cert.RawIssuer) {
			continue
		}
		if len(cert.AuthorityKeyId) > 0 && len(cand.SubjectKeyId) > 0 && string(cert.AuthorityKeyId) != string(cand.SubjectKeyId) {
			continue
		}
		return cand
	}
	return nil
}
