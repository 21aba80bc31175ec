package oid4vp

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/hpke"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// AnswerDCAPI plays the wallet behind navigator.credentials.get: request is what the
// page passed as digital.requests[0] ({"protocol", "data"}) and origin the page's origin
// as the browser reports it. It returns the data the browser hands back to the page.
//
//   - openid4vp-v1-unsigned: the request parameters in the clear.
//   - openid4vp-v1-signed: a request object whose JWS, x5c chain (to Trust when set)
//     and client_id binding verify, and whose expected_origins include origin.
//   - org-iso-mdoc: a DeviceRequest (its readerAuth verified, to Trust when set) and an
//     EncryptionInfo; the DeviceResponse is sealed with HPKE to its recipient key.
//
// OpenID4VP answers are {"vp_token": ...} or, for dc_api.jwt, {"response": JWE};
// Annex C answers are {"response": base64url(["dcapi", {enc, cipherText}])}.
func (w *Wallet) AnswerDCAPI(request json.RawMessage, origin string) (json.RawMessage, error) {
	if len(request) > MaxDCAPIData {
		return nil, fmt.Errorf("%w: DC API request of %d bytes", ErrTooLarge, len(request))
	}
	if err := CheckOrigin(origin); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var ro DCAPIRequestObject
	if err := json.Unmarshal(request, &ro); err != nil {
		return nil, fmt.Errorf("%w: DC API request: %v", ErrMalformed, err)
	}
	switch ro.Protocol {
	case ProtocolAnnexC:
		return w.answerAnnexC(ro.Data, origin)
	case ProtocolUnsigned, ProtocolSigned:
	default:
		return nil, fmt.Errorf("%w: DC API protocol %q", ErrMalformed, ro.Protocol)
	}
	r, err := w.dcapiRequest(ro, origin)
	if err != nil {
		return nil, err
	}
	p, err := w.responseParams(r)
	if err != nil {
		return nil, err
	}
	if r.EncKey == nil {
		return json.Marshal(p.json())
	}
	pj, err := json.Marshal(p.json())
	if err != nil {
		return nil, err
	}
	apu, apv := w.cfg.APU, w.cfg.APV
	if apv == nil {
		apv = []byte(r.Claims.Nonce)
	}
	jwe, err := EncryptJWE(pj, r.EncKey.Key.(*ecdsa.PublicKey), EncryptOptions{Enc: r.Enc, KeyID: r.EncKey.KeyID, APU: apu, APV: apv})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"response": jwe})
}

// dcapiRequest reads and checks an OpenID4VP DC API request.
func (w *Wallet) dcapiRequest(ro DCAPIRequestObject, origin string) (*Request, error) {
	var r *Request
	if ro.Protocol == ProtocolSigned {
		var d struct {
			Request string `json:"request"`
		}
		if err := json.Unmarshal(ro.Data, &d); err != nil || d.Request == "" {
			return nil, fmt.Errorf("%w: openid4vp-v1-signed data without a request object", ErrMalformed)
		}
		var err error
		if r, err = w.signedRequest(d.Request); err != nil {
			return nil, err
		}
		if !slices.Contains(r.Claims.ExpectedOrigins, origin) {
			return nil, fmt.Errorf("%w: the page's origin %q is not among the request's expected_origins %v", ErrSignature, origin, r.Claims.ExpectedOrigins)
		}
	} else {
		r = &Request{}
		if err := json.Unmarshal(ro.Data, &r.Claims); err != nil {
			return nil, fmt.Errorf("%w: DC API request parameters: %v", ErrMalformed, err)
		}
	}
	r.Origin = origin
	if err := w.checkParams(r, ModeDCAPI, ModeDCAPIJWT); err != nil {
		return nil, err
	}
	return r, nil
}

// answerAnnexC answers an org-iso-mdoc request.
func (w *Wallet) answerAnnexC(data json.RawMessage, origin string) (json.RawMessage, error) {
	var d struct {
		DeviceRequest  string `json:"deviceRequest"`
		EncryptionInfo string `json:"encryptionInfo"`
	}
	if err := json.Unmarshal(data, &d); err != nil || d.DeviceRequest == "" || d.EncryptionInfo == "" {
		return nil, fmt.Errorf("%w: org-iso-mdoc data needs deviceRequest and encryptionInfo", ErrMalformed)
	}
	drb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(d.DeviceRequest, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: deviceRequest is not base64url", ErrMalformed)
	}
	eib, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(d.EncryptionInfo, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: encryptionInfo is not base64url", ErrMalformed)
	}
	dreq, err := messages.DecodeDeviceRequest(drb)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ei, err := messages.DecodeEncryptionInfo(eib)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// readerAuth is checked over the page's real origin (a phishing page's request
	// fails here); the answer binds what Bind says (a misbehaving wallet)
	if err := w.checkReaderAuth(dreq, messages.SessionTranscript{Handover: messages.DCAPIHandover(d.EncryptionInfo, origin)}); err != nil {
		return nil, err
	}
	b := Binding{Origin: origin}
	if w.cfg.Bind != nil {
		w.cfg.Bind(&b)
	}
	tr := messages.SessionTranscript{Handover: messages.DCAPIHandover(d.EncryptionInfo, b.Origin)}
	resp, err := w.cfg.Holder.Present(dreq, tr)
	if err != nil {
		return nil, fmt.Errorf("oid4vp: wallet: %w", err)
	}
	plain, err := messages.Marshal(resp)
	if err != nil {
		return nil, err
	}
	if w.cfg.Mutate != nil {
		plain = w.cfg.Mutate(plain)
	}
	recipient, err := hpke.PointOf(&ei.RecipientPublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	info, err := messages.Marshal(tr)
	if err != nil {
		return nil, err
	}
	enc, ct, err := hpke.Seal(recipient, info, nil, plain, nil)
	if err != nil {
		return nil, err
	}
	sealed, err := messages.Marshal(messages.DCAPIResponse{Enc: enc, CipherText: ct})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"response": base64.RawURLEncoding.EncodeToString(sealed)})
}

// checkReaderAuth verifies the readerAuth of every DocRequest over tr (its chain to
// Trust when set); a request without readerAuth is answered (readers need not sign).
func (w *Wallet) checkReaderAuth(dreq *messages.DeviceRequest, tr messages.SessionTranscript) error {
	for i := range dreq.DocRequests {
		dr := &dreq.DocRequests[i]
		if dr.ReaderAuth == nil {
			continue
		}
		trust := w.cfg.Trust
		if trust == nil {
			trust = verify.NewTrustStore()
		}
		res := verify.VerifyReaderAuth(dr.ReaderAuth, tr, dr.ItemsRequest, trust, w.cfg.Now(), verify.Policy{})
		if res.Valid {
			continue
		}
		if w.cfg.Trust == nil && onlyChainFailed(res) {
			continue
		}
		return fmt.Errorf("%w: docRequest %d readerAuth: %s", ErrSignature, i, firstFailed(res.Checks))
	}
	return nil
}

func onlyChainFailed(r *verify.ReaderAuthResult) bool {
	for _, c := range r.Checks {
		if !c.OK && c.Severity == "error" && c.Name != verify.CheckReaderAuthChain {
			return false
		}
	}
	return true
}

func firstFailed(checks []verify.Check) string {
	for _, c := range checks {
		if !c.OK && c.Severity == "error" {
			return c.Name + ": " + c.Reason
		}
	}
	return "not valid"
}
