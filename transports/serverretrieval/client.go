package serverretrieval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Client is the reader side of server retrieval.
type Client struct {
	// HTTP makes the requests (default: 30 s timeout). Redirects are never followed.
	HTTP *http.Client
	// Trust holds the IACAs the JWS signer certificates must chain to.
	Trust *verify.TrustStore
	// Now is the verification time (default time.Now).
	Now func() time.Time
	// Skew is the tolerated clock skew on iat/exp (default DefaultSkew).
	Skew time.Duration
	// RedirectURI is the OIDC redirect URI registered and used; the client reads the
	// code from the authorization response's Location without visiting it (default
	// http://127.0.0.1/mdocgate/callback).
	RedirectURI string
}

func (c *Client) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Client) skew() time.Duration {
	if c.Skew <= 0 {
		return DefaultSkew
	}
	return c.Skew
}

func (c *Client) http() *http.Client {
	base := c.HTTP
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	cl := *base
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

// WebAPIResult is the verified answer of a WebAPI retrieval.
type WebAPIResult struct {
	Documents      []*Document
	DocumentErrors []map[string]int
}

func checkInfo(info *messages.ServerRetrievalInfo) (*url.URL, error) {
	if info == nil {
		return nil, fmt.Errorf("%w: no server retrieval info in the engagement", ErrProtocol)
	}
	if info.Version != 1 {
		return nil, fmt.Errorf("%w: server retrieval version %d, want 1", ErrProtocol, info.Version)
	}
	u, err := url.Parse(info.IssuerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: issuer URL %q", ErrProtocol, info.IssuerURL)
	}
	return u, nil
}

// WebAPI posts a ServerRequest with the engagement's token to <issuer URL>/identity
// and verifies every returned document JWT (VerifyDocumentJWT). Each document's
// doctype must be one that was requested.
func (c *Client) WebAPI(ctx context.Context, info *messages.ServerRetrievalInfo, reqs []DocRequest) (*WebAPIResult, error) {
	if _, err := checkInfo(info); err != nil {
		return nil, err
	}
	body, err := json.Marshal(ServerRequest{Version: "1.0", Token: info.Token, DocRequests: reqs})
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(info.IssuerURL, "/")+"/identity", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	var sresp ServerResponse
	if err := c.doJSON(hreq, http.StatusOK, &sresp); err != nil {
		return nil, err
	}
	if sresp.Version != "1.0" {
		return nil, fmt.Errorf("%w: ServerResponse version %q", ErrProtocol, sresp.Version)
	}
	if len(sresp.Documents) > 64 {
		return nil, fmt.Errorf("%w: %d documents", ErrProtocol, len(sresp.Documents))
	}
	out := &WebAPIResult{DocumentErrors: sresp.DocumentErrors}
	for i, jwt := range sresp.Documents {
		d, err := VerifyDocumentJWT(jwt, c.Trust, c.now(), c.skew())
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if !requested(reqs, d.DocType) {
			return nil, fmt.Errorf("%w: document %d has doctype %q, which was not requested", ErrJWT, i, d.DocType)
		}
		out.Documents = append(out.Documents, d)
	}
	return out, nil
}

func requested(reqs []DocRequest, docType string) bool {
	for _, r := range reqs {
		if r.DocType == docType {
			return true
		}
	}
	return false
}

// OIDC runs the OpenID Connect flow against the issuing authority: discovery (the
// issuer must equal the engagement's URL), dynamic registration of RedirectURI,
// authorization with PKCE S256, state, nonce, login_hint = the server retrieval token
// and scope "openid" plus "<namespace>:<element>" per requested element, then the code
// exchange. The ID token is verified like a WebAPI document plus iss, aud (the
// registered client_id) and nonce, and must carry req.DocType.
func (c *Client) OIDC(ctx context.Context, info *messages.ServerRetrievalInfo, req DocRequest) (*Document, error) {
	if _, err := checkInfo(info); err != nil {
		return nil, err
	}
	issuerURL := strings.TrimSuffix(info.IssuerURL, "/")
	redirect := c.RedirectURI
	if redirect == "" {
		redirect = "http://127.0.0.1/mdocgate/callback"
	}
	// 1. discovery
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, issuerURL+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	var disc struct {
		Issuer       string `json:"issuer"`
		Authorize    string `json:"authorization_endpoint"`
		Token        string `json:"token_endpoint"`
		Registration string `json:"registration_endpoint"`
	}
	if err := c.doJSON(hreq, http.StatusOK, &disc); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if disc.Issuer != issuerURL {
		return nil, fmt.Errorf("%w: discovery issuer %q is not the engagement's %q", ErrProtocol, disc.Issuer, issuerURL)
	}
	if disc.Authorize == "" || disc.Token == "" || disc.Registration == "" {
		return nil, fmt.Errorf("%w: discovery lacks an authorization, token or registration endpoint", ErrProtocol)
	}
	// 2. registration
	rb, _ := json.Marshal(map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"}})
	hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, disc.Registration, bytes.NewReader(rb))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := c.doJSON(hreq, http.StatusCreated, &reg); err != nil {
		return nil, fmt.Errorf("registration: %w", err)
	}
	if reg.ClientID == "" {
		return nil, fmt.Errorf("%w: registration returned no client_id", ErrProtocol)
	}
	// 3. authorization
	verifier, state, nonce := randomString(32), randomString(16), randomString(16)
	ch := sha256.Sum256([]byte(verifier))
	scopes := []string{"openid"}
	nss := make([]string, 0, len(req.NameSpaces))
	for ns := range req.NameSpaces {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		els := make([]string, 0, len(req.NameSpaces[ns]))
		for el := range req.NameSpaces[ns] {
			els = append(els, ns+":"+el)
		}
		sort.Strings(els)
		scopes = append(scopes, els...)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect},
		"scope": {strings.Join(scopes, " ")}, "state": {state}, "nonce": {nonce}, "login_hint": {info.Token},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(ch[:])}, "code_challenge_method": {"S256"}}
	hreq, err = http.NewRequestWithContext(ctx, http.MethodGet, disc.Authorize+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBody))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("%w: authorization answered HTTP %d, not a redirect", ErrProtocol, resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("%w: authorization redirect: %v", ErrProtocol, err)
	}
	lq := loc.Query()
	if e := lq.Get("error"); e != "" {
		return nil, fmt.Errorf("%w: authorization error %q: %s", ErrProtocol, e, lq.Get("error_description"))
	}
	if lq.Get("state") != state {
		return nil, fmt.Errorf("%w: authorization response state does not match", ErrProtocol)
	}
	code := lq.Get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: authorization response without code", ErrProtocol)
	}
	// 4. token
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {reg.ClientID}, "code_verifier": {verifier}}
	hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, disc.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := c.doJSON(hreq, http.StatusOK, &tok); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return c.VerifyIDToken(tok.IDToken, issuerURL, reg.ClientID, nonce, req.DocType)
}

// VerifyIDToken checks an OIDC ID token: as VerifyDocumentJWT, plus iss = issuer,
// aud = clientID (string or array containing it), nonce and doctype.
func (c *Client) VerifyIDToken(idToken, issuer, clientID, nonce, docType string) (*Document, error) {
	d, cl, err := verifyJWT(idToken, c.Trust, c.now(), c.skew())
	if err != nil {
		return nil, fmt.Errorf("id_token: %w", err)
	}
	if cl.Iss != issuer {
		return nil, fmt.Errorf("%w: id_token iss %q, want %q", ErrJWT, cl.Iss, issuer)
	}
	var aud []string
	var one string
	if json.Unmarshal(cl.Aud, &one) == nil {
		aud = []string{one}
	} else if json.Unmarshal(cl.Aud, &aud) != nil {
		return nil, fmt.Errorf("%w: id_token aud missing or malformed", ErrJWT)
	}
	if !contains(aud, clientID) {
		return nil, fmt.Errorf("%w: id_token aud %v does not contain client_id %q", ErrJWT, aud, clientID)
	}
	if cl.Nonce != nonce {
		return nil, fmt.Errorf("%w: id_token nonce does not match the authorization request", ErrJWT)
	}
	if d.DocType != docType {
		return nil, fmt.Errorf("%w: id_token doctype %q, want %q", ErrJWT, d.DocType, docType)
	}
	return d, nil
}

// doJSON performs req and decodes a bounded JSON body, requiring status want.
func (c *Client) doJSON(req *http.Request, want int, v any) error {
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return err
	}
	if len(body) > MaxBody {
		return fmt.Errorf("%w: response body larger than %d bytes", ErrProtocol, MaxBody)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("%w: HTTP %d %s %s", ErrProtocol, resp.StatusCode, e.Error, e.Desc)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: response is not the expected JSON: %v", ErrProtocol, err)
	}
	return nil
}
