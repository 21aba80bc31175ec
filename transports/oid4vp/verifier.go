package oid4vp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Response modes.
const (
	ModeDirectPost    = "direct_post"
	ModeDirectPostJWT = "direct_post.jwt"
)

// Defaults of VerifierConfig.
const (
	DefaultTTL             = 5 * time.Minute
	DefaultMaxBody         = 1 << 20
	DefaultMaxTransactions = 100_000
	maxRequestPostBody     = 64 << 10
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// BaseURL is the verifier's externally visible URL (scheme, host, optional path, no
	// trailing slash). request_uri is BaseURL/request/{id}, response_uri
	// BaseURL/response/{id}; Handler serves both under BaseURL's path.
	BaseURL string
	// Identity signs the request objects; its leaf binds the client_id.
	Identity *Identity
	// ClientIDPrefix is PrefixX509SanDNS (default) or PrefixX509Hash.
	ClientIDPrefix string
	// Trust holds the IACAs whose mdocs are accepted.
	Trust  *verify.TrustStore
	Policy verify.Policy
	Cache  *verify.ChainCache
	// TTL is a transaction's lifetime (default DefaultTTL).
	TTL time.Duration
	// MaxBody bounds a response body (default DefaultMaxBody).
	MaxBody int64
	// MaxTransactions bounds the transactions kept at once (default
	// DefaultMaxTransactions); Begin fails beyond it.
	MaxTransactions int
	// Scheme is the invocation URI scheme: "openid4vp" (default), "mdoc-openid4vp", ...
	Scheme string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RequestOptions shape one authorization request.
type RequestOptions struct {
	Query *DCQL
	// Encrypted asks for direct_post.jwt with a fresh ECDH-ES key in client_metadata.
	Encrypted bool
	// EncValues are the JWE enc values offered (default A128GCM, A256GCM).
	EncValues []string
	// RequestURIMethod is "get" (default, not sent) or "post".
	RequestURIMethod string
}

// Transaction is one authorization request and, once answered, its outcome.
type Transaction struct {
	ID            string
	ClientID      string
	Nonce         string
	State         string
	RequestURI    string
	ResponseURI   string
	ResponseMode  string
	InvocationURI string
	Expires       time.Time
	Query         *DCQL
	// Key is the response-encryption key (nil for direct_post).
	Key *EncryptionKey

	requestURIMethod string
	encValues        []string
	done             chan struct{}
	answered         bool // guarded by Verifier.mu
	outcome          *Outcome
}

// Transcript is the SessionTranscript the verifier expects for t: [null, null,
// OpenID4VPHandover(client_id, nonce, thumbprint or null, response_uri)].
func (t *Transaction) Transcript() messages.SessionTranscript {
	var tp []byte
	if t.Key != nil {
		tp = t.Key.Thumbprint()
	}
	return messages.SessionTranscript{Handover: messages.OpenID4VPHandover(t.ClientID, t.Nonce, tp, t.ResponseURI)}
}

// Verifier is the OpenID4VP verifier. It is safe for concurrent use.
type Verifier struct {
	cfg      VerifierConfig
	base     *url.URL
	clientID string

	mu    sync.Mutex
	txs   map[string]*Transaction // open transactions
	ended map[string]tombstone    // answered or expired ones, to name a late response's error
	begun int
}

// tombstone remembers an ended transaction until its expiry (answered) or for one more
// TTL (expired). Tombstones are bounded; a response to a forgotten transaction is
// still refused, as unknown.
type tombstone struct {
	until   time.Time
	expired bool
}

// NewVerifier checks cfg and returns a verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Identity == nil || cfg.Identity.Key == nil || len(cfg.Identity.Chain) == 0 {
		return nil, errors.New("oid4vp: verifier: Identity with key and chain required")
	}
	if _, err := JWSAlg(cfg.Identity.Key); err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("oid4vp: verifier: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.ClientIDPrefix == "" {
		cfg.ClientIDPrefix = PrefixX509SanDNS
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxTransactions <= 0 {
		cfg.MaxTransactions = DefaultMaxTransactions
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "openid4vp"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cid, err := cfg.Identity.ClientID(cfg.ClientIDPrefix)
	if err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, base: base, clientID: cid, txs: map[string]*Transaction{}, ended: map[string]tombstone{}}, nil
}

// ClientID is the verifier's client_id (with its prefix).
func (v *Verifier) ClientID() string { return v.clientID }

// Begin starts a transaction: fresh id, nonce and state (32 random bytes each,
// base64url), the encryption key when asked, and the invocation URI
// Scheme://?client_id=...&request_uri=...[&request_uri_method=post].
func (v *Verifier) Begin(o RequestOptions) (*Transaction, error) {
	if err := o.Query.Validate(); err != nil {
		return nil, err
	}
	method := strings.ToLower(o.RequestURIMethod)
	if method != "" && method != "get" && method != "post" {
		return nil, fmt.Errorf("oid4vp: request_uri_method %q (get or post)", o.RequestURIMethod)
	}
	now := v.cfg.Now()
	id := randomString(24)
	t := &Transaction{
		ID: id, ClientID: v.clientID, Nonce: randomString(32), State: randomString(32),
		RequestURI: v.base.String() + "/request/" + id, ResponseURI: v.base.String() + "/response/" + id,
		ResponseMode: ModeDirectPost, Expires: now.Add(v.cfg.TTL), Query: o.Query,
		requestURIMethod: method, done: make(chan struct{}),
	}
	if o.Encrypted {
		k, err := NewEncryptionKey()
		if err != nil {
			return nil, err
		}
		t.Key, t.ResponseMode = k, ModeDirectPostJWT
		t.encValues = o.EncValues
		if len(t.encValues) == 0 {
			t.encValues = []string{string(jose.A128GCM), string(jose.A256GCM)}
		}
	}
	q := url.Values{"client_id": {t.ClientID}, "request_uri": {t.RequestURI}}
	if method == "post" {
		q.Set("request_uri_method", "post")
	}
	t.InvocationURI = v.cfg.Scheme + "://?" + q.Encode()

	v.mu.Lock()
	defer v.mu.Unlock()
	v.begun++
	if v.begun%1024 == 0 || len(v.txs) >= v.cfg.MaxTransactions {
		v.sweepLocked(now)
	}
	if len(v.txs) >= v.cfg.MaxTransactions {
		return nil, fmt.Errorf("oid4vp: %d transactions open, the limit (MaxTransactions)", len(v.txs))
	}
	v.txs[id] = t
	return t, nil
}

// sweepLocked ends expired transactions (waking their waiters with ErrExpired) and
// forgets old tombstones.
func (v *Verifier) sweepLocked(now time.Time) {
	for _, t := range v.txs {
		if now.After(t.Expires) {
			v.endLocked(t, &Outcome{Err: fmt.Errorf("%w: transaction %s", ErrExpired, t.ID)})
		}
	}
	for id, ts := range v.ended {
		if now.After(ts.until) {
			delete(v.ended, id)
		}
	}
}

// endLocked marks t answered (or expired, when out is given) and moves it from the
// open transactions to the tombstones. With out nil the caller records the outcome and
// closes t.done itself.
func (v *Verifier) endLocked(t *Transaction, out *Outcome) {
	t.answered = true
	delete(v.txs, t.ID)
	ts := tombstone{until: t.Expires}
	if out != nil {
		ts = tombstone{until: t.Expires.Add(v.cfg.TTL), expired: true}
		t.outcome = out
		close(t.done)
	}
	if len(v.ended) >= v.cfg.MaxTransactions {
		now := v.cfg.Now()
		for id, old := range v.ended {
			if now.After(old.until) {
				delete(v.ended, id)
			}
		}
		for id := range v.ended { // still full: forget arbitrary ones
			if len(v.ended) < v.cfg.MaxTransactions {
				break
			}
			delete(v.ended, id)
		}
	}
	v.ended[t.ID] = ts
}

// Outcome returns t's outcome without waiting; ok is false while t is unanswered.
func (t *Transaction) Outcome() (out *Outcome, ok bool) {
	select {
	case <-t.done:
		return t.outcome, true
	default:
		return nil, false
	}
}

// Wait blocks until t is answered, expires or ctx ends, and returns the outcome.
func (v *Verifier) Wait(ctx context.Context, t *Transaction) (*Outcome, error) {
	timer := time.NewTimer(time.Until(t.Expires))
	defer timer.Stop()
	select {
	case <-t.done:
		return t.outcome, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
	}
	v.mu.Lock()
	if !t.answered {
		v.endLocked(t, &Outcome{Err: fmt.Errorf("%w: transaction %s", ErrExpired, t.ID)})
	}
	v.mu.Unlock()
	select { // a response being verified right now finishes first
	case <-t.done:
		return t.outcome, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// lookup returns the open transaction id, or an error naming why there is none.
func (v *Verifier) lookup(id string) (*Transaction, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.txs[id]
	if !ok {
		if ts, ok := v.ended[id]; ok && ts.expired {
			return nil, fmt.Errorf("%w: transaction %s", ErrExpired, id)
		} else if ok {
			return nil, fmt.Errorf("%w: transaction %s", ErrReplay, id)
		}
		return nil, fmt.Errorf("%w: %q", ErrUnknownTransaction, id)
	}
	if v.cfg.Now().After(t.Expires) {
		return nil, fmt.Errorf("%w: transaction %s", ErrExpired, id)
	}
	if t.answered {
		return nil, fmt.Errorf("%w: transaction %s", ErrReplay, id)
	}
	return t, nil
}

// RequestClaims are the claims of the request object.
type RequestClaims struct {
	Iss            string          `json:"iss,omitempty"`
	Aud            string          `json:"aud,omitempty"`
	Iat            int64           `json:"iat,omitempty"`
	Exp            int64           `json:"exp,omitempty"`
	ClientID       string          `json:"client_id"`
	ResponseType   string          `json:"response_type"`
	ResponseMode   string          `json:"response_mode"`
	ResponseURI    string          `json:"response_uri"`
	Nonce          string          `json:"nonce"`
	State          string          `json:"state,omitempty"`
	DCQLQuery      json.RawMessage `json:"dcql_query"`
	ClientMetadata *ClientMetadata `json:"client_metadata,omitempty"`
	WalletNonce    string          `json:"wallet_nonce,omitempty"`
}

// ClientMetadata is the client_metadata of a request (OpenID4VP 1.0 §5.1).
type ClientMetadata struct {
	VPFormatsSupported json.RawMessage `json:"vp_formats_supported,omitempty"`
	JWKS               *JWKS           `json:"jwks,omitempty"`
	EncValues          []string        `json:"encrypted_response_enc_values_supported,omitempty"`
}

// JWKS is a JWK set kept as raw members so that one unusable key does not spoil the set.
type JWKS struct {
	Keys []json.RawMessage `json:"keys"`
}

// vpFormats advertises the COSE algorithms the verifier checks (ES256/384/512, EdDSA
// and the fully-specified ESP256/384/512 and Ed25519).
var vpFormats = json.RawMessage(`{"mso_mdoc":{"issuerauth_alg_values":[-7,-35,-36,-8,-9,-51,-52,-19],"deviceauth_alg_values":[-7,-35,-36,-8,-9,-51,-52,-19]}}`)

// RequestObject signs t's request object (typ oauth-authz-req+jwt, x5c). walletNonce,
// when non-empty, is echoed as wallet_nonce (request_uri_method=post).
func (v *Verifier) RequestObject(t *Transaction, walletNonce string) (string, error) {
	q, err := json.Marshal(t.Query)
	if err != nil {
		return "", err
	}
	now := v.cfg.Now()
	c := RequestClaims{
		Iss: t.ClientID, Aud: "https://self-issued.me/v2", Iat: now.Unix(), Exp: t.Expires.Unix(),
		ClientID: t.ClientID, ResponseType: "vp_token", ResponseMode: t.ResponseMode, ResponseURI: t.ResponseURI,
		Nonce: t.Nonce, State: t.State, DCQLQuery: q, WalletNonce: walletNonce,
		ClientMetadata: &ClientMetadata{VPFormatsSupported: vpFormats},
	}
	if t.Key != nil {
		jwk, err := json.Marshal(t.Key.PublicJWK())
		if err != nil {
			return "", err
		}
		c.ClientMetadata.JWKS = &JWKS{Keys: []json.RawMessage{jwk}}
		c.ClientMetadata.EncValues = t.encValues
	}
	return SignJWT(v.cfg.Identity.Key, v.cfg.Identity.Chain, TypeRequestObject, c)
}

// Handler serves GET and POST {base path}/request/{id} (the request object, media type
// application/oauth-authz-req+jwt) and POST {base path}/response/{id} (the wallet's
// authorization response). Errors are JSON {"error", "error_description"} with 400,
// 404 (unknown), 405, 409 (replay), 410 (expired) or 413 (too large).
func (v *Verifier) Handler() http.Handler {
	p := strings.TrimSuffix(v.base.Path, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/request/{id}", v.serveRequest)
	mux.HandleFunc("POST "+p+"/request/{id}", v.serveRequest)
	mux.HandleFunc("POST "+p+"/response/{id}", v.serveResponse)
	return mux
}

func (v *Verifier) serveRequest(w http.ResponseWriter, r *http.Request) {
	t, err := v.lookup(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	walletNonce := ""
	if r.Method == http.MethodPost {
		if t.requestURIMethod != "post" {
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "request_uri_method is get for this request")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestPostBody)
		if err := r.ParseForm(); err != nil {
			writeError(w, bodyError(err))
			return
		}
		walletNonce = r.PostForm.Get("wallet_nonce")
		if len(walletNonce) > 256 {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "wallet_nonce longer than 256 characters")
			return
		}
		if wm := r.PostForm.Get("wallet_metadata"); wm != "" && !json.Valid([]byte(wm)) {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "wallet_metadata is not JSON")
			return
		}
	}
	jwt, err := v.RequestObject(t, walletNonce)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", MediaRequestJWT)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(jwt))
}

func (v *Verifier) serveResponse(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, v.cfg.MaxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, bodyError(err))
		return
	}
	out, err := v.HandleResponse(r.PathValue("id"), r.PostForm)
	if err != nil {
		writeError(w, err)
		return
	}
	if !out.Valid {
		writeError(w, out.Err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("{}"))
}

// HandleResponse processes the form of an authorization response to transaction id.
// Input that cannot be tied to the transaction (unknown id, expired, malformed or
// undecryptable body, wrong state) returns an error and leaves the transaction open.
// Otherwise the transaction is answered exactly once: the Outcome is recorded, Wait
// returns it, and any later response is refused with ErrReplay.
func (v *Verifier) HandleResponse(id string, form url.Values) (*Outcome, error) {
	t, err := v.lookup(id)
	if err != nil {
		return nil, err
	}
	var p *responseParams
	if jwe := form.Get("response"); jwe != "" {
		if t.Key == nil {
			return nil, fmt.Errorf("%w: encrypted response to a direct_post request", ErrMalformed)
		}
		pt, err := DecryptJWE(jwe, t.Key)
		if err != nil {
			return nil, err
		}
		if p, err = decodeJWEPayload(pt); err != nil {
			return nil, err
		}
	} else {
		p = &responseParams{VPToken: json.RawMessage(form.Get("vp_token")), State: form.Get("state"),
			Error: form.Get("error"), ErrorDescription: form.Get("error_description")}
		if t.Key != nil && p.Error == "" {
			return nil, fmt.Errorf("%w: the request asked for direct_post.jwt, the response is not encrypted", ErrMalformed)
		}
	}
	if subtle.ConstantTimeCompare([]byte(p.State), []byte(t.State)) != 1 {
		return nil, fmt.Errorf("%w (transaction %s)", ErrState, id)
	}
	v.mu.Lock()
	if t.answered {
		v.mu.Unlock()
		return nil, fmt.Errorf("%w: transaction %s", ErrReplay, id)
	}
	v.endLocked(t, nil)
	v.mu.Unlock()

	var out *Outcome
	if p.Error != "" {
		out = &Outcome{Presentations: map[string][]*verify.Result{},
			Err: fmt.Errorf("%w: %q: %s", ErrWalletError, p.Error, p.ErrorDescription)}
	} else {
		out = VerifyVPToken(p.VPToken, t.Query, t.Transcript(), verify.Options{Trust: v.cfg.Trust, Now: v.cfg.Now(),
			Policy: v.cfg.Policy, Cache: v.cfg.Cache})
	}
	t.outcome = out
	close(t.done)
	return out, nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, mbe.Limit)
	}
	return fmt.Errorf("%w: form body: %v", ErrMalformed, err)
}

func writeError(w http.ResponseWriter, err error) {
	code, kind := http.StatusBadRequest, "invalid_request"
	switch {
	case errors.Is(err, ErrUnknownTransaction):
		code = http.StatusNotFound
	case errors.Is(err, ErrExpired):
		code, kind = http.StatusGone, "expired"
	case errors.Is(err, ErrReplay):
		code = http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	}
	writeJSONError(w, code, kind, err.Error())
}

func writeJSONError(w http.ResponseWriter, code int, kind, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": desc})
}
