package serverretrieval

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAnnexDJWTVector(t *testing.T) {
	jwt := testvectors.AnnexDText(t, "server_retrieval_jwt.txt")
	iaca := testvectors.AnnexDCertificate(t, "iaca_cert")
	signer := testvectors.AnnexDCertificate(t, "server_retrieval_jwt_cert")
	at := testvectors.AnnexDNow
	d, err := VerifyDocumentJWT(jwt, verify.NewTrustStore(iaca), at, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Signer.Equal(signer) {
		t.Fatal("x5c leaf is not server_retrieval_jwt_cert")
	}
	if d.DocType != issuer.DocTypeMDL || len(d.Warnings) != 0 {
		t.Fatalf("doctype %q warnings %v", d.DocType, d.Warnings)
	}
	if !d.IssuedAt.Equal(time.Date(2021, 1, 5, 14, 0, 0, 0, time.UTC)) || d.Expires.Sub(d.IssuedAt) != 120*time.Second {
		t.Fatalf("iat %v exp %v", d.IssuedAt, d.Expires)
	}
	var portrait string
	if err := json.Unmarshal(d.NameSpaces[issuer.NamespaceMDL]["portrait"], &portrait); err != nil {
		t.Fatal(err)
	}
	pj, _ := base64.RawURLEncoding.DecodeString(portrait)
	want := testvectors.AnnexD(t, "portrait_jpeg")
	if string(pj) != string(want) {
		t.Fatal("portrait differs from portrait_jpeg.hex")
	}
	// with its own certificate pinned as the anchor
	if _, err := VerifyDocumentJWT(jwt, verify.NewTrustStore(signer), at, 0); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		trust *verify.TrustStore
		at    time.Time
		want  string
	}{
		"after exp":       {verify.NewTrustStore(iaca), at.Add(2 * time.Minute), "expired"},
		"before iat":      {verify.NewTrustStore(iaca), at.Add(-10 * time.Minute), "future"},
		"cert not valid":  {verify.NewTrustStore(iaca), time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), "chain"},
		"other IACA":      {verify.NewTrustStore(testvectors.AnnexDCertificate(t, "reader_root_cert")), at, "chain"},
		"no trust anchor": {verify.NewTrustStore(), at, "no IACA"},
	} {
		if _, err := VerifyDocumentJWT(jwt, c.trust, c.at, 0); err == nil || !errors.Is(err, ErrJWT) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	parts := strings.Split(jwt, ".")
	pl, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(pl), `"Doe"`, `"Dof"`, 1))) + "." + parts[2]
	if _, err := VerifyDocumentJWT(tampered, verify.NewTrustStore(iaca), at, 0); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered: %v", err)
	}
}

type world struct {
	iaca   *issuer.Authority
	signer *JWSSigner
	iss    *Issuer
	srv    *httptest.Server
	token  string
	info   func(oidc bool) *messages.ServerRetrievalInfo
	client *Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	iaca := testpki.New(t, testpki.Options{}).IACA
	signer, err := NewJWSSigner(iaca)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(IssuerConfig{URL: "http://placeholder", Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)
	iss.SetURL(srv.URL)
	w := &world{iaca: iaca, signer: signer, iss: iss, srv: srv,
		token:  iss.NewToken(RecordFromNameSpaces(issuer.DocTypeMDL, issuer.SampleMDL(nil))),
		client: &Client{HTTP: srv.Client(), Trust: verify.NewTrustStore(iaca.Certificate)}}
	// the token travels in a DeviceEngagement, as a reader would receive it
	key, _ := keys.Generate(messages.CurveP256, nil)
	eng, err := messages.NewEngagement(key.COSEKey())
	if err != nil {
		t.Fatal(err)
	}
	eng.ServerRetrievalMethods = &messages.ServerRetrievalMethods{
		WebAPI: &messages.ServerRetrievalInfo{Version: 1, IssuerURL: srv.URL, Token: w.token},
		OIDC:   &messages.ServerRetrievalInfo{Version: 1, IssuerURL: srv.URL, Token: w.token}}
	b, err := messages.Marshal(eng)
	if err != nil {
		t.Fatal(err)
	}
	got, err := messages.DecodeEngagement(b)
	if err != nil {
		t.Fatal(err)
	}
	w.info = func(oidc bool) *messages.ServerRetrievalInfo {
		if oidc {
			return got.ServerRetrievalMethods.OIDC
		}
		return got.ServerRetrievalMethods.WebAPI
	}
	return w
}

func mdlRequest() DocRequest {
	return DocRequest{DocType: issuer.DocTypeMDL, NameSpaces: map[string]map[string]bool{
		issuer.NamespaceMDL: {"family_name": true, "portrait": false, "age_over_18": false, "no_such_element": false}}}
}

func TestWebAPIEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	res, err := w.client.WebAPI(ctx, w.info(false), []DocRequest{mdlRequest(), {DocType: "org.example.other", NameSpaces: map[string]map[string]bool{}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Documents) != 1 || len(res.DocumentErrors) != 1 || res.DocumentErrors[0]["org.example.other"] != 0 {
		t.Fatalf("%+v", res)
	}
	d := res.Documents[0]
	ns := d.NameSpaces[issuer.NamespaceMDL]
	if string(ns["age_over_18"]) != "true" || len(ns) != 3 || d.Errors[issuer.NamespaceMDL]["no_such_element"] != 0 || len(d.Warnings) != 0 {
		t.Fatalf("%s %v %v", ns, d.Errors, d.Warnings)
	}
	// unknown token, wrong trust
	bad := *w.info(false)
	bad.Token = "nope"
	if _, err := w.client.WebAPI(ctx, &bad, []DocRequest{mdlRequest()}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("unknown token: %v", err)
	}
	other, _ := issuer.NewIACA(issuer.IACAOptions{})
	c2 := *w.client
	c2.Trust = verify.NewTrustStore(other.Certificate)
	if _, err := c2.WebAPI(ctx, w.info(false), []DocRequest{mdlRequest()}); err == nil || !errors.Is(err, ErrJWT) {
		t.Errorf("foreign IACA: %v", err)
	}
	bad = *w.info(false)
	bad.Version = 2
	if _, err := w.client.WebAPI(ctx, &bad, nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("version: %v", err)
	}
	// late reader: the JWT expired
	c3 := *w.client
	c3.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	if _, err := c3.WebAPI(ctx, w.info(false), []DocRequest{mdlRequest()}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
}

func TestOIDCEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, err := w.client.OIDC(ctx, w.info(true), mdlRequest())
	if err != nil {
		t.Fatal(err)
	}
	ns := d.NameSpaces[issuer.NamespaceMDL]
	if len(ns) != 3 || string(ns["age_over_18"]) != "true" {
		t.Fatalf("%s", ns)
	}
	bad := *w.info(true)
	bad.Token = "nope"
	if _, err := w.client.OIDC(ctx, &bad, mdlRequest()); err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("unknown token: %v", err)
	}
	bad = *w.info(true)
	bad.IssuerURL = w.srv.URL + "/"
	if _, err := w.client.OIDC(ctx, &bad, mdlRequest()); err != nil {
		t.Errorf("trailing slash: %v", err)
	}
}

func TestIDTokenChecks(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	sign := func(c map[string]any) string {
		base := map[string]any{"iss": "https://iss", "aud": "client", "nonce": "n", "doctype": issuer.DocTypeMDL,
			"namespaces": map[string]any{}, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		for k, v := range c {
			if v == nil {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		s, err := w.signer.Sign(base)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := w.client.VerifyIDToken(sign(nil), "https://iss", "client", "n", issuer.DocTypeMDL); err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.VerifyIDToken(sign(map[string]any{"aud": []string{"x", "client"}}), "https://iss", "client", "n", issuer.DocTypeMDL); err != nil {
		t.Fatalf("aud array: %v", err)
	}
	for name, c := range map[string]struct {
		claims map[string]any
		want   string
	}{
		"iss":     {map[string]any{"iss": "https://evil"}, "iss"},
		"aud":     {map[string]any{"aud": "other"}, "aud"},
		"no aud":  {map[string]any{"aud": nil}, "aud"},
		"nonce":   {map[string]any{"nonce": "m"}, "nonce"},
		"doctype": {map[string]any{"doctype": "x"}, "doctype"},
		"no exp":  {map[string]any{"exp": nil}, "exp missing"},
		"expired": {map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}, "expired"},
		"future":  {map[string]any{"iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}, "future"},
	} {
		if _, err := w.client.VerifyIDToken(sign(c.claims), "https://iss", "client", "n", issuer.DocTypeMDL); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// a signer certificate without any EKU is a warning only
	noEKU, _ := w.iaca.NewDocumentSigner(issuer.DSOptions{EKU: []asn1.ObjectIdentifier{}})
	signWith := func(ck issuer.CertKey) string {
		jwt, err := oid4vp.SignJWT(ck.Key, [][]byte{ck.Certificate.Raw}, "JWT", map[string]any{"doctype": "d", "exp": now.Add(time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return jwt
	}
	d, err := VerifyDocumentJWT(signWith(noEKU.CertKey), w.client.Trust, now, 0)
	if err != nil || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "1.0.18013.5.1.3") {
		t.Fatalf("%v %v", d, err)
	}
	// the issuer's own certificate has the EKU
	if !slices.ContainsFunc(w.signer.Cert.UnknownExtKeyUsage, OIDJWSSigner.Equal) {
		t.Fatal("JWS signer certificate lacks its EKU")
	}
}

// Issue 14: a JWS signer for another purpose (a Document Signer), a CA certificate or
// the IACA itself is refused; before, each was at most a warning.
func TestJWSSignerPurpose(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	ds, _ := w.iaca.NewDocumentSigner(issuer.DSOptions{})
	ca, _ := w.iaca.NewDocumentSigner(issuer.DSOptions{EKU: []asn1.ObjectIdentifier{OIDJWSSigner}, CA: true})
	for name, ck := range map[string]issuer.CertKey{"a Document Signer": ds.CertKey, "a CA certificate": ca.CertKey, "the IACA": w.iaca.CertKey} {
		jwt, err := oid4vp.SignJWT(ck.Key, [][]byte{ck.Certificate.Raw}, "JWT", map[string]any{"doctype": "d", "exp": now.Add(time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyDocumentJWT(jwt, w.client.Trust, now, 0); !errors.Is(err, ErrJWT) || !strings.Contains(err.Error(), "jws_signer.purpose") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestIssuerHostile(t *testing.T) {
	w := newWorld(t)
	cl := w.srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// oversized and malformed WebAPI bodies
	for name, body := range map[string]string{"not json": "{", "big": `{"token":"` + strings.Repeat("a", MaxBody+10) + `"}`, "version": `{"version":"2.0"}`} {
		resp, err := cl.Post(w.srv.URL+"/identity", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// a code is single use and needs the PKCE verifier
	resp, err := cl.Post(w.srv.URL+"/register", "application/json", strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {"http://127.0.0.1/cb"}, "scope": {"openid"},
		"login_hint": {w.token}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	resp, err = cl.Get(w.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	tokenReq := func() int {
		resp, err := cl.PostForm(w.srv.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"client_id": {reg.ClientID}, "redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {"wrong"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := tokenReq(); c != 400 {
		t.Errorf("bad verifier: %d", c)
	}
	if c := tokenReq(); c != 400 {
		t.Errorf("reused code: %d", c)
	}
	// unregistered redirect URI
	q.Set("redirect_uri", "http://evil/cb")
	resp, err = cl.Get(w.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unregistered redirect: %d", resp.StatusCode)
	}
}

func FuzzVerifyDocumentJWT(f *testing.F) {
	f.Add(testvectors.AnnexDText(f, "server_retrieval_jwt.txt"))
	f.Add("eyJhbGciOiJFUzI1NiIsIng1YyI6WyJNSUkiXX0.e30.AAAA")
	trust := verify.NewTrustStore(testvectors.AnnexDCertificate(f, "iaca_cert"))
	at := testvectors.AnnexDNow
	c := &Client{Trust: trust, Now: func() time.Time { return at }}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = VerifyDocumentJWT(s, trust, at, 0)
		_, _ = c.VerifyIDToken(s, "i", "c", "n", "d")
	})
}
