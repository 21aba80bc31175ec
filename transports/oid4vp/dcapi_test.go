package oid4vp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/hpke"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

const pageOrigin = "https://gate.example"

// answerDCAPI begins a DC API transaction and has the wallet answer it from origin.
func answerDCAPI(t *testing.T, e *env, o DCAPIOptions, from string) (*Transaction, json.RawMessage, error) {
	t.Helper()
	if o.Query == nil {
		o.Query = mdlQuery()
	}
	if o.Origin == "" {
		o.Origin = pageOrigin
	}
	tx, err := e.v.BeginDCAPI(o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.w.AnswerDCAPI(tx.Request, from)
	return tx, data, err
}

func TestDCAPITransactions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		protocol  string
		encrypted bool
	}{{ProtocolUnsigned, false}, {ProtocolUnsigned, true}, {ProtocolSigned, false}, {ProtocolSigned, true}, {ProtocolAnnexC, false}} {
		name := c.protocol
		if c.encrypted {
			name += "/dc_api.jwt"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, PrefixX509SanDNS, nil)
			o := DCAPIOptions{Protocol: c.protocol, RequestOptions: RequestOptions{Encrypted: c.encrypted}}
			tx, data, err := answerDCAPI(t, e, o, pageOrigin)
			if err != nil {
				t.Fatal(err)
			}
			var ro DCAPIRequestObject
			if err := json.Unmarshal(tx.Request, &ro); err != nil || ro.Protocol != c.protocol {
				t.Fatalf("request object %s: %v", tx.Request, err)
			}
			if state, _, _, _ := e.v.Status(tx.ID); state != StatePending {
				t.Fatalf("state %q before the answer", state)
			}
			out, err := e.v.HandleDCAPIResponse(ctx, tx.ID, data)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Valid || out.State != StateAccepted {
				t.Fatalf("not accepted: %s %v", out.State, out.Err)
			}
			if state, _, _, _ := e.v.Status(tx.ID); state != StateAccepted {
				t.Fatalf("status %q", state)
			}
			// replay: the same data again
			if _, err := e.v.HandleDCAPIResponse(ctx, tx.ID, data); !errors.Is(err, ErrReplay) {
				t.Fatalf("replay: %v", err)
			}
			// the request id is not the transaction's name for the page
			if _, err := e.v.HandleDCAPIResponse(ctx, tx.RequestID, data); !errors.Is(err, ErrUnknownTransaction) {
				t.Fatalf("by request id: %v", err)
			}
		})
	}
}

// The page's origin is what binds a DC API presentation: a wallet answering from
// another origin is refused, each protocol in its own way.
func TestDCAPIWrongOrigin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, PrefixX509SanDNS, nil)
	// unsigned: the transcript differs, mdoc authentication fails
	tx, data, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolUnsigned}, "https://evil.example")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := e.v.HandleDCAPIResponse(ctx, tx.ID, data)
	if out.Valid || out.State != StateRejected || out.Reason != verify.CheckDeviceSignature {
		t.Fatalf("unsigned from another origin: %s %s %v", out.State, out.Reason, out.Err)
	}
	// signed: the wallet refuses, expected_origins does not name the page
	if _, _, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolSigned}, "https://evil.example"); err == nil ||
		!strings.Contains(err.Error(), "expected_origins") {
		t.Fatalf("signed from another origin: %v", err)
	}
	// Annex C: the wallet refuses a request relayed from another origin (its readerAuth
	// is over the transcript with the page's origin) ...
	if _, _, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolAnnexC}, "https://evil.example"); err == nil ||
		!strings.Contains(err.Error(), "readerAuth") {
		t.Fatalf("Annex C relayed from another origin: %v", err)
	}
	// ... and a wallet binding another origin than the page's: the HPKE info (the
	// transcript) differs, the response does not open
	e.w.cfg.Bind = func(b *Binding) { b.Origin = "https://evil.example" }
	tx, data, err = answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolAnnexC}, pageOrigin)
	e.w.cfg.Bind = nil
	if err != nil {
		t.Fatal(err)
	}
	out, _ = e.v.HandleDCAPIResponse(ctx, tx.ID, data)
	if out.Valid || out.State != StateError || !errors.Is(out.Err, ErrDecrypt) || out.Reason != ReasonDecrypt {
		t.Fatalf("Annex C from another origin: %s %s %v", out.State, out.Reason, out.Err)
	}
}

func TestDCAPIHostile(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, PrefixX509SanDNS, nil)
	t.Run("tampered HPKE ciphertext", func(t *testing.T) {
		tx, data, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolAnnexC}, pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Response string }
		_ = json.Unmarshal(data, &d)
		raw, _ := base64.RawURLEncoding.DecodeString(d.Response)
		r, err := messages.DecodeDCAPIResponse(raw)
		if err != nil {
			t.Fatal(err)
		}
		r.CipherText[len(r.CipherText)/2] ^= 1
		b, _ := messages.Marshal(r)
		tampered, _ := json.Marshal(map[string]string{"response": base64.RawURLEncoding.EncodeToString(b)})
		out, err := e.v.HandleDCAPIResponse(ctx, tx.ID, tampered)
		if err != nil || out.State != StateError || !errors.Is(out.Err, ErrDecrypt) {
			t.Fatalf("%v %+v", err, out)
		}
		// it answered the transaction: the genuine data comes too late
		if _, err := e.v.HandleDCAPIResponse(ctx, tx.ID, data); !errors.Is(err, ErrReplay) {
			t.Fatalf("after the tampered one: %v", err)
		}
	})
	t.Run("tampered JWE", func(t *testing.T) {
		tx, data, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolUnsigned, RequestOptions: RequestOptions{Encrypted: true}}, pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Response string }
		_ = json.Unmarshal(data, &d)
		parts := strings.Split(d.Response, ".")
		ct, _ := base64.RawURLEncoding.DecodeString(parts[3])
		ct[0] ^= 1
		parts[3] = base64.RawURLEncoding.EncodeToString(ct)
		tampered, _ := json.Marshal(map[string]string{"response": strings.Join(parts, ".")})
		out, err := e.v.HandleDCAPIResponse(ctx, tx.ID, tampered)
		if err != nil || out.State != StateError || !errors.Is(out.Err, ErrDecrypt) {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("answer of another transaction", func(t *testing.T) {
		for _, protocol := range []string{ProtocolUnsigned, ProtocolAnnexC} {
			_, data, err := answerDCAPI(t, e, DCAPIOptions{Protocol: protocol}, pageOrigin)
			if err != nil {
				t.Fatal(err)
			}
			other, _, _ := answerDCAPI(t, e, DCAPIOptions{Protocol: protocol}, pageOrigin)
			out, err := e.v.HandleDCAPIResponse(ctx, other.ID, data)
			if err != nil || out.Valid {
				t.Fatalf("%s: accepted another transaction's answer (%v)", protocol, err)
			}
		}
	})
	t.Run("not JSON leaves it open", func(t *testing.T) {
		tx, data, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolUnsigned}, pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		for _, junk := range []string{"", "[]", "null", "{", `"x"`} {
			if _, err := e.v.HandleDCAPIResponse(ctx, tx.ID, []byte(junk)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%q: %v", junk, err)
			}
		}
		if _, err := e.v.HandleDCAPIResponse(ctx, tx.ID, bytes.Repeat([]byte{' '}, MaxDCAPIData+1)); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("too large: %v", err)
		}
		// a whole DigitalCredential, as a page may post it, is read too
		whole, _ := json.Marshal(map[string]any{"protocol": ProtocolUnsigned, "data": json.RawMessage(data)})
		if out, err := e.v.HandleDCAPIResponse(ctx, tx.ID, whole); err != nil || !out.Valid {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("expired", func(t *testing.T) {
		now := time.Now()
		e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) { c.TTL = time.Minute; c.Now = func() time.Time { return now } })
		tx, data, err := answerDCAPI(t, e, DCAPIOptions{Protocol: ProtocolAnnexC}, pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Minute)
		if _, err := e.v.HandleDCAPIResponse(ctx, tx.ID, data); !errors.Is(err, ErrExpired) {
			t.Fatalf("%v", err)
		}
		if state, _, _, _ := e.v.Status(tx.ID); state != StateExpired {
			t.Fatalf("status %q", state)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []DCAPIOptions{{Protocol: "openid4vp", Origin: pageOrigin}, {Protocol: ProtocolAnnexC, Origin: pageOrigin + "/"},
			{Protocol: ProtocolAnnexC, Origin: "ftp://x"}, {Protocol: ProtocolAnnexC, Origin: pageOrigin + "/path"}, {Protocol: ProtocolAnnexC}} {
			o.Query = mdlQuery()
			if _, err := e.v.BeginDCAPI(o); err == nil {
				t.Errorf("%+v accepted", o)
			}
		}
	})
}

// The real Chrome-on-Android org-iso-mdoc presentation verifies as an Annex C
// transaction rebuilt from its EncryptionInfo, recipient key and origin (its signer
// certificate pinned: the sample publishes no IACA).
func TestRealWalletAnnexC(t *testing.T) {
	const sample = "jmandel-shc-android-annexc"
	var ho struct {
		EI     string `json:"encryption_info_b64u"`
		Origin string `json:"origin"`
	}
	if err := json.Unmarshal(testvectors.File(t, "wallets", sample, "handover.json"), &ho); err != nil {
		t.Fatal(err)
	}
	var jwk struct{ D string }
	_ = json.Unmarshal(testvectors.File(t, "wallets", sample, "hpke_recipient_private.jwk.json"), &jwk)
	d, _ := base64.RawURLEncoding.DecodeString(jwk.D)
	key, err := hpke.ParsePrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	dr := testvectors.Hex(t, "wallets", sample, "device_response.hex")
	resp, err := messages.DecodeDeviceResponse(dr)
	if err != nil {
		t.Fatal(err)
	}
	ds, _, _, err := resp.Documents[0].IssuerSigned.IssuerAuth.X5Chain()
	if err != nil || len(ds) == 0 {
		t.Fatalf("x5chain: %v", err)
	}
	cert, err := verify.ParseCertificates(ds[0])
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)
	v, err := NewVerifier(VerifierConfig{BaseURL: "https://localhost", Identity: getPKI(t).ident, Trust: verify.NewTrustStore(cert...),
		Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	tx := &Transaction{ID: "sample", RequestID: "sample-r", Kind: KindDCAPI, Protocol: ProtocolAnnexC, Origin: ho.Origin,
		EncryptionInfo: ho.EI, HPKE: key, Expires: at.Add(time.Minute), Query: MdocQuery("q", "org.smarthealthit.checkin.1"),
		done: make(chan struct{})}
	v.txs[tx.ID], v.txs[tx.RequestID] = tx, tx
	v.open++
	sealed := testvectors.Hex(t, "wallets", sample, "dcapi_response.hex")
	data, _ := json.Marshal(map[string]string{"response": base64.RawURLEncoding.EncodeToString(sealed)})
	out, err := v.HandleDCAPIResponse(context.Background(), tx.ID, data)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Valid {
		t.Fatalf("sample not accepted: %v", out.Err)
	}
	if tb, _ := messages.Marshal(tx.Transcript()); !bytes.Equal(tb, testvectors.Hex(t, "wallets", sample, "session_transcript.hex")) {
		t.Fatal("rebuilt transcript differs from session_transcript.hex")
	}
}

// limiter is a ClientLimiter for the tests: perClient slots per client.
type limiter struct {
	mu        sync.Mutex
	perClient int
	held      map[netip.Prefix]int
}

func (l *limiter) Acquire(c netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[c] >= l.perClient {
		return false
	}
	l.held[c]++
	return true
}

func (l *limiter) Release(c netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[c]--
}

func TestClientLimiter(t *testing.T) {
	now := time.Now()
	lim := &limiter{perClient: 2, held: map[netip.Prefix]int{}}
	e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) {
		c.Limiter, c.TTL, c.Now = lim, time.Minute, func() time.Time { return now }
	})
	a, b := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")
	begin := func(c netip.Prefix) error {
		_, err := e.v.Begin(RequestOptions{Query: mdlQuery(), Client: c})
		return err
	}
	for i := 0; i < 2; i++ {
		if err := begin(a); err != nil {
			t.Fatalf("a's transaction %d: %v", i+1, err)
		}
	}
	if err := begin(a); !errors.Is(err, ErrBusy) {
		t.Fatalf("a's third: %v", err)
	}
	if err := begin(b); err != nil {
		t.Fatalf("b is another client: %v", err)
	}
	// an answered transaction gives its slot back
	tx, err := e.v.BeginDCAPI(DCAPIOptions{Protocol: ProtocolUnsigned, Origin: pageOrigin, RequestOptions: RequestOptions{Query: mdlQuery(), Client: b}})
	if err != nil {
		t.Fatal(err)
	}
	if err := begin(b); !errors.Is(err, ErrBusy) {
		t.Fatalf("b's third: %v", err)
	}
	data, _ := e.w.AnswerDCAPI(tx.Request, pageOrigin)
	if out, err := e.v.HandleDCAPIResponse(context.Background(), tx.ID, data); err != nil || !out.Valid {
		t.Fatalf("%v %v", err, out)
	}
	if err := begin(b); err != nil {
		t.Fatalf("after an answer: %v", err)
	}
	// expired ones too, once swept
	now = now.Add(2 * time.Minute)
	if err := begin(a); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if lim.held[a] != 1 {
		t.Fatalf("a holds %d", lim.held[a])
	}
}

// x509_san_dns binds the client_id to the response URI's host: a verifier whose
// certificate names another host refuses to start.
func TestSanDNSMustBeResponseHost(t *testing.T) {
	p := getPKI(t)
	_, err := NewVerifier(VerifierConfig{BaseURL: "http://127.0.0.1:8080/vp", Identity: p.ident})
	if err == nil || !strings.Contains(err.Error(), `"127.0.0.1"`) {
		t.Fatalf("%v", err)
	}
	if _, err := NewVerifier(VerifierConfig{BaseURL: "http://127.0.0.1:8080/vp", Identity: p.ident, ClientIDPrefix: PrefixX509Hash}); err != nil {
		t.Fatalf("x509_hash: %v", err)
	}
	if _, err := NewVerifier(VerifierConfig{BaseURL: "http://LOCALHOST:8080/vp", Identity: p.ident}); err != nil {
		t.Fatalf("case: %v", err)
	}
}

func TestCredentialSets(t *testing.T) {
	ctx := context.Background()
	tp := getPKI(t)
	mdl := MdocQuery("mdl", issuer.DocTypeMDL, Claim(issuer.NamespaceMDL, "family_name", false)).Credentials[0]
	pid := MdocQuery("pid", issuer.DocTypePhotoID, Claim(issuer.Namespace23220, "family_name", false)).Credentials[0]
	either := &DCQL{Credentials: []CredentialQuery{mdl, pid}, CredentialSets: []CredentialSet{{Options: [][]string{{"pid"}, {"mdl"}}}}}
	both := &DCQL{Credentials: []CredentialQuery{mdl, pid}}
	e := newEnv(t, PrefixX509SanDNS, nil)
	// the wallet holds an mDL only: it answers the mdl option of "either"
	tx, err := e.v.Begin(RequestOptions{Query: either})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.w.Present(ctx, tx.InvocationURI); err != nil {
		t.Fatal(err)
	}
	out, _ := e.v.Wait(ctx, tx)
	if !out.Valid || len(out.Presentations["mdl"]) != 1 || len(out.Presentations["pid"]) != 0 {
		t.Fatalf("either: %v %v", out.Err, out.Presentations)
	}
	// "both" needs the Photo ID too: the wallet cannot answer it completely
	tx, _ = e.v.Begin(RequestOptions{Query: both})
	if err := e.w.Present(ctx, tx.InvocationURI); err == nil {
		t.Fatal("both: accepted without a Photo ID")
	}
	// the verifier's side of the rules, on hand-made vp_tokens
	tr := messages.SessionTranscript{Handover: messages.OpenID4VPHandover("x509_san_dns:localhost", "n", nil, "https://localhost/r")}
	tok := vpTokenFor(t, tp.cred, tr, map[string]CredentialQuery{"mdl": mdl})
	opts := verify.Options{Trust: verify.NewTrustStore(tp.iaca.Certificate)}
	if out := VerifyVPToken(tok, either, tr, opts); !out.Valid {
		t.Fatalf("either, mdl: %v", out.Err)
	}
	if out := VerifyVPToken(tok, both, tr, opts); out.Valid || !strings.Contains(out.Err.Error(), `"pid" not answered`) {
		t.Fatalf("both, mdl only: %v", out.Err)
	}
	optional := &DCQL{Credentials: []CredentialQuery{mdl, pid}, CredentialSets: []CredentialSet{
		{Options: [][]string{{"mdl"}}}, {Options: [][]string{{"pid"}}, Required: new(bool)}}}
	if out := VerifyVPToken(tok, optional, tr, opts); !out.Valid {
		t.Fatalf("optional pid: %v", out.Err)
	}
	pidOnly := &DCQL{Credentials: []CredentialQuery{mdl, pid}, CredentialSets: []CredentialSet{{Options: [][]string{{"pid"}}}}}
	if out := VerifyVPToken(tok, pidOnly, tr, opts); out.Valid || !strings.Contains(out.Err.Error(), "credential_sets[0]") {
		t.Fatalf("pid only: %v", out.Err)
	}
	for _, bad := range []string{
		`{"credentials":[{"id":"a","format":"mso_mdoc","meta":{"doctype_value":"d"}}],"credential_sets":[]}`,
		`{"credentials":[{"id":"a","format":"mso_mdoc","meta":{"doctype_value":"d"}}],"credential_sets":[{"options":[]}]}`,
		`{"credentials":[{"id":"a","format":"mso_mdoc","meta":{"doctype_value":"d"}}],"credential_sets":[{"options":[[]]}]}`,
		`{"credentials":[{"id":"a","format":"mso_mdoc","meta":{"doctype_value":"d"}}],"credential_sets":[{"options":[["b"]]}]}`,
		`{"credentials":[{"id":"a","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"id":"x","path":["n","e"]}],"claim_sets":[[]]}]}`,
	} {
		if _, err := ParseDCQL([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestClaimSets(t *testing.T) {
	ctx := context.Background()
	tp := getPKI(t)
	ns := issuer.NamespaceMDL
	cq := CredentialQuery{ID: "mdl", Format: FormatMdoc, Meta: MdocMeta{DoctypeValue: issuer.DocTypeMDL},
		Claims: []ClaimQuery{{ID: "nick", Path: []string{ns, "nickname"}}, {ID: "fam", Path: []string{ns, "family_name"}},
			{ID: "given", Path: []string{ns, "given_name"}}},
		ClaimSets: [][]string{{"nick"}, {"fam", "given"}}}
	q := &DCQL{Credentials: []CredentialQuery{cq}}
	e := newEnv(t, PrefixX509SanDNS, nil)
	tx, _ := e.v.Begin(RequestOptions{Query: q})
	if err := e.w.Present(ctx, tx.InvocationURI); err != nil {
		t.Fatal(err)
	}
	out, _ := e.v.Wait(ctx, tx)
	if !out.Valid {
		t.Fatal(out.Err)
	}
	// the sample mDL has no nickname: the wallet chose the second option, and only it
	els := out.Presentations["mdl"][0].Documents[0].Elements[ns]
	if len(els) != 2 || els["family_name"] == nil || els["given_name"] == nil {
		t.Fatalf("disclosed %v", els)
	}
	// a presentation satisfying no option is refused
	tr := messages.SessionTranscript{Handover: messages.OpenID4VPHandover("x509_san_dns:localhost", "n", nil, "https://localhost/r")}
	partial := cq
	partial.Claims, partial.ClaimSets = []ClaimQuery{cq.Claims[1]}, nil
	tok := vpTokenFor(t, tp.cred, tr, map[string]CredentialQuery{"mdl": partial})
	opts := verify.Options{Trust: verify.NewTrustStore(tp.iaca.Certificate)}
	if out := VerifyVPToken(tok, q, tr, opts); out.Valid || !strings.Contains(out.Err.Error(), "claim_sets") || out.State != StateRejected {
		t.Fatalf("family_name alone: %v", out.Err)
	}
	// and refused when read for delivery, before verification
	if _, err := readVPToken(tok, q); err == nil || !strings.Contains(err.Error(), "claim_sets") {
		t.Fatalf("readVPToken: %v", err)
	}
}

// vpTokenFor builds a vp_token answering queries (by id) with cred under tr.
func vpTokenFor(t *testing.T, cred *issuer.Credential, tr messages.SessionTranscript, queries map[string]CredentialQuery) []byte {
	t.Helper()
	w := NewWallet(WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{cred}}})
	tok := map[string][]string{}
	for id, cq := range queries {
		resp, err := w.presentFor(&cq, cq.Claims, tr)
		if err != nil {
			t.Fatal(err)
		}
		tok[id] = []string{base64.RawURLEncoding.EncodeToString(resp)}
	}
	b, _ := json.Marshal(tok)
	return b
}

// An 18013-7:2024 Annex B wallet (handover over the mdocGeneratedNonce in the JWE apu)
// is accepted only by a verifier with the option, and only for encrypted responses.
func TestAnnexBHandover(t *testing.T) {
	ctx := context.Background()
	for _, allow := range []bool{false, true} {
		e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) { c.AnnexBHandover = allow })
		e.w.cfg.AnnexBHandover = true
		tx, err := e.v.Begin(RequestOptions{Query: mdlQuery(), Encrypted: true})
		if err != nil {
			t.Fatal(err)
		}
		err = e.w.Present(ctx, tx.InvocationURI)
		out, _ := e.v.Wait(ctx, tx)
		if allow != out.Valid || allow != (err == nil) {
			t.Fatalf("option %v: valid %v, wallet %v", allow, out.Valid, err)
		}
		if !allow && out.Reason != verify.CheckDeviceSignature {
			t.Fatalf("without the option: %s", out.Reason)
		}
	}
	// a 1.0 wallet still passes on a lane with the option
	e := newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) { c.AnnexBHandover = true })
	tx, _ := e.v.Begin(RequestOptions{Query: mdlQuery(), Encrypted: true})
	if err := e.w.Present(ctx, tx.InvocationURI); err != nil {
		t.Fatal(err)
	}
}

// With Deliver the verifier hands the response on instead of verifying it: merged
// DeviceResponse and rebuilt transcript; the response endpoint answers once Complete
// gave the outcome, and Status reports it.
func TestDeliver(t *testing.T) {
	ctx := context.Background()
	var e *env
	got := make(chan *Answer, 1)
	busy := true
	e = newEnv(t, PrefixX509SanDNS, func(c *VerifierConfig) {
		c.Deliver = func(a *Answer) error {
			if busy {
				return errors.New("engine full")
			}
			got <- a
			go func() {
				tr := a.Transcript
				res := verify.VerifyDecodedResponse(a.Response, verify.Options{Trust: verify.NewTrustStore(e.p.iaca.Certificate), Transcript: &tr})
				state := StateRejected
				if res.Valid {
					state = StateAccepted
				}
				e.v.Complete(a.Transaction.ID, &Outcome{Valid: res.Valid, State: state, Verdict: json.RawMessage(`{"gate":"open"}`)})
			}()
			return nil
		}
	})
	tx, req := fetched(t, e, RequestOptions{Encrypted: true})
	form, _ := e.w.ResponseForm(req)
	if err := e.w.Post(ctx, tx.ResponseURI, form); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("busy: %v", err)
	}
	busy = false
	if err := e.w.Post(ctx, tx.ResponseURI, form); err != nil {
		t.Fatalf("after busy: %v", err)
	}
	a := <-got
	if a.Transaction != tx || a.Err != nil || len(a.Response.Documents) != 1 || !bytes.Equal(a.Transcript.Handover, tx.Transcript().Handover) {
		t.Fatalf("answer %+v", a)
	}
	state, _, verdict, ok := e.v.Status(tx.ID)
	if !ok || state != StateAccepted || string(verdict) != `{"gate":"open"}` {
		t.Fatalf("status %q %s", state, verdict)
	}
	if e.v.Complete(tx.ID, &Outcome{}) {
		t.Fatal("completed twice")
	}
}
