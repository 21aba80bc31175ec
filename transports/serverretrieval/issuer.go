package serverretrieval

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// MaxBody bounds every request and response body of server retrieval.
const MaxBody = 1 << 20

// JWSSigner is a JWS signer certificate and key (18013-5 B.1.5).
type JWSSigner struct {
	Key  *keys.PrivateKey
	Cert *x509.Certificate
}

// NewJWSSigner makes a JWS signer certificate under the IACA: P-256, keyUsage
// digitalSignature (critical), EKU 1.0.18013.5.1.3 (critical), SKI, AKI = IACA SKI,
// the IACA's country, validity now-1h .. now+1y clipped to the IACA's.
func NewJWSSigner(iaca *issuer.Authority) (*JWSSigner, error) {
	key, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return nil, err
	}
	ski, err := issuer.SubjectKeyID(key)
	if err != nil {
		return nil, err
	}
	ekuDER, err := asn1.Marshal([]asn1.ObjectIdentifier{OIDJWSSigner})
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	ca := iaca.Certificate
	nb, na := time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)
	if nb.Before(ca.NotBefore) {
		nb = ca.NotBefore
	}
	if na.After(ca.NotAfter) {
		na = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial.Add(serial, big.NewInt(1<<62)),
		Subject:         pkix.Name{CommonName: "mdocgate test JWS signer", Country: ca.Subject.Country, Province: ca.Subject.Province},
		NotBefore:       nb.UTC().Truncate(time.Second),
		NotAfter:        na.UTC().Truncate(time.Second),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		SubjectKeyId:    ski,
		AuthorityKeyId:  ca.SubjectKeyId,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: ekuDER}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), iaca.Key.Signer())
	if err != nil {
		return nil, fmt.Errorf("serverretrieval: JWS signer certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &JWSSigner{Key: key, Cert: cert}, nil
}

// Sign signs claims as a JWT with typ "JWT" and x5c [signer certificate].
func (s *JWSSigner) Sign(claims any) (string, error) {
	return oid4vp.SignJWT(s.Key, [][]byte{s.Cert.Raw}, "JWT", claims)
}

// Record is the data an issuing authority holds for one server retrieval token.
type Record struct {
	DocType string
	// NameSpaces: name space → element → JSON-friendly value (bytes as []byte become
	// base64url strings).
	NameSpaces map[string]map[string]any
}

// IssuerConfig configures the reference issuing authority.
type IssuerConfig struct {
	// URL is the issuer URL as put in engagements (iss of ID tokens); no trailing slash.
	URL    string
	Signer *JWSSigner
	// Validity is exp - iat of every JWT (default 120 s, as in the Annex D vector).
	Validity time.Duration
	Now      func() time.Time
}

// Issuer is a reference issuing-authority endpoint for server retrieval. It serves:
//
//	POST /identity                          WebAPI ServerRequest → ServerResponse
//	GET  /.well-known/openid-configuration  OIDC discovery
//	POST /register                          dynamic client registration
//	GET  /authorize                         authorization (consent is automatic; login_hint = token)
//	POST /token                             code (+ PKCE S256 verifier) → id_token
//
// It is a test fixture: records live in memory and the "user" always consents.
type Issuer struct {
	cfg IssuerConfig

	mu      sync.Mutex
	records map[string]Record
	clients map[string][]string // client_id → redirect URIs
	codes   map[string]*authCode
}

type authCode struct {
	clientID, redirectURI, challenge, nonce, token string
	scopes                                         []string
	expires                                        time.Time
}

// NewIssuer returns an issuing authority.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Signer == nil {
		return nil, errors.New("serverretrieval: issuer: Signer required")
	}
	if _, err := url.Parse(cfg.URL); err != nil || cfg.URL == "" {
		return nil, fmt.Errorf("serverretrieval: issuer URL %q", cfg.URL)
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	if cfg.Validity <= 0 {
		cfg.Validity = 120 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Issuer{cfg: cfg, records: map[string]Record{}, clients: map[string][]string{}, codes: map[string]*authCode{}}, nil
}

// SetURL changes the issuer URL (for a server whose address is known only after it
// listens).
func (i *Issuer) SetURL(u string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cfg.URL = strings.TrimSuffix(u, "/")
}

func (i *Issuer) issuerURL() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.cfg.URL
}

// AddRecord makes token retrieve rec.
func (i *Issuer) AddRecord(token string, rec Record) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.records[token] = rec
}

// NewToken makes a random server retrieval token for rec.
func (i *Issuer) NewToken(rec Record) string {
	t := randomString(24)
	i.AddRecord(t, rec)
	return t
}

// RecordFromNameSpaces converts issuer.NameSpace data (e.g. issuer.SampleMDL) into a
// Record with JSON-friendly values.
func RecordFromNameSpaces(docType string, nss []issuer.NameSpace) Record {
	r := Record{DocType: docType, NameSpaces: map[string]map[string]any{}}
	for _, ns := range nss {
		m := map[string]any{}
		for _, el := range ns.Elements {
			m[el.Identifier] = jsonValue(el.Value)
		}
		r.NameSpaces[ns.Name] = m
	}
	return r
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return base64.RawURLEncoding.EncodeToString(x)
	case messages.FullDate:
		return x.String()
	case messages.TDate:
		return x.Time.UTC().Format(time.RFC3339)
	case messages.Map[string, any]:
		out := map[string]any{}
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return v
}

// Handler serves the endpoints.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /identity", i.serveWebAPI)
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("POST /register", i.serveRegister)
	mux.HandleFunc("GET /authorize", i.serveAuthorize)
	mux.HandleFunc("POST /token", i.serveToken)
	return mux
}

// ServerRequest is the WebAPI request (18013-5 8.3.2.2.2.1).
type ServerRequest struct {
	Version     string       `json:"version"`
	Token       string       `json:"token"`
	DocRequests []DocRequest `json:"docRequests"`
}

// DocRequest asks for elements of one docType: name space → element → intent to retain.
type DocRequest struct {
	DocType     string                     `json:"docType"`
	NameSpaces  map[string]map[string]bool `json:"nameSpaces"`
	RequestInfo map[string]any             `json:"requestInfo,omitempty"`
}

// ServerResponse is the WebAPI response (18013-5 8.3.2.2.2.2).
type ServerResponse struct {
	Version        string           `json:"version"`
	Documents      []string         `json:"documents,omitempty"`
	DocumentErrors []map[string]int `json:"documentErrors,omitempty"`
}

func (i *Issuer) serveWebAPI(w http.ResponseWriter, r *http.Request) {
	var req ServerRequest
	if err := decodeJSONBody(w, r, &req); err != nil {
		httpError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if req.Version != "1.0" {
		httpError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("version %q, want 1.0", req.Version))
		return
	}
	if len(req.DocRequests) == 0 || len(req.DocRequests) > 16 {
		httpError(w, http.StatusBadRequest, "invalid_request", "docRequests: 1 to 16 please")
		return
	}
	i.mu.Lock()
	rec, ok := i.records[req.Token]
	i.mu.Unlock()
	if !ok {
		httpError(w, http.StatusUnauthorized, "invalid_token", "unknown server retrieval token")
		return
	}
	resp := ServerResponse{Version: "1.0"}
	for _, dr := range req.DocRequests {
		if dr.DocType != rec.DocType {
			resp.DocumentErrors = append(resp.DocumentErrors, map[string]int{dr.DocType: 0})
			continue
		}
		jwt, err := i.sign(rec, dr.NameSpaces, nil)
		if err != nil {
			httpError(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		resp.Documents = append(resp.Documents, jwt)
	}
	writeJSON(w, resp)
}

// sign makes a document JWT with the requested elements of rec; extra claims are added.
func (i *Issuer) sign(rec Record, want map[string]map[string]bool, extra map[string]any) (string, error) {
	now := i.cfg.Now()
	nss := map[string]map[string]any{}
	errs := map[string]map[string]int{}
	for ns, els := range want {
		for el := range els {
			v, ok := rec.NameSpaces[ns][el]
			if !ok {
				if errs[ns] == nil {
					errs[ns] = map[string]int{}
				}
				errs[ns][el] = 0
				continue
			}
			if nss[ns] == nil {
				nss[ns] = map[string]any{}
			}
			nss[ns][el] = v
		}
	}
	c := map[string]any{"doctype": rec.DocType, "namespaces": nss, "iss": i.issuerURL(),
		"iat": now.Unix(), "exp": now.Add(i.cfg.Validity).Unix()}
	if len(errs) > 0 {
		c["errors"] = errs
	}
	for k, v := range extra {
		c[k] = v
	}
	return i.cfg.Signer.Sign(c)
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	u := i.issuerURL()
	var scopes []string
	i.mu.Lock()
	seen := map[string]bool{}
	for _, rec := range i.records {
		for ns, els := range rec.NameSpaces {
			for el := range els {
				if s := ns + ":" + el; !seen[s] {
					seen[s] = true
					scopes = append(scopes, s)
				}
			}
		}
	}
	i.mu.Unlock()
	sort.Strings(scopes)
	writeJSON(w, map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
		"registration_endpoint": u + "/register", "response_types_supported": []string{"code"},
		"grant_types_supported": []string{"authorization_code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"}, "code_challenge_methods_supported": []string{"S256"},
		"scopes_supported": append([]string{"openid"}, scopes...),
	})
}

func (i *Issuer) serveRegister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RedirectURIs []string `json:"redirect_uris"`
	}
	if err := decodeJSONBody(w, r, &req); err != nil || len(req.RedirectURIs) == 0 || len(req.RedirectURIs) > 8 {
		httpError(w, http.StatusBadRequest, "invalid_client_metadata", "redirect_uris (1 to 8) required")
		return
	}
	id := randomString(16)
	i.mu.Lock()
	if len(i.clients) > 100_000 {
		i.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "too many clients")
		return
	}
	i.clients[id] = req.RedirectURIs
	i.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"client_id": id, "redirect_uris": req.RedirectURIs})
}

func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clientID, redirect := q.Get("client_id"), q.Get("redirect_uri")
	i.mu.Lock()
	uris, ok := i.clients[clientID]
	i.mu.Unlock()
	if !ok || !contains(uris, redirect) {
		httpError(w, http.StatusBadRequest, "invalid_request", "unknown client_id or unregistered redirect_uri")
		return
	}
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}, "state": {q.Get("state")}}
		http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
	}
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case !contains(scopes, "openid"):
		fail("invalid_scope", "scope must include openid")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43:
		fail("invalid_request", "PKCE S256 code_challenge required")
		return
	}
	token := q.Get("login_hint")
	i.mu.Lock()
	_, ok = i.records[token]
	i.mu.Unlock()
	if !ok {
		fail("access_denied", "login_hint is not a known server retrieval token")
		return
	}
	code := randomString(24)
	i.mu.Lock()
	for k, c := range i.codes { // drop expired codes
		if i.cfg.Now().After(c.expires) {
			delete(i.codes, k)
		}
	}
	i.codes[code] = &authCode{clientID: clientID, redirectURI: redirect, challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), token: token, scopes: scopes, expires: i.cfg.Now().Add(time.Minute)}
	i.mu.Unlock()
	v := url.Values{"code": {code}}
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "invalid_request", "form body: "+err.Error())
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		httpError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	i.mu.Lock()
	c, ok := i.codes[f.Get("code")]
	delete(i.codes, f.Get("code")) // one use only
	i.mu.Unlock()
	if !ok || i.cfg.Now().After(c.expires) {
		httpError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	}
	if c.clientID != f.Get("client_id") || c.redirectURI != f.Get("redirect_uri") {
		httpError(w, http.StatusBadRequest, "invalid_grant", "client_id or redirect_uri differs from the authorization request")
		return
	}
	h := sha256.Sum256([]byte(f.Get("code_verifier")))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(h[:])), []byte(c.challenge)) != 1 {
		httpError(w, http.StatusBadRequest, "invalid_grant", "PKCE code_verifier does not match")
		return
	}
	i.mu.Lock()
	rec, ok := i.records[c.token]
	i.mu.Unlock()
	if !ok {
		httpError(w, http.StatusBadRequest, "invalid_grant", "token revoked")
		return
	}
	want := map[string]map[string]bool{}
	for _, s := range c.scopes {
		ns, el, ok := cutLast(s, ":")
		if !ok {
			continue
		}
		if want[ns] == nil {
			want[ns] = map[string]bool{}
		}
		want[ns][el] = false
	}
	extra := map[string]any{"aud": c.clientID, "sub": subjectOf(rec)}
	if c.nonce != "" {
		extra["nonce"] = c.nonce
	}
	idt, err := i.sign(rec, want, extra)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"access_token": randomString(24), "token_type": "Bearer", "expires_in": 60, "id_token": idt})
}

// subjectOf is the subject identifier the reference issuer puts in ID tokens: a hash of
// the record's docType (records are test data without a person identifier).
func subjectOf(rec Record) string {
	h := sha256.Sum256([]byte(rec.DocType))
	return base64.RawURLEncoding.EncodeToString(h[:12])
}

// cutLast splits "org.iso.18013.5.1:family_name" at the last sep (name spaces contain
// dots, not colons, but be lenient).
func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, kind, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": desc})
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
