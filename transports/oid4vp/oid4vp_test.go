package oid4vp

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pki is the test world: an IACA with a DS, a reader root with the verifier identity, a
// credential.
type pki struct {
	iaca      *issuer.Authority
	root      *issuer.Authority
	ident     *Identity
	cred      *issuer.Credential
	otherCred *issuer.Credential // same docType, other device key and data
}

var testPKI *pki

func getPKI(t testing.TB) *pki {
	t.Helper()
	if testPKI != nil {
		return testPKI
	}
	tp := testpki.New(t, testpki.Options{})
	ident := newIdentity(t, tp.ReaderRoot, "test verifier", "localhost")
	testPKI = &pki{iaca: tp.IACA, root: tp.ReaderRoot, ident: ident,
		cred: tp.Issue(t, issuer.IssueRequest{}), otherCred: tp.Issue(t, issuer.IssueRequest{})}
	return testPKI
}

// newIdentity makes a verifier identity under root: a reader certificate with both
// reader EKUs and the DNS names as subjectAltName.
func newIdentity(t testing.TB, root *issuer.Authority, cn string, dnsNames ...string) *Identity {
	t.Helper()
	rc, err := root.NewReaderCert(issuer.ReaderOptions{CommonName: cn, Also23220: true, DNSNames: dnsNames})
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity(rc.Key, rc.Chain)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type env struct {
	p   *pki
	srv *httptest.Server
	v   *Verifier
	w   *Wallet
}

func newEnv(t *testing.T, prefix string, mut func(*VerifierConfig)) *env {
	t.Helper()
	p := getPKI(t)
	e := &env{p: p}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	base := strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1) + "/vp"
	cfg := VerifierConfig{BaseURL: base, Identity: p.ident, ClientIDPrefix: prefix, Trust: verify.NewTrustStore(p.iaca.Certificate)}
	if mut != nil {
		mut(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.v, h = v, v.Handler()
	e.w = NewWallet(WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{p.cred}}, Trust: verify.NewTrustStore(p.root.Certificate),
		Client: e.srv.Client(), AllowHTTP: true})
	return e
}

func mdlQuery() *DCQL {
	return MdocQuery("mdl", issuer.DocTypeMDL, Claim(issuer.NamespaceMDL, "family_name", false),
		Claim(issuer.NamespaceMDL, "age_over_18", true), Claim(issuer.NamespaceMDL, "portrait", false))
}

func TestHandoverEqualsSpecExamples(t *testing.T) {
	jwk := testvectors.File(t, "iso18013-5", "oid4vp_verifier_jwk.json")
	var k jose.JSONWebKey
	if err := json.Unmarshal(jwk, &k); err != nil {
		t.Fatal(err)
	}
	tp := (&EncryptionKey{Private: &ecdsa.PrivateKey{PublicKey: *k.Key.(*ecdsa.PublicKey)}}).Thumbprint()
	if want := testvectors.AnnexD(t, "oid4vp_jwk_thumbprint"); !bytes.Equal(tp, want) {
		t.Fatalf("thumbprint %x, want %x", tp, want)
	}
	const nonce = "exc7gBkxjx1rdc9udRrveKvSsJIq80avlXeLHhGwqtA"
	tx := &Transaction{ClientID: "x509_san_dns:example.com", Nonce: nonce, ResponseURI: "https://example.com/response",
		Key: &EncryptionKey{Private: &ecdsa.PrivateKey{PublicKey: *k.Key.(*ecdsa.PublicKey)}}}
	tr := tx.Transcript()
	if want := testvectors.AnnexD(t, "oid4vp_handover"); !bytes.Equal(tr.Handover, want) {
		t.Fatalf("handover %x\nwant     %x", []byte(tr.Handover), want)
	}
	enc, err := messages.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.AnnexD(t, "oid4vp_session_transcript"); !bytes.Equal(enc, want) {
		t.Fatalf("transcript %x\nwant %x", enc, want)
	}
	dc := DCAPIRequest{Origin: "https://example.com", Nonce: nonce, Key: tx.Key}
	dtr := dc.Transcript()
	if want := testvectors.AnnexD(t, "oid4vp_dcapi_handover"); !bytes.Equal(dtr.Handover, want) {
		t.Fatalf("DC API handover %x\nwant %x", []byte(dtr.Handover), want)
	}
	enc, _ = messages.Marshal(dtr)
	if want := testvectors.AnnexD(t, "oid4vp_dcapi_session_transcript"); !bytes.Equal(enc, want) {
		t.Fatalf("DC API transcript %x\nwant %x", enc, want)
	}
}

func TestFlows(t *testing.T) {
	for _, prefix := range []string{PrefixX509SanDNS, PrefixX509Hash} {
		for _, mode := range []string{"plain", "A128GCM", "A256GCM"} {
			for _, method := range []string{"get", "post"} {
				t.Run(prefix+"/"+mode+"/"+method, func(t *testing.T) {
					e := newEnv(t, prefix, nil)
					o := RequestOptions{Query: mdlQuery(), RequestURIMethod: method}
					if mode != "plain" {
						o.Encrypted, o.EncValues = true, []string{mode}
					}
					tx, err := e.v.Begin(o)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(tx.InvocationURI, "openid4vp://?client_id="+url.QueryEscape(prefix+":")) {
						t.Fatalf("invocation %s", tx.InvocationURI)
					}
					if err := e.w.Present(context.Background(), tx.InvocationURI); err != nil {
						t.Fatal(err)
					}
					out, err := e.v.Wait(context.Background(), tx)
					if err != nil {
						t.Fatal(err)
					}
					if !out.Valid {
						t.Fatalf("not valid: %v", out.Err)
					}
					els := out.Presentations["mdl"][0].Documents[0].Elements[issuer.NamespaceMDL]
					if len(els) != 3 || els["age_over_18"] != true {
						t.Fatalf("elements %v", els)
					}
				})
			}
		}
	}
}

func TestMdocOpenID4VPScheme(t *testing.T) {
	e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) { c.Scheme = "mdoc-openid4vp" })
	tx, err := e.v.Begin(RequestOptions{Query: mdlQuery()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tx.InvocationURI, "mdoc-openid4vp://?") {
		t.Fatal(tx.InvocationURI)
	}
	if err := e.w.Present(context.Background(), tx.InvocationURI); err != nil {
		t.Fatal(err)
	}
}

func TestApuApvAnything(t *testing.T) {
	for _, c := range []struct{ apu, apv []byte }{{[]byte{}, []byte{}}, {[]byte("mdoc nonce"), []byte("verifier nonce")}, {bytes.Repeat([]byte{7}, 200), nil}} {
		e := newEnv(t, PrefixX509SanDNS, nil)
		e.w.cfg.APU, e.w.cfg.APV = c.apu, c.apv
		tx, err := e.v.Begin(RequestOptions{Query: mdlQuery(), Encrypted: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.w.Present(context.Background(), tx.InvocationURI); err != nil {
			t.Fatalf("apu %q apv %q: %v", c.apu, c.apv, err)
		}
	}
}

func TestParseDCQL(t *testing.T) {
	good := `{"credentials":[{"id":"my_mdl","format":"mso_mdoc","meta":{"doctype_value":"org.iso.18013.5.1.mDL"},
	  "claims":[{"id":"a","path":["org.iso.18013.5.1","family_name"],"intent_to_retain":true},{"id":"b","path":["org.iso.18013.5.1","portrait"]}],
	  "claim_sets":[["a","b"],["a"]]}]}`
	q, err := ParseDCQL([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	rd := q.Credentials[0].RequestedDoc()
	if rd.DocType != issuer.DocTypeMDL || len(rd.NameSpaces) != 1 || len(rd.NameSpaces[0].Elements) != 2 ||
		!rd.NameSpaces[0].IntentToRetain["family_name"] || rd.NameSpaces[0].IntentToRetain["portrait"] {
		t.Fatalf("%+v", rd)
	}
	back, _ := json.Marshal(q)
	if q2, err := ParseDCQL(back); err != nil || len(q2.Credentials[0].Claims) != 2 {
		t.Fatalf("round trip: %v", err)
	}
	bad := map[string]string{
		"empty":        `{"credentials":[]}`,
		"no meta":      `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{}}]}`,
		"format":       `{"credentials":[{"id":"x","format":"dc+sd-jwt","meta":{"doctype_value":"d"}}]}`,
		"bad id":       `{"credentials":[{"id":"x y","format":"mso_mdoc","meta":{"doctype_value":"d"}}]}`,
		"dup id":       `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"}},{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"}}]}`,
		"path length":  `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"path":["ns"]}]}]}`,
		"path type":    `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"path":["ns",0]}]}]}`,
		"claim set":    `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"id":"a","path":["n","e"]}],"claim_sets":[["z"]]}]}`,
		"not json":     `{"credentials":`,
		"trailing":     `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"}}]} {}`,
		"too large":    `{"x":"` + strings.Repeat("a", MaxDCQLSize) + `"}`,
		"wrong type":   `[]`,
		"null":         `null`,
		"dup claim id": `{"credentials":[{"id":"x","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"id":"a","path":["n","e"]},{"id":"a","path":["n","f"]}]}]}`,
	}
	for name, in := range bad {
		if _, err := ParseDCQL([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "dcql:") {
			t.Errorf("%s: error %q does not name dcql", name, err)
		}
	}
}

// dcapiResponse plays the wallet of a DC API request: a vp_token over the DC API
// transcript, encrypted when r.Key is set.
func dcapiResponse(t *testing.T, cred *issuer.Credential, r DCAPIRequest) []byte {
	t.Helper()
	tr := r.Transcript()
	p := &holder.Presenter{Credentials: []*issuer.Credential{cred}}
	dreq, err := request.Build([]request.Doc{r.Query.Credentials[0].RequestedDoc()}, nil, tr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.BuildResponse(dreq, tr, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := messages.Marshal(resp)
	tok := map[string]any{"vp_token": map[string][]string{r.Query.Credentials[0].ID: {base64.RawURLEncoding.EncodeToString(b)}}}
	data, _ := json.Marshal(tok)
	if r.Key == nil {
		return data
	}
	jwe, err := EncryptJWE(data, &r.Key.Private.PublicKey, EncryptOptions{KeyID: r.Key.KeyID})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(map[string]string{"response": jwe})
	return data
}

func TestDCAPIHandover(t *testing.T) {
	p := getPKI(t)
	key, err := NewEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	opts := verify.Options{Trust: verify.NewTrustStore(p.iaca.Certificate)}
	for _, k := range []*EncryptionKey{nil, key} {
		r := DCAPIRequest{Origin: "https://verifier.example", Nonce: randomString(32), Query: mdlQuery(), Key: k}
		data := dcapiResponse(t, p.cred, r)
		if out := VerifyDCAPIResponse(r, data, opts); !out.Valid {
			t.Fatalf("encrypted=%v: %v", k != nil, out.Err)
		}
		other := r
		other.Origin = "https://evil.example"
		if out := VerifyDCAPIResponse(other, data, opts); out.Valid || !errors.Is(out.Err, ErrInvalidPresentation) ||
			!strings.Contains(out.Err.Error(), "device_auth.signature") {
			t.Fatalf("foreign origin: %v", out.Err)
		}
		other = r
		other.Nonce = randomString(32)
		if out := VerifyDCAPIResponse(other, data, opts); out.Valid {
			t.Fatal("foreign nonce accepted")
		}
		other = r
		other.Origin = "origin:https://verifier.example"
		if out := VerifyDCAPIResponse(other, data, opts); out.Valid {
			t.Fatal("prefixed origin accepted")
		}
	}
	// a plaintext answer to an encrypted request is refused
	r := DCAPIRequest{Origin: "https://verifier.example", Nonce: randomString(32), Query: mdlQuery()}
	data := dcapiResponse(t, p.cred, r)
	r.Key = key
	if out := VerifyDCAPIResponse(r, data, opts); out.Valid || !strings.Contains(out.Err.Error(), "in the clear") {
		t.Fatalf("plaintext to dc_api.jwt: %v", out.Err)
	}
}

func TestRealWalletJWESample(t *testing.T) {
	const sample = "simpledigicreds-google-cm-wallet-dcapi-encrypted-mvrc"
	read := func(f string) []byte { return testvectors.File(t, "wallets", sample, f) }
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(read("verifier_encryption_private.jwk.json"), &jwk); err != nil {
		t.Fatal(err)
	}
	key := &EncryptionKey{Private: jwk.Key.(*ecdsa.PrivateKey)}
	jwe := strings.TrimSpace(string(read("jwe_response.txt")))
	pt, err := DecryptJWE(jwe, key)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		VPToken map[string]string `json:"vp_token"`
	}
	if err := json.Unmarshal(pt, &payload); err != nil {
		t.Fatal(err)
	}
	dr, err := base64.RawURLEncoding.DecodeString(payload.VPToken["credential1"])
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.Hex(t, "wallets", sample, "device_response.hex"); !bytes.Equal(dr, want) {
		t.Fatal("decrypted DeviceResponse differs from device_response.hex")
	}
	var ho struct {
		Origin, Nonce string
		Thumb         string `json:"jwk_thumbprint_hex"`
	}
	if err := json.Unmarshal(read("handover.json"), &ho); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(key.Thumbprint()) != ho.Thumb {
		t.Fatalf("thumbprint %x, handover.json %s", key.Thumbprint(), ho.Thumb)
	}
	var meta struct{ At time.Time }
	if err := json.Unmarshal(read("meta.json"), &meta); err != nil {
		t.Fatal(err)
	}
	certs, err := verify.ParseCertificates(read("trust_ds_digitalcredentials_dev.pem"))
	if err != nil {
		t.Fatal(err)
	}
	r := DCAPIRequest{Origin: ho.Origin, Nonce: ho.Nonce, Key: key, Query: MdocQuery("credential1", "org.iso.7367.1.mVRC")}
	data, _ := json.Marshal(map[string]string{"response": jwe})
	opts := verify.Options{Trust: verify.NewTrustStore(certs...), Now: meta.At}
	out := VerifyDCAPIResponse(r, data, opts)
	if !out.Valid {
		t.Fatalf("sample not valid: %v", out.Err)
	}
	// the recorded transcript is the one rebuilt
	if tb, _ := messages.Marshal(r.Transcript()); !bytes.Equal(tb, testvectors.Hex(t, "wallets", sample, "session_transcript.hex")) {
		t.Fatal("rebuilt transcript differs from session_transcript.hex")
	}
	// a foreign transcript: same response, another origin
	r.Origin = "http://localhost:8001"
	if out := VerifyDCAPIResponse(r, data, opts); out.Valid {
		t.Fatal("foreign origin accepted")
	}
	// another key cannot decrypt
	other, _ := NewEncryptionKey()
	r.Key = other
	if out := VerifyDCAPIResponse(r, data, opts); !errors.Is(out.Err, ErrDecrypt) {
		t.Fatalf("other key: %v", out.Err)
	}
}

func TestRealWalletRedirectTranscript(t *testing.T) {
	const sample = "mdoc-ts-animo-paradym"
	var ho struct {
		ClientID    string `json:"client_id"`
		Nonce       string
		Thumb       string `json:"jwk_thumbprint_hex"`
		ResponseURI string `json:"response_uri"`
	}
	b := testvectors.File(t, "wallets", sample, "handover.json")
	if err := json.Unmarshal(b, &ho); err != nil {
		t.Fatal(err)
	}
	tp, _ := hex.DecodeString(ho.Thumb)
	tr := messages.SessionTranscript{Handover: messages.OpenID4VPHandover(ho.ClientID, ho.Nonce, tp, ho.ResponseURI)}
	pem := testvectors.File(t, "wallets", sample, "iaca_animo.pem")
	certs, err := verify.ParseCertificates(pem)
	if err != nil {
		t.Fatal(err)
	}
	dr := testvectors.Hex(t, "wallets", sample, "device_response.hex")
	tok, _ := json.Marshal(map[string][]string{"pid": {base64.RawURLEncoding.EncodeToString(dr)}})
	opts := verify.Options{Trust: verify.NewTrustStore(certs...), Now: time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)}
	if out := VerifyVPToken(tok, MdocQuery("pid", "eu.europa.ec.eudi.pid.1"), tr, opts); !out.Valid {
		t.Fatalf("animo sample: %v", out.Err)
	}
	if out := VerifyVPToken(tok, MdocQuery("pid", issuer.DocTypeMDL), tr, opts); out.Valid || !strings.Contains(out.Err.Error(), "docType") {
		t.Fatalf("docType mismatch: %v", out.Err)
	}
	tr2 := messages.SessionTranscript{Handover: messages.OpenID4VPHandover(ho.ClientID, ho.Nonce, nil, ho.ResponseURI)}
	if out := VerifyVPToken(tok, MdocQuery("pid", "eu.europa.ec.eudi.pid.1"), tr2, opts); out.Valid {
		t.Fatal("transcript without the thumbprint accepted")
	}
}

// The JWE decryption written here opens what go-jose encrypts (both enc values, apu and
// apv, kid, compression), and the JWS signing written here verifies with go-jose.
func TestJOSECrossCheck(t *testing.T) {
	key, err := NewEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	plaintext := []byte(strings.Repeat(`{"vp_token":{"q":["abc"]},"state":"s"}`, 50))
	for _, enc := range []jose.ContentEncryption{jose.A128GCM, jose.A256GCM} {
		for _, zip := range []jose.CompressionAlgorithm{jose.NONE, jose.DEFLATE} {
			// (go-jose derives ECDH-ES keys with empty apu and apv whatever its header says:
			// apu and apv are cross-checked the other way round below)
			e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: jose.ECDH_ES, Key: &key.Private.PublicKey, KeyID: key.KeyID},
				&jose.EncrypterOptions{Compression: zip})
			if err != nil {
				t.Fatal(err)
			}
			obj, err := e.Encrypt(plaintext)
			if err != nil {
				t.Fatal(err)
			}
			compact, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			pt, h, err := decryptJWE(compact, key)
			if err != nil || !bytes.Equal(pt, plaintext) || len(h.apu) != 0 {
				t.Fatalf("%s zip=%q: %v (apu %q)", enc, zip, err, h.apu)
			}
		}
	}
	// ours, opened by go-jose
	jwe, err := EncryptJWE(plaintext, &key.Private.PublicKey, EncryptOptions{Enc: string(jose.A256GCM), KeyID: key.KeyID,
		APU: []byte("mdoc nonce"), APV: []byte("verifier nonce")})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseEncryptedCompact(jwe, []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := obj.Decrypt(key.Private); err != nil || !bytes.Equal(pt, plaintext) {
		t.Fatalf("go-jose opening ours: %v", err)
	}
	// a compression bomb is bounded
	var bomb bytes.Buffer
	fw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	fw.Write(make([]byte, MaxJWTSize+1))
	fw.Close()
	e, _ := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: &key.Private.PublicKey}, nil)
	obj2, _ := e.Encrypt(bomb.Bytes()) // the compressed bytes as the plaintext of a DEF JWE would be
	c2, _ := obj2.CompactSerialize()
	parts := strings.Split(c2, ".")
	h2, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hm map[string]any
	_ = json.Unmarshal(h2, &hm)
	hm["zip"] = "DEF"
	h3, _ := json.Marshal(hm)
	parts[0] = base64.RawURLEncoding.EncodeToString(h3) // (its tag no longer matches: refused before inflating)
	if _, _, err := decryptJWE(strings.Join(parts, "."), key); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("altered header: %v", err)
	}
	dz, _ := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: &key.Private.PublicKey},
		&jose.EncrypterOptions{Compression: jose.DEFLATE})
	obj3, err := dz.Encrypt(make([]byte, 2<<20))
	if err != nil {
		t.Fatal(err)
	}
	c3, _ := obj3.CompactSerialize()
	if _, _, err := decryptJWE(c3, key); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("2 MB inflated: %v", err)
	}
	// the JWS signed here, verified by go-jose (VerifyX5CJWT)
	p := getPKI(t)
	for _, typ := range []string{TypeRequestObject, "JWT"} {
		s, err := SignJWT(p.ident.Key, p.ident.Chain, typ, map[string]any{"a": 1})
		if err != nil {
			t.Fatal(err)
		}
		vj, err := VerifyX5CJWT(s, verify.NewTrustStore(p.root.Certificate), time.Now())
		if err != nil || vj.Header.Typ != typ || string(vj.Payload) != `{"a":1}` {
			t.Fatalf("%s: %v", typ, err)
		}
	}
}
