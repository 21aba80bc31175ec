package online

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/qr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is an online server on loopback (origin http://localhost:PORT) with an oid4vp
// lane "qr" and a dcapi lane "dc", and a stand-in engine: it verifies each answer with
// crypto/verify and completes the transaction with a verdict JSON.
type world struct {
	srv     *Server
	http    *httptest.Server
	origin  string
	client  *http.Client
	wallet  *oid4vp.Wallet
	trust   *verify.TrustStore
	refused atomic.Int64
	ids     chan string // session ids the engine saw
}

func newWorld(t *testing.T, mut func(*Config)) *world { return newWorldEngines(t, mut, "qr", "dc") }

// newWorldEngines is newWorld with stand-in engines for the lanes named only.
func newWorldEngines(t *testing.T, mut func(*Config), engines ...string) *world {
	t.Helper()
	pki := testpki.New(t, testpki.Options{})
	rc, err := pki.ReaderRoot.NewReaderCert(issuer.ReaderOptions{CommonName: "gate", Also23220: true, DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	ident, err := oid4vp.NewIdentity(rc.Key, rc.Chain)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{trust: verify.NewTrustStore(pki.IACA.Certificate), ids: make(chan string, 64)}
	mux := http.NewServeMux()
	w.http = httptest.NewServer(mux)
	t.Cleanup(w.http.Close)
	w.origin = strings.Replace(w.http.URL, "127.0.0.1", "localhost", 1)
	docs := testpki.MDLRequest("family_name", "age_over_18")
	cfg := Config{Origin: w.origin, Lanes: []LaneConfig{
		{Name: "qr", Bearer: BearerOID4VP, Docs: docs, Identity: ident, Encrypted: true, RequestURIMethod: "post"},
		{Name: "dc", Bearer: BearerDCAPI, Docs: docs, Identity: ident, Fallback: "qr", Origins: []string{w.origin, "https://shop.example"}},
	}, OnRefused: func(string, string) { w.refused.Add(1) }}
	if mut != nil {
		mut(&cfg)
	}
	if w.srv, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", w.srv.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(engines))
	for _, name := range engines {
		go func() {
			defer func() { done <- struct{}{} }()
			w.engine(ctx, name)
		}()
	}
	t.Cleanup(func() {
		cancel()
		w.srv.Close()
		for range engines {
			<-done
		}
	})
	w.client = w.http.Client()
	w.wallet = oid4vp.NewWallet(oid4vp.WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{pki.Issue(t, issuer.IssueRequest{})}},
		Trust: verify.NewTrustStore(pki.ReaderRoot.Certificate), Client: w.client, AllowHTTP: true})
	return w
}

// engine plays the gate's engine for one lane.
func (w *world) engine(ctx context.Context, name string) {
	l := w.srv.Listener(name)
	for {
		a, err := l.Accept(ctx)
		if err != nil {
			return
		}
		w.ids <- a.ID
		v := Verdict{State: oid4vp.StateError, Reason: a.Online.Reason}
		if a.Online.Err == nil {
			tr := a.Online.Transcript
			res := verify.VerifyDecodedResponse(a.Online.Response, verify.Options{Trust: w.trust, Transcript: &tr})
			v.State, v.Reason = oid4vp.StateRejected, "not_valid"
			if res.Valid {
				v.State, v.Reason = oid4vp.StateAccepted, ""
			}
		}
		v.Body, _ = json.Marshal(map[string]string{"session": a.ID, "outcome": v.State, "reason": v.Reason})
		w.srv.Complete(name, a.ID, v)
	}
}

func (w *world) do(t *testing.T, method, path string, body any, hdr ...string) (int, map[string]any, []byte) {
	t.Helper()
	return w.doFrom(t, w.client, method, path, body, hdr...)
}

// doFrom is do with the client hc (one of another source address).
func (w *world) doFrom(t *testing.T, hc *http.Client, method, path string, body any, hdr ...string) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, w.http.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func TestOID4VPContract(t *testing.T) {
	w := newWorld(t, nil)
	code, tx, raw := w.do(t, "POST", OID4VPTransactions, nil)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, raw)
	}
	id, _ := tx["id"].(string)
	ar, _ := tx["authorization_request_uri"].(string)
	if id == "" || tx["lane"] != "qr" || !strings.HasPrefix(ar, "openid4vp://?client_id=x509_san_dns%3Alocalhost&request_uri=") ||
		!strings.Contains(ar, "request_uri_method=post") || tx["status_uri"] != w.origin+OID4VPTransactions+"/"+id+"/status" {
		t.Fatalf("transaction %s", raw)
	}
	inv, _ := oid4vp.ParseInvocation(ar)
	if inv.RequestURI != tx["request_uri"] || strings.Contains(inv.RequestURI, id) {
		t.Fatalf("request_uri %q names the transaction id", inv.RequestURI)
	}
	// the QR code carries the authorization request URI
	resp, err := w.client.Get(w.http.URL + OID4VPTransactions + "/" + id + "/qr.png")
	if err != nil {
		t.Fatal(err)
	}
	text, err := qr.DecodePNG(resp.Body)
	resp.Body.Close()
	if err != nil || text != ar {
		t.Fatalf("QR says %q (%v)", text, err)
	}
	status := func() map[string]any {
		_, s, _ := w.do(t, "GET", OID4VPTransactions+"/"+id+"/status", nil)
		return s
	}
	if s := status(); s["state"] != "pending" {
		t.Fatalf("status %v", s)
	}
	if err := w.wallet.Present(context.Background(), ar); err != nil {
		t.Fatal(err)
	}
	if got := <-w.ids; got != id {
		t.Fatalf("the engine saw session %q, the transaction is %q", got, id)
	}
	s := status()
	v, _ := s["verdict"].(map[string]any)
	if s["state"] != "accepted" || v["session"] != id {
		t.Fatalf("status %v", s)
	}
	// the lane is named, or it is not an oid4vp lane, or unknown
	if code, _, raw := w.do(t, "POST", OID4VPTransactions, map[string]string{"lane": "qr"}); code != 201 {
		t.Fatalf("lane qr: %d %s", code, raw)
	}
	for body, want := range map[string]int{`{"lane":"dc"}`: 404, `{"lane":"nope"}`: 404, `{"lane":1}`: 400, `{"x":1}`: 400, `[`: 400} {
		if code, _, raw := w.do(t, "POST", OID4VPTransactions, body); code != want {
			t.Errorf("%s: %d %s", body, code, raw)
		}
	}
	if code, _, _ := w.do(t, "GET", OID4VPTransactions+"/nope/status", nil); code != 404 {
		t.Errorf("unknown status: %d", code)
	}
	if code, _, _ := w.do(t, "GET", OID4VPTransactions+"/nope/qr.png", nil); code != 404 {
		t.Errorf("unknown qr: %d", code)
	}
	if w.refused.Load() == 0 {
		t.Error("refusals not reported")
	}
}

func TestDCAPIContract(t *testing.T) {
	w := newWorld(t, nil)
	for _, protocol := range Protocols {
		code, tx, raw := w.do(t, "POST", DCAPITransactions, map[string]string{"lane": "dc", "protocol": protocol, "origin": "https://shop.example"})
		if code != 201 {
			t.Fatalf("%s: %d %s", protocol, code, raw)
		}
		id, _ := tx["id"].(string)
		req, _ := json.Marshal(tx["request"])
		data, err := w.wallet.AnswerDCAPI(req, "https://shop.example")
		if err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		code, v, raw := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data)
		if code != 200 || v["outcome"] != "accepted" || v["session"] != id {
			t.Fatalf("%s: %d %s", protocol, code, raw)
		}
		<-w.ids
		if code, _, raw := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data); code != http.StatusConflict {
			t.Fatalf("%s replay: %d %s", protocol, code, raw)
		}
	}
	for name, c := range map[string]struct {
		body string
		hdr  []string
		want int
	}{
		"origin not served":   {`{"lane":"dc","protocol":"org-iso-mdoc","origin":"https://evil.example"}`, nil, 403},
		"origin header":       {`{"lane":"dc","protocol":"org-iso-mdoc","origin":"https://shop.example"}`, []string{"Origin", "https://evil.example"}, 403},
		"unknown protocol":    {`{"lane":"dc","protocol":"openid4vp","origin":"https://shop.example"}`, nil, 400},
		"no protocol":         {`{"lane":"dc","origin":"https://shop.example"}`, nil, 400},
		"oid4vp lane":         {`{"lane":"qr","protocol":"org-iso-mdoc","origin":"https://shop.example"}`, nil, 404},
		"empty body":          {``, nil, 400},
		"default lane (ok)":   {`{"protocol":"org-iso-mdoc","origin":"https://shop.example"}`, nil, 201},
		"same Origin (ok)":    {`{"protocol":"org-iso-mdoc","origin":"https://shop.example"}`, []string{"Origin", "https://shop.example"}, 201},
		"unknown field":       {`{"protocol":"org-iso-mdoc","origin":"https://shop.example","x":1}`, nil, 400},
		"too large":           {`{"protocol":"` + strings.Repeat("a", 5000) + `"}`, nil, 400},
		"origin with a slash": {`{"protocol":"org-iso-mdoc","origin":"https://shop.example/"}`, nil, 403},
	} {
		if code, _, raw := w.do(t, "POST", DCAPITransactions, c.body, c.hdr...); code != c.want {
			t.Errorf("%s: %d %s", name, code, raw)
		}
	}
	if code, _, _ := w.do(t, "POST", DCAPITransactions+"/nope/response", `{}`); code != 404 {
		t.Errorf("unknown transaction: %d", code)
	}
}

// The pending table is bounded per client and in total; draining refuses new
// transactions.
func TestPendingBounds(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.PendingPerClient, c.MaxPending = 3, 5 })
	for i := 0; i < 3; i++ {
		if code, _, raw := w.do(t, "POST", OID4VPTransactions, nil); code != 201 {
			t.Fatalf("%d: %d %s", i, code, raw)
		}
	}
	code, e, _ := w.do(t, "POST", OID4VPTransactions, nil)
	if code != http.StatusServiceUnavailable || e["error"] != "temporarily_unavailable" {
		t.Fatalf("fourth of one client: %d %v", code, e)
	}
	w.srv.Drain()
	if code, _, _ := w.do(t, "POST", DCAPITransactions, `{"protocol":"org-iso-mdoc","origin":"https://shop.example"}`); code != 503 {
		t.Fatalf("draining: %d", code)
	}
}

// A transaction expires: its status says so, an answer gets 410, its client's slot
// comes back with the sweep.
func TestExpiry(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	w := newWorld(t, func(c *Config) {
		c.PendingPerClient = 1
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	_, tx, _ := w.do(t, "POST", DCAPITransactions, `{"protocol":"openid4vp-v1-unsigned","origin":"https://shop.example"}`)
	id := tx["id"].(string)
	req, _ := json.Marshal(tx["request"])
	data, err := w.wallet.AnswerDCAPI(req, "https://shop.example")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := w.do(t, "POST", OID4VPTransactions, nil); code != 503 {
		t.Fatalf("second of one client: %d", code)
	}
	now.Add(int64(DefaultTTL + time.Second))
	if code, _, raw := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data); code != http.StatusGone {
		t.Fatalf("expired answer: %d %s", code, raw)
	}
	if _, s, _ := w.do(t, "GET", DCAPITransactions+"/"+id+"/status", nil); s["state"] != "expired" {
		t.Fatalf("status %v", s)
	}
	if code, _, raw := w.do(t, "POST", OID4VPTransactions, nil); code != 201 {
		t.Fatalf("after expiry: %d %s", code, raw)
	}
}

// An answer the engine's lane turns away (busy) reopens its transaction: the wallet
// gets 503 and may answer again.
func TestRejectedArrivalReopens(t *testing.T) {
	w := newWorldEngines(t, nil, "qr")
	_, tx, _ := w.do(t, "POST", DCAPITransactions, `{"protocol":"org-iso-mdoc","origin":"https://shop.example"}`)
	id := tx["id"].(string)
	req, _ := json.Marshal(tx["request"])
	data, _ := w.wallet.AnswerDCAPI(req, "https://shop.example")
	// the lane's engine: turns the first answer away, then takes the next one
	go func() {
		l := w.srv.Listener("dc")
		if a, err := l.Accept(context.Background()); err == nil {
			a.Reject(transports.ErrBusy)
		}
		if a, err := l.Accept(context.Background()); err == nil {
			w.srv.Complete("dc", a.ID, Verdict{State: oid4vp.StateAccepted, Body: json.RawMessage(`{"outcome":"accepted"}`)})
		}
	}()
	if code, e, raw := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data); code != http.StatusServiceUnavailable ||
		e["error"] != "temporarily_unavailable" {
		t.Fatalf("turned away: %d %s", code, raw)
	}
	if _, s, _ := w.do(t, "GET", DCAPITransactions+"/"+id+"/status", nil); s["state"] != "pending" {
		t.Fatalf("status after busy %v", s)
	}
	if code, v, raw := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data); code != 200 || v["outcome"] != "accepted" {
		t.Fatalf("again: %d %s", code, raw)
	}
}

func TestPage(t *testing.T) {
	w := newWorld(t, nil)
	resp, err := w.client.Get(w.http.URL + "/verify/dc")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	// no external assets: nothing loaded from elsewhere
	for _, bad := range []string{"src=\"http", "href=\"http", "@import", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	if !strings.Contains(page, `"lane":"dc","bearer":"dcapi"`) || !strings.Contains(page, `"fallback":"qr"`) {
		t.Error("lane JSON missing")
	}
	code, info, raw := w.do(t, "GET", "/verify/qr/lane.json", nil)
	if code != 200 || info["bearer"] != "oid4vp" {
		t.Fatalf("%d %s", code, raw)
	}
	if code, _, _ := w.do(t, "GET", "/verify/nope", nil); code != 404 {
		t.Errorf("unknown lane page: %d", code)
	}
}

func TestConfigErrors(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	rc, _ := pki.ReaderRoot.NewReaderCert(issuer.ReaderOptions{DNSNames: []string{"gate.example"}})
	ident, _ := oid4vp.NewIdentity(rc.Key, rc.Chain)
	docs := testpki.MDLRequest("family_name")
	for name, c := range map[string]struct {
		cfg  Config
		want string
	}{
		"san":       {Config{Origin: "https://other.example", Lanes: []LaneConfig{{Name: "a", Bearer: BearerOID4VP, Docs: docs, Identity: ident}}}, "host"},
		"name":      {Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a b", Bearer: BearerOID4VP, Docs: docs, Identity: ident}}}, "lane name"},
		"bearer":    {Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a", Bearer: "http", Docs: docs, Identity: ident}}}, "bearer"},
		"protocol":  {Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a", Bearer: BearerDCAPI, Docs: docs, Identity: ident, Protocols: []string{"x"}}}}, "protocol"},
		"fallback":  {Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a", Bearer: BearerDCAPI, Docs: docs, Identity: ident, Fallback: "a"}}}, "fallback"},
		"origin":    {Config{Origin: "https://gate.example/x", Lanes: nil}, "origin"},
		"no docs":   {Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a", Bearer: BearerOID4VP, Identity: ident}}}, "no document"},
		"dcapi opt": {Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a", Bearer: BearerOID4VP, Docs: docs, Identity: ident, Origins: []string{"https://x"}}}}, "dcapi lanes"},
	} {
		if _, err := NewServer(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	s, err := NewServer(Config{Origin: "https://gate.example", Lanes: []LaneConfig{{Name: "a", Bearer: BearerOID4VP, Docs: docs, Identity: ident}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
}

// FuzzRequests sends arbitrary bodies to the endpoints that read one: nothing panics
// and no transaction is answered by junk.
func FuzzRequests(f *testing.F) {
	pki := testpki.New(f, testpki.Options{})
	rc, _ := pki.ReaderRoot.NewReaderCert(issuer.ReaderOptions{DNSNames: []string{"gate.example"}})
	ident, _ := oid4vp.NewIdentity(rc.Key, rc.Chain)
	docs := testpki.MDLRequest("family_name")
	s, err := NewServer(Config{Origin: "https://gate.example", MaxPending: 1 << 20, PendingPerClient: -1, ResponseTimeout: time.Millisecond, Lanes: []LaneConfig{
		{Name: "qr", Bearer: BearerOID4VP, Docs: docs, Identity: ident},
		{Name: "dc", Bearer: BearerDCAPI, Docs: docs, Identity: ident}}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	mux := s.Handler()
	f.Add([]byte(`{"lane":"qr"}`), []byte(`{"vp_token":{"q0":["oA"]}}`))
	f.Add([]byte(`{"lane":"dc","protocol":"org-iso-mdoc","origin":"https://gate.example"}`), []byte(`{"response":"gmVkY2FwaaA"}`))
	f.Fuzz(func(t *testing.T, create, answer []byte) {
		for _, p := range []string{OID4VPTransactions, DCAPITransactions} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("POST", p, bytes.NewReader(create)))
			if rec.Code != 201 {
				continue
			}
			var tx struct{ ID string }
			_ = json.Unmarshal(rec.Body.Bytes(), &tx)
			rec = httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("POST", DCAPITransactions+"/"+tx.ID+"/response", bytes.NewReader(answer)))
			if rec.Code == 200 && strings.Contains(rec.Body.String(), `"accepted"`) {
				t.Fatalf("junk accepted: %s", answer)
			}
		}
	})
}
