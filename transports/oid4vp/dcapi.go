package oid4vp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/hpke"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// The W3C Digital Credentials API: the verifier's page passes a request object to
// navigator.credentials.get({digital: {requests: [request]}}); the browser hands it to
// a wallet with the page's origin and returns the wallet's data to the page, which
// posts it back. Three protocols: OpenID4VP unsigned and signed (the DC API handover
// binds the origin) and ISO/IEC 18013-7 Annex C (a DeviceRequest, the answer sealed
// with HPKE, the dcapi handover binding the EncryptionInfo and the origin).

// DCAPIOptions shape one DC API request.
type DCAPIOptions struct {
	RequestOptions
	// Protocol is ProtocolUnsigned, ProtocolSigned or ProtocolAnnexC.
	Protocol string
	// Origin is the serialized origin of the page the request is made from
	// (scheme://host[:port], no path, no trailing slash); the transcript binds it.
	Origin string
}

// DCAPIRequestObject is what the page passes as digital.requests[0].
type DCAPIRequestObject struct {
	Protocol string          `json:"protocol"`
	Data     json.RawMessage `json:"data"`
}

// MaxDCAPIData bounds the data a DC API response carries (the wallet's answer).
const MaxDCAPIData = MaxJWTSize + 64<<10

// CheckOrigin checks a serialized web origin: http or https, a host, nothing after it.
func CheckOrigin(origin string) error {
	u, err := url.Parse(origin)
	switch {
	case err != nil:
		return fmt.Errorf("origin %q: %v", origin, err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.User != nil:
		return fmt.Errorf("origin %q is not http(s)://host[:port]", origin)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(origin, "/") || strings.Contains(origin, "?") || strings.Contains(origin, "#"):
		return fmt.Errorf("origin %q has more than scheme, host and port (no path or trailing slash)", origin)
	}
	return nil
}

// BeginDCAPI starts a DC API transaction for o.Origin and builds its request object
// (Transaction.Request): for OpenID4VP the request parameters (response_mode dc_api,
// or dc_api.jwt with an encryption key when o.Encrypted), signed as a JWT with
// expected_origins for ProtocolSigned; for Annex C a DeviceRequest (readerAuth signed
// with the verifier's identity over the dcapi transcript) and an EncryptionInfo with a
// fresh HPKE key.
func (v *Verifier) BeginDCAPI(o DCAPIOptions) (*Transaction, error) {
	if err := o.Query.Validate(); err != nil {
		return nil, err
	}
	if err := CheckOrigin(o.Origin); err != nil {
		return nil, fmt.Errorf("oid4vp: %w", err)
	}
	switch o.Protocol {
	case ProtocolUnsigned, ProtocolSigned:
	case ProtocolAnnexC:
		o.Encrypted = false // the response is sealed with HPKE, not a JWE
	default:
		return nil, fmt.Errorf("oid4vp: DC API protocol %q (%s, %s or %s)", o.Protocol, ProtocolUnsigned, ProtocolSigned, ProtocolAnnexC)
	}
	t, err := v.newTransaction(KindDCAPI, o.RequestOptions)
	if err != nil {
		return nil, err
	}
	t.Protocol, t.Origin, t.State = o.Protocol, o.Origin, ""
	if err := v.register(t); err != nil {
		return nil, err
	}
	if t.Request, err = v.dcapiRequest(t); err != nil {
		v.mu.Lock()
		v.endLocked(t, &Outcome{State: StateError, Reason: "internal", Err: err})
		v.mu.Unlock()
		return nil, err
	}
	return t, nil
}

// dcapiRequest builds t's request object (with its expiry known).
func (v *Verifier) dcapiRequest(t *Transaction) (json.RawMessage, error) {
	var data any
	switch t.Protocol {
	case ProtocolUnsigned:
		c, err := v.claims(t)
		if err != nil {
			return nil, err
		}
		data = c
	case ProtocolSigned:
		jwt, err := v.RequestObject(t, "")
		if err != nil {
			return nil, err
		}
		data = map[string]string{"request": jwt}
	case ProtocolAnnexC:
		k, err := hpke.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		nonce, err := base64.RawURLEncoding.DecodeString(t.Nonce)
		if err != nil {
			return nil, err
		}
		ei, err := messages.Marshal(messages.EncryptionInfo{Nonce: nonce, RecipientPublicKey: k.COSEKey()})
		if err != nil {
			return nil, err
		}
		t.HPKE, t.EncryptionInfo = k, base64.RawURLEncoding.EncodeToString(ei)
		signer := &request.ReaderKey{Key: v.cfg.Identity.Key, Chain: v.cfg.Identity.Chain}
		dr, err := request.Build(docsOf(t.Query), signer, t.Transcript())
		if err != nil {
			return nil, err
		}
		drb, err := messages.Marshal(dr)
		if err != nil {
			return nil, err
		}
		data = map[string]string{"deviceRequest": base64.RawURLEncoding.EncodeToString(drb), "encryptionInfo": t.EncryptionInfo}
	}
	d, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(DCAPIRequestObject{Protocol: t.Protocol, Data: d})
}

// HandleDCAPIResponse processes the data the Digital Credentials API returned to the
// page for transaction id (its ID) and returns the outcome (as HandleResponse does).
// Data that is not a JSON object is refused and leaves the transaction open; any other
// data answers it exactly once: a response that does not decrypt or decode ends it in
// an error.
func (v *Verifier) HandleDCAPIResponse(ctx context.Context, id string, data []byte) (*Outcome, error) {
	t, err := v.RespondDCAPI(id, data)
	if err != nil {
		return nil, err
	}
	return v.await(ctx, t)
}

// RespondDCAPI ties DC API data to its transaction, claims it and verifies or delivers
// it; Wait (or Status) then has the outcome.
func (v *Verifier) RespondDCAPI(id string, data []byte) (*Transaction, error) {
	if len(data) > MaxDCAPIData {
		return nil, fmt.Errorf("%w: DC API response of %d bytes", ErrTooLarge, len(data))
	}
	body, err := unwrapDCAPIData(data)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	t, err := v.lookupLocked(id, true)
	if err == nil && t.Kind != KindDCAPI {
		err = fmt.Errorf("%w: %q", ErrUnknownTransaction, id)
	}
	if err == nil {
		v.claimLocked(t)
	}
	v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if t.Protocol == ProtocolAnnexC {
		return t, v.answerAnnexC(t, body)
	}
	p, perr := readDCAPIParams(t, body)
	if perr == nil {
		return t, v.answer(t, p, nil)
	}
	return t, v.fail(t, perr)
}

// TooLargeDCAPI ends DC API transaction id with an answer refused for its size (cause,
// an ErrTooLarge: the body was over the lane's limit), unread: its outcome is an error,
// ReasonTooLarge; Wait (or Status) then has it. An error when there is no such
// transaction to answer (as RespondDCAPI's).
func (v *Verifier) TooLargeDCAPI(id string, cause error) (*Transaction, error) {
	t, err := v.lookupDCAPI(id)
	if err != nil {
		return nil, err
	}
	return v.tooLarge(t.ID, true, cause)
}

// lookupDCAPI finds the open DC API transaction of id.
func (v *Verifier) lookupDCAPI(id string) (*Transaction, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := v.lookupLocked(id, true)
	if err == nil && t.Kind != KindDCAPI {
		err = fmt.Errorf("%w: %q", ErrUnknownTransaction, id)
	}
	return t, err
}

// dcapiBody is the data of a DC API response: "response" (a JWE, or the Annex C
// encrypted response in base64url) or the response parameters in the clear.
type dcapiBody struct {
	Response *string `json:"response"`
	responseParams
}

// unwrapDCAPIData reads the wallet's data: the data object itself, or a whole
// DigitalCredential ({"protocol", "data"}) as a page may post it.
func unwrapDCAPIData(data []byte) (*dcapiBody, error) {
	var w struct {
		dcapiBody
		Protocol *string         `json:"protocol"`
		Data     json.RawMessage `json:"data"`
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: DC API response data is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: DC API response data: %v", ErrMalformed, err)
	}
	if w.Protocol == nil || len(w.Data) == 0 {
		return &w.dcapiBody, nil
	}
	var b dcapiBody // a whole DigitalCredential: its data
	if err := json.Unmarshal(w.Data, &b); err != nil {
		return nil, fmt.Errorf("%w: DC API response data: %v", ErrMalformed, err)
	}
	return &b, nil
}

// readDCAPIParams decrypts an OpenID4VP DC API response when the request asked for
// dc_api.jwt (a response in the clear is then refused).
func readDCAPIParams(t *Transaction, b *dcapiBody) (*responseParams, error) {
	p := &b.responseParams
	switch {
	case b.Response != nil:
		if t.Key == nil {
			return nil, fmt.Errorf("%w: encrypted response but the request had no encryption key", ErrInvalidPresentation)
		}
		pt, _, err := decryptJWE(*b.Response, t.Key)
		if err != nil {
			return nil, err
		}
		return decodeJWEPayload(pt)
	case t.Key != nil && p.Error == "":
		return nil, fmt.Errorf("%w: the request asked for an encrypted response (dc_api.jwt), got it in the clear", ErrInvalidPresentation)
	}
	return p, nil
}

// answerAnnexC opens an Annex C response and verifies or delivers the DeviceResponse.
func (v *Verifier) answerAnnexC(t *Transaction, b *dcapiBody) error {
	if b.Response != nil {
		if err := v.checkSize("org-iso-mdoc response", len(*b.Response)); err != nil {
			return v.fail(t, err)
		}
	}
	resp, err := openAnnexC(t, b)
	if v.cfg.Deliver != nil {
		a := &Answer{Transaction: t, Transcript: t.Transcript(), Response: resp, Err: err}
		if err != nil {
			a.Response, a.Reason = nil, reasonOf(err)
		}
		return v.deliver(t, a)
	}
	out := &Outcome{Presentations: map[string][]*verify.Result{}}
	if err != nil {
		out.fail(err)
	} else {
		tr := t.Transcript()
		opts := v.verifyOptions()
		opts.Transcript, opts.Request = &tr, docsOf(t.Query)
		res := verify.VerifyDecodedResponse(resp, opts)
		out.Presentations[ProtocolAnnexC] = []*verify.Result{res}
		if res.Valid {
			out.Valid, out.State = true, StateAccepted
		} else {
			out.State, out.Reason = StateRejected, failedCheck(res)
			out.Err = fmt.Errorf("%w: %s", ErrInvalidPresentation, failure(res))
		}
	}
	v.mu.Lock()
	v.endLocked(t, out)
	v.mu.Unlock()
	return nil
}

// openAnnexC decodes and opens the wallet's sealed DeviceResponse (info = the CBOR
// SessionTranscript, aad empty) and checks that its documents are of requested types.
func openAnnexC(t *Transaction, b *dcapiBody) (*messages.DeviceResponse, error) {
	if b.Error != "" {
		return nil, fmt.Errorf("%w: %q: %s", ErrWalletError, b.Error, b.ErrorDescription)
	}
	if b.Response == nil {
		return nil, fmt.Errorf("%w: org-iso-mdoc response without \"response\"", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(*b.Response, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: org-iso-mdoc response is not base64url: %v", ErrMalformed, err)
	}
	sealed, err := messages.DecodeDCAPIResponse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	info, err := messages.Marshal(t.Transcript())
	if err != nil {
		return nil, err
	}
	pt, err := t.HPKE.Open(sealed.Enc, info, nil, sealed.CipherText)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	resp, err := messages.DecodeDeviceResponse(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed DeviceResponse: %v", ErrMalformed, err)
	}
	for _, d := range resp.Documents {
		if _, ok := queryFor(t.Query, d.DocType); !ok {
			return nil, fmt.Errorf("%w: a %q document was not requested", ErrInvalidPresentation, d.DocType)
		}
	}
	return resp, nil
}

// queryFor returns the credential query asking for docType.
func queryFor(q *DCQL, docType string) (*CredentialQuery, bool) {
	for i := range q.Credentials {
		if q.Credentials[i].Meta.DoctypeValue == docType {
			return &q.Credentials[i], true
		}
	}
	return nil, false
}

// reasonOf is the Answer reason of an error reading a response.
func reasonOf(err error) string {
	return (&Outcome{}).fail(err).Reason
}
