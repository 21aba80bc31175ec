package serverretrieval

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

// The publisher's list and CRL, over loopback HTTP, as a verifier's client reads them:
// entries a test sets, the CWT by default and the JWT on request, both signed under the
// CA, and 503 while it is down.
func TestStatusPublisher(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	p, err := NewStatusPublisher(StatusPublisherConfig{CA: pki.IACA, Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	p.SetURL(srv.URL + "/")
	if p.ListURI() != srv.URL+StatusListPath || p.CRLURI() != srv.URL+CRLPath {
		t.Fatalf("URIs %s %s", p.ListURI(), p.CRLURI())
	}
	if err := p.SetStatus(3, trust.StatusInvalid); err != nil {
		t.Fatal(err)
	}
	if err := p.SetStatus(4, trust.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if p.SetStatus(16, 1) == nil || p.SetStatus(0, 4) == nil {
		t.Fatal("out-of-range index or a status over 2 bits accepted")
	}
	anchor := pki.IACA.Certificate
	c := &trust.StatusClient{}
	for idx, want := range []uint8{0, 0, 0, trust.StatusInvalid, trust.StatusSuspended, 0} {
		a, err := c.TokenStatus(messages.StatusListRef{Idx: uint64(idx), URI: p.ListURI()}, anchor)
		if err != nil || a.Status != want || len(a.Deviations) != 0 {
			t.Fatalf("idx %d: %+v %v", idx, a, err)
		}
	}
	if l, err := c.Fetch(t.Context(), p.ListURI()); err != nil || l.Format != "cwt" || !l.Signer[0].Equal(p.Signer()) {
		t.Fatalf("CWT by default, signed by the publisher's signer: %+v %v", l, err)
	}

	req, _ := http.NewRequest(http.MethodGet, p.ListURI(), nil)
	req.Header.Set("Accept", trust.MediaTypeStatusListJWT)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != trust.MediaTypeStatusListJWT {
		t.Fatalf("JWT asked for, got %s", resp.Header.Get("Content-Type"))
	}

	if _, err := c.Certificate(pki.DS.Certificate, anchor); err != nil {
		t.Fatalf("no CRL distribution point: %v", err)
	}
	off := &trust.StatusClient{Offline: true}
	crl := get(t, p.CRLURI())
	if err := off.SetOffline(nil, []trust.OfflineFile{{Name: "before", Data: crl}}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Certificate(pki.DS.Certificate, anchor); err != nil {
		t.Fatalf("DS not revoked yet: %v", err)
	}
	p.Revoke(pki.DS.Certificate, 1)
	if err := off.SetOffline(nil, []trust.OfflineFile{{Name: "after", Data: get(t, p.CRLURI())}}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Certificate(pki.DS.Certificate, anchor); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked DS: %v", err)
	}

	p.SetAvailable(false)
	if _, err := (&trust.StatusClient{}).TokenStatus(messages.StatusListRef{URI: p.ListURI()}, anchor); !errors.Is(err, trust.ErrStatusUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("down: %v", err)
	}
	if _, err := NewStatusPublisher(StatusPublisherConfig{CA: pki.ReaderRoot}); err == nil {
		t.Fatal("a reader root made a status list signer")
	}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return b
}
