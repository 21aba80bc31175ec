package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
)

// onlineConfig loads examples/online.yaml as shipped, but for what a test cannot share:
// a free port (listen localhost:0 keeps the host name the reader certificate names),
// a free http_addr, an error log level and an IACA folder with the given authorities.
func onlineConfig(t *testing.T, authorities ...*testgate.Authority) *Config {
	t.Helper()
	cfg, err := LoadConfig(testgate.Example("online.yaml"))
	if err != nil {
		t.Fatalf("examples/online.yaml as shipped: %v", err)
	}
	iacaDir := t.TempDir()
	for i, a := range authorities {
		if err := os.WriteFile(filepath.Join(iacaDir, fmt.Sprintf("iaca%d.pem", i)), a.IACAPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(authorities) > 0 {
		cfg.Trust.IACADir = iacaDir
	}
	cfg.Listen, cfg.HTTPAddr, cfg.LogLevel = "localhost:0", "127.0.0.1:0", "error"
	return cfg
}

// onlineClient talks to the gate: for requests the tests make and for the wallet.
type onlineClient struct {
	origin string
	hc     *http.Client
}

func newOnlineClient(t *testing.T, g *runningGate) *onlineClient {
	t.Helper()
	if !strings.HasPrefix(g.info.Origin, "http://localhost:") {
		t.Fatalf("origin %q: the reader certificate names localhost", g.info.Origin)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &onlineClient{origin: g.info.Origin, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

func (c *onlineClient) do(t *testing.T, method, path string, body any, hdr ...string) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.origin + path
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

// wallet is a simulated wallet holding cred that trusts the example reader root.
func (c *onlineClient) wallet(t *testing.T, cred *issuer.Credential, mut func(*oid4vp.WalletConfig)) *oid4vp.Wallet {
	t.Helper()
	roots, err := verify.ParseCertificates(mustRead(t, testgate.Example("online", "reader_root.pem")))
	if err != nil {
		t.Fatal(err)
	}
	cfg := oid4vp.WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{cred}}, Trust: verify.NewTrustStore(roots...),
		Client: c.hc, AllowHTTP: true}
	if mut != nil {
		mut(&cfg)
	}
	return oid4vp.NewWallet(cfg)
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// begin creates an OpenID4VP transaction on lane.
func (c *onlineClient) begin(t *testing.T, lane string) (id, invocation string) {
	t.Helper()
	code, tx, raw := c.do(t, "POST", online.OID4VPTransactions, map[string]string{"lane": lane})
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", online.OID4VPTransactions, code, raw)
	}
	return tx["id"].(string), tx["authorization_request_uri"].(string)
}

// beginDC creates a DC API transaction and returns its id and request object.
func (c *onlineClient) beginDC(t *testing.T, protocol string) (string, json.RawMessage) {
	t.Helper()
	code, tx, raw := c.do(t, "POST", online.DCAPITransactions, map[string]string{"lane": "web-dc", "protocol": protocol, "origin": c.origin})
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", online.DCAPITransactions, code, raw)
	}
	req, _ := json.Marshal(tx["request"])
	return tx["id"].(string), req
}

// status reads a transaction's status.
func (c *onlineClient) status(t *testing.T, bearer, id string) map[string]any {
	t.Helper()
	_, s, _ := c.do(t, "GET", "/"+bearer+"/transactions/"+id+"/status", nil)
	return s
}

// checkShown checks a verdict JSON shows exactly the elements the profile marks show.
func checkShown(t *testing.T, v map[string]any) {
	t.Helper()
	els, _ := v["elements"].(map[string]any)
	mdl, _ := els[issuer.NamespaceMDL].(map[string]any)
	if len(els) != 1 || len(mdl) != 3 || mdl["given_name"] != "Erika" || mdl["family_name"] != "Mustermann" || mdl["age_over_18"] != true {
		t.Fatalf("shown elements %v, want given_name, family_name and age_over_18 only", els)
	}
}

// The example gate starts as shipped and answers each OpenID4VP response mode and
// request_uri method end to end over its sockets: the wallet fetches the signed request
// object, answers, and the verdict — under the transaction's id from start to end —
// is in the status, with the profile's shown elements only, in the gate's verdict
// stream and in its metrics.
func TestOnlineOID4VP(t *testing.T) {
	a := testgate.NewAuthority(t, "online")
	for _, mode := range []string{oid4vp.ModeDirectPost, oid4vp.ModeDirectPostJWT} {
		for _, method := range []string{"get", "post"} {
			t.Run(mode+"/"+method, func(t *testing.T) {
				cfg := onlineConfig(t, a)
				cfg.Lanes[0].ResponseMode, cfg.Lanes[0].RequestURIMethod = mode, method
				g := runGate(t, cfg)
				c := newOnlineClient(t, g)
				id, inv := c.begin(t, "web-qr")
				if strings.Contains(inv, "request_uri_method=post") != (method == "post") {
					t.Fatalf("invocation %s", inv)
				}
				if s := c.status(t, "oid4vp", id); s["state"] != "pending" {
					t.Fatalf("status before %v", s)
				}
				if err := c.wallet(t, a.Cred, nil).Present(context.Background(), inv); err != nil {
					t.Fatal(err)
				}
				v := g.verdict(t)
				if v.Session != id || v.Lane != "web-qr" || v.Bearer != "oid4vp" || v.Outcome != "accepted" || v.Action != "open" {
					t.Fatalf("gate verdict %+v, transaction %s", v, id)
				}
				s := c.status(t, "oid4vp", id)
				pv, _ := s["verdict"].(map[string]any)
				if s["state"] != "accepted" || pv["session"] != id || pv["action"] != "open" {
					t.Fatalf("status %v", s)
				}
				checkShown(t, pv)
				_, m := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics")
				if !strings.Contains(m, `mdocgate_sessions_total{bearer="oid4vp",lane="web-qr",outcome="accepted",reason="none"} 1`) {
					t.Fatalf("metrics:\n%s", grepLines(m, "mdocgate_sessions_total"))
				}
			})
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Each DC API protocol and response mode end to end: the page's transaction, the
// wallet's answer from the page's origin, the verdict JSON in the response.
func TestOnlineDCAPI(t *testing.T) {
	a := testgate.NewAuthority(t, "online")
	for _, mode := range []string{oid4vp.ModeDCAPI, oid4vp.ModeDCAPIJWT} {
		cfg := onlineConfig(t, a)
		cfg.Lanes[1].ResponseMode = mode
		g := runGate(t, cfg)
		c := newOnlineClient(t, g)
		w := c.wallet(t, a.Cred, nil)
		for _, protocol := range online.Protocols {
			if protocol == oid4vp.ProtocolAnnexC && mode == oid4vp.ModeDCAPI {
				continue // one Annex C run is enough: its answer is sealed with HPKE either way
			}
			t.Run(mode+"/"+protocol, func(t *testing.T) {
				id, req := c.beginDC(t, protocol)
				data, err := w.AnswerDCAPI(req, c.origin)
				if err != nil {
					t.Fatal(err)
				}
				if protocol != oid4vp.ProtocolAnnexC && strings.Contains(string(data), `"response"`) != (mode == oid4vp.ModeDCAPIJWT) {
					t.Fatalf("answer %.80s for %s", data, mode)
				}
				code, v, raw := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data)
				if code != 200 || v["outcome"] != "accepted" || v["session"] != id || v["bearer"] != "dcapi" {
					t.Fatalf("%d %s", code, raw)
				}
				checkShown(t, v)
				if gv := g.verdict(t); gv.Session != id || gv.Outcome != "accepted" {
					t.Fatalf("gate verdict %+v", gv)
				}
			})
		}
	}
}

// The refusals: each named negative case ends as it should, with a verdict where the
// answer could be tied to its transaction and a refusal metric where it could not.
func TestOnlineNegative(t *testing.T) {
	a := testgate.NewAuthority(t, "online")
	cfg := onlineConfig(t, a)
	cfg.Lanes[0].AnnexBHandover = true
	g := runGate(t, cfg)
	c := newOnlineClient(t, g)
	ctx := context.Background()
	expectVerdict := func(t *testing.T, id, outcome, reason string) {
		t.Helper()
		v := g.verdict(t)
		if v.Session != id || v.Outcome != outcome || (reason != "" && v.Reason != reason) {
			t.Fatalf("verdict %+v, want %s %s (%s)", v, id, outcome, reason)
		}
	}
	bind := func(f func(*oid4vp.Binding)) *oid4vp.Wallet {
		return c.wallet(t, a.Cred, func(w *oid4vp.WalletConfig) { w.Bind = f })
	}

	t.Run("wrong nonce", func(t *testing.T) {
		id, inv := c.begin(t, "web-qr")
		err := bind(func(b *oid4vp.Binding) { b.Nonce = "another-nonce-0123456789" }).Present(ctx, inv)
		if err == nil {
			t.Fatal("accepted")
		}
		expectVerdict(t, id, "rejected", verify.CheckDeviceSignature)
		if s := c.status(t, "oid4vp", id); s["state"] != "rejected" || s["reason"] != verify.CheckDeviceSignature {
			t.Fatalf("status %v", s)
		}
	})
	t.Run("wrong client_id", func(t *testing.T) {
		id, inv := c.begin(t, "web-qr")
		if err := bind(func(b *oid4vp.Binding) { b.ClientID = "x509_san_dns:evil.example" }).Present(ctx, inv); err == nil {
			t.Fatal("accepted")
		}
		expectVerdict(t, id, "rejected", verify.CheckDeviceSignature)
	})
	t.Run("wrong origin", func(t *testing.T) {
		// unsigned: the wallet binds the page's (other) origin; mdoc authentication fails
		id, req := c.beginDC(t, oid4vp.ProtocolUnsigned)
		data, err := c.wallet(t, a.Cred, nil).AnswerDCAPI(req, "https://evil.example")
		if err != nil {
			t.Fatal(err)
		}
		if code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != 200 || v["outcome"] != "rejected" {
			t.Fatalf("%d %v", code, v)
		}
		expectVerdict(t, id, "rejected", verify.CheckDeviceSignature)
		// signed: the wallet refuses a request made for another origin (expected_origins)
		_, req = c.beginDC(t, oid4vp.ProtocolSigned)
		if _, err := c.wallet(t, a.Cred, nil).AnswerDCAPI(req, "https://evil.example"); err == nil || !strings.Contains(err.Error(), "expected_origins") {
			t.Fatalf("signed request answered from another origin: %v", err)
		}
		// Annex C: a wallet binding another origin cannot be opened (HPKE info differs)
		id, req = c.beginDC(t, oid4vp.ProtocolAnnexC)
		data, err = bind(func(b *oid4vp.Binding) { b.Origin = "https://evil.example" }).AnswerDCAPI(req, c.origin)
		if err != nil {
			t.Fatal(err)
		}
		if code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != 200 || v["outcome"] != "error" {
			t.Fatalf("%d %v", code, v)
		}
		expectVerdict(t, id, "error", oid4vp.ReasonDecrypt)
		// and the gate refuses to make a transaction for an origin it does not serve
		if code, _, _ := c.do(t, "POST", online.DCAPITransactions, map[string]string{"lane": "web-dc",
			"protocol": oid4vp.ProtocolAnnexC, "origin": "https://evil.example"}); code != http.StatusForbidden {
			t.Fatalf("foreign origin: %d", code)
		}
	})
	t.Run("tampered JWE", func(t *testing.T) {
		id, inv := c.begin(t, "web-qr")
		w := c.wallet(t, a.Cred, nil)
		req, form := fetchAndAnswer(t, w, inv)
		tampered := tamperJWE(t, form.Get("response"))
		if code, e, _ := c.do(t, "POST", req.Claims.ResponseURI, tampered, "Content-Type", "application/x-www-form-urlencoded"); code != 400 ||
			!strings.Contains(fmt.Sprint(e["error_description"]), "decryption failed") {
			t.Fatalf("tampered: %d %v", code, e)
		}
		// not tied to the transaction: it stays open, and the genuine answer is accepted
		if s := c.status(t, "oid4vp", id); s["state"] != "pending" {
			t.Fatalf("status %v", s)
		}
		if err := w.Post(ctx, req.Claims.ResponseURI, form); err != nil {
			t.Fatal(err)
		}
		expectVerdict(t, id, "accepted", "")
		// replay of the genuine answer
		if code, _, _ := c.do(t, "POST", req.Claims.ResponseURI, form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != http.StatusConflict {
			t.Fatalf("replay: %d", code)
		}
	})
	t.Run("tampered HPKE ciphertext", func(t *testing.T) {
		id, req := c.beginDC(t, oid4vp.ProtocolAnnexC)
		data, err := c.wallet(t, a.Cred, nil).AnswerDCAPI(req, c.origin)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Response string }
		_ = json.Unmarshal(data, &d)
		raw, _ := base64.RawURLEncoding.DecodeString(d.Response)
		sealed, err := messages.DecodeDCAPIResponse(raw)
		if err != nil {
			t.Fatal(err)
		}
		sealed.CipherText[7] ^= 0x40
		b, _ := messages.Marshal(sealed)
		bad, _ := json.Marshal(map[string]string{"response": base64.RawURLEncoding.EncodeToString(b)})
		if code, v, raw := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", bad); code != 200 || v["outcome"] != "error" ||
			v["reason"] != oid4vp.ReasonDecrypt {
			t.Fatalf("%d %s", code, raw)
		}
		expectVerdict(t, id, "error", oid4vp.ReasonDecrypt)
		// the page's one answer: the genuine one now comes too late
		if code, _, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != http.StatusConflict {
			t.Fatalf("after the tampered answer: %d", code)
		}
	})
	t.Run("replay", func(t *testing.T) {
		id, req := c.beginDC(t, oid4vp.ProtocolSigned)
		data, _ := c.wallet(t, a.Cred, nil).AnswerDCAPI(req, c.origin)
		if code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != 200 || v["outcome"] != "accepted" {
			t.Fatalf("%d %v", code, v)
		}
		expectVerdict(t, id, "accepted", "")
		if code, _, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != http.StatusConflict {
			t.Fatalf("replay: %d", code)
		}
	})
	t.Run("answer for another transaction", func(t *testing.T) {
		// OpenID4VP: transaction A's answer posted to B's response URI (state differs)
		_, invA := c.begin(t, "web-qr")
		idB, invB := c.begin(t, "web-qr")
		w := c.wallet(t, a.Cred, nil)
		_, formA := fetchAndAnswer(t, w, invA)
		reqB, _ := fetchAndAnswer(t, w, invB)
		if code, e, _ := c.do(t, "POST", reqB.Claims.ResponseURI, formA.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != 400 {
			t.Fatalf("A's answer to B: %d %v", code, e)
		}
		if s := c.status(t, "oid4vp", idB); s["state"] != "pending" {
			t.Fatalf("B after A's answer: %v", s)
		}
		// DC API: A's answer posted for B: encrypted to A's key, B's cannot open it
		_, reqDA := c.beginDC(t, oid4vp.ProtocolUnsigned)
		idDB, _ := c.beginDC(t, oid4vp.ProtocolUnsigned)
		data, _ := w.AnswerDCAPI(reqDA, c.origin)
		if code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+idDB+"/response", data); code != 200 || v["outcome"] != "error" {
			t.Fatalf("A's DC API answer for B: %d %v", code, v)
		}
		expectVerdict(t, idDB, "error", oid4vp.ReasonDecrypt)
		// Annex C likewise (sealed to A's HPKE key)
		_, reqCA := c.beginDC(t, oid4vp.ProtocolAnnexC)
		idCB, _ := c.beginDC(t, oid4vp.ProtocolAnnexC)
		data, _ = w.AnswerDCAPI(reqCA, c.origin)
		if code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+idCB+"/response", data); code != 200 || v["outcome"] != "error" {
			t.Fatalf("A's Annex C answer for B: %d %v", code, v)
		}
		expectVerdict(t, idCB, "error", oid4vp.ReasonDecrypt)
	})
	t.Run("Annex B handover behind the lane option", func(t *testing.T) {
		id, inv := c.begin(t, "web-qr")
		w := c.wallet(t, a.Cred, func(w *oid4vp.WalletConfig) { w.AnnexBHandover = true })
		if err := w.Present(ctx, inv); err != nil {
			t.Fatal(err)
		}
		expectVerdict(t, id, "accepted", "")
	})
	t.Run("untrusted credential", func(t *testing.T) {
		other := testgate.NewAuthority(t, "other")
		id, req := c.beginDC(t, oid4vp.ProtocolAnnexC)
		data, _ := c.wallet(t, other.Cred, nil).AnswerDCAPI(req, c.origin)
		code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data)
		if code != 200 || v["outcome"] != "rejected" || v["action"] != "deny" || len(v["elements"].(map[string]any)) != 0 {
			t.Fatalf("%d %v", code, v)
		}
		expectVerdict(t, id, "rejected", verify.CheckIssuerAuthChain)
	})
	_, m := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics")
	for _, want := range []string{`mdocgate_refused_total{lane="web-qr",reason="malformed"}`,
		`mdocgate_refused_total{lane="web-qr",reason="replay"}`, `mdocgate_refused_total{lane="web-dc",reason="replay"}`,
		`mdocgate_refused_total{lane="web-dc",reason="origin"}`,
		`mdocgate_sessions_total{bearer="dcapi",lane="web-dc",outcome="error",reason="response_decryption"} 4`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "mdocgate_refused"))
		}
	}
}

// An expired transaction: its status says so, an answer gets 410 and no verdict.
func TestOnlineExpired(t *testing.T) {
	a := testgate.NewAuthority(t, "online")
	cfg := onlineConfig(t, a)
	for i := range cfg.Lanes {
		cfg.Lanes[i].TransactionTTL = 300 * time.Millisecond
	}
	g := runGate(t, cfg)
	c := newOnlineClient(t, g)
	id, inv := c.begin(t, "web-qr")
	req, form := fetchAndAnswer(t, c.wallet(t, a.Cred, nil), inv)
	did, dreq := c.beginDC(t, oid4vp.ProtocolAnnexC)
	data, _ := c.wallet(t, a.Cred, nil).AnswerDCAPI(dreq, c.origin)
	time.Sleep(time.Second)
	if code, _, _ := c.do(t, "POST", req.Claims.ResponseURI, form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != http.StatusGone {
		t.Fatalf("oid4vp answer after expiry: %d", code)
	}
	if code, _, _ := c.do(t, "POST", online.DCAPITransactions+"/"+did+"/response", data); code != http.StatusGone {
		t.Fatalf("DC API answer after expiry: %d", code)
	}
	for bearer, tid := range map[string]string{"oid4vp": id, "dcapi": did} {
		if s := c.status(t, bearer, tid); s["state"] != "expired" {
			t.Fatalf("%s status %v", bearer, s)
		}
	}
	select {
	case v := <-g.verdicts:
		t.Fatalf("a verdict for an expired transaction: %+v", v)
	case <-time.After(100 * time.Millisecond):
	}
}

// fetchAndAnswer has the wallet fetch the request of an invocation and build its answer.
func fetchAndAnswer(t *testing.T, w *oid4vp.Wallet, invocation string) (*oid4vp.Request, url.Values) {
	t.Helper()
	inv, err := oid4vp.ParseInvocation(invocation)
	if err != nil {
		t.Fatal(err)
	}
	req, err := w.Fetch(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	form, err := w.ResponseForm(req)
	if err != nil {
		t.Fatal(err)
	}
	return req, form
}

// tamperJWE flips a bit of a compact JWE's ciphertext and returns the form body.
func tamperJWE(t *testing.T, jwe string) string {
	t.Helper()
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 {
		t.Fatalf("not a compact JWE: %.40s", jwe)
	}
	ct, _ := base64.RawURLEncoding.DecodeString(parts[3])
	ct[0] ^= 1
	parts[3] = base64.RawURLEncoding.EncodeToString(ct)
	return url.Values{"response": {strings.Join(parts, ".")}}.Encode()
}

// Online lanes are configured like the others; every mistake names its field.
func TestOnlineConfigErrors(t *testing.T) {
	base := func(t *testing.T) *Config { return onlineConfig(t) }
	for name, c := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"no reader_auth":       {func(c *Config) { c.ReaderAuth = nil }, "lanes[0].bearer: a oid4vp lane signs its requests with reader_auth"},
		"response_mode":        {func(c *Config) { c.Lanes[0].ResponseMode = "dc_api" }, "lanes[0].response_mode"},
		"dcapi response_mode":  {func(c *Config) { c.Lanes[1].ResponseMode = "direct_post" }, "lanes[1].response_mode"},
		"request_uri_method":   {func(c *Config) { c.Lanes[0].RequestURIMethod = "put" }, "lanes[0].request_uri_method"},
		"dcapi request method": {func(c *Config) { c.Lanes[1].RequestURIMethod = "post" }, "lanes[1].request_uri_method"},
		"protocol":             {func(c *Config) { c.Lanes[1].Protocols = []string{"openid4vp"} }, "lanes[1].protocols[0]"},
		"origin":               {func(c *Config) { c.Lanes[1].Origins = []string{"https://x.example/"} }, "lanes[1].origins[0]"},
		"fallback":             {func(c *Config) { c.Lanes[1].Fallback = "web-dc" }, "lanes[1].fallback"},
		"prefix":               {func(c *Config) { c.Lanes[0].ClientIDPrefix = "redirect_uri" }, "lanes[0].client_id_prefix"},
		"ttl":                  {func(c *Config) { c.Lanes[0].TransactionTTL = -time.Second }, "lanes[0].transaction_ttl"},
		"name":                 {func(c *Config) { c.Lanes[0].Name = "web qr"; c.Lanes[1].Fallback = "" }, "lanes[0].name"},
		"not online":           {func(c *Config) { c.Lanes[0].Bearer = "websocket" }, "lanes[0].bearer: response_mode"},
		"plain":                {func(c *Config) { c.Lanes[0].Profile = ""; c.Lanes[0].Request = c.Lanes[1].Request }, ""},
		"annex b on dcapi":     {func(c *Config) { c.Lanes[1].AnnexBHandover = true }, "lanes[1].annex_b_handover"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base(t)
			c.mut(cfg)
			err := cfg.Validate()
			var ce *ConfigError
			if c.want == "" {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want %q", err, c.want)
			}
		})
	}
	// x509_san_dns: the certificate names localhost, the origin another host
	cfg := base(t)
	cfg.Origin = "http://127.0.0.1:1"
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), `response URI's host is "127.0.0.1"`) {
		t.Fatalf("origin host other than the certificate's name: %v", err)
	}
}

// SIGHUP: an online lane's own settings and what it requests need a restart (its
// transactions keep asking as they started); the rest reloads as on any lane.
func TestOnlineReload(t *testing.T) {
	a := testgate.NewAuthority(t, "online")
	dir := t.TempDir()
	for _, f := range []string{"online.yaml", "online-profiles.yaml", filepath.Join("online", "reader_key.pem"), filepath.Join("online", "reader_chain.pem")} {
		b := mustRead(t, testgate.Example(f))
		if f == "online.yaml" {
			s := strings.Replace(string(b), "listen: localhost:8443", "listen: localhost:0", 1)
			s = strings.Replace(s, "http_addr: 127.0.0.1:9090", "http_addr: 127.0.0.1:0", 1)
			s = strings.Replace(s, "log_level: info", "log_level: error", 1)
			b = []byte(s)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testgate.WriteIACADir(t, dir, a)
	g := startGate(t, filepath.Join(dir, "online.yaml"))
	rewrite := func(file, old, new string) {
		t.Helper()
		b := mustRead(t, filepath.Join(dir, file))
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s has no %q", file, old)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("online.yaml", "protocols: [org-iso-mdoc, openid4vp-v1-signed, openid4vp-v1-unsigned]", "protocols: [org-iso-mdoc]")
	rewrite("online-profiles.yaml", "identifier: expiry_date, mandatory: true}", "identifier: expiry_date, mandatory: true}\n          - {namespace: org.iso.18013.5.1, identifier: portrait}")
	g.sigs <- syscall.SIGHUP
	e := g.event(t)
	joined := strings.Join(e.RestartNeeded, "; ")
	if e.Event != "trust_reloaded" || !strings.Contains(joined, "lanes[1] (web-dc: the online lane's settings)") ||
		!strings.Contains(joined, "lanes[0].profile (web-qr: what an online lane requests)") {
		t.Fatalf("reload: %+v", e)
	}
	// the lanes go on as they started: every protocol, the request they began with
	c := newOnlineClient(t, g)
	id, req := c.beginDC(t, oid4vp.ProtocolUnsigned)
	data, err := c.wallet(t, a.Cred, nil).AnswerDCAPI(req, c.origin)
	if err != nil {
		t.Fatal(err)
	}
	if code, v, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != 200 || v["outcome"] != "accepted" {
		t.Fatalf("after the reload: %d %v", code, v)
	}
}
