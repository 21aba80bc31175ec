package oid4vp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
)

func post(t *testing.T, e *env, uri string, form url.Values) (int, string) {
	t.Helper()
	resp, err := e.srv.Client().PostForm(uri, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fetched begins a transaction and lets the wallet fetch its request.
func fetched(t *testing.T, e *env, o RequestOptions) (*Transaction, *Request) {
	t.Helper()
	if o.Query == nil {
		o.Query = mdlQuery()
	}
	tx, err := e.v.Begin(o)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInvocation(tx.InvocationURI)
	if err != nil {
		t.Fatal(err)
	}
	req, err := e.w.Fetch(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	return tx, req
}

func TestHostileResponses(t *testing.T) {
	e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) { c.MaxBody = 64 << 10 })
	ctx := context.Background()

	t.Run("malformed JWE", func(t *testing.T) {
		tx, _ := fetched(t, e, RequestOptions{Encrypted: true})
		for name, jwe := range map[string]string{
			"garbage":     "not a jwe",
			"four parts":  "a.b.c.d",
			"bad base64":  "!!.a.b.c.d",
			"alg RSA":     base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RSA-OAEP","enc":"A128GCM"}`)) + ".a.b.c.d",
			"enc A192CBC": base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ECDH-ES","enc":"A128CBC-HS256"}`)) + "..a.b.c",
			"no epk":      base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ECDH-ES","enc":"A128GCM"}`)) + "..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
		} {
			code, body := post(t, e, tx.ResponseURI, url.Values{"response": {jwe}})
			if code != http.StatusBadRequest || !strings.Contains(body, "JWE") {
				t.Errorf("%s: %d %s", name, code, body)
			}
		}
		// encrypted to another key
		other, _ := NewEncryptionKey()
		jwe, _ := EncryptJWE([]byte(`{"state":"`+tx.State+`"}`), &other.Private.PublicKey, EncryptOptions{})
		if code, body := post(t, e, tx.ResponseURI, url.Values{"response": {jwe}}); code != 400 || !strings.Contains(body, "decryption failed") {
			t.Errorf("foreign key: %d %s", code, body)
		}
		// encrypted, wrong kid
		jwe, _ = EncryptJWE([]byte(`{}`), &tx.Key.Private.PublicKey, EncryptOptions{KeyID: "nope"})
		if code, body := post(t, e, tx.ResponseURI, url.Values{"response": {jwe}}); code != 400 || !strings.Contains(body, "kid") {
			t.Errorf("wrong kid: %d %s", code, body)
		}
		// decrypts but not JSON
		jwe, _ = EncryptJWE([]byte{0xa0}, &tx.Key.Private.PublicKey, EncryptOptions{})
		if code, body := post(t, e, tx.ResponseURI, url.Values{"response": {jwe}}); code != 400 || !strings.Contains(body, "payload") {
			t.Errorf("non-JSON payload: %d %s", code, body)
		}
		// plaintext to a direct_post.jwt request
		if code, body := post(t, e, tx.ResponseURI, url.Values{"vp_token": {"{}"}, "state": {tx.State}}); code != 400 || !strings.Contains(body, "not encrypted") {
			t.Errorf("plaintext: %d %s", code, body)
		}
		// none of these answered the transaction: a good response still goes through
		req, err := e.w.Fetch(ctx, mustInv(t, tx))
		if err != nil {
			t.Fatal(err)
		}
		form, _ := e.w.ResponseForm(req)
		if err := e.w.Post(ctx, tx.ResponseURI, form); err != nil {
			t.Fatal(err)
		}
		// replay of the same good response
		code, body := post(t, e, tx.ResponseURI, form)
		if code != http.StatusConflict || !strings.Contains(body, "replay") {
			t.Errorf("replay: %d %s", code, body)
		}
	})

	t.Run("wrong state", func(t *testing.T) {
		tx, req := fetched(t, e, RequestOptions{})
		form, _ := e.w.ResponseForm(req)
		form.Set("state", "forged")
		if code, body := post(t, e, tx.ResponseURI, form); code != 400 || !strings.Contains(body, "state") {
			t.Errorf("%d %s", code, body)
		}
		form.Del("state")
		if code, _ := post(t, e, tx.ResponseURI, form); code != 400 {
			t.Errorf("no state: %d", code)
		}
	})

	t.Run("wrong nonce", func(t *testing.T) {
		tx, req := fetched(t, e, RequestOptions{})
		req.Claims.Nonce = "another-nonce-of-some-length"
		form, _ := e.w.ResponseForm(req)
		err := e.w.Post(ctx, tx.ResponseURI, form)
		var re *ResponseError
		if !errors.As(err, &re) || re.Status != 400 || !strings.Contains(re.Description, "device_auth.signature") {
			t.Fatalf("%v", err)
		}
		out, _ := e.v.Wait(ctx, tx)
		if out.Valid || !errors.Is(out.Err, ErrInvalidPresentation) {
			t.Fatalf("%v", out.Err)
		}
	})

	t.Run("foreign transcript", func(t *testing.T) {
		// the presentation made for transaction A is posted to B with B's state
		_, reqA := fetched(t, e, RequestOptions{})
		txB, _ := fetched(t, e, RequestOptions{})
		form, _ := e.w.ResponseForm(reqA)
		form.Set("state", txB.State)
		code, body := post(t, e, txB.ResponseURI, form)
		if code != 400 || !strings.Contains(body, "device_auth.signature") {
			t.Fatalf("%d %s", code, body)
		}
	})

	t.Run("malformed CBOR and vp_token", func(t *testing.T) {
		for name, tok := range map[string]string{
			"not CBOR":      `{"mdl":["` + base64.RawURLEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}) + `"]}`,
			"truncated":     `{"mdl":["` + base64.RawURLEncoding.EncodeToString([]byte{0xa3, 0x67}) + `"]}`,
			"not base64":    `{"mdl":["***"]}`,
			"not JSON":      `mdl`,
			"unknown query": `{"other":["oA"]}`,
			"empty":         `{}`,
			"number":        `{"mdl":42}`,
		} {
			tx, req := fetched(t, e, RequestOptions{})
			code, body := post(t, e, tx.ResponseURI, url.Values{"vp_token": {tok}, "state": {req.Claims.State}})
			if code != 400 {
				t.Errorf("%s: %d %s", name, code, body)
			}
			out, _ := e.v.Wait(ctx, tx)
			if out.Valid || out.Err == nil {
				t.Errorf("%s: outcome %v", name, out.Err)
			}
		}
	})

	t.Run("oversized body", func(t *testing.T) {
		tx, req := fetched(t, e, RequestOptions{})
		code, body := post(t, e, tx.ResponseURI, url.Values{"vp_token": {strings.Repeat("A", 100<<10)}, "state": {req.Claims.State}})
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("%d %s", code, body)
		}
		// the transaction is still open
		form, _ := e.w.ResponseForm(req)
		if err := e.w.Post(ctx, tx.ResponseURI, form); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown and wallet error", func(t *testing.T) {
		if code, _ := post(t, e, e.srv.URL+"/vp/response/nope", url.Values{}); code != 404 {
			t.Errorf("unknown: %d", code)
		}
		tx, req := fetched(t, e, RequestOptions{})
		code, _ := post(t, e, tx.ResponseURI, url.Values{"error": {"access_denied"}, "state": {req.Claims.State}})
		if code != 400 {
			t.Errorf("wallet error: %d", code)
		}
		out, _ := e.v.Wait(ctx, tx)
		if !errors.Is(out.Err, ErrWalletError) {
			t.Errorf("%v", out.Err)
		}
	})

	t.Run("POST to a get request_uri", func(t *testing.T) {
		tx, _ := fetched(t, e, RequestOptions{})
		if code, _ := post(t, e, tx.RequestURI, url.Values{}); code != http.StatusMethodNotAllowed {
			t.Errorf("%d", code)
		}
	})
}

func mustInv(t *testing.T, tx *Transaction) *Invocation {
	inv, err := ParseInvocation(tx.InvocationURI)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestExpiry(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) { c.TTL = time.Minute; c.Now = clock })
	tx, req := fetched(t, e, RequestOptions{})
	form, _ := e.w.ResponseForm(req)
	now = now.Add(2 * time.Minute)
	if code, body := post(t, e, tx.ResponseURI, form); code != http.StatusGone {
		t.Fatalf("%d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx2, err := e.v.Begin(RequestOptions{Query: mdlQuery()})
	if err != nil {
		t.Fatal(err)
	}
	tx2.Expires = time.Now().Add(50 * time.Millisecond) // Wait's real-time timer
	out, err := e.v.Wait(ctx, tx2)
	if err != nil || !errors.Is(out.Err, ErrExpired) {
		t.Fatalf("%v %v", out, err)
	}
}

func TestHostileRequestObjects(t *testing.T) {
	e := newEnv(t, PrefixX509SanDNS, nil)
	p := e.p
	tx, err := e.v.Begin(RequestOptions{Query: mdlQuery(), Encrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.v.RequestObject(tx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.w.CheckRequestObject(good, tx.ClientID, ""); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	sign := func(typ string, chain [][]byte, claims any) string {
		s, err := SignJWT(p.ident.Key, chain, typ, claims)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var claims RequestClaims
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(payload, &claims)
	with := func(f func(*RequestClaims)) string {
		c := claims
		f(&c)
		return sign(TypeRequestObject, p.ident.Chain, c)
	}
	rogueRoot, _ := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: "rogue"})
	rogue := newIdentity(t, rogueRoot, "rogue", "localhost")
	rogueJWT, _ := SignJWT(rogue.Key, rogue.Chain, TypeRequestObject, claims)
	hashID, _ := p.ident.ClientID(PrefixX509Hash)
	cases := map[string]struct {
		jwt, clientID, want string
	}{
		"garbage":           {"xx", tx.ClientID, "3 parts"},
		"bad signature":     {parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), tx.ClientID, "signature"},
		"payload swapped":   {parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"client_id":"x"}`)) + "." + parts[2], tx.ClientID, "signature"},
		"no x5c":            {sign(TypeRequestObject, nil, claims), tx.ClientID, "x5c missing"},
		"wrong typ":         {sign("JWT", p.ident.Chain, claims), tx.ClientID, "typ"},
		"untrusted chain":   {rogueJWT, tx.ClientID, "chain"},
		"client_id differs": {good, "x509_san_dns:example.com", "differs"},
		"san mismatch":      {with(func(c *RequestClaims) { c.ClientID = "x509_san_dns:evil.example" }), "x509_san_dns:evil.example", "subjectAltName"},
		"hash mismatch":     {with(func(c *RequestClaims) { c.ClientID = "x509_hash:AAAA" }), "x509_hash:AAAA", "hash"},
		"hash ok, bad uri":  {with(func(c *RequestClaims) { c.ClientID = hashID; c.ResponseURI = "ftp://x/y" }), hashID, "not https"},
		"response_uri host": {with(func(c *RequestClaims) { c.ResponseURI = "http://evil.example/r" }), tx.ClientID, "host"},
		"unknown prefix":    {with(func(c *RequestClaims) { c.ClientID = "redirect_uri:https://x" }), "redirect_uri:https://x", "prefix"},
		"short nonce":       {with(func(c *RequestClaims) { c.Nonce = "abc" }), tx.ClientID, "nonce"},
		"expired":           {with(func(c *RequestClaims) { c.Exp = time.Now().Add(-time.Hour).Unix() }), tx.ClientID, "expired"},
		"response_type":     {with(func(c *RequestClaims) { c.ResponseType = "code" }), tx.ClientID, "response_type"},
		"response_mode":     {with(func(c *RequestClaims) { c.ResponseMode = "fragment" }), tx.ClientID, "response_mode"},
		"bad dcql":          {with(func(c *RequestClaims) { c.DCQLQuery = json.RawMessage(`{"credentials":[]}`) }), tx.ClientID, "dcql"},
		"no jwks":           {with(func(c *RequestClaims) { c.ClientMetadata = nil }), tx.ClientID, "jwks"},
		"jwks junk": {with(func(c *RequestClaims) {
			c.ClientMetadata = &ClientMetadata{JWKS: &JWKS{Keys: []json.RawMessage{json.RawMessage(`{"kty":"RSA"}`)}}}
		}), tx.ClientID, "no EC key"},
		"enc unsupported": {with(func(c *RequestClaims) {
			md := *c.ClientMetadata
			md.EncValues = []string{"A128CBC-HS256"}
			c.ClientMetadata = &md
		}), tx.ClientID, "enc"},
	}
	for name, c := range cases {
		_, err := e.w.CheckRequestObject(c.jwt, c.clientID, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
	if _, err := e.w.CheckRequestObject(good, tx.ClientID, "wallet-nonce-not-echoed"); err == nil || !strings.Contains(err.Error(), "wallet_nonce") {
		t.Errorf("wallet_nonce: %v", err)
	}
	// http URLs are refused unless allowed
	strict := NewWallet(WalletConfig{Trust: verify.NewTrustStore(p.root.Certificate)})
	if _, err := strict.CheckRequestObject(good, tx.ClientID, ""); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http response_uri: %v", err)
	}
}

func TestParseInvocation(t *testing.T) {
	good := "openid4vp://?client_id=x509_san_dns%3Aexample.com&request_uri=https%3A%2F%2Fexample.com%2Fr%2F1&request_uri_method=post"
	inv, err := ParseInvocation(good)
	if err != nil || inv.ClientID != "x509_san_dns:example.com" || inv.RequestURI != "https://example.com/r/1" || inv.RequestURIMethod != "post" {
		t.Fatalf("%+v %v", inv, err)
	}
	for _, s := range []string{"", "openid4vp://?request_uri=https://x", "openid4vp://?client_id=a", "openid4vp://?client_id=a&request=eyJ",
		"openid4vp://?client_id=a&request_uri=https://x&request_uri_method=put", "://", strings.Repeat("a", MaxInvocationLength+1)} {
		if _, err := ParseInvocation(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestTransactionLimit(t *testing.T) {
	e := newEnv(t, PrefixX509Hash, func(c *VerifierConfig) { c.MaxTransactions = 2 })
	tx1, req1 := fetched(t, e, RequestOptions{})
	fetched(t, e, RequestOptions{})
	if _, err := e.v.Begin(RequestOptions{Query: mdlQuery()}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("third transaction: %v", err)
	}
	form, _ := e.w.ResponseForm(req1)
	if err := e.w.Post(context.Background(), tx1.ResponseURI, form); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Begin(RequestOptions{Query: mdlQuery()}); err != nil {
		t.Fatalf("after one answered: %v", err)
	}
	if code, body := post(t, e, tx1.ResponseURI, form); code != http.StatusConflict {
		t.Fatalf("replay after the limit: %d %s", code, body)
	}
}
