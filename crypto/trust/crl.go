package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/verify"
)

// CRL extensions handled (RFC 5280 §5.2, §5.3).
var (
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidCertificateIssuer        = asn1.ObjectIdentifier{2, 5, 29, 29}
)

// maxCRLURLs bounds the distribution points tried for one certificate.
const maxCRLURLs = 2

// crlData is a parsed CRL with its revoked serial numbers indexed.
type crlData struct {
	rl      *x509.RevocationList
	revoked map[string]x509.RevocationListEntry // by serial number (decimal)
}

// issuingDistributionPoint is the IDP extension (RFC 5280 §5.2.5).
type issuingDistributionPoint struct {
	DistributionPoint          asn1.RawValue  `asn1:"optional,tag:0"`
	OnlyContainsUserCerts      bool           `asn1:"optional,tag:1"`
	OnlyContainsCACerts        bool           `asn1:"optional,tag:2"`
	OnlySomeReasons            asn1.BitString `asn1:"optional,tag:3"`
	IndirectCRL                bool           `asn1:"optional,tag:4"`
	OnlyContainsAttributeCerts bool           `asn1:"optional,tag:5"`
}

// decodeCRL parses a CRL (DER, or PEM "X509 CRL") that can answer for end-entity
// certificates of its issuer: a delta CRL, an indirect CRL, one limited to CA or
// attribute certificates or to some reasons, and one with an unknown critical extension
// are refused. Its signature is checked per lookup against the certificate's issuer.
func decodeCRL(data []byte) (*crlData, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "X509 CRL" {
			return nil, errors.New("no PEM X509 CRL block")
		}
		data = block.Bytes
	}
	rl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, err
	}
	for _, ext := range rl.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndicator):
			return nil, errors.New("a delta CRL (only full CRLs are used)")
		case ext.Id.Equal(oidIssuingDistributionPoint):
			var idp issuingDistributionPoint
			if rest, err := asn1.Unmarshal(ext.Value, &idp); err != nil || len(rest) > 0 {
				return nil, fmt.Errorf("issuingDistributionPoint: %v", err)
			}
			if idp.OnlyContainsCACerts || idp.OnlyContainsAttributeCerts || idp.IndirectCRL || idp.OnlySomeReasons.BitLength > 0 {
				return nil, errors.New("the CRL's issuingDistributionPoint leaves out end-entity certificates or some reasons, or makes it indirect")
			}
		case ext.Critical:
			return nil, fmt.Errorf("unknown critical CRL extension %v", ext.Id)
		}
	}
	d := &crlData{rl: rl, revoked: make(map[string]x509.RevocationListEntry, len(rl.RevokedCertificateEntries))}
	for _, e := range rl.RevokedCertificateEntries {
		for _, ext := range e.Extensions {
			if ext.Id.Equal(oidCertificateIssuer) || ext.Critical {
				return nil, fmt.Errorf("CRL entry extension %v (indirect or unknown critical) is not supported", ext.Id)
			}
		}
		// removeFromCRL (8) only appears in delta CRLs, refused above
		d.revoked[e.SerialNumber.String()] = e
	}
	return d, nil
}

// crlReasons names the CRLReason codes (RFC 5280 §5.3.1).
var crlReasons = map[int]string{0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise"}

// offlineCRL returns the newest loaded CRL of issuer whose signature verifies, nil when
// none was loaded (an error when some were and none verifies).
func (c *StatusClient) offlineCRL(issuer *x509.Certificate) (*entry, error) {
	c.mu.Lock()
	var cands []*entry
	for _, e := range c.entries {
		if e.offline && e.crl != nil && bytes.Equal(e.crl.rl.RawIssuer, issuer.RawSubject) {
			cands = append(cands, e)
		}
	}
	c.mu.Unlock()
	var best *entry
	var errs []error
	for _, e := range cands {
		if err := c.checkCRLIssuer(e, issuer); err != nil {
			errs = append(errs, err)
			continue
		}
		if best == nil || e.crl.rl.ThisUpdate.After(best.crl.rl.ThisUpdate) {
			best = e
		}
	}
	if best == nil && len(errs) > 0 {
		return nil, integrity(errors.Join(errs...))
	}
	return best, nil
}

// checkCRLIssuer checks once per issuer that the CRL is issuer's and signed by it.
func (c *StatusClient) checkCRLIssuer(e *entry, issuer *x509.Certificate) error {
	return c.once(e, issuer, func() error {
		rl := e.crl.rl
		if !bytes.Equal(rl.RawIssuer, issuer.RawSubject) {
			return fmt.Errorf("CRL %s is issued by %q, not by the certificate's issuer %q", e.uri, rl.Issuer, issuer.Subject)
		}
		if err := rl.CheckSignatureFrom(issuer); err != nil {
			return fmt.Errorf("CRL %s: signature does not verify with %q: %w", e.uri, issuer.Subject.CommonName, err)
		}
		return nil
	})
}

// crlURLs returns the http(s) CRL distribution points of cert (others, e.g. ldap, are
// not used), at most maxCRLURLs.
func crlURLs(cert *x509.Certificate) []string {
	var out []string
	for _, u := range cert.CRLDistributionPoints {
		if (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && len(out) < maxCRLURLs {
			out = append(out, u)
		}
	}
	return out
}

// Certificate implements verify.Revocation: cert, issued by issuer, against issuer's CRL
// — a loaded CRL file of that issuer, else (online) the certificate's CRL distribution
// point. With neither there is nothing to consult, and the answer says so.
func (c *StatusClient) Certificate(cert, issuer *x509.Certificate) (verify.RevocationAnswer, error) {
	e, err := c.offlineCRL(issuer)
	if err != nil {
		return verify.RevocationAnswer{}, err
	}
	var note string
	if e != nil {
		now := c.now()
		if !e.usable(now, c.StaleIfError) {
			return c.answerFailure(KindCRL, fmt.Errorf("%w: the loaded CRL %s of %q is past its nextUpdate %s", ErrStatusUnavailable, e.uri, issuer.Subject.CommonName, rfc3339(e.crl.rl.NextUpdate)))
		}
		c.mu.Lock()
		c.kind(KindCRL).hits++
		c.mu.Unlock()
		if !e.isFresh(now) {
			note = fmt.Sprintf("loaded CRL %s is past its nextUpdate %s, used within the stale-if-error bound of %s", e.uri, rfc3339(e.crl.rl.NextUpdate), c.StaleIfError)
		}
	} else {
		urls := crlURLs(cert)
		switch {
		case c.Offline:
			return verify.RevocationAnswer{Note: fmt.Sprintf("no CRL of %q loaded (offline)", issuer.Subject.CommonName)}, nil
		case len(urls) == 0:
			return verify.RevocationAnswer{Note: "the certificate names no http(s) CRL distribution point, and no CRL of its issuer is loaded"}, nil
		}
		for _, u := range urls {
			if e, note, err = c.get(context.Background(), KindCRL, u); err == nil {
				break
			}
		}
		if err != nil {
			return c.answerFailure(KindCRL, err)
		}
	}
	a := verify.RevocationAnswer{Note: note}
	if err := c.checkCRLIssuer(e, issuer); err != nil {
		return a, err
	}
	if r, ok := e.crl.revoked[cert.SerialNumber.String()]; ok {
		reason := crlReasons[r.ReasonCode]
		if reason == "" {
			reason = fmt.Sprintf("reason %d", r.ReasonCode)
		}
		return a, fmt.Errorf("certificate %q (serial %X) is revoked since %s (%s) by CRL %s", cert.Subject.CommonName, cert.SerialNumber, rfc3339(r.RevocationTime), reason, e.uri)
	}
	return a, nil
}
