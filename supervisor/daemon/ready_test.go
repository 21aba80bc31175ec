package daemon

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/internal/testpcsc"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/nfc"
	"github.com/mdocgate/mdocgate/transports/web"
)

// waitReady polls /readyz until its status is code and its body contains want.
func waitReady(t *testing.T, ops string, code int, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, body := testgate.HTTPGet(t, "http://"+ops+"/readyz")
		if c == code && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q, want %d with %q", c, body, code, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// privatePCSCD is a pcscd of the test's own: socket-activated on a socket in a temporary
// folder, with one vpcd entry on ports the test picked, so that stopping it touches no
// reader other tests use (the shared pcscd of .ci/pcscd.sh runs on). A second pcscd
// rewrites and removes /run/pcscd/pcscd.pid, which is put back after each stop.
type privatePCSCD struct {
	dir, sock, readers string
	port               int
	pidFile            []byte
	cmd                *exec.Cmd
}

const (
	pcscdBin   = "/usr/sbin/pcscd"
	vpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	pcscdPID   = "/run/pcscd/pcscd.pid"
)

func newPrivatePCSCD(t *testing.T) *privatePCSCD {
	t.Helper()
	for _, f := range []string{pcscdBin, vpcdDriver} {
		if _, err := os.Stat(f); err != nil {
			if os.Geteuid() != 0 {
				t.Skipf("PC/SC test skipped: not root and %s is missing (run .ci/pcscd.sh as root)", f)
			}
			t.Fatalf("%s is missing: run .ci/pcscd.sh (make test does)", f)
		}
	}
	p := &privatePCSCD{dir: t.TempDir()}
	p.sock, p.readers = filepath.Join(p.dir, "pcscd.comm"), filepath.Join(p.dir, "readers.d")
	os.Mkdir(p.readers, 0o755)
	p.port = freePortPair(t)
	p.pidFile, _ = os.ReadFile(pcscdPID)
	t.Cleanup(func() {
		p.stop(t)
	})
	return p
}

// freePortPair finds P with P and P+1 free on every interface (vpcd listens on all).
func freePortPair(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		a, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		port := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", fmt.Sprintf(":%d", port+1))
		a.Close()
		if err == nil {
			b.Close()
			return port
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}

// reader is the name pcscd gives the entry's first slot.
func (p *privatePCSCD) reader() string { return fmt.Sprintf("Virtual PCD %d 00 00", p.port) }

// start runs pcscd, with the vpcd entry when withReader.
func (p *privatePCSCD) start(t *testing.T, withReader bool) {
	t.Helper()
	entry := filepath.Join(p.readers, "vpcd")
	if withReader {
		conf := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD %d\"\nDEVICENAME /dev/null:%d\nLIBPATH %s\nCHANNELID %d\n", p.port, p.port, vpcdDriver, p.port)
		if err := os.WriteFile(entry, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		os.Remove(entry)
	}
	os.Remove(p.sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.Chmod(p.sock, 0o666)
	// socket activation (LISTEN_FDS, LISTEN_PID of pcscd itself: the shell execs it)
	p.cmd = exec.Command("/bin/sh", "-c", "export LISTEN_PID=$$ LISTEN_FDS=1; exec "+pcscdBin+" --foreground -c "+p.readers)
	p.cmd.ExtraFiles = []*os.File{f}
	p.cmd.Stdout, p.cmd.Stderr = nil, nil
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		readers, err := nfc.Readers(ctx)
		cancel()
		if err == nil && (!withReader || len(readers) > 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("private pcscd: readers %v, %v", readers, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends pcscd (the test's own, by its pid) and puts the shared pid file back.
func (p *privatePCSCD) stop(t *testing.T) {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
	if p.pidFile != nil {
		os.WriteFile(pcscdPID, p.pidFile, 0o644)
	}
}

// /readyz follows the PC/SC reader of an nfc-pcsc lane: ready while pcscd lists it,
// not ready — naming the lane — when vpcd stops (pcscd with it) and when pcscd runs
// without it, ready again when it returns; the lane takes cards again without a
// restart. Holds the vpcd readers (testpcsc) like every PC/SC test.
func TestReadyzFollowsThePCSCReader(t *testing.T) {
	testpcsc.Lock(t)
	p := newPrivatePCSCD(t)
	old := nfc.PCSCSocket
	nfc.PCSCSocket = p.sock
	t.Cleanup(func() { nfc.PCSCSocket = old })
	p.start(t, true)
	a := testgate.NewAuthority(t, "ready")
	cfg := writeGateConfig(t, "", fmt.Sprintf("  - {name: turnstile, bearer: nfc-pcsc, reader: %q, profile: mdl}\n  - {name: tap, bearer: nfc, profile: mdl}\n", p.reader()), a)
	g := startRadioGate(t, cfg)
	waitReady(t, g.info.HTTP, 200, "ok lane turnstile\n")
	if v := g.present(t, "turnstile", holderOf(a.Cred)); v.Outcome != "accepted" {
		t.Fatalf("verdict %+v", v)
	}

	p.stop(t) // vpcd stopped: pcscd and the reader gone
	body := waitReady(t, g.info.HTTP, 503, "FAIL lane turnstile: ")
	if !strings.Contains(body, "ok lane tap\n") || !strings.Contains(body, "ok trust\n") {
		t.Fatalf("/readyz names other parts failing: %q", body)
	}
	p.start(t, false) // pcscd back, without the reader
	waitReady(t, g.info.HTTP, 503, "is gone")
	p.stop(t)
	p.start(t, true) // and the reader back
	waitReady(t, g.info.HTTP, 200, "ok lane turnstile\n")
	if v := g.present(t, "turnstile", holderOf(a.Cred)); v.Outcome != "accepted" || v.Bearer != "nfc-pcsc" {
		t.Fatalf("verdict after the reader came back: %+v", v)
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

// vicalProvider is a VICAL provider's root and signer (testpki.VICALProvider).
type vicalProvider struct {
	root   *issuer.Authority
	signer *issuer.Signer
}

func newVICALProvider(t *testing.T) *vicalProvider {
	root, signer := testpki.VICALProvider(t)
	return &vicalProvider{root, signer}
}

// signVICAL signs a VICAL of the IACAs by provider.
func signVICAL(t *testing.T, provider *vicalProvider, iacas ...[]byte) []byte {
	t.Helper()
	v := &trust.VICAL{Provider: "test VICAL provider", Date: time.Now()}
	for _, pemData := range iacas {
		a, err := issuerCertificate(pemData)
		if err != nil {
			t.Fatal(err)
		}
		v.Entries = append(v.Entries, trust.VICALEntry{Certificate: a, DocTypes: []string{issuer.DocTypeMDL}, IssuingCountry: "UT"})
	}
	data, err := v.Sign(provider.signer.Key, [][]byte{provider.signer.Certificate.Raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// trust.vical_url: the list is fetched at start and every vical_refresh, its signature
// checked against vical_anchor; a fetch that fails (the server down, a list signed by
// someone else) keeps the last good list, until vical_max_age makes the gate not ready.
func TestVICALURL(t *testing.T) {
	provider, stranger := newVICALProvider(t), newVICALProvider(t)
	a, b := testgate.NewAuthority(t, "in-vical"), testgate.NewAuthority(t, "later")
	var mu sync.Mutex
	serve, status := signVICAL(t, provider, a.IACAPEM()), http.StatusOK
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "down", status)
			return
		}
		w.Write(serve)
	}))
	defer srv.Close()
	set := func(data []byte, code int) {
		mu.Lock()
		serve, status = data, code
		mu.Unlock()
	}
	anchor := filepath.Join(t.TempDir(), "vical-anchor.pem")
	os.WriteFile(anchor, provider.root.CertificatePEM(), 0o644)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "gate.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`name: vical-gate
http_addr: 127.0.0.1:0
log_level: error
trust: {vical_url: %s/vical.cbor, vical_anchor: %s, vical_refresh: 100ms, vical_max_age: 1s}
lanes:
  - {name: tap, bearer: nfc, profile: mdl}
`, srv.URL, anchor)), 0o644)
	g := startRadioGate(t, cfgFile)
	waitReady(t, g.info.HTTP, 200, "ok vical\n")
	if v := g.present(t, "tap", holderOf(a.Cred)); v.Outcome != "accepted" {
		t.Fatalf("IACA of the VICAL: %+v", v)
	}
	if v := g.present(t, "tap", holderOf(b.Cred)); v.Outcome != "rejected" {
		t.Fatalf("IACA not in the VICAL: %+v", v)
	}
	_, body := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics")
	if !strings.Contains(body, "mdocgate_vical_age_seconds ") || !strings.Contains(body, `mdocgate_vical_fetches_total{result="ok"}`) {
		t.Fatalf("/metrics: no VICAL age or fetches")
	}

	// a list signed by a stranger, then the server down: the last good list stays
	set(signVICAL(t, stranger, a.IACAPEM(), b.IACAPEM()), http.StatusOK)
	waitMetric(t, g.info.HTTP, "mdocgate_vical_fetches_total", map[string]string{"result": "error"}, 1)
	set(nil, http.StatusServiceUnavailable)
	if v := g.present(t, "tap", holderOf(a.Cred)); v.Outcome != "accepted" {
		t.Fatalf("after failed fetches: %+v", v)
	}
	if v := g.present(t, "tap", holderOf(b.Cred)); v.Outcome != "rejected" {
		t.Fatalf("a stranger's list was taken: %+v", v)
	}
	waitReady(t, g.info.HTTP, 503, "FAIL vical: the last good VICAL is")

	// a new good list: its anchors are trusted, the gate ready again
	for len(g.events) > 0 {
		<-g.events
	}
	set(signVICAL(t, provider, a.IACAPEM(), b.IACAPEM()), http.StatusOK)
	for ev := g.event(t); ev.Event != "vical_updated" || ev.Anchors != 2; ev = g.event(t) {
	}
	if v := g.present(t, "tap", holderOf(b.Cred)); v.Outcome != "accepted" {
		t.Fatalf("IACA of the new VICAL: %+v", v)
	}
	waitReady(t, g.info.HTTP, 200, "ok vical\n")
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := gets.Load(); n > 200 {
		t.Fatalf("%d fetches", n)
	}
}

// A lane at its max_in_flight answers busy, counted per lane.
func TestLaneBusyMetric(t *testing.T) {
	a := testgate.NewAuthority(t, "busy")
	cfg := plainConfig(mdlNames, a.IACAFile(t))
	cfg.HTTPAddr = "127.0.0.1:0"
	for i := range cfg.Lanes {
		cfg.Lanes[i].MaxInFlight = 1
	}
	g := runGate(t, cfg)
	finish := beginSession(t, g.info.Origin, a.Cred) // the websocket lane's one session
	e, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	err = webholder.Present(context.Background(), e.MdocURI, &holdersession.Config{Credentials: []*issuer.Credential{a.Cred}}, "", web.DialOptions{WebSocket: true})
	if !errorsIsBusy(err) {
		t.Fatalf("second session: %v, want busy", err)
	}
	waitMetric(t, g.info.HTTP, "mdocgate_lane_busy_total", map[string]string{"lane": "websocket"}, 1)
	waitMetric(t, g.info.HTTP, "mdocgate_lane_busy_total", map[string]string{"lane": "http"}, 0)
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if v := g.verdict(t); v.Outcome != "accepted" {
		t.Fatalf("verdict %+v", v)
	}
}

func errorsIsBusy(err error) bool { return errors.Is(err, transports.ErrBusy) }

// issuerCertificate parses a PEM certificate.
func issuerCertificate(pemData []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Anchors expiring within trust.expiry_warning_days are logged and counted, and
// /metrics sorts every anchor by the time it has left.
func TestExpiringAnchors(t *testing.T) {
	notAfter := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	soon := testpki.New(t, testpki.Options{Name: "soon", NotAfter: notAfter})
	later := testgate.NewAuthority(t, "later")
	for _, c := range []struct {
		days     int
		expiring float64
	}{{0, 1}, {5, 0}} { // 0: the default, 30 days
		cfg := plainConfig(mdlNames, soon.WriteIACA(t), later.IACAFile(t))
		cfg.HTTPAddr, cfg.LogLevel, cfg.Trust.ExpiryWarningDays = "127.0.0.1:0", "info", c.days
		g := runGate(t, cfg)
		waitPlainMetric(t, g.info.HTTP, "mdocgate_trust_anchors_expiring", c.expiring)
		waitMetric(t, g.info.HTTP, "mdocgate_trust_anchors", map[string]string{"expires_in": "lt_30d"}, 1)
		waitMetric(t, g.info.HTTP, "mdocgate_trust_anchors", map[string]string{"expires_in": "later"}, 1)
		waitPlainMetric(t, g.info.HTTP, "mdocgate_trust_anchor_earliest_expiry_timestamp_seconds", float64(notAfter.Unix()))
		warned := g.log.entries("trust anchor expires soon")
		if c.expiring == 1 && (len(warned) != 1 || !strings.Contains(fmt.Sprint(warned[0]["subject"]), "soon IACA") || warned[0]["days_left"] != float64(9)) {
			t.Fatalf("warnings %v", warned)
		}
		if c.expiring == 0 && len(warned) != 0 {
			t.Fatalf("expiry_warning_days %d: warnings %v", c.days, warned)
		}
		if err := g.stop(t); err != nil {
			t.Fatal(err)
		}
	}
}

// waitPlainMetric polls /metrics until the family name, which has no labels, is want.
func waitPlainMetric(t *testing.T, ops, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := testgate.HTTPGet(t, "http://"+ops+"/metrics")
		got := math.NaN()
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				got, _ = strconv.ParseFloat(v, 64)
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
