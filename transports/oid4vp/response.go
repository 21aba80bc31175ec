package oid4vp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Errors of response handling. Returned errors wrap one of these and name the check.
var (
	ErrUnknownTransaction  = errors.New("oid4vp: unknown transaction")
	ErrExpired             = errors.New("oid4vp: transaction expired")
	ErrReplay              = errors.New("oid4vp: transaction already answered (replay)")
	ErrState               = errors.New("oid4vp: state does not match the transaction")
	ErrTooLarge            = errors.New("oid4vp: body exceeds the size limit")
	ErrWalletError         = errors.New("oid4vp: the wallet returned an error response")
	ErrInvalidPresentation = errors.New("oid4vp: presentation not valid")
)

// maxPresentationsPerQuery bounds the presentations a vp_token may carry per query.
const maxPresentationsPerQuery = 16

// Outcome is the verifier's verdict on one response.
type Outcome struct {
	// Valid: every credential query was answered and every DeviceResponse verified.
	Valid bool
	// Presentations holds the verification result of each DeviceResponse, by
	// credential query id, in the order received.
	Presentations map[string][]*verify.Result
	// Err says why the response is not valid (nil when Valid); it wraps one of the
	// package's errors.
	Err error
}

// ParseVPToken reads a DCQL vp_token: a JSON object from credential query id to an
// array of base64url DeviceResponses (a single string, as in draft 24 and the DC API
// wallets of 2025, is accepted too). The padding '=' is tolerated.
func ParseVPToken(raw []byte) (map[string][][]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: vp_token missing", ErrMalformed)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: vp_token is not a JSON object of credential query ids: %v", ErrMalformed, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: vp_token is empty", ErrMalformed)
	}
	out := make(map[string][][]byte, len(m))
	for id, v := range m {
		var list []string
		var one string
		if err := json.Unmarshal(v, &one); err == nil {
			list = []string{one}
		} else if err := json.Unmarshal(v, &list); err != nil {
			return nil, fmt.Errorf("%w: vp_token[%q] is neither a string nor an array of strings", ErrMalformed, id)
		}
		if len(list) == 0 || len(list) > maxPresentationsPerQuery {
			return nil, fmt.Errorf("%w: vp_token[%q] holds %d presentations (1..%d)", ErrMalformed, id, len(list), maxPresentationsPerQuery)
		}
		for i, s := range list {
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
			if err != nil {
				return nil, fmt.Errorf("%w: vp_token[%q][%d] is not base64url: %v", ErrMalformed, id, i, err)
			}
			out[id] = append(out[id], b)
		}
	}
	return out, nil
}

// VerifyVPToken verifies a vp_token against q under transcript: every key names a
// credential query of q, every query is answered (once unless it allows multiple),
// each DeviceResponse verifies with opts (its Transcript replaced by transcript) and
// holds documents of the query's doctype only.
func VerifyVPToken(vpToken []byte, q *DCQL, transcript messages.SessionTranscript, opts verify.Options) *Outcome {
	out := &Outcome{Presentations: map[string][]*verify.Result{}}
	if q == nil {
		out.Err = fmt.Errorf("%w: no query to verify against", ErrInvalidPresentation)
		return out
	}
	tok, err := ParseVPToken(vpToken)
	if err != nil {
		out.Err = err
		return out
	}
	ids := make([]string, 0, len(tok))
	for id := range tok {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := q.query(id); !ok {
			out.Err = fmt.Errorf("%w: vp_token answers %q, which is not a credential query of the request", ErrInvalidPresentation, id)
			return out
		}
	}
	opts.Transcript = &transcript
	var firstErr error
	for _, cq := range q.Credentials {
		list, ok := tok[cq.ID]
		if !ok {
			out.Err = fmt.Errorf("%w: credential query %q not answered", ErrInvalidPresentation, cq.ID)
			return out
		}
		if len(list) > 1 && !cq.Multiple {
			out.Err = fmt.Errorf("%w: credential query %q answered %d times but multiple is false", ErrInvalidPresentation, cq.ID, len(list))
			return out
		}
		// documents of another doctype, or several, are refused before any signature
		o := opts
		o.Request = []request.Doc{{DocType: cq.Meta.DoctypeValue}}
		for i, dr := range list {
			res := verify.VerifyDeviceResponse(dr, o)
			out.Presentations[cq.ID] = append(out.Presentations[cq.ID], res)
			if firstErr != nil {
				continue
			}
			if !res.Valid {
				firstErr = fmt.Errorf("%w: query %q presentation %d: %s", ErrInvalidPresentation, cq.ID, i, failure(res))
				continue
			}
			for _, d := range res.Documents {
				if d.DocType != cq.Meta.DoctypeValue {
					firstErr = fmt.Errorf("%w: query %q presentation %d: docType %q, the query asks for %q",
						ErrInvalidPresentation, cq.ID, i, d.DocType, cq.Meta.DoctypeValue)
				}
			}
		}
	}
	out.Err = firstErr
	out.Valid = firstErr == nil
	return out
}

// failure names the first fatal check of an invalid result.
func failure(r *verify.Result) string {
	if len(r.Errors) > 0 {
		return r.Errors[0]
	}
	for _, d := range r.Documents {
		for _, c := range d.Checks {
			if !c.OK && c.Severity == "error" {
				return c.Name + ": " + c.Reason
			}
		}
	}
	if len(r.Documents) == 0 {
		return fmt.Sprintf("no document (status %d)", r.Status)
	}
	return "not valid"
}

// responseParams are the members of an authorization response (form fields or the
// JSON payload of a JWE).
type responseParams struct {
	VPToken          json.RawMessage `json:"vp_token"`
	State            string          `json:"state"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// decodeJWEPayload reads the JSON payload of an encrypted response.
func decodeJWEPayload(pt []byte) (*responseParams, error) {
	var p responseParams
	if err := json.Unmarshal(pt, &p); err != nil {
		return nil, fmt.Errorf("%w: JWE payload is not a JSON object: %v", ErrMalformed, err)
	}
	return &p, nil
}

// DCAPIRequest is what a verifier remembers of an OpenID4VP request it made through
// the W3C Digital Credentials API.
type DCAPIRequest struct {
	// Origin is the web origin the browser reports, serialized without a trailing slash
	// (e.g. "https://verifier.example"), never prefixed with "origin:".
	Origin string
	Nonce  string
	Query  *DCQL
	// Key is the response-encryption key when the request asked for dc_api.jwt; the
	// response must then be a JWE and the handover carries the key's thumbprint.
	Key *EncryptionKey
}

// Transcript is the SessionTranscript of the request: [null, null,
// OpenID4VPDCAPIHandover(origin, nonce, thumbprint or null)].
func (r DCAPIRequest) Transcript() messages.SessionTranscript {
	var tp []byte
	if r.Key != nil {
		tp = r.Key.Thumbprint()
	}
	return messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover(r.Origin, r.Nonce, tp)}
}

// VerifyDCAPIResponse verifies the data the Digital Credentials API returned for r: a
// JSON object with either "response" (a JWE, required when r.Key is set) or "vp_token".
// The transcript is rebuilt from r alone.
func VerifyDCAPIResponse(r DCAPIRequest, data []byte, opts verify.Options) *Outcome {
	fail := func(err error) *Outcome { return &Outcome{Presentations: map[string][]*verify.Result{}, Err: err} }
	if len(data) > MaxJWTSize {
		return fail(fmt.Errorf("%w: DC API response of %d bytes", ErrTooLarge, len(data)))
	}
	if r.Origin == "" || strings.HasPrefix(r.Origin, "origin:") || strings.HasSuffix(r.Origin, "/") {
		return fail(fmt.Errorf("%w: origin %q is not a serialized origin", ErrInvalidPresentation, r.Origin))
	}
	var body struct {
		Response *string `json:"response"`
		responseParams
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return fail(fmt.Errorf("%w: DC API response is not a JSON object: %v", ErrMalformed, err))
	}
	p := &body.responseParams
	switch {
	case body.Response != nil:
		if r.Key == nil {
			return fail(fmt.Errorf("%w: encrypted response but the request had no encryption key", ErrInvalidPresentation))
		}
		pt, err := DecryptJWE(*body.Response, r.Key)
		if err != nil {
			return fail(err)
		}
		if p, err = decodeJWEPayload(pt); err != nil {
			return fail(err)
		}
	case r.Key != nil && p.Error == "":
		return fail(fmt.Errorf("%w: the request asked for an encrypted response (dc_api.jwt), got it in the clear", ErrInvalidPresentation))
	}
	if p.Error != "" {
		return fail(fmt.Errorf("%w: %q: %s", ErrWalletError, p.Error, p.ErrorDescription))
	}
	return VerifyVPToken(p.VPToken, r.Query, r.Transcript(), opts)
}
