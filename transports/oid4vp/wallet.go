package oid4vp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Presenter is the wallet's holder: it builds the DeviceResponse (deviceSignature over
// the transcript) to a request and says what it holds. crypto/holder's Presenter is one;
// this package does not import it, so that a verifier links no holder.
type Presenter interface {
	Present(req *messages.DeviceRequest, transcript messages.SessionTranscript) (*messages.DeviceResponse, error)
	// Holds reports whether a credential of docType is held and, when id is not empty,
	// whether it carries element id of name space ns.
	Holds(docType, ns, id string) bool
}

// Binding are the values a wallet binds its presentation to (the handover's inputs).
type Binding struct {
	ClientID, Nonce, ResponseURI, Origin string
}

// Invocation is what a wallet reads from an openid4vp:// (or mdoc-openid4vp://, ...)
// link: a request by reference.
type Invocation struct {
	ClientID         string
	RequestURI       string
	RequestURIMethod string // "get" or "post"
}

// MaxInvocationLength bounds an invocation URI.
const MaxInvocationLength = 8 << 10

// ParseInvocation reads an invocation URI: any scheme, query parameters client_id and
// request_uri (required), request_uri_method (get or post, default get). A request
// passed by value (request=) is refused: the verifier must be authenticated by a
// signed request object fetched from request_uri.
func ParseInvocation(s string) (*Invocation, error) {
	if len(s) > MaxInvocationLength {
		return nil, fmt.Errorf("%w: invocation URI longer than %d", ErrMalformed, MaxInvocationLength)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: invocation URI: %v", ErrMalformed, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("%w: invocation URI has no scheme", ErrMalformed)
	}
	q := u.Query()
	inv := &Invocation{ClientID: q.Get("client_id"), RequestURI: q.Get("request_uri"), RequestURIMethod: strings.ToLower(q.Get("request_uri_method"))}
	if inv.ClientID == "" {
		return nil, fmt.Errorf("%w: invocation URI: client_id missing", ErrMalformed)
	}
	if inv.RequestURI == "" {
		if q.Get("request") != "" {
			return nil, fmt.Errorf("%w: invocation URI: request by value is not accepted, only request_uri", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: invocation URI: request_uri missing", ErrMalformed)
	}
	switch inv.RequestURIMethod {
	case "":
		inv.RequestURIMethod = "get"
	case "get", "post":
	default:
		return nil, fmt.Errorf("%w: invocation URI: request_uri_method %q", ErrMalformed, inv.RequestURIMethod)
	}
	return inv, nil
}

// WalletConfig configures a simulated Wallet.
type WalletConfig struct {
	// Holder presents the wallet's credentials.
	Holder Presenter
	// Trust holds the reader roots the request object's x5c (and an Annex C request's
	// readerAuth) must chain to; nil skips the chain check (the signature and the
	// client_id binding are still checked).
	Trust *verify.TrustStore
	// Client makes the HTTP requests (default: a client with a 30 s timeout).
	Client *http.Client
	// AllowHTTP accepts http:// request and response URIs (loopback tests); otherwise
	// only https is used.
	AllowHTTP bool
	// Enc is the preferred JWE enc when the verifier offers it (default A128GCM).
	Enc string
	// APU and APV go into the JWE header and the Concat KDF. Nil APU means 16 random
	// bytes; nil APV means the request's nonce (18013-7 Annex B convention).
	APU, APV []byte
	// Mutate, when set, rewrites each DeviceResponse before it is sent (tests and load
	// simulation of misbehaving wallets).
	Mutate func(deviceResponse []byte) []byte
	// Bind, when set, changes the values the wallet binds its presentation to (tests of
	// a verifier refusing a wrong nonce, client_id or origin).
	Bind func(*Binding)
	// AnnexBHandover makes the wallet an 18013-7:2024 Annex B one: for direct_post.jwt
	// it signs over messages.ISO18013_7AnnexBHandover with its mdocGeneratedNonce as the
	// JWE apu.
	AnnexBHandover bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Wallet is a simulated OpenID4VP wallet, over redirects (openid4vp://) and over the
// Digital Credentials API (AnswerDCAPI). It is safe for concurrent use.
type Wallet struct {
	cfg WalletConfig
}

// NewWallet returns a wallet.
func NewWallet(cfg WalletConfig) *Wallet {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Wallet{cfg: cfg}
}

// Request is an authorization request the wallet fetched and checked.
type Request struct {
	Claims RequestClaims
	Query  *DCQL
	// Leaf is the verifier's certificate, bound to Claims.ClientID.
	Leaf *x509.Certificate
	// EncKey is the verifier's encryption JWK chosen for direct_post.jwt (nil otherwise).
	EncKey *jose.JSONWebKey
	Enc    string
	// Origin is the web origin of a DC API request (the browser's, not the verifier's
	// word); empty for a redirect request.
	Origin string
	// MdocGeneratedNonce is an Annex B wallet's nonce (the JWE apu).
	MdocGeneratedNonce string
}

// Present runs the whole flow for an invocation URI: fetch and check the request,
// build the DeviceResponses and post them. It returns nil when the verifier accepted.
func (w *Wallet) Present(ctx context.Context, invocation string) error {
	inv, err := ParseInvocation(invocation)
	if err != nil {
		return err
	}
	req, err := w.Fetch(ctx, inv)
	if err != nil {
		return err
	}
	form, err := w.ResponseForm(req)
	if err != nil {
		return err
	}
	return w.Post(ctx, req.Claims.ResponseURI, form)
}

func (w *Wallet) checkURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: %s %q is not an absolute URL", ErrMalformed, what, s)
	}
	if u.Scheme != "https" && !(w.cfg.AllowHTTP && u.Scheme == "http") {
		return nil, fmt.Errorf("%w: %s %q is not https", ErrMalformed, what, s)
	}
	return u, nil
}

// Fetch retrieves the request object from inv.RequestURI (GET, or POST with a
// wallet_nonce when the invocation says request_uri_method=post) and checks it: typ
// oauth-authz-req+jwt, signature by the x5c leaf, chain to Trust, client_id equal to
// the invocation's and bound to the leaf (x509_san_dns: a DNS SAN that is also the
// response_uri's host; x509_hash: the leaf's hash), response_type vp_token, a known
// response_mode, nonce of at least 16 characters, not expired, the wallet_nonce
// echoed, a valid DCQL query, and for direct_post.jwt a usable ECDH-ES P-256/384/521
// key and enc.
func (w *Wallet) Fetch(ctx context.Context, inv *Invocation) (*Request, error) {
	if _, err := w.checkURL("request_uri", inv.RequestURI); err != nil {
		return nil, err
	}
	var hreq *http.Request
	var err error
	walletNonce := ""
	if inv.RequestURIMethod == "post" {
		walletNonce = randomString(16)
		form := url.Values{"wallet_nonce": {walletNonce},
			"wallet_metadata": {`{"vp_formats_supported":{"mso_mdoc":{}},"response_modes_supported":["direct_post","direct_post.jwt"]}`}}
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, inv.RequestURI, strings.NewReader(form.Encode()))
		if err == nil {
			hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		hreq, err = http.NewRequestWithContext(ctx, http.MethodGet, inv.RequestURI, nil)
	}
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", MediaRequestJWT)
	resp, err := w.cfg.Client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("oid4vp: fetching request_uri: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWTSize+1))
	if err != nil {
		return nil, fmt.Errorf("oid4vp: reading request object: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oid4vp: request_uri answered HTTP %d: %s", resp.StatusCode, snippet(body))
	}
	if len(body) > MaxJWTSize {
		return nil, fmt.Errorf("%w: request object larger than %d bytes", ErrTooLarge, MaxJWTSize)
	}
	return w.CheckRequestObject(string(body), inv.ClientID, walletNonce)
}

// CheckRequestObject verifies a request object (see Fetch) for the invocation's
// clientID; walletNonce, when non-empty, must be echoed.
func (w *Wallet) CheckRequestObject(jwt, clientID, walletNonce string) (*Request, error) {
	r, err := w.signedRequest(jwt)
	if err != nil {
		return nil, err
	}
	c := &r.Claims
	if c.ClientID != clientID {
		return nil, fmt.Errorf("%w: request object client_id %q differs from the invocation's %q", ErrSignature, c.ClientID, clientID)
	}
	ru, err := w.checkURL("response_uri", c.ResponseURI)
	if err != nil {
		return nil, err
	}
	if dns, ok := strings.CutPrefix(c.ClientID, PrefixX509SanDNS+":"); ok && ru.Hostname() != dns {
		return nil, fmt.Errorf("%w: response_uri host %q is not the client_id's DNS name %q", ErrSignature, ru.Hostname(), dns)
	}
	if walletNonce != "" && c.WalletNonce != walletNonce {
		return nil, fmt.Errorf("%w: wallet_nonce not echoed", ErrSignature)
	}
	return r, w.checkParams(r, ModeDirectPost, ModeDirectPostJWT)
}

// signedRequest verifies a request object's JWS (typ, signature by the x5c leaf, chain
// to Trust when set), reads its claims and checks the client_id is bound to the leaf,
// the expiry and the issue time.
func (w *Wallet) signedRequest(jwt string) (*Request, error) {
	now := w.cfg.Now()
	vj, err := VerifyX5CJWT(jwt, w.cfg.Trust, now)
	if err != nil {
		return nil, fmt.Errorf("request object: %w", err)
	}
	if vj.Header.Typ != TypeRequestObject {
		return nil, fmt.Errorf("%w: request object typ %q, want %q", ErrMalformed, vj.Header.Typ, TypeRequestObject)
	}
	r := &Request{Leaf: vj.Chain[0]}
	if err := json.Unmarshal(vj.Payload, &r.Claims); err != nil {
		return nil, fmt.Errorf("%w: request object claims: %v", ErrMalformed, err)
	}
	c := &r.Claims
	if err := CheckClientID(c.ClientID, r.Leaf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if c.Exp != 0 && now.Unix() > c.Exp {
		return nil, fmt.Errorf("%w: request object expired at %s", ErrExpired, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	if c.Iat != 0 && time.Unix(c.Iat, 0).After(now.Add(5*time.Minute)) {
		return nil, fmt.Errorf("%w: request object iat is in the future", ErrMalformed)
	}
	return r, nil
}

// checkParams checks the request parameters every request has: response_type
// vp_token, a response mode of modes (the encrypted one needs a usable key), a nonce of
// at least 16 characters and a valid DCQL query.
func (w *Wallet) checkParams(r *Request, plain, encrypted string) error {
	c := &r.Claims
	if c.ResponseType != "vp_token" {
		return fmt.Errorf("%w: response_type %q, want vp_token", ErrMalformed, c.ResponseType)
	}
	if len(c.Nonce) < 16 {
		return fmt.Errorf("%w: nonce shorter than 16 characters", ErrMalformed)
	}
	var err error
	if r.Query, err = ParseDCQL(c.DCQLQuery); err != nil {
		return err
	}
	switch c.ResponseMode {
	case plain:
	case encrypted:
		return w.chooseKey(r)
	default:
		return fmt.Errorf("%w: response_mode %q (%s or %s)", ErrMalformed, c.ResponseMode, plain, encrypted)
	}
	return nil
}

// chooseKey picks the first EC key of client_metadata.jwks usable for ECDH-ES
// encryption and an enc both sides support.
func (w *Wallet) chooseKey(r *Request) error {
	md := r.Claims.ClientMetadata
	if md == nil || md.JWKS == nil {
		return fmt.Errorf("%w: %s without client_metadata.jwks", ErrMalformed, r.Claims.ResponseMode)
	}
	for _, raw := range md.JWKS.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) != nil || !k.Valid() {
			continue
		}
		if _, ok := k.Key.(*ecdsa.PublicKey); !ok || (k.Use != "" && k.Use != "enc") || (k.Algorithm != "" && k.Algorithm != string(jose.ECDH_ES)) {
			continue
		}
		r.EncKey = &k
		break
	}
	if r.EncKey == nil {
		return fmt.Errorf("%w: client_metadata.jwks has no EC key for ECDH-ES", ErrMalformed)
	}
	offered := md.EncValues
	if len(offered) == 0 {
		offered = []string{string(jose.A128GCM)}
	}
	pref := w.cfg.Enc
	if pref == "" {
		pref = string(jose.A128GCM)
	}
	for _, e := range append([]string{pref}, string(jose.A128GCM), string(jose.A256GCM)) {
		if slices.Contains(offered, e) {
			r.Enc = e
			return nil
		}
	}
	return fmt.Errorf("%w: no supported enc among %v", ErrMalformed, offered)
}

// Transcript is the SessionTranscript the wallet signs over for r: the OpenID4VP
// handover, the DC API one for a request with an Origin, or the 18013-7:2024 Annex B
// one for an Annex B wallet's encrypted answer.
func (r *Request) Transcript() messages.SessionTranscript { return r.transcript(nil) }

func (r *Request) transcript(bind func(*Binding)) messages.SessionTranscript {
	var tp []byte
	if r.EncKey != nil {
		tp, _ = r.EncKey.Thumbprint(crypto.SHA256)
	}
	b := Binding{ClientID: r.Claims.ClientID, Nonce: r.Claims.Nonce, ResponseURI: r.Claims.ResponseURI, Origin: r.Origin}
	if bind != nil {
		bind(&b)
	}
	switch {
	case r.Origin != "":
		return messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover(b.Origin, b.Nonce, tp)}
	case r.MdocGeneratedNonce != "":
		return messages.SessionTranscript{Handover: messages.ISO18013_7AnnexBHandover(b.ClientID, b.ResponseURI, b.Nonce, r.MdocGeneratedNonce)}
	}
	return messages.SessionTranscript{Handover: messages.OpenID4VPHandover(b.ClientID, b.Nonce, tp, b.ResponseURI)}
}

// answered are the credential queries the wallet answers: all of them without
// credential_sets; with them, for each set the first option whose queries it can all
// answer (a required set it cannot answer is an error).
func (w *Wallet) answered(q *DCQL) ([]*CredentialQuery, error) {
	can := func(id string) bool {
		cq, _ := q.query(id)
		if !w.cfg.Holder.Holds(cq.Meta.DoctypeValue, "", "") {
			return false
		}
		_, ok := cq.ChosenClaims(func(ns, el string) bool { return w.cfg.Holder.Holds(cq.Meta.DoctypeValue, ns, el) })
		return ok
	}
	if len(q.CredentialSets) == 0 {
		out := make([]*CredentialQuery, len(q.Credentials))
		for i := range q.Credentials {
			out[i] = &q.Credentials[i]
		}
		return out, nil
	}
	chosen := map[string]bool{}
	for i, set := range q.CredentialSets {
		found := false
		for _, opt := range set.Options {
			if allOf(opt, can) {
				for _, id := range opt {
					chosen[id] = true
				}
				found = true
				break
			}
		}
		if !found && set.IsRequired() {
			return nil, fmt.Errorf("oid4vp: wallet: no option of credential_sets[%d] can be answered", i)
		}
	}
	var out []*CredentialQuery
	for i := range q.Credentials {
		if chosen[q.Credentials[i].ID] {
			out = append(out, &q.Credentials[i])
		}
	}
	return out, nil
}

// VPToken builds the vp_token for r: one DeviceResponse (deviceSignature over r's
// transcript) per credential query answered (see answered), disclosing the claims of
// the first claim_sets option the wallet can satisfy.
func (w *Wallet) VPToken(r *Request) (map[string][]string, error) {
	t := r.transcript(w.cfg.Bind)
	queries, err := w.answered(r.Query)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, cq := range queries {
		claims, ok := cq.ChosenClaims(func(ns, el string) bool { return w.cfg.Holder.Holds(cq.Meta.DoctypeValue, ns, el) })
		if !ok {
			claims = cq.Claims
		}
		b, err := w.presentFor(cq, claims, t)
		if err != nil {
			return nil, err
		}
		out[cq.ID] = []string{base64.RawURLEncoding.EncodeToString(b)}
	}
	return out, nil
}

// presentFor is the DeviceResponse (CBOR, after Mutate) answering cq with claims.
func (w *Wallet) presentFor(cq *CredentialQuery, claims []ClaimQuery, t messages.SessionTranscript) ([]byte, error) {
	dreq, err := request.Build([]request.Doc{cq.docFor(claims)}, nil, t)
	if err != nil {
		return nil, err
	}
	resp, err := w.cfg.Holder.Present(dreq, t)
	if err != nil {
		return nil, fmt.Errorf("oid4vp: wallet: query %q: %w", cq.ID, err)
	}
	b, err := messages.Marshal(resp)
	if err != nil {
		return nil, err
	}
	if w.cfg.Mutate != nil {
		b = w.cfg.Mutate(b)
	}
	return b, nil
}

// ResponseForm builds the response body: vp_token and state for direct_post, or a
// single "response" JWE (ECDH-ES to the chosen key, with kid, apu and apv) for
// direct_post.jwt.
func (w *Wallet) ResponseForm(r *Request) (url.Values, error) {
	apu, apv := w.cfg.APU, w.cfg.APV
	if apu == nil {
		apu = []byte(randomString(16))
	}
	if apv == nil {
		apv = []byte(r.Claims.Nonce)
	}
	if w.cfg.AnnexBHandover && r.EncKey != nil && r.Origin == "" {
		r.MdocGeneratedNonce = string(apu)
	}
	payload, err := w.responseParams(r)
	if err != nil {
		return nil, err
	}
	if r.EncKey == nil {
		f := url.Values{}
		for k, v := range payload {
			f.Set(k, v)
		}
		return f, nil
	}
	pj, err := json.Marshal(payload.json())
	if err != nil {
		return nil, err
	}
	jwe, err := EncryptJWE(pj, r.EncKey.Key.(*ecdsa.PublicKey), EncryptOptions{Enc: r.Enc, KeyID: r.EncKey.KeyID, APU: apu, APV: apv})
	if err != nil {
		return nil, err
	}
	return url.Values{"response": {jwe}}, nil
}

// params are the response parameters as strings (vp_token as its JSON).
type params map[string]string

// json is the parameters as the members of a JSON object (vp_token an object).
func (p params) json() map[string]any {
	out := map[string]any{}
	for k, v := range p {
		if k == "vp_token" {
			out[k] = json.RawMessage(v)
		} else {
			out[k] = v
		}
	}
	return out
}

// responseParams are vp_token (and state, when the request had one).
func (w *Wallet) responseParams(r *Request) (params, error) {
	tok, err := w.VPToken(r)
	if err != nil {
		return nil, err
	}
	tj, err := json.Marshal(tok)
	if err != nil {
		return nil, err
	}
	p := params{"vp_token": string(tj)}
	if r.Claims.State != "" {
		p["state"] = r.Claims.State
	}
	return p, nil
}

// Post sends a response form to responseURI. A non-200 answer is an error carrying the
// verifier's error_description.
func (w *Wallet) Post(ctx context.Context, responseURI string, form url.Values) error {
	if _, err := w.checkURL("response_uri", responseURI); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURI, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("oid4vp: posting the response: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Description != "" {
			return &ResponseError{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
		}
		return &ResponseError{Status: resp.StatusCode, Description: snippet(body)}
	}
	return nil
}

// ResponseError is the verifier's refusal of a response.
type ResponseError struct {
	Status      int
	Code        string
	Description string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("oid4vp: verifier refused the response (HTTP %d %s): %s", e.Status, e.Code, e.Description)
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
