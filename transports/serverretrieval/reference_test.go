package serverretrieval

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

// The reference authority serves its token's data (WebAPI and OIDC) and the status
// entries and CRL it was given, over loopback HTTP; it writes the certificates a reader
// trusts and stops when its context ends.
func TestRunReference(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	dir := t.TempDir()
	dsFile := filepath.Join(dir, "ds.pem")
	if err := os.WriteFile(dsFile, pki.DS.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	docType := issuer.DocTypePhotoID
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithCancel(context.Background())
	type ready struct {
		info ReferenceInfo
		addr net.Addr
	}
	readyc, done := make(chan ready, 1), make(chan error, 1)
	go func() {
		done <- RunReference(ctx, ReferenceConfig{Sample: "photoid", Authority: pki.IACA, Listen: "127.0.0.1:0", Out: out,
			StatusBits: 2, StatusSize: 16, Revoke: []int{1}, Suspend: []int{2}, RevokeCerts: []string{dsFile}},
			func(info ReferenceInfo, addr net.Addr) { readyc <- ready{info, addr} })
	}()
	var r ready
	select {
	case r = <-readyc:
	case err := <-done:
		t.Fatal(err)
	}
	info := r.info
	if info.URL != "http://"+r.addr.String() || info.DocType != docType || info.StatusListURI != info.URL+StatusListPath || info.CRLURI != info.URL+CRLPath ||
		len(info.EngagementKey3["webApi"]) != 3 || info.EngagementKey3["oidc"][2] != info.Token {
		t.Fatalf("info %+v", info)
	}
	anchors, err := verify.ParseCertificates([]byte(info.IACA))
	if err != nil || !anchors[0].Equal(pki.IACA.Certificate) {
		t.Fatalf("iaca_pem: %v", err)
	}
	for _, f := range []string{issuer.FileIACA, "jws_signer.pem", "status_signer.pem"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		certs, err := issuer.ParseCertificatesPEM(b)
		if err != nil || certs[0].CheckSignatureFrom(pki.IACA.Certificate) != nil && !certs[0].Equal(pki.IACA.Certificate) {
			t.Errorf("%s: not the IACA or under it (%v)", f, err)
		}
	}

	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	c := &Client{HTTP: hc, Trust: verify.NewTrustStore(pki.IACA.Certificate)}
	sri := &messages.ServerRetrievalInfo{Version: 1, IssuerURL: info.URL, Token: info.Token}
	req := DocRequest{DocType: docType, NameSpaces: map[string]map[string]bool{issuer.Namespace23220: {"family_name": false}}}
	if res, err := c.WebAPI(rctx, sri, []DocRequest{req}); err != nil || len(res.Documents) != 1 {
		t.Fatalf("WebAPI: %v", err)
	}
	if _, err := c.OIDC(rctx, sri, req); err != nil {
		t.Fatalf("OIDC: %v", err)
	}
	sc := &trust.StatusClient{HTTP: hc}
	for idx, want := range []uint8{trust.StatusValid, trust.StatusInvalid, trust.StatusSuspended} {
		if a, err := sc.TokenStatus(messages.StatusListRef{Idx: uint64(idx), URI: info.StatusListURI}, pki.IACA.Certificate); err != nil || a.Status != want {
			t.Errorf("status %d: %+v %v, want %d", idx, a, err, want)
		}
	}
	off := &trust.StatusClient{Offline: true}
	if err := off.SetOffline(nil, []trust.OfflineFile{{Name: "crl", Data: get(t, info.CRLURI)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Certificate(pki.DS.Certificate, pki.IACA.Certificate); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("the DS is not on the CRL: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
}

// Without an Authority the reference acts as the IACA of a folder (CA) that issue
// wrote, or as a new one.
func TestRunReferenceCA(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, issuer.FileIACA), pki.IACA.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := issuer.WriteAuthorityKey(dir, pki.IACA); err != nil {
		t.Fatal(err)
	}
	for _, ca := range []string{dir, ""} {
		ctx, cancel := context.WithCancel(context.Background())
		var info ReferenceInfo
		err := RunReference(ctx, ReferenceConfig{Sample: "mdl", CA: ca, Listen: "127.0.0.1:0", StatusSize: 16},
			func(i ReferenceInfo, _ net.Addr) { info = i; cancel() })
		anchors, perr := verify.ParseCertificates([]byte(info.IACA))
		if err != nil || perr != nil || info.DocType != issuer.DocTypeMDL || anchors[0].Equal(pki.IACA.Certificate) != (ca != "") ||
			(ca == "" && anchors[0].Subject.CommonName != "mdocgate issuer-serve IACA") {
			t.Errorf("CA %q: %v %v, IACA %v", ca, err, perr, anchors)
		}
	}
}

// Errors name the setting as issuer-serve's flag does; a failed start serves nothing.
func TestRunReferenceErrors(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	never := func(ReferenceInfo, net.Addr) { t.Error("ready after a failed start") }
	for _, c := range []struct {
		cfg  ReferenceConfig
		want string
	}{
		{ReferenceConfig{Sample: "passport"}, `--doctype "passport": want mdl or photoid`},
		{ReferenceConfig{Sample: "mdl", CA: filepath.Join(t.TempDir(), "missing")}, "issuer: load authority: "},
		{ReferenceConfig{Revoke: []int{16}}, "--revoke 16: "},
		{ReferenceConfig{Suspend: []int{-1}}, "--suspend -1: "},
		{ReferenceConfig{RevokeCerts: []string{filepath.Join(t.TempDir(), "missing.pem")}}, "--revoke-cert: "},
		{ReferenceConfig{Listen: "127.0.0.1:-1"}, "listen tcp"},
		{ReferenceConfig{Authority: pki.ReaderRoot}, "serverretrieval"},
	} {
		if c.cfg.Sample == "" {
			c.cfg.Sample = "mdl"
		}
		if c.cfg.Authority == nil && c.cfg.CA == "" {
			c.cfg.Authority = pki.IACA
		}
		c.cfg.StatusSize = 16
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := RunReference(ctx, c.cfg, never)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
