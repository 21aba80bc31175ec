package trust

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// revServer serves status list tokens and CRLs by path over loopback HTTP; down makes
// every path answer 503.
type revServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	body map[string][]byte
	ct   map[string]string
	down bool
}

func newRevServer(t testing.TB) *revServer {
	s := &revServer{body: map[string][]byte{}, ct: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		b, ok := s.body[r.URL.Path]
		ct, down := s.ct[r.URL.Path], s.down
		s.mu.Unlock()
		switch {
		case down:
			http.Error(w, "down", http.StatusServiceUnavailable)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", ct)
			w.Write(b)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *revServer) set(path, ct string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body[path], s.ct[path] = b, ct
}

// setJWT serves a JWT token at path.
func (s *revServer) setJWT(path, token string) { s.set(path, MediaTypeStatusListJWT, []byte(token)) }

func (s *revServer) setDown(d bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = d
}

// clock is a settable clock for the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signedList is a CWT status list for uri signed by signer (x5chain: signer only).
func signedList(t testing.TB, signer *issuer.CertKey, uri string, st []uint8, iat time.Time, exp time.Time, ttl time.Duration) []byte {
	t.Helper()
	b, err := StatusListToken{URI: uri, Bits: 2, Statuses: st, IssuedAt: iat, Expires: exp, TTL: ttl}.SignCWT(signer.Key, [][]byte{signer.Certificate.Raw})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// certUnder makes a leaf under ca with the given extended key usages (unknown OIDs).
func certUnder(t *testing.T, ca *issuer.Authority, ku x509.KeyUsage, ekus ...asn1.ObjectIdentifier) *issuer.CertKey {
	t.Helper()
	key := genKey(t, messages.CurveP256)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "other purpose"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: ku, UnknownExtKeyUsage: ekus}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, key.Public(), ca.Key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &issuer.CertKey{Certificate: c, Key: key}
}

// A token with an x5chain is trusted for a credential only when its signer chains to
// that credential's trust anchor and is fit to sign status lists.
func TestStatusClientSignerTrust(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{Name: "A"})
	other := testpki.New(t, testpki.Options{Name: "B"})
	now := time.Now()
	ref := func(path string) messages.StatusListRef {
		return messages.StatusListRef{Idx: 1, URI: srv.URL + path}
	}
	publish := func(path string, signer *issuer.CertKey) {
		srv.set(path, MediaTypeStatusListCWT, signedList(t, signer, srv.URL+path, []uint8{0, StatusSuspended}, now, now.Add(time.Hour), time.Minute))
	}
	publish("/signer", pki.StatusListSigner(t))
	publish("/ds", &pki.DS.CertKey)
	publish("/foreign", other.StatusListSigner(t))
	publish("/iaca", &pki.IACA.CertKey)
	publish("/jws", certUnder(t, pki.IACA, x509.KeyUsageDigitalSignature, asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 3}))
	publish("/nodigsig", certUnder(t, pki.IACA, x509.KeyUsageKeyAgreement))
	publish("/future-eku", certUnder(t, pki.IACA, x509.KeyUsageDigitalSignature, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 99}))

	c := &StatusClient{}
	anchor := pki.IACA.Certificate
	for _, tc := range []struct {
		path, err string
	}{
		{"/signer", ""},
		{"/ds", ""},         // the DS itself: the same x5chain as the credential
		{"/future-eku", ""}, // an EKU we do not know (id-kp-oauthStatusSigning is unassigned)
		{"/foreign", "not under the credential's trust anchor"},
		{"/iaca", "lacks digitalSignature"},
		{"/jws", "another purpose"},
		{"/nodigsig", "lacks digitalSignature"},
	} {
		a, err := c.TokenStatus(ref(tc.path), anchor)
		if tc.err == "" {
			if err != nil || a.Status != StatusSuspended {
				t.Errorf("%s: %+v %v", tc.path, a, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrStatusUnavailable) {
			t.Errorf("%s: error %v, want %q (and never fail-open)", tc.path, err, tc.err)
		}
	}
	// without an anchor (profile.StatusChecker) a certificate-signed token needs Keys
	if _, err := c.Status(t.Context(), ref("/signer")); err == nil || !strings.Contains(err.Error(), "no trust anchor") {
		t.Errorf("Status without anchor: %v", err)
	}
	signer := pki.StatusListSigner(t)
	publish("/pinned", signer)
	c.Keys = KeysFromCertificates(signer.Certificate)
	if st, err := c.Status(t.Context(), ref("/pinned")); err != nil || st != StatusSuspended {
		t.Errorf("Status with the signer's key configured: %d %v", st, err)
	}
}

func newClockedClient() (*StatusClient, *clock) {
	clk := &clock{t: time.Now()}
	return &StatusClient{Now: clk.Now, MinRefresh: time.Second}, clk
}

// Past its freshness a list is fetched again; while that fails the old copy serves
// within StaleIfError (never past exp), then the check fails closed, or passes with a
// note under FailOpen. RetryAfter keeps lookups off a failing server.
func TestStatusClientStalePolicy(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{})
	signer := pki.StatusListSigner(t)
	anchor := pki.IACA.Certificate
	c, clk := newClockedClient()
	c.StaleIfError = 10 * time.Minute
	c.RetryAfter = 30 * time.Second
	uri := srv.URL + "/l"
	iat := clk.Now()
	srv.set("/l", MediaTypeStatusListCWT, signedList(t, signer, uri, []uint8{StatusValid, StatusInvalid}, iat, iat.Add(30*time.Minute), time.Minute))
	ref := messages.StatusListRef{Idx: 0, URI: uri}

	a, err := c.TokenStatus(ref, anchor)
	if err != nil || a.Status != StatusValid || a.Note != "" {
		t.Fatalf("fresh: %+v %v", a, err)
	}
	if ok, p := c.Fresh(); !ok {
		t.Fatalf("Fresh after a fetch: %v", p)
	}

	srv.setDown(true)
	clk.advance(2 * time.Minute) // past the ttl
	a, err = c.TokenStatus(ref, anchor)
	if err != nil || a.Status != StatusValid || !strings.Contains(a.Note, "stale") || !strings.Contains(a.Note, "HTTP 503") {
		t.Fatalf("stale within bound: %+v %v", a, err)
	}
	hits := srv.hits.Load()
	if _, err := c.TokenStatus(ref, anchor); err != nil || srv.hits.Load() != hits {
		t.Fatalf("within RetryAfter the server was asked again (%d → %d): %v", hits, srv.hits.Load(), err)
	}
	if ok, _ := c.Fresh(); !ok {
		t.Fatal("a stale list within the bound is not fresh under the policy")
	}

	clk.advance(10 * time.Minute) // past ttl + stale-if-error
	if _, err := c.TokenStatus(ref, anchor); !errors.Is(err, ErrStatusUnavailable) {
		t.Fatalf("past the stale bound, closed: %v", err)
	}
	if ok, p := c.Fresh(); ok || len(p) != 1 || !strings.Contains(p[0], uri) {
		t.Fatalf("Fresh past the bound: %v %v", ok, p)
	}
	c.FailOpen = true
	a, err = c.TokenStatus(ref, anchor)
	if err != nil || a.Status != StatusValid || !strings.Contains(a.Note, "fail-open") {
		t.Fatalf("past the stale bound, open: %+v %v", a, err)
	}
	// an entry the list says is revoked is never opened, nor an index out of range
	srv.setDown(false)
	clk.advance(time.Minute)
	if a, err := c.TokenStatus(messages.StatusListRef{Idx: 1, URI: uri}, anchor); err != nil || a.Status != StatusInvalid {
		t.Fatalf("revoked entry after recovery: %+v %v", a, err)
	}
	if _, err := c.TokenStatus(messages.StatusListRef{Idx: 4096, URI: uri}, anchor); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("out of range under fail-open: %v", err)
	}
	s := c.Snapshot()
	if k := s.Counters[KindStatusList]; k.Stale < 2 || k.FailOpen != 1 || k.Failures == 0 || k.Hits == 0 {
		t.Fatalf("counters %+v", k)
	}
}

// A stale copy is never used past the token's exp.
func TestStatusClientNeverPastExp(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{})
	c, clk := newClockedClient()
	c.StaleIfError = time.Hour
	uri := srv.URL + "/l"
	iat := clk.Now()
	srv.set("/l", MediaTypeStatusListCWT, signedList(t, pki.StatusListSigner(t), uri, []uint8{0}, iat, iat.Add(5*time.Minute), time.Minute))
	ref := messages.StatusListRef{URI: uri}
	if _, err := c.TokenStatus(ref, pki.IACA.Certificate); err != nil {
		t.Fatal(err)
	}
	srv.setDown(true)
	clk.advance(4 * time.Minute)
	if a, err := c.TokenStatus(ref, pki.IACA.Certificate); err != nil || a.Note == "" {
		t.Fatalf("stale before exp: %+v %v", a, err)
	}
	clk.advance(2 * time.Minute)
	if _, err := c.TokenStatus(ref, pki.IACA.Certificate); !errors.Is(err, ErrStatusUnavailable) {
		t.Fatalf("past exp: %v", err)
	}
}

// Refresh fetches what is about to go stale, so lookups keep hitting a fresh cache;
// Run does it in the background.
func TestStatusClientRefresh(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{})
	signer := pki.StatusListSigner(t)
	c, clk := newClockedClient()
	uri := srv.URL + "/l"
	publish := func(st uint8) {
		now := clk.Now()
		srv.set("/l", MediaTypeStatusListCWT, signedList(t, signer, uri, []uint8{st}, now, now.Add(time.Hour), time.Minute))
	}
	publish(StatusValid)
	ref := messages.StatusListRef{URI: uri}
	if _, err := c.TokenStatus(ref, pki.IACA.Certificate); err != nil {
		t.Fatal(err)
	}
	c.Refresh(t.Context())
	if srv.hits.Load() != 1 {
		t.Fatalf("a fresh list was fetched again: %d", srv.hits.Load())
	}
	publish(StatusSuspended)
	clk.advance(55 * time.Second) // inside the last tenth of the ttl
	c.Refresh(t.Context())
	if srv.hits.Load() != 2 {
		t.Fatalf("a list about to go stale was not refreshed: %d", srv.hits.Load())
	}
	clk.advance(10 * time.Second)
	if a, err := c.TokenStatus(ref, pki.IACA.Certificate); err != nil || a.Status != StatusSuspended || srv.hits.Load() != 2 {
		t.Fatalf("after refresh: %+v %v (server hits %d)", a, err, srv.hits.Load())
	}

	// Run in the background, on the real clock
	c2 := &StatusClient{MinRefresh: time.Second}
	now := time.Now()
	srv.set("/l", MediaTypeStatusListCWT, signedList(t, signer, uri, []uint8{0}, now, now.Add(time.Hour), time.Second))
	if _, err := c2.TokenStatus(ref, pki.IACA.Certificate); err != nil {
		t.Fatal(err)
	}
	before := srv.hits.Load()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c2.Run(ctx, 50*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for srv.hits.Load() < before+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if srv.hits.Load() < before+1 {
		t.Fatalf("Run did not refresh a list with a 1 s ttl in 5 s")
	}
}

// The cache holds at most MaxLists entries and MaxTotal bytes: what does not fit is
// unavailable (so the fail-open policy applies), not an eviction of lists in use.
func TestStatusClientBounds(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{})
	signer := pki.StatusListSigner(t)
	now := time.Now()
	for _, p := range []string{"/a", "/b", "/c"} {
		srv.set(p, MediaTypeStatusListCWT, signedList(t, signer, srv.URL+p, make([]uint8, 4096), now, now.Add(time.Hour), time.Minute))
	}
	c := &StatusClient{MaxLists: 2}
	for _, p := range []string{"/a", "/b"} {
		if _, err := c.TokenStatus(messages.StatusListRef{URI: srv.URL + p}, pki.IACA.Certificate); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.TokenStatus(messages.StatusListRef{URI: srv.URL + "/c"}, pki.IACA.Certificate); !errors.Is(err, ErrStatusUnavailable) || !strings.Contains(err.Error(), "max_lists") {
		t.Fatalf("third list: %v", err)
	}
	c = &StatusClient{MaxTotal: 1000}
	if _, err := c.TokenStatus(messages.StatusListRef{URI: srv.URL + "/a"}, pki.IACA.Certificate); !errors.Is(err, ErrStatusUnavailable) || !strings.Contains(err.Error(), "max_total_bytes") {
		t.Fatalf("over MaxTotal: %v", err)
	}
}

// An offline client uses only what was loaded, and never the network.
func TestStatusClientOffline(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{})
	signer := pki.StatusListSigner(t)
	now := time.Now()
	uri := srv.URL + "/l"
	tok := signedList(t, signer, uri, []uint8{0, StatusInvalid}, now, now.Add(time.Hour), time.Minute)
	srv.set("/l", MediaTypeStatusListCWT, tok)
	c := &StatusClient{Offline: true}
	if _, err := c.TokenStatus(messages.StatusListRef{URI: uri}, pki.IACA.Certificate); !errors.Is(err, ErrStatusUnavailable) || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("nothing loaded: %v", err)
	}
	if err := c.SetOffline([]OfflineFile{{Name: "list.cwt", Data: tok}}, nil); err != nil {
		t.Fatal(err)
	}
	if a, err := c.TokenStatus(messages.StatusListRef{Idx: 1, URI: uri}, pki.IACA.Certificate); err != nil || a.Status != StatusInvalid {
		t.Fatalf("loaded: %+v %v", a, err)
	}
	if srv.hits.Load() != 0 {
		t.Fatalf("an offline client fetched %d times", srv.hits.Load())
	}
	expired := signedList(t, signer, uri, []uint8{0}, now.Add(-2*time.Hour), now.Add(-time.Hour), 0)
	if err := c.SetOffline([]OfflineFile{{Name: "old.cwt", Data: expired}}, nil); !errors.Is(err, ErrStatusExpired) || !strings.Contains(err.Error(), "old.cwt") {
		t.Fatalf("expired file: %v", err)
	}
	// the failed load kept the list loaded before
	if a, err := c.TokenStatus(messages.StatusListRef{Idx: 1, URI: uri}, pki.IACA.Certificate); err != nil || a.Status != StatusInvalid {
		t.Fatalf("after a failed load: %+v %v", a, err)
	}
	if err := c.SetOffline(nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TokenStatus(messages.StatusListRef{URI: uri}, pki.IACA.Certificate); !errors.Is(err, ErrStatusUnavailable) {
		t.Fatalf("after unloading: %v", err)
	}
}

// A revoked DS is found through its CRL distribution point, and through a CRL file.
func TestStatusClientCRL(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{CRLURL: srv.URL + "/crl"})
	other := testpki.New(t, testpki.Options{Name: "other"})
	ds, iaca := pki.DS.Certificate, pki.IACA.Certificate
	c := &StatusClient{}

	srv.set("/crl", "application/pkix-crl", pki.CRL(t))
	if a, err := c.Certificate(ds, iaca); err != nil || a.Note != "" {
		t.Fatalf("not revoked: %+v %v", a, err)
	}
	c = &StatusClient{}
	srv.set("/crl", "application/pkix-crl", pki.CRL(t, ds))
	if _, err := c.Certificate(ds, iaca); err == nil || !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), "keyCompromise") {
		t.Fatalf("revoked: %v", err)
	}
	c = &StatusClient{FailOpen: true}
	srv.set("/crl", "application/pkix-crl", other.CRL(t))
	if _, err := c.Certificate(ds, iaca); err == nil || !strings.Contains(err.Error(), "not by the certificate's issuer") {
		t.Fatalf("another issuer's CRL (even under fail-open): %v", err)
	}
	srv.setDown(true)
	c = &StatusClient{}
	if _, err := c.Certificate(ds, iaca); !errors.Is(err, ErrStatusUnavailable) {
		t.Fatalf("CRL server down: %v", err)
	}
	if a, err := c.Certificate(other.DS.Certificate, other.IACA.Certificate); err != nil || !strings.Contains(a.Note, "no http(s) CRL distribution point") {
		t.Fatalf("no CDP: %+v %v", a, err)
	}

	// offline: a CRL file, checked against the issuer it is consulted for
	off := &StatusClient{Offline: true}
	if err := off.SetOffline(nil, []OfflineFile{{Name: "iaca.crl", Data: pki.CRL(t, ds)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Certificate(ds, iaca); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("offline revoked: %v", err)
	}
	if a, err := off.Certificate(other.DS.Certificate, other.IACA.Certificate); err != nil || !strings.Contains(a.Note, "no CRL") {
		t.Fatalf("offline, no CRL of that issuer: %+v %v", a, err)
	}
	if srv.hits.Load() != 4 {
		t.Fatalf("server hits %d, want 4 (the offline client fetched?)", srv.hits.Load())
	}
	// a CRL past its nextUpdate (plus StaleIfError) is unavailable
	old, err := pki.IACA.SignCRL(nil, 2, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	off = &StatusClient{Offline: true}
	if err := off.SetOffline(nil, []OfflineFile{{Name: "old.crl", Data: old}}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Certificate(ds, iaca); !errors.Is(err, ErrStatusUnavailable) || !strings.Contains(err.Error(), "nextUpdate") {
		t.Fatalf("outdated CRL: %v", err)
	}
	off.StaleIfError = 48 * time.Hour
	if a, err := off.Certificate(ds, iaca); err != nil || !strings.Contains(a.Note, "stale-if-error") {
		t.Fatalf("outdated CRL within StaleIfError: %+v %v", a, err)
	}
}

// CRLs that cannot answer for an end-entity certificate are refused.
func TestDecodeCRLScope(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	mk := func(ext pkix.Extension) []byte {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(),
			NextUpdate: time.Now().Add(time.Hour), ExtraExtensions: []pkix.Extension{ext}}, pki.IACA.Certificate, pki.IACA.Key.Signer())
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	onlyCA, _ := asn1.Marshal(struct {
		OnlyCA bool `asn1:"optional,tag:2"`
	}{true})
	for name, tc := range map[string]struct {
		der  []byte
		want string
	}{
		"delta":        {mk(pkix.Extension{Id: oidDeltaCRLIndicator, Critical: true, Value: []byte{2, 1, 1}}), "delta"},
		"only CA":      {mk(pkix.Extension{Id: oidIssuingDistributionPoint, Critical: true, Value: onlyCA}), "leaves out"},
		"unknown crit": {mk(pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3}, Critical: true, Value: []byte{5, 0}}), "unknown critical"},
		"garbage":      {[]byte{0x30, 0x03, 0x02, 0x01}, ""},
		"PEM not CRL":  {[]byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"), "no PEM X509 CRL"},
	} {
		if _, err := decodeCRL(tc.der); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	empty, _ := asn1.Marshal(struct {
		OnlyUser bool `asn1:"optional,tag:1"`
	}{true})
	if _, err := decodeCRL(mk(pkix.Extension{Id: oidIssuingDistributionPoint, Critical: true, Value: empty})); err != nil {
		t.Errorf("onlyContainsUserCerts: %v", err)
	}
}

// verify's revocation hook with the real client: valid, revoked and suspended entries,
// a revoked DS, and no lookup at all for a credential that fails its signature.
func TestRevocationInVerify(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{CRLURL: srv.URL + "/crl"})
	signer := pki.StatusListSigner(t)
	now := time.Now()
	uri := srv.URL + "/status"
	srv.set("/status", MediaTypeStatusListCWT, signedList(t, signer, uri, []uint8{StatusValid, StatusInvalid, StatusSuspended}, now, now.Add(time.Hour), time.Minute))
	srv.set("/crl", "application/pkix-crl", pki.CRL(t))
	opts := func(c *StatusClient) verify.Options {
		return verify.Options{Trust: verify.NewTrustStore(pki.IACA.Certificate), Revocation: c}
	}
	c := &StatusClient{}
	for idx, want := range map[uint64]string{0: "", 1: "INVALID", 2: "SUSPENDED"} {
		cred := pki.Issue(t, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: idx, URI: uri}})
		d := verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts(c))
		ch, ok := d.Check(verify.CheckMSOStatus)
		rc, rok := d.Check(verify.CheckIssuerAuthRevocation)
		if !ok || !rok || !rc.OK || d.Valid != (want == "") || ch.OK != (want == "") || !strings.Contains(ch.Reason, want) {
			t.Errorf("idx %d: valid %v, %+v, %+v", idx, d.Valid, ch, rc)
		}
	}
	// no status reference: no status check, the CRL still consulted
	cred := pki.Issue(t, issuer.IssueRequest{})
	d := verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts(c))
	if _, ok := d.Check(verify.CheckMSOStatus); ok || !d.Valid {
		t.Errorf("no reference: %+v", d.Checks)
	}

	// the DS revoked
	srv.set("/crl", "application/pkix-crl", pki.CRL(t, pki.DS.Certificate))
	cred = pki.Issue(t, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: 0, URI: uri}})
	d = verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts(&StatusClient{}))
	if rc, _ := d.Check(verify.CheckIssuerAuthRevocation); d.Valid || rc.OK || !strings.Contains(rc.Reason, "revoked") {
		t.Errorf("revoked DS: valid %v %+v", d.Valid, rc)
	}

	// a forged signature: nothing is fetched
	hits := srv.hits.Load()
	cred = pki.Issue(t, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: 0, URI: srv.URL + "/never"}})
	cred.IssuerSigned.IssuerAuth.Signature[3] ^= 1
	d = verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts(&StatusClient{}))
	_, st := d.Check(verify.CheckMSOStatus)
	_, rv := d.Check(verify.CheckIssuerAuthRevocation)
	if d.Valid || st || rv || srv.hits.Load() != hits {
		t.Errorf("forged credential looked up: status %v crl %v hits %d → %d", st, rv, hits, srv.hits.Load())
	}

	// older-draft forms come out as warnings, fatal only under a strict policy; a token
	// without certificates verifies with a configured key
	key := genKey(t, messages.CurveP256)
	srv.set("/crl", "application/pkix-crl", pki.CRL(t))
	srv.set("/legacy", MediaTypeStatusListCWT, cwtParts{tagged: true, typ: "statuslist+cwt", sub: srv.URL + "/legacy"}.sign(t, key))
	cred = pki.Issue(t, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: 0, URI: srv.URL + "/legacy"}})
	c = &StatusClient{Keys: KeysFromCertificates(), MinRefresh: time.Minute}
	c.Keys = append(c.Keys, key.Public())
	for _, strict := range []bool{false, true} {
		o := opts(c)
		o.Policy.Strict = strict
		d = verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, o)
		w, ok := d.Check(verify.CheckRevocationEncoding)
		if !ok || w.OK || w.Severity == "" || d.Valid == strict || !strings.Contains(w.Reason, "before -08") {
			t.Errorf("strict %v: valid %v %+v", strict, d.Valid, d.Checks)
		}
	}
}

// A reader certificate on its root's CRL fails reader authentication
// (reader_auth.revocation); one that is not passes, and a readerAuth whose signature
// fails is never looked up.
func TestReaderAuthRevocation(t *testing.T) {
	srv := newRevServer(t)
	pki := testpki.New(t, testpki.Options{CRLURL: srv.URL + "/reader.crl"})
	st, err := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	items := messages.NewEncodedCBOR([]byte{0xa0})
	ra, err := pki.Reader.SignReaderAuth(*st, items)
	if err != nil {
		t.Fatal(err)
	}
	opts := verify.ReaderAuthOptions{Trust: verify.NewTrustStore(pki.ReaderRoot.Certificate), Now: time.Now(), Revocation: &StatusClient{}}
	crl := func(revoked ...*x509.Certificate) []byte {
		der, err := pki.ReaderRoot.SignCRL(nil, 1, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
		if len(revoked) > 0 {
			der, err = pki.ReaderRoot.SignCRL([]issuer.RevokedCertificate{{SerialNumber: revoked[0].SerialNumber, RevokedAt: time.Now()}}, 2, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
		}
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	srv.set("/reader.crl", "application/pkix-crl", crl())
	res := verify.VerifyReaderAuthWith(ra, *st, items, opts)
	if c := findCheck(res.Checks, verify.CheckReaderAuthRevocation); !res.Valid || !c.OK {
		t.Fatalf("not revoked: %+v", res.Checks)
	}
	srv.set("/reader.crl", "application/pkix-crl", crl(pki.Reader.Certificate))
	opts.Revocation = &StatusClient{}
	res = verify.VerifyReaderAuthWith(ra, *st, items, opts)
	if c := findCheck(res.Checks, verify.CheckReaderAuthRevocation); res.Valid || c.OK || !strings.Contains(c.Reason, "revoked") {
		t.Fatalf("revoked: %+v", res.Checks)
	}
	hits := srv.hits.Load()
	ra.Signature[0] ^= 1
	opts.Revocation = &StatusClient{}
	res = verify.VerifyReaderAuthWith(ra, *st, items, opts)
	if c := findCheck(res.Checks, verify.CheckReaderAuthRevocation); res.Valid || c.Name != "" || srv.hits.Load() != hits {
		t.Fatalf("forged readerAuth looked up: %+v", res.Checks)
	}
}

func findCheck(cs []verify.Check, name string) verify.Check {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return verify.Check{}
}

// Redirects: at most three, and never from https down to http.
func TestStatusClientRedirects(t *testing.T) {
	plain := newRevServer(t)
	plain.set("/l", MediaTypeStatusListCWT, []byte("x"))
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			http.Redirect(w, r, plain.URL+"/l", http.StatusFound)
		default: // /loop/n
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		}
	}))
	defer tlsSrv.Close()
	c := &StatusClient{HTTP: tlsSrv.Client()}
	for path, want := range map[string]string{"/down": "https to http", "/loop": "too many redirects"} {
		_, err := c.TokenStatus(messages.StatusListRef{URI: tlsSrv.URL + path}, nil)
		if !errors.Is(err, ErrStatusUnavailable) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", path, err)
		}
	}
	if plain.hits.Load() != 0 {
		t.Fatal("followed a redirect from https to http")
	}
}

// While a refresh hangs, lookups answer from the copy within stale_if_error at once
// instead of holding the verifier for the download.
func TestStatusClientStaleDoesNotWait(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	release := make(chan struct{})
	var slow atomic.Bool
	var uri string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", MediaTypeStatusListCWT)
		w.Write(body)
	}))
	defer srv.Close()
	defer close(release)
	uri = srv.URL + "/l"
	c, clk := newClockedClient()
	c.StaleIfError = 10 * time.Minute
	now := clk.Now()
	body = signedList(t, pki.StatusListSigner(t), uri, []uint8{0}, now, now.Add(time.Hour), time.Minute)
	ref := messages.StatusListRef{URI: uri}
	if _, err := c.TokenStatus(ref, pki.IACA.Certificate); err != nil {
		t.Fatal(err)
	}
	slow.Store(true)
	clk.advance(2 * time.Minute)
	refreshed := make(chan struct{})
	go func() { c.Refresh(context.Background()); close(refreshed) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.inflight)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	a, err := c.TokenStatus(ref, pki.IACA.Certificate)
	if err != nil || !strings.Contains(a.Note, "under way") || time.Since(start) > time.Second {
		t.Fatalf("lookup during a hanging refresh: %+v %v after %v", a, err, time.Since(start))
	}
	release <- struct{}{}
	<-refreshed
}
