package daemon

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/serverretrieval"
)

// statusIssuer is an issuing authority whose DS names a CRL, with its status list and
// CRL served over loopback HTTP by the reference publisher.
type statusIssuer struct {
	pki  *testpki.PKI
	pub  *serverretrieval.StatusPublisher
	srv  *httptest.Server
	iaca string // the IACA certificate file
}

func newStatusIssuer(t *testing.T, cfg serverretrieval.StatusPublisherConfig) *statusIssuer {
	t.Helper()
	var h atomic.Value // the publisher's handler, once it exists
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	pki := testpki.New(t, testpki.Options{Name: "status", CRLURL: srv.URL + serverretrieval.CRLPath})
	cfg.URL, cfg.CA = srv.URL, pki.IACA
	pub, err := serverretrieval.NewStatusPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(pub.Handler())
	f := filepath.Join(t.TempDir(), "iaca.pem")
	if err := os.WriteFile(f, pki.IACA.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &statusIssuer{pki: pki, pub: pub, srv: srv, iaca: f}
}

// credential issues an mDL whose MSO names entry idx of the publisher's list.
func (s *statusIssuer) credential(t *testing.T, idx uint64) *issuer.Credential {
	t.Helper()
	return s.pki.Issue(t, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: idx, URI: s.pub.ListURI()}})
}

// statusGate is a gate with one websocket lane on the mdl profile (status: if_present),
// trusting the issuer's IACA.
func statusGate(t *testing.T, s *statusIssuer, st StatusConfig) *runningGate {
	t.Helper()
	cfg := &Config{Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", LogLevel: "error", Trust: TrustConfig{IACAFiles: []string{s.iaca}},
		Lanes: []LaneConfig{{Name: "door", Bearer: "websocket", Profile: "mdl"}}, Status: st}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return runGate(t, cfg)
}

func (g *runningGate) present(t *testing.T, cred *issuer.Credential) Verdict {
	t.Helper()
	presentOnce(t, g.info.Origin, cred)
	return g.verdict(t)
}

// The gate accepts a credential whose status list entry is VALID and rejects one that
// is INVALID or SUSPENDED, fetching the issuer's CWT list over HTTP once and answering
// from its cache after; /metrics shows the fetch, the hits and the list's age.
func TestGateStatusList(t *testing.T) {
	s := newStatusIssuer(t, serverretrieval.StatusPublisherConfig{})
	s.pub.SetStatus(3, trust.StatusInvalid)
	s.pub.SetStatus(4, trust.StatusSuspended)
	g := statusGate(t, s, StatusConfig{})
	for _, tc := range []struct {
		idx     uint64
		outcome string
		reason  string
		action  string
	}{
		{0, "accepted", "", "open"},
		{3, "rejected", "mso.status", "deny"},
		{4, "rejected", "mso.status", "deny"},
		{1, "accepted", "", "open"},
	} {
		v := g.present(t, s.credential(t, tc.idx))
		if v.Outcome != tc.outcome || v.Reason != tc.reason || v.Action != tc.action {
			t.Fatalf("entry %d: %+v", tc.idx, v)
		}
	}
	ops := g.info.HTTP
	waitMetric(t, ops, "mdocgate_revocation_fetches_total", map[string]string{"kind": "status_list"}, 1)
	waitMetric(t, ops, "mdocgate_revocation_cache_hits_total", map[string]string{"kind": "status_list"}, 3)
	waitMetric(t, ops, "mdocgate_revocation_fetches_total", map[string]string{"kind": "crl"}, 1)
	waitMetric(t, ops, "mdocgate_revocation_list_usable", map[string]string{"kind": "status_list", "uri": s.pub.ListURI()}, 1)
	_, body := testgate.HTTPGet(t, "http://"+ops+"/metrics")
	if !strings.Contains(body, `mdocgate_revocation_list_age_seconds{kind="status_list",uri="`+s.pub.ListURI()+`"}`) {
		t.Fatal("no list age in /metrics")
	}
	waitMetric(t, ops, "mdocgate_sessions_total", map[string]string{"lane": "door", "reason": "mso.status"}, 2)
	if ok, p := g.RevocationFresh(); !ok {
		t.Fatalf("RevocationFresh: %v", p)
	}
}

// With the list server down the gate answers from its last copy within stale_if_error;
// past it a check fails closed (on_stale: closed) or passes (on_stale: open), and the
// readiness function says the list is not fresh. A revoked entry stays rejected.
func TestGateStatusStalePolicy(t *testing.T) {
	for _, policy := range []string{"closed", "open"} {
		t.Run(policy, func(t *testing.T) {
			s := newStatusIssuer(t, serverretrieval.StatusPublisherConfig{TTL: time.Second})
			s.pub.SetStatus(2, trust.StatusInvalid)
			g := statusGate(t, s, StatusConfig{OnStale: policy, StaleIfError: time.Second, MinRefresh: time.Second,
				RetryAfter: 100 * time.Millisecond})
			valid, revoked := s.credential(t, 0), s.credential(t, 2)
			if v := g.present(t, valid); v.Outcome != "accepted" {
				t.Fatalf("server up: %+v", v)
			}
			s.pub.SetAvailable(false)
			if v := g.present(t, valid); v.Outcome != "accepted" { // fresh, or stale within the bound
				t.Fatalf("server just down: %+v", v)
			}
			deadline := time.Now().Add(15 * time.Second)
			for ok, _ := g.RevocationFresh(); ok; ok, _ = g.RevocationFresh() {
				if time.Now().After(deadline) {
					t.Fatal("the list never went stale with its server down")
				}
				time.Sleep(50 * time.Millisecond)
			}
			_, problems := g.RevocationFresh()
			if len(problems) == 0 || !strings.Contains(strings.Join(problems, " "), "503") {
				t.Fatalf("problems %v", problems)
			}
			waitReady(t, g.info.HTTP, 503, "FAIL status_lists: ") // the readiness part says so too
			v := g.present(t, valid)
			switch policy {
			case "closed":
				if v.Outcome != "rejected" || v.Reason != "mso.status" {
					t.Fatalf("closed, server down: %+v", v)
				}
			case "open":
				if v.Outcome != "accepted" || v.Action != "open" {
					t.Fatalf("open, server down: %+v", v)
				}
				waitMetric(t, g.info.HTTP, "mdocgate_revocation_fail_open_total", map[string]string{"kind": "status_list"}, 1)
			}
			// back up: fresh again, and the revoked entry is rejected under either policy
			s.pub.SetAvailable(true)
			deadline = time.Now().Add(15 * time.Second)
			for ok, _ := g.RevocationFresh(); !ok; ok, _ = g.RevocationFresh() {
				if time.Now().After(deadline) {
					t.Fatal("the list did not recover")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if v := g.present(t, revoked); v.Outcome != "rejected" || v.Reason != "mso.status" {
				t.Fatalf("revoked entry: %+v", v)
			}
			waitReady(t, g.info.HTTP, 200, "ok status_lists\n")
		})
	}
}

// A DS on its IACA's CRL is rejected (issuer_auth.revocation), through the CRL
// distribution point online and through crl_files offline; an offline gate reads the
// status list from status_list_files, and re-reads both on SIGHUP.
func TestGateRevokedDS(t *testing.T) {
	s := newStatusIssuer(t, serverretrieval.StatusPublisherConfig{})
	cred := s.credential(t, 0)
	s.pub.Revoke(s.pki.DS.Certificate, 1)
	g := statusGate(t, s, StatusConfig{})
	if v := g.present(t, cred); v.Outcome != "rejected" || v.Reason != "issuer_auth.revocation" {
		t.Fatalf("online CRL: %+v", v)
	}

	// offline: the files, no network (the server is closed)
	dir := t.TempDir()
	list, crl := filepath.Join(dir, "list.cwt"), filepath.Join(dir, "iaca.crl")
	fetchTo(t, s.pub.ListURI(), list)
	fetchTo(t, s.pub.CRLURI(), crl)
	s.srv.Close()
	off := statusGate(t, s, StatusConfig{Mode: "offline", StatusListFiles: []string{list}, CRLFiles: []string{crl}})
	if v := off.present(t, cred); v.Outcome != "rejected" || v.Reason != "issuer_auth.revocation" {
		t.Fatalf("offline CRL: %+v", v)
	}
	// a CRL without the DS replaces the file: a reload (SIGHUP) reads it
	empty, err := s.pki.IACA.SignCRL(nil, 9, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crl, empty, 0o644); err != nil {
		t.Fatal(err)
	}
	if v := off.present(t, cred); v.Outcome != "rejected" || v.Reason != "issuer_auth.revocation" {
		t.Fatalf("before SIGHUP: %+v", v)
	}
	if err := off.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := off.present(t, cred); v.Outcome != "accepted" {
		t.Fatalf("after reloading a CRL without the DS: %+v", v)
	}
	// a file that does not decode fails the reload and keeps what was loaded
	if err := os.WriteFile(list, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if err := off.Reload(); !errors.As(err, &ce) || ce.Field != "status" || !strings.Contains(err.Error(), "list.cwt") {
		t.Fatalf("bad file reload: %v", err)
	}
	if v := off.present(t, cred); v.Outcome != "accepted" {
		t.Fatalf("after a failed reload: %+v", v)
	}
}

// With status: {mode: off} the gate has no status client: a profile that checks status
// rejects a credential carrying a reference (and says why), one without passes.
func TestGateStatusOff(t *testing.T) {
	s := newStatusIssuer(t, serverretrieval.StatusPublisherConfig{})
	g := statusGate(t, s, StatusConfig{Mode: "off"})
	if v := g.present(t, s.credential(t, 0)); v.Outcome != "rejected" || v.Reason != "profile.status" {
		t.Fatalf("with a reference: %+v", v)
	}
	if v := g.present(t, s.pki.Issue(t, issuer.IssueRequest{})); v.Outcome != "accepted" {
		t.Fatalf("without: %+v", v)
	}
	if ok, _ := g.RevocationFresh(); !ok {
		t.Fatal("a gate without revocation checks is not fresh")
	}
}

// The status section's errors name their field.
func TestStatusConfigErrors(t *testing.T) {
	iaca := testgate.Example("iaca", "example-iaca.pem")
	for _, c := range []struct {
		st   StatusConfig
		want string
	}{
		{StatusConfig{Mode: "sometimes"}, "config: status.mode: unknown mode"},
		{StatusConfig{OnStale: "ajar"}, "config: status.on_stale: unknown policy"},
		{StatusConfig{Mode: "offline"}, "config: status.mode: offline needs"},
		{StatusConfig{Mode: "off", CRLFiles: []string{"x.crl"}}, "config: status.mode: off, yet"},
		{StatusConfig{StaleIfError: -time.Second}, "config: status.stale_if_error: must not be negative"},
		{StatusConfig{MaxLists: -1}, "config: status.max_lists: must not be negative"},
		{StatusConfig{MaxTotalBytes: -1}, "config: status.max_total_bytes: must not be negative"},
		{StatusConfig{MinRefresh: 2 * time.Hour, MaxTTL: time.Hour}, "config: status.min_refresh:"},
	} {
		cfg := plainConfig(mdlNames, iaca)
		cfg.Status = c.st
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.st, err, c.want)
		}
	}
	cfg := plainConfig(mdlNames, iaca)
	cfg.Status = StatusConfig{Mode: "offline", CRLFiles: []string{filepath.Join(t.TempDir(), "none.crl")}}
	var ce *ConfigError
	if _, err := New(cfg, Options{}); !errors.As(err, &ce) || ce.Field != "status.crl_files[0]" {
		t.Errorf("missing CRL file: %v", err)
	}
}

func fetchTo(t *testing.T, url, file string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %s", url, err, resp.Status)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
