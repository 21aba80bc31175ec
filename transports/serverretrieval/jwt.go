// Package serverretrieval is server retrieval of ISO/IEC 18013-5:2021 clause 8.3.2.2
// (kept by ISO/IEC TS 23220-4): the reader fetches mdoc data from the issuing
// authority named in the engagement's ServerRetrievalMethods instead of from the
// mdoc, either with the WebAPI (POST of a ServerRequest, answered by JWTs signed by a
// JWS signer certificate under the IACA) or with OpenID Connect (authorization code
// flow with PKCE, the data in the ID token).
//
// Client is the reader side; Issuer is a reference issuing-authority endpoint
// answering both, for tests and `mdocgate issuer-serve`.
//
// Guarantees of the reader side: a document is returned only when its JWT is an
// ES256/ES384/ES512 JWS whose x5c chain leads to a trusted IACA at the verification
// time, whose signature verifies with the x5c leaf, and whose iat/exp window (with
// the configured skew) contains that time; the JWS signer certificate must not be a CA,
// the IACA itself, or carry an EKU without 1.0.18013.5.1.3 (one without any EKU gives a
// warning). OIDC ID tokens are checked in the
// same way plus iss, aud and nonce. Every HTTP body is bounded.
package serverretrieval

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// OIDJWSSigner is the extended key usage of a JWS signer certificate (18013-5 B.1.5).
var OIDJWSSigner = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 3}

// DefaultSkew is the clock skew tolerated on iat and exp.
const DefaultSkew = 30 * time.Second

var (
	// ErrJWT: a document JWT or ID token fails a check (the error names which).
	ErrJWT = errors.New("serverretrieval: JWT not valid")
	// ErrProtocol: the issuing authority's answer does not follow the protocol.
	ErrProtocol = errors.New("serverretrieval: protocol error")
)

// Document is the data of one verified document JWT or ID token.
type Document struct {
	DocType string `json:"doctype"`
	// NameSpaces maps name space → element identifier → value as JSON (binary values
	// are base64url strings, as the issuer sent them).
	NameSpaces map[string]map[string]json.RawMessage `json:"namespaces"`
	// Errors maps name space → element → error code, when the issuer sent any.
	Errors   map[string]map[string]int `json:"errors,omitempty"`
	IssuedAt time.Time                 `json:"-"`
	Expires  time.Time                 `json:"-"`
	Signer   *x509.Certificate         `json:"-"`
	// Warnings are deviations that do not invalidate the document (e.g. EKU).
	Warnings []string `json:"-"`
	// Claims is the whole JWT payload.
	Claims map[string]json.RawMessage `json:"-"`
}

// claims is the registered-claims part of a server-retrieval JWT.
type claims struct {
	Iss        string                                `json:"iss"`
	Aud        json.RawMessage                       `json:"aud"`
	Iat        *float64                              `json:"iat"`
	Exp        *float64                              `json:"exp"`
	Nonce      string                                `json:"nonce"`
	DocType    string                                `json:"doctype"`
	NameSpaces map[string]map[string]json.RawMessage `json:"namespaces"`
	Errors     map[string]map[string]int             `json:"errors"`
}

// VerifyDocumentJWT checks a server-retrieval JWT (WebAPI document or OIDC ID token):
// alg ES256/384/512 (EdDSA too), x5c chain to trust at now, signature by the leaf,
// iat not after now+skew, exp present and not before now-skew, a doctype, and a leaf
// for this purpose (verify.SignerPurpose with the JWS signer EKU 1.0.18013.5.1.3; a
// leaf without any EKU is reported in Warnings).
func VerifyDocumentJWT(token string, trust *verify.TrustStore, now time.Time, skew time.Duration) (*Document, error) {
	d, _, err := verifyJWT(token, trust, now, skew)
	return d, err
}

func verifyJWT(token string, trust *verify.TrustStore, now time.Time, skew time.Duration) (*Document, *claims, error) {
	if trust == nil || trust.Len() == 0 {
		return nil, nil, fmt.Errorf("%w: no IACA to verify against", ErrJWT)
	}
	vj, err := oid4vp.VerifyX5CJWT(token, trust, now)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrJWT, err)
	}
	var c claims
	if err := json.Unmarshal(vj.Payload, &c); err != nil {
		return nil, nil, fmt.Errorf("%w: claims: %v", ErrJWT, err)
	}
	d := &Document{DocType: c.DocType, NameSpaces: c.NameSpaces, Errors: c.Errors, Signer: vj.Chain[0]}
	_ = json.Unmarshal(vj.Payload, &d.Claims)
	if c.Exp == nil {
		return nil, nil, fmt.Errorf("%w: exp missing", ErrJWT)
	}
	d.Expires = time.Unix(int64(*c.Exp), 0).UTC()
	if now.After(d.Expires.Add(skew)) {
		return nil, nil, fmt.Errorf("%w: expired at %s (now %s)", ErrJWT, d.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.Iat != nil {
		d.IssuedAt = time.Unix(int64(*c.Iat), 0).UTC()
		if d.IssuedAt.After(now.Add(skew)) {
			return nil, nil, fmt.Errorf("%w: iat %s is in the future", ErrJWT, d.IssuedAt.Format(time.RFC3339))
		}
		if d.IssuedAt.After(d.Expires) {
			return nil, nil, fmt.Errorf("%w: iat after exp", ErrJWT)
		}
	}
	if c.DocType == "" {
		return nil, nil, fmt.Errorf("%w: doctype missing", ErrJWT)
	}
	// a Document Signer, a TLS certificate or the IACA itself must not vouch for the data
	warning, err := verify.SignerPurpose(vj.Chain[0], trust, OIDJWSSigner)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: jws_signer.purpose: JWS signer %v", ErrJWT, err)
	}
	if warning != "" {
		d.Warnings = append(d.Warnings, "jws_signer.eku: JWS signer "+warning)
	}
	return d, &c, nil
}
