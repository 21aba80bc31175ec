package oid4vp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdocgate/mdocgate/crypto/hpke"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Response modes.
const (
	ModeDirectPost    = "direct_post"
	ModeDirectPostJWT = "direct_post.jwt"
	ModeDCAPI         = "dc_api"
	ModeDCAPIJWT      = "dc_api.jwt"
)

// Kinds of transaction: a request by reference (an openid4vp:// invocation, the wallet
// fetching request_uri and posting to response_uri) or a request handed to the browser's
// Digital Credentials API.
const (
	KindRedirect = "redirect"
	KindDCAPI    = "dcapi"
)

// Digital Credentials API protocol identifiers.
const (
	ProtocolUnsigned = "openid4vp-v1-unsigned"
	ProtocolSigned   = "openid4vp-v1-signed"
	ProtocolAnnexC   = "org-iso-mdoc"
)

// States of a transaction (Transaction.State, Outcome.State).
const (
	StatePending  = "pending"
	StateAccepted = "accepted"
	StateRejected = "rejected"
	StateError    = "error"
	StateExpired  = "expired"
)

// Defaults of VerifierConfig.
const (
	DefaultTTL             = 5 * time.Minute
	DefaultMaxBody         = 1 << 20
	DefaultMaxTransactions = 100_000
	DefaultResponseTimeout = 30 * time.Second
	maxRequestPostBody     = 64 << 10
)

// ClientLimiter bounds what each network client holds at once (here: open
// transactions). Acquire takes a slot for a client or reports false; Release gives one
// back. transports/admission's Limiter is one.
type ClientLimiter interface {
	Acquire(client netip.Prefix) bool
	Release(client netip.Prefix)
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// BaseURL is the verifier's externally visible URL (scheme, host, optional path, no
	// trailing slash). request_uri is BaseURL/request/{request id}, response_uri
	// BaseURL/response/{request id}; Handler serves both under BaseURL's path.
	BaseURL string
	// Identity signs the request objects (and, as a reader key, the readerAuth of Annex
	// C DeviceRequests); its leaf binds the client_id.
	Identity *Identity
	// ClientIDPrefix is PrefixX509SanDNS (default) or PrefixX509Hash. With
	// x509_san_dns the leaf's first DNS name must be BaseURL's host (NewVerifier
	// refuses otherwise: wallets check it against response_uri).
	ClientIDPrefix string
	// Trust holds the IACAs whose mdocs are accepted.
	Trust  *verify.TrustStore
	Policy verify.Policy
	Cache  *verify.ChainCache
	// TTL is a transaction's lifetime (default DefaultTTL).
	TTL time.Duration
	// MaxResponse bounds the DeviceResponse bytes one answer carries (a gate lane's
	// message limit; 0: no bound of its own): an answer whose body (over MaxBody),
	// vp_token or Annex C response is larger than an answer of MaxResponse needs is
	// refused before it is decrypted or decoded, and its transaction ends in an error
	// (ReasonTooLarge, 413).
	MaxResponse int
	// MaxBody bounds a response body (default BodyLimit(MaxResponse) with MaxResponse,
	// at most DefaultMaxBody).
	MaxBody int64
	// MaxTransactions bounds the open transactions (default DefaultMaxTransactions);
	// Begin fails with ErrBusy beyond it.
	MaxTransactions int
	// Limiter, when set, bounds the open transactions of each client
	// (RequestOptions.Client); it may be shared by several verifiers.
	Limiter ClientLimiter
	// Scheme is the invocation URI scheme: "openid4vp" (default), "mdoc-openid4vp", ...
	Scheme string
	// AnnexBHandover also accepts, for older wallets, a direct_post.jwt response whose
	// mdoc authentication signs the 18013-7:2024 Annex B handover
	// (messages.ISO18013_7AnnexBHandover, the mdocGeneratedNonce taken from the JWE
	// apu), when it does not verify under the OpenID4VP 1.0 handover.
	AnnexBHandover bool
	// Deliver, when set, is handed every response that could be tied to its
	// transaction, in place of the verifier verifying it (a gate verifies it in its
	// engine). An error (the engine is busy) leaves the transaction open; otherwise the
	// caller ends it with Complete.
	Deliver func(*Answer) error
	// ResponseTimeout bounds how long the response endpoint waits for a delivered
	// response's outcome (default DefaultResponseTimeout).
	ResponseTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RequestOptions shape one authorization request.
type RequestOptions struct {
	Query *DCQL
	// Encrypted asks for direct_post.jwt (dc_api.jwt) with a fresh ECDH-ES key in
	// client_metadata.
	Encrypted bool
	// EncValues are the JWE enc values offered (default A128GCM, A256GCM).
	EncValues []string
	// RequestURIMethod is "get" (default, not sent) or "post".
	RequestURIMethod string
	// Client is the network client asking (counted by VerifierConfig.Limiter).
	Client netip.Prefix
}

// Transaction is one authorization request and, once answered, its outcome.
type Transaction struct {
	// ID names the transaction to whoever began it (its status, its QR code); it is not
	// shown to the wallet. RequestID names it in request_uri and response_uri.
	ID        string
	RequestID string
	Kind      string
	// Protocol is the DC API protocol of a KindDCAPI transaction.
	Protocol      string
	ClientID      string
	Nonce         string
	State         string
	RequestURI    string
	ResponseURI   string
	ResponseMode  string
	InvocationURI string
	// Origin is the web origin a DC API request is made from (serialized, no slash).
	Origin  string
	Expires time.Time
	// Created is when the transaction began (the wall clock, for timing: a QR code
	// shown, a page's request made).
	Created time.Time
	Query   *DCQL
	// Key is the response-encryption key (nil for direct_post and dc_api).
	Key *EncryptionKey
	// Annex C: the HPKE recipient key and the EncryptionInfo as handed out (base64url).
	HPKE           *hpke.PrivateKey
	EncryptionInfo string
	// Request is what the page passes to navigator.credentials.get as
	// digital.requests[0] (DC API transactions).
	Request json.RawMessage

	requestURIMethod string
	encValues        []string
	client           netip.Prefix
	slot             bool
	done             chan struct{}
	answering        bool          // guarded by Verifier.mu: a response is being verified
	reopened         chan struct{} // a delivered response was not taken (Reopen)
	outcome          *Outcome
}

// Transcript is the SessionTranscript the verifier expects for t: [null, null,
// Handover] with the OpenID4VP handover (client_id, nonce, thumbprint or null,
// response_uri), the OpenID4VP DC API handover (origin, nonce, thumbprint or null) or
// the Annex C dcapi handover (EncryptionInfo, origin).
func (t *Transaction) Transcript() messages.SessionTranscript {
	var tp []byte
	if t.Key != nil {
		tp = t.Key.Thumbprint()
	}
	switch {
	case t.Kind == KindDCAPI && t.Protocol == ProtocolAnnexC:
		return messages.SessionTranscript{Handover: messages.DCAPIHandover(t.EncryptionInfo, t.Origin)}
	case t.Kind == KindDCAPI:
		return messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover(t.Origin, t.Nonce, tp)}
	}
	return messages.SessionTranscript{Handover: messages.OpenID4VPHandover(t.ClientID, t.Nonce, tp, t.ResponseURI)}
}

// Verifier is the OpenID4VP verifier. It is safe for concurrent use.
type Verifier struct {
	cfg      VerifierConfig
	base     *url.URL
	clientID string

	signer *jwsSigner                // the request objects'
	query  atomic.Pointer[queryJSON] // the JSON of the last query marshalled

	mu    sync.Mutex
	txs   map[string]*Transaction // open transactions, by ID and by RequestID
	open  int
	queue []*Transaction // open ones in expiry order (TTL is constant)
	head  int
	ended map[string]*tombstone // answered or expired ones, by ID and by RequestID
}

// tombstone is what is kept of an ended transaction until its expiry (answered) or for
// one more TTL (expired): its state for status queries and to name a late response's
// error. Tombstones are bounded; a response to a forgotten transaction is still
// refused, as unknown.
type tombstone struct {
	id, requestID string
	until         time.Time
	state         string
	reason        string
	verdict       json.RawMessage
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
		if cfg.MaxResponse > 0 {
			cfg.MaxBody = min(BodyLimit(cfg.MaxResponse), DefaultMaxBody)
		}
	}
	if cfg.MaxTransactions <= 0 {
		cfg.MaxTransactions = DefaultMaxTransactions
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
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
	if dns, ok := strings.CutPrefix(cid, PrefixX509SanDNS+":"); ok && !strings.EqualFold(dns, base.Hostname()) {
		return nil, fmt.Errorf("oid4vp: verifier: client_id %s names %q but the response URI's host is %q: wallets refuse such requests "+
			"(give the certificate a DNS subjectAltName of that host, or use the x509_hash prefix)", cid, dns, base.Hostname())
	}
	signer, err := newJWSSigner(cfg.Identity.Key, cfg.Identity.Chain, TypeRequestObject)
	if err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, base: base, clientID: cid, signer: signer, txs: map[string]*Transaction{}, ended: map[string]*tombstone{}}, nil
}

// queryJSON is a query and its JSON: a lane asks every transaction the same.
type queryJSON struct {
	q    *DCQL
	json json.RawMessage
}

// queryJSON is q as JSON, marshalled once for the query the transactions keep asking.
func (v *Verifier) queryJSON(q *DCQL) (json.RawMessage, error) {
	if c := v.query.Load(); c != nil && c.q == q {
		return c.json, nil
	}
	b, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	v.query.Store(&queryJSON{q: q, json: b})
	return b, nil
}

// ClientID is the verifier's client_id (with its prefix).
func (v *Verifier) ClientID() string { return v.clientID }

// Begin starts a redirect transaction: fresh id, request id, nonce and state (random,
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
	t, err := v.newTransaction(KindRedirect, o)
	if err != nil {
		return nil, err
	}
	t.RequestURI, t.ResponseURI = v.base.String()+"/request/"+t.RequestID, v.base.String()+"/response/"+t.RequestID
	t.requestURIMethod = method
	q := url.Values{"client_id": {t.ClientID}, "request_uri": {t.RequestURI}}
	if method == "post" {
		q.Set("request_uri_method", "post")
	}
	t.InvocationURI = v.cfg.Scheme + "://?" + q.Encode()
	return t, v.register(t)
}

// newTransaction makes the parts every kind of transaction has.
func (v *Verifier) newTransaction(kind string, o RequestOptions) (*Transaction, error) {
	t := &Transaction{ID: randomString(24), RequestID: randomString(24), Kind: kind, ClientID: v.clientID,
		Nonce: randomString(32), State: randomString(32), ResponseMode: ModeDirectPost, Query: o.Query,
		client: o.Client, done: make(chan struct{})}
	if kind == KindDCAPI {
		t.ResponseMode = ModeDCAPI
	}
	if o.Encrypted {
		k, err := NewEncryptionKey()
		if err != nil {
			return nil, err
		}
		t.Key = k
		t.ResponseMode += ".jwt"
		t.encValues = o.EncValues
		if len(t.encValues) == 0 {
			t.encValues = []string{string(jose.A128GCM), string(jose.A256GCM)}
		}
	}
	return t, nil
}

// register opens t: within MaxTransactions and its client's share, expiring after TTL.
func (v *Verifier) register(t *Transaction) error {
	now := v.cfg.Now()
	t.Expires, t.Created = now.Add(v.cfg.TTL), time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sweepLocked(now)
	if v.open >= v.cfg.MaxTransactions {
		return fmt.Errorf("%w: %d transactions open, the limit (MaxTransactions)", ErrBusy, v.open)
	}
	if v.cfg.Limiter != nil {
		if !v.cfg.Limiter.Acquire(t.client) {
			return fmt.Errorf("%w: this client holds its share of open transactions", ErrBusy)
		}
		t.slot = true
	}
	v.txs[t.ID], v.txs[t.RequestID] = t, t
	v.open++
	v.queue = append(v.queue, t)
	return nil
}

// Sweep ends the transactions that expired unanswered (their outcome: ErrExpired) and
// forgets old tombstones. Begin sweeps; a caller may also sweep on a timer so that
// clients' slots come back without new transactions.
func (v *Verifier) Sweep() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sweepLocked(v.cfg.Now())
}

func (v *Verifier) sweepLocked(now time.Time) {
	for v.head < len(v.queue) && now.After(v.queue[v.head].Expires) {
		t := v.queue[v.head]
		v.queue[v.head] = nil
		v.head++
		if v.txs[t.ID] == t && !t.answering {
			v.endLocked(t, expiredOutcome(t))
		}
	}
	if v.head > 1024 && v.head*2 > len(v.queue) {
		v.queue = append([]*Transaction(nil), v.queue[v.head:]...)
		v.head = 0
	}
	if len(v.ended) > 2*v.cfg.MaxTransactions {
		v.forgetLocked(now)
	}
}

func expiredOutcome(t *Transaction) *Outcome {
	return &Outcome{State: StateExpired, Reason: "expired", Presentations: map[string][]*verify.Result{},
		Err: fmt.Errorf("%w: transaction %s", ErrExpired, t.ID)}
}

// forgetLocked drops old tombstones, then arbitrary ones while there are too many.
func (v *Verifier) forgetLocked(now time.Time) {
	for k, ts := range v.ended {
		if now.After(ts.until) {
			delete(v.ended, k)
		}
	}
	for k := range v.ended {
		if len(v.ended) <= 2*v.cfg.MaxTransactions {
			break
		}
		delete(v.ended, k)
	}
}

// endLocked records t's outcome, wakes its waiters and leaves a tombstone.
func (v *Verifier) endLocked(t *Transaction, out *Outcome) {
	if v.txs[t.ID] != t {
		return
	}
	delete(v.txs, t.ID)
	delete(v.txs, t.RequestID)
	v.open--
	if t.slot {
		t.slot = false
		v.cfg.Limiter.Release(t.client)
	}
	t.answering = false
	t.outcome = out
	close(t.done)
	ts := &tombstone{id: t.ID, requestID: t.RequestID, until: t.Expires, state: out.State, reason: out.Reason, verdict: out.Verdict}
	if out.State == StateExpired {
		ts.until = t.Expires.Add(v.cfg.TTL)
	}
	v.ended[t.ID], v.ended[t.RequestID] = ts, ts
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
	if !t.answering {
		v.endLocked(t, expiredOutcome(t))
	}
	v.mu.Unlock()
	select { // a response being verified right now finishes first
	case <-t.done:
		return t.outcome, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Complete ends a delivered transaction (VerifierConfig.Deliver) with its outcome; it
// reports false when the transaction is not waiting for one (unknown, ended).
func (v *Verifier) Complete(id string, out *Outcome) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.txs[id]
	if !ok || !t.answering {
		return false
	}
	v.endLocked(t, out)
	return true
}

// Status is a transaction's state: pending while open (also while its response is
// being verified), then accepted, rejected, error or expired with the reason and, for a
// delivered transaction, the verdict given to Complete. ok is false for an unknown (or
// forgotten) id.
func (v *Verifier) Status(id string) (state, reason string, verdict json.RawMessage, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	if t, open := v.txs[id]; open && t.ID == id {
		if now.After(t.Expires) && !t.answering {
			v.endLocked(t, expiredOutcome(t))
			return StateExpired, "expired", nil, true
		}
		return StatePending, "", nil, true
	}
	if ts, ok := v.ended[id]; ok && ts.id == id {
		return ts.state, ts.reason, ts.verdict, true
	}
	return "", "", nil, false
}

// Transaction returns the open transaction of an ID (not a request id).
func (v *Verifier) Transaction(id string) (*Transaction, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.txs[id]
	return t, ok && t.ID == id
}

// lookup returns the open transaction of a request id, or an error naming why there is
// none.
func (v *Verifier) lookup(requestID string) (*Transaction, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lookupLocked(requestID, false)
}

// lookupLocked finds an answerable transaction by request id (byID: by its ID).
func (v *Verifier) lookupLocked(key string, byID bool) (*Transaction, error) {
	t, ok := v.txs[key]
	if ok && byID != (t.ID == key) {
		ok = false
	}
	if !ok {
		ts, ok := v.ended[key]
		switch {
		case !ok || byID != (ts.id == key):
			return nil, fmt.Errorf("%w: %q", ErrUnknownTransaction, key)
		case ts.state == StateExpired:
			return nil, fmt.Errorf("%w: transaction %s", ErrExpired, key)
		}
		return nil, fmt.Errorf("%w: transaction %s", ErrReplay, key)
	}
	if v.cfg.Now().After(t.Expires) && !t.answering {
		v.endLocked(t, expiredOutcome(t))
		return nil, fmt.Errorf("%w: transaction %s", ErrExpired, key)
	}
	if t.answering {
		return nil, fmt.Errorf("%w: transaction %s", ErrReplay, key)
	}
	return t, nil
}

// claim marks t as being answered; false when another response got there first or it
// expired.
func (v *Verifier) claim(t *Transaction) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.txs[t.ID] != t {
		_, err := v.lookupLocked(t.RequestID, false)
		return err
	}
	if t.answering {
		return fmt.Errorf("%w: transaction %s", ErrReplay, t.RequestID)
	}
	v.claimLocked(t)
	return nil
}

func (v *Verifier) claimLocked(t *Transaction) {
	t.answering = true
	t.reopened = make(chan struct{}, 1)
}

// unclaim reopens t after a delivery that failed (busy).
func (v *Verifier) unclaim(t *Transaction) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t.answering = false
}

// Reopen gives a delivered response back (the engine turned it away, busy): the
// transaction is open again for another answer, and the response endpoint that waits
// for its outcome answers 503. It reports false when the transaction is not waiting for
// an outcome.
func (v *Verifier) Reopen(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.txs[id]
	if !ok || !t.answering {
		return false
	}
	t.answering = false
	select {
	case t.reopened <- struct{}{}:
	default:
	}
	return true
}

// RequestClaims are the claims of the request object.
type RequestClaims struct {
	Iss            string          `json:"iss,omitempty"`
	Aud            string          `json:"aud,omitempty"`
	Iat            int64           `json:"iat,omitempty"`
	Exp            int64           `json:"exp,omitempty"`
	ClientID       string          `json:"client_id,omitempty"`
	ResponseType   string          `json:"response_type"`
	ResponseMode   string          `json:"response_mode"`
	ResponseURI    string          `json:"response_uri,omitempty"`
	Nonce          string          `json:"nonce"`
	State          string          `json:"state,omitempty"`
	DCQLQuery      json.RawMessage `json:"dcql_query"`
	ClientMetadata *ClientMetadata `json:"client_metadata,omitempty"`
	WalletNonce    string          `json:"wallet_nonce,omitempty"`
	// ExpectedOrigins are the origins a signed DC API request may be used from.
	ExpectedOrigins []string `json:"expected_origins,omitempty"`
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

// claims are the request parameters of t.
func (v *Verifier) claims(t *Transaction) (RequestClaims, error) {
	q, err := v.queryJSON(t.Query)
	if err != nil {
		return RequestClaims{}, err
	}
	c := RequestClaims{ResponseType: "vp_token", ResponseMode: t.ResponseMode, Nonce: t.Nonce, DCQLQuery: q,
		ClientMetadata: &ClientMetadata{VPFormatsSupported: vpFormats}}
	if t.Kind == KindRedirect {
		c.ClientID, c.ResponseURI, c.State = t.ClientID, t.ResponseURI, t.State
	}
	if t.Key != nil {
		jwk, err := json.Marshal(t.Key.PublicJWK())
		if err != nil {
			return RequestClaims{}, err
		}
		c.ClientMetadata.JWKS = &JWKS{Keys: []json.RawMessage{jwk}}
		c.ClientMetadata.EncValues = t.encValues
	}
	return c, nil
}

// RequestObject signs t's request object (typ oauth-authz-req+jwt, x5c). walletNonce,
// when non-empty, is echoed as wallet_nonce (request_uri_method=post).
func (v *Verifier) RequestObject(t *Transaction, walletNonce string) (string, error) {
	c, err := v.claims(t)
	if err != nil {
		return "", err
	}
	c.Iss, c.Aud, c.Iat, c.Exp, c.WalletNonce = t.ClientID, "https://self-issued.me/v2", v.cfg.Now().Unix(), t.Expires.Unix(), walletNonce
	if t.Kind == KindDCAPI {
		c.Iss, c.Aud, c.ClientID, c.ExpectedOrigins = "", "", t.ClientID, []string{t.Origin}
	}
	return v.signer.sign(c)
}

// Handler serves GET and POST {base path}/request/{request id} (the request object,
// media type application/oauth-authz-req+jwt) and POST {base path}/response/{request
// id} (the wallet's authorization response). Errors are JSON {"error",
// "error_description"} with 400, 404 (unknown), 405, 409 (replay), 410 (expired), 413
// (too large) or 503 (busy).
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
	if err == nil && t.Kind != KindRedirect {
		err = fmt.Errorf("%w: %q", ErrUnknownTransaction, r.PathValue("id"))
	}
	if err != nil {
		WriteError(w, err)
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
			WriteError(w, bodyError(err))
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
		err = bodyError(err)
		if t, terr := v.tooLarge(r.PathValue("id"), false, err); terr == nil {
			_, _ = v.await(r.Context(), t) // its verdict: ReasonTooLarge
		}
		WriteError(w, err)
		return
	}
	t, err := v.respond(r.PathValue("id"), r.PostForm)
	if err != nil {
		WriteError(w, err)
		return
	}
	out, err := v.await(r.Context(), t)
	switch {
	case err != nil:
		WriteError(w, err)
		return
	case out == nil: // the outcome is late; the status endpoint will have it
	case !out.Valid && out.Err != nil:
		WriteError(w, out.Err)
		return
	case !out.Valid:
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "presentation not accepted: "+out.Reason)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("{}"))
}

// await waits for a claimed transaction's outcome: at once when verified inline, up to
// ResponseTimeout (or ctx) when delivered; nil when it is not there by then, ErrBusy
// when the delivered response was given back (Reopen).
func (v *Verifier) await(ctx context.Context, t *Transaction) (*Outcome, error) {
	timer := time.NewTimer(v.cfg.ResponseTimeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return t.outcome, nil
	case <-t.reopened:
		return nil, fmt.Errorf("%w: the gate could not take the response now; send it again", ErrBusy)
	case <-timer.C:
	case <-ctx.Done():
	}
	return nil, nil
}

// HandleResponse processes the form of an authorization response to the transaction of
// request id and returns its outcome (in delivery mode, once Complete gave it, within
// ResponseTimeout; nil after that). Input that cannot be tied to the transaction
// (unknown id, expired, malformed or undecryptable body, wrong state) returns an error
// and leaves the transaction open. Otherwise the transaction is answered exactly once:
// the Outcome is recorded, Wait returns it, and any later response is refused with
// ErrReplay.
func (v *Verifier) HandleResponse(requestID string, form url.Values) (*Outcome, error) {
	t, err := v.respond(requestID, form)
	if err != nil {
		return nil, err
	}
	return v.await(context.Background(), t)
}

// respond ties a direct_post(.jwt) response to its transaction, claims it and verifies
// or delivers it.
func (v *Verifier) respond(requestID string, form url.Values) (*Transaction, error) {
	t, err := v.lookup(requestID)
	if err != nil {
		return nil, err
	}
	if t.Kind != KindRedirect {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTransaction, requestID)
	}
	var p *responseParams
	var apu []byte
	if jwe := form.Get("response"); jwe != "" {
		if t.Key == nil {
			return nil, fmt.Errorf("%w: encrypted response to a direct_post request", ErrMalformed)
		}
		pt, hdr, err := decryptJWE(jwe, t.Key)
		if err != nil {
			return nil, err
		}
		if p, err = decodeJWEPayload(pt); err != nil {
			return nil, err
		}
		apu = hdr.apu
	} else {
		p = &responseParams{VPToken: json.RawMessage(form.Get("vp_token")), State: form.Get("state"),
			Error: form.Get("error"), ErrorDescription: form.Get("error_description")}
		if t.Key != nil && p.Error == "" {
			return nil, fmt.Errorf("%w: the request asked for direct_post.jwt, the response is not encrypted", ErrMalformed)
		}
	}
	if subtle.ConstantTimeCompare([]byte(p.State), []byte(t.State)) != 1 {
		return nil, fmt.Errorf("%w (transaction %s)", ErrState, requestID)
	}
	if err := v.claim(t); err != nil {
		return nil, err
	}
	var alt *messages.SessionTranscript
	if v.cfg.AnnexBHandover && len(apu) > 0 {
		alt = &messages.SessionTranscript{Handover: messages.ISO18013_7AnnexBHandover(t.ClientID, t.ResponseURI, t.Nonce, string(apu))}
	}
	return t, v.answer(t, p, alt)
}

// tooLarge ends the open transaction of key (its ID when byID, else its request id)
// with an answer refused for its size (cause, an ErrTooLarge), unread: its outcome is
// an error, ReasonTooLarge. Only with MaxResponse, the size an answer can have: without
// it a body over MaxBody is refused as input not tied to its transaction, which stays
// open (cause is returned). An error when there is no such transaction to answer, or
// the delivery failed.
func (v *Verifier) tooLarge(key string, byID bool, cause error) (*Transaction, error) {
	if !errors.Is(cause, ErrTooLarge) || v.cfg.MaxResponse <= 0 {
		return nil, cause
	}
	v.mu.Lock()
	t, err := v.lookupLocked(key, byID)
	if err == nil && !byID && t.Kind != KindRedirect { // a response URI names a redirect transaction
		err = fmt.Errorf("%w: %q", ErrUnknownTransaction, key)
	}
	if err == nil {
		v.claimLocked(t)
	}
	v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return t, v.fail(t, cause)
}

// fail answers a claimed transaction with an answer that could not be read (err): it
// delivers it as such, or ends the transaction in an error.
func (v *Verifier) fail(t *Transaction, err error) error {
	if v.cfg.Deliver != nil {
		return v.deliver(t, &Answer{Transaction: t, Transcript: t.Transcript(), Err: err, Reason: reasonOf(err)})
	}
	v.mu.Lock()
	v.endLocked(t, (&Outcome{Presentations: map[string][]*verify.Result{}}).fail(err))
	v.mu.Unlock()
	return nil
}

// BodyLimit is the largest body an answer of maxResponse DeviceResponse bytes needs:
// base64url twice (a vp_token inside a JWE) and room for the headers, the state and
// the JSON around it.
func BodyLimit(maxResponse int) int64 {
	return int64(maxResponse)*16/9 + 16<<10
}

// checkSize refuses an encoded answer (base64url of DeviceResponses, a vp_token or an
// Annex C response) larger than MaxResponse bytes need, before it is decoded.
func (v *Verifier) checkSize(what string, encoded int) error {
	if limit := v.cfg.MaxResponse; limit > 0 && encoded > limit/3*4+1<<10 { // base64url, and the JSON around it
		return fmt.Errorf("%w: %s of %d bytes, more than a response of the lane's %d bytes needs", ErrTooLarge, what, encoded, limit)
	}
	return nil
}

// answer verifies (or delivers) the response parameters of a claimed transaction. It
// returns an error only when delivery failed; the transaction is then open again.
func (v *Verifier) answer(t *Transaction, p *responseParams, alt *messages.SessionTranscript) error {
	if err := v.checkSize("vp_token", len(p.VPToken)); err != nil && p.Error == "" {
		return v.fail(t, err)
	}
	if v.cfg.Deliver != nil {
		a := &Answer{Transaction: t, Transcript: t.Transcript(), Alternate: alt}
		if p.Error != "" {
			a.Err, a.Reason = fmt.Errorf("%w: %q: %s", ErrWalletError, p.Error, p.ErrorDescription), ReasonWalletError
		} else if a.Response, a.Err = readVPToken(p.VPToken, t.Query); a.Err != nil {
			a.Reason = ReasonMalformed
		}
		return v.deliver(t, a)
	}
	var out *Outcome
	if p.Error != "" {
		out = &Outcome{State: StateError, Reason: ReasonWalletError, Presentations: map[string][]*verify.Result{},
			Err: fmt.Errorf("%w: %q: %s", ErrWalletError, p.Error, p.ErrorDescription)}
	} else {
		opts := v.verifyOptions()
		out = VerifyVPToken(p.VPToken, t.Query, t.Transcript(), opts)
		if !out.Valid && alt != nil && onlyDeviceAuthFailed(out) {
			if o2 := VerifyVPToken(p.VPToken, t.Query, *alt, opts); o2.Valid {
				out = o2
			}
		}
	}
	v.mu.Lock()
	v.endLocked(t, out)
	v.mu.Unlock()
	return nil
}

// deliver hands a to Deliver; on failure the transaction is open again.
func (v *Verifier) deliver(t *Transaction, a *Answer) error {
	if err := v.cfg.Deliver(a); err != nil {
		v.unclaim(t)
		return fmt.Errorf("%w: %v", ErrBusy, err)
	}
	return nil
}

func (v *Verifier) verifyOptions() verify.Options {
	return verify.Options{Trust: v.cfg.Trust, Now: v.cfg.Now(), Policy: v.cfg.Policy, Cache: v.cfg.Cache}
}

// onlyDeviceAuthFailed reports whether mdoc authentication is all that failed: the
// transcript is then what may differ.
func onlyDeviceAuthFailed(out *Outcome) bool {
	failed := false
	for _, list := range out.Presentations {
		for _, r := range list {
			if !r.Valid && !r.FailedOnly(verify.CheckDeviceSignature) {
				return false
			}
			failed = failed || !r.Valid
		}
	}
	return failed
}

// Answer is a response tied to its transaction, for VerifierConfig.Deliver: the
// DeviceResponses it carries merged into one (documents in credential query order),
// the transcript the verifier rebuilt for the transaction (never taken from the
// wallet), and, for a lane accepting it, the Annex B transcript to try when mdoc
// authentication fails under the first. Err is set instead of Response when the
// response could not be read (a wallet error response, a DC API response that does not
// decrypt or decode); Reason names the check.
type Answer struct {
	Transaction *Transaction
	Transcript  messages.SessionTranscript
	Alternate   *messages.SessionTranscript
	Response    *messages.DeviceResponse
	Err         error
	Reason      string
}

// Reasons of an Answer's Err.
const (
	ReasonWalletError = "wallet_error"
	ReasonMalformed   = "response_decoding"
	ReasonDecrypt     = "response_decryption"
	ReasonDCQL        = "dcql"
	// ReasonTooLarge: an answer over the lane's size limit (MaxResponse), refused before
	// it was decrypted or decoded (the gate engine's verdict reason of the same case).
	ReasonTooLarge = "message_too_large"
)

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, mbe.Limit)
	}
	return fmt.Errorf("%w: form body: %v", ErrMalformed, err)
}

// WriteError answers an error of this package as JSON {"error", "error_description"}:
// 404 unknown transaction, 410 expired, 409 replay, 413 too large, 503 busy, 400
// otherwise.
func WriteError(w http.ResponseWriter, err error) {
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
	case errors.Is(err, ErrBusy):
		code, kind = http.StatusServiceUnavailable, "temporarily_unavailable"
		w.Header().Set("Retry-After", "1")
	}
	writeJSONError(w, code, kind, err.Error())
}

func writeJSONError(w http.ResponseWriter, code int, kind, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": desc})
}

// docsOf are the document requests of q's credential queries (Annex C asks with them).
func docsOf(q *DCQL) []request.Doc {
	docs := make([]request.Doc, len(q.Credentials))
	for i := range q.Credentials {
		docs[i] = q.Credentials[i].RequestedDoc()
	}
	return docs
}
