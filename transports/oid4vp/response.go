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
	ErrBusy                = errors.New("oid4vp: verifier busy")
)

// maxPresentationsPerQuery bounds the presentations a vp_token may carry per query.
const maxPresentationsPerQuery = 16

// Outcome is the verifier's verdict on one response.
type Outcome struct {
	// Valid: every credential query was answered and every DeviceResponse verified.
	Valid bool
	// State is StateAccepted (Valid), StateRejected (a presentation that does not
	// verify or does not answer the query), StateError (a response that could not be
	// read: a wallet error, a malformed or undecryptable one) or StateExpired; Reason
	// names the failing check.
	State  string
	Reason string
	// Verdict is what a caller of Complete attached (a gate's verdict as JSON); status
	// queries return it.
	Verdict json.RawMessage
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
		list, ok := stringList(v)
		if !ok {
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

// stringList reads a JSON string or an array of strings (v is valid JSON). Strings
// without escapes or commas, such as base64url, are taken as they are, without another
// decoder's pass.
func stringList(v json.RawMessage) ([]string, bool) {
	if list, ok := plainStringList(bytes.TrimSpace(v)); ok {
		return list, true
	}
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, true
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		return list, true
	}
	return nil, false
}

// plainStringList is stringList for printable ASCII input without backslashes and
// without commas inside strings; ok is false for anything else, which a JSON decoder
// then reads.
func plainStringList(v []byte) (list []string, ok bool) {
	if len(v) < 2 {
		return nil, false
	}
	for _, c := range v {
		if c == '\\' || c > 0x7e || c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, false
		}
	}
	plain := func(e []byte) (string, bool) {
		e = bytes.TrimSpace(e)
		if len(e) < 2 || e[0] != '"' || e[len(e)-1] != '"' || bytes.IndexByte(e[1:len(e)-1], '"') >= 0 {
			return "", false
		}
		return string(e[1 : len(e)-1]), true
	}
	switch v[0] {
	case '"':
		s, ok := plain(v)
		return []string{s}, ok
	case '[':
		if v[len(v)-1] != ']' {
			return nil, false
		}
		inner := bytes.TrimSpace(v[1 : len(v)-1])
		if len(inner) == 0 {
			return []string{}, true
		}
		for _, e := range bytes.Split(inner, []byte{','}) {
			s, ok := plain(e)
			if !ok {
				return nil, false
			}
			list = append(list, s)
		}
		return list, true
	}
	return nil, false
}

// VerifyVPToken verifies a vp_token against q under transcript: every key names a
// credential query of q, the queries answered satisfy q (all of them, or one option of
// each required credential set), each answered query is answered once unless it allows
// multiple, each DeviceResponse verifies with opts (its Transcript replaced by
// transcript), holds documents of the query's doctype only and discloses one of the
// query's claim_sets options when it has claim_sets.
func VerifyVPToken(vpToken []byte, q *DCQL, transcript messages.SessionTranscript, opts verify.Options) *Outcome {
	out := &Outcome{Presentations: map[string][]*verify.Result{}}
	if q == nil {
		return out.fail(fmt.Errorf("%w: no query to verify against", ErrInvalidPresentation))
	}
	tok, err := ParseVPToken(vpToken)
	if err != nil {
		return out.fail(err)
	}
	if err := q.CheckAnswered(func(id string) bool { _, ok := tok[id]; return ok }, sortedKeys(tok)); err != nil {
		return out.fail(err)
	}
	opts.Transcript = &transcript
	var firstErr error
	for _, cq := range q.Credentials {
		list, ok := tok[cq.ID]
		if !ok {
			continue
		}
		if len(list) > 1 && !cq.Multiple {
			return out.fail(fmt.Errorf("%w: credential query %q answered %d times but multiple is false", ErrInvalidPresentation, cq.ID, len(list)))
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
				out.Reason = failedCheck(res)
				continue
			}
			for _, d := range res.Documents {
				if d.DocType != cq.Meta.DoctypeValue {
					firstErr = fmt.Errorf("%w: query %q presentation %d: docType %q, the query asks for %q",
						ErrInvalidPresentation, cq.ID, i, d.DocType, cq.Meta.DoctypeValue)
					out.Reason = ReasonDCQL
				} else if err := cq.CheckClaimSets(func(ns, id string) bool { _, ok := d.Elements[ns][id]; return ok }); err != nil {
					firstErr, out.Reason = err, ReasonDCQL
				}
			}
		}
	}
	if firstErr != nil {
		out.Err, out.State = firstErr, StateRejected
		return out
	}
	out.Valid, out.State = true, StateAccepted
	return out
}

// fail ends an outcome with err: rejected for a presentation that does not answer the
// query, error for input that could not be read.
func (o *Outcome) fail(err error) *Outcome {
	o.Err, o.State = err, StateError
	o.Reason = ReasonMalformed
	switch {
	case errors.Is(err, ErrInvalidPresentation):
		o.State, o.Reason = StateRejected, ReasonDCQL
	case errors.Is(err, ErrDecrypt):
		o.Reason = ReasonDecrypt
	case errors.Is(err, ErrWalletError):
		o.Reason = ReasonWalletError
	case errors.Is(err, ErrTooLarge):
		o.Reason = ReasonTooLarge
	}
	return o
}

// failedCheck names the first fatal check of an invalid result (or its first error).
func failedCheck(r *verify.Result) string {
	for _, d := range r.Documents {
		for _, c := range d.Checks {
			if !c.OK && c.Severity == "error" {
				return c.Name
			}
		}
	}
	if len(r.Documents) == 0 {
		return ReasonMalformed
	}
	return "not_valid"
}

func sortedKeys[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// readVPToken reads a vp_token for delivery: it checks it answers q (as VerifyVPToken
// does, except for what needs verification) and merges its DeviceResponses into one,
// documents in credential query order. A query with claim_sets must disclose the
// elements of one option (checked on the element identifiers presented; verification
// then checks they are authentic).
func readVPToken(vpToken []byte, q *DCQL) (*messages.DeviceResponse, error) {
	tok, err := ParseVPToken(vpToken)
	if err != nil {
		return nil, err
	}
	if err := q.CheckAnswered(func(id string) bool { _, ok := tok[id]; return ok }, sortedKeys(tok)); err != nil {
		return nil, err
	}
	merged := &messages.DeviceResponse{Version: "1.0", Status: messages.ResponseOK}
	for _, cq := range q.Credentials {
		list := tok[cq.ID]
		if len(list) > 1 && !cq.Multiple {
			return nil, fmt.Errorf("%w: credential query %q answered %d times but multiple is false", ErrInvalidPresentation, cq.ID, len(list))
		}
		for i, b := range list {
			dr, err := messages.DecodeDeviceResponse(b)
			if err != nil {
				return nil, fmt.Errorf("%w: query %q presentation %d: %v", ErrMalformed, cq.ID, i, err)
			}
			for j := range dr.Documents {
				d := &dr.Documents[j]
				if d.DocType != cq.Meta.DoctypeValue {
					return nil, fmt.Errorf("%w: query %q presentation %d: docType %q, the query asks for %q",
						ErrInvalidPresentation, cq.ID, i, d.DocType, cq.Meta.DoctypeValue)
				}
				if err := cq.CheckClaimSets(presented(d)); err != nil {
					return nil, err
				}
			}
			mergeResponse(merged, dr)
		}
	}
	return merged, nil
}

// mergeResponse adds the documents and document errors of dr to into; the first
// non-zero status wins.
func mergeResponse(into, dr *messages.DeviceResponse) {
	into.Documents = append(into.Documents, dr.Documents...)
	into.DocumentErrors = append(into.DocumentErrors, dr.DocumentErrors...)
	if into.Status == messages.ResponseOK {
		into.Status = dr.Status
	}
}

// presented says whether a document presents an element, going by the identifiers of
// its IssuerSignedItems (unverified).
func presented(d *messages.Document) func(ns, id string) bool {
	return func(ns, id string) bool {
		if d.IssuerSigned.NameSpaces == nil {
			return false
		}
		items, _ := d.IssuerSigned.NameSpaces.Get(ns)
		for _, it := range items {
			var item messages.IssuerSignedItem
			if messages.Unmarshal(it.Content(), &item) == nil && item.ElementIdentifier == id {
				return true
			}
		}
		return false
	}
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
