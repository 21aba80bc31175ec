//go:build linux

package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/handoff"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// openPTY returns a pseudo-terminal's master and the path of its slave: the slave is
// the "scanner" device the gate reads, the test types on the master.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// A lane reading DeviceEngagement URIs from a 2D scanner (here a pseudo-terminal): each
// line starts a session on the carrier the engagement offers (BLE in either mode, on
// L2CAP when offered, or Wi-Fi Aware, which this BLE lane also allows); lines that are
// no engagement — text, binary junk, a truncated URI, a line far over the limit — are
// logged and ignored, and the lane goes on.
func TestServeGateQRScanner(t *testing.T) {
	pty, slave := openPTY(t)
	a := testgate.NewAuthority(t, "scan")
	cfg := writeGateConfig(t, "", fmt.Sprintf(`  - {name: door, bearer: ble, qr_scanner: %q, ble_l2cap: true, handoff: [wifiaware], profile: mdl}
`, slave), a)
	g := startRadioGate(t, cfg)
	b := g.bearers["door"]
	if b == nil {
		t.Fatalf("no scanner lane: %v", g.bearers)
	}
	typeLine := func(s string) {
		t.Helper()
		if _, err := pty.WriteString(s + "\r\n"); err != nil { // a scanner ends its lines with CR LF
			t.Fatal(err)
		}
	}
	garbage := []string{"hello scanner", "\x00\x01\xfe binary", "mdoc:!!!not-base64", "mdoc:" + strings.Repeat("A", 20000)}
	for _, line := range garbage {
		typeLine(line)
	}
	for i, k := range []handoff.Kind{handoff.BLECentral, handoff.BLEPeripheral, handoff.WiFiAware, handoff.BLECentral} {
		hs := holderOf(a.Cred)
		hs.Methods = []messages.RetrievalMethod{handoff.NewOffer(k, true).Method()}
		g.holders.SpawnHolder(&actors.HolderConfig{NewSession: func() (actors.HolderSession, error) { return holdersession.New(hs) },
			Framer: b.Framer(), Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
				typeLine(qr.DeviceEngagementQR(de)) // the phone's QR code under the scanner
				return b.Engage(ctx, "door", de, handover, transports.LinkFaults{})
			}})
		v := g.verdict(t)
		if v.Outcome != "accepted" || v.Lane != "door" || v.Bearer != handoff.Label(handoff.EngagedByQR, k) || v.Action != "open" {
			t.Fatalf("holder %d offering %s: %+v", i, k, v)
		}
	}
	ignored := waitLog(t, g.log, "qr scanner: line ignored", len(garbage))
	tooLong := 0
	for _, e := range ignored {
		if e["lane"] != "door" || e["error"] == nil {
			t.Fatalf("log line %v", e)
		}
		if strings.Contains(e["error"].(string), "too long") {
			tooLong++
		}
	}
	if len(ignored) != len(garbage) || tooLong != 1 {
		t.Fatalf("%d ignored lines (%d too long), want %d (1)", len(ignored), tooLong, len(garbage))
	}
	waitMetric(t, g.info.HTTP, "mdocgate_sessions_total", map[string]string{"lane": "door", "outcome": "accepted"}, 4)
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestScannerConfigErrors(t *testing.T) {
	a := testgate.NewAuthority(t, "cfg")
	for lanes, want := range map[string]string{
		"  - {name: a, bearer: nfc, qr_scanner: /dev/ttyACM0, profile: mdl}\n":                                                     "lanes[0].qr_scanner: a QR scanner starts sessions on ble or wifiaware",
		"  - {name: a, bearer: ble, qr_scanner: X, profile: mdl}\n  - {name: b, bearer: wifiaware, qr_scanner: X, profile: mdl}\n": "lanes[1].qr_scanner: scanner \"X\" is already",
		"  - {name: a, bearer: ble, handoff: [wifiaware], profile: mdl}\n":                                                         "lanes[0].handoff: only nfc, nfc-pcsc and qr_scanner lanes",
		"  - {name: a, bearer: nfc, handoff: [zigbee], profile: mdl}\n":                                                            "lanes[0].handoff: carrier \"zigbee\"",
		"  - {name: a, bearer: ble, extended_apdu: off, profile: mdl}\n":                                                           "lanes[0].extended_apdu: only nfc and nfc-pcsc lanes",
		"  - {name: a, bearer: nfc, extended_apdu: sometimes, profile: mdl}\n":                                                     "lanes[0].extended_apdu: extended-length mode \"sometimes\"",
		"  - {name: a, bearer: nfc, ble_l2cap: true, profile: mdl}\n":                                                              "lanes[0].ble_l2cap: only ble lanes",
		"  - {name: a, bearer: ble, qr_scanner: /nonexistent/tty, profile: mdl}\n":                                                 "lanes[0].qr_scanner: qr: scanner /nonexistent/tty",
	} {
		_, err := LoadConfig(writeGateConfig(t, "", lanes, a))
		if err == nil {
			_, err = New(mustLoad(t, writeGateConfig(t, "", lanes, a)), Options{})
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", lanes, err, want)
		}
	}
	if _, err := Check(mustLoad(t, writeGateConfig(t, "", "  - {name: a, bearer: ble, qr_scanner: /nonexistent/tty, profile: mdl}\n", a))); err == nil ||
		!strings.Contains(err.Error(), "lanes[0].qr_scanner") {
		t.Errorf("check of a missing scanner: %v", err)
	}
	cfg := mustLoad(t, writeGateConfig(t, "", "  - {name: a, bearer: nfc, handoff: [ble], ble_l2cap: true, profile: mdl}\n", a))
	if l := cfg.Lanes[0]; l.ExtendedAPDU != "auto" || l.bearerOptions()["handoff_to"] != "ble-central,ble-peripheral" || l.bearerOptions()["l2cap"] != "true" {
		t.Fatalf("hand-off lane: %+v %v", l, l.bearerOptions())
	}
}

func mustLoad(t *testing.T, file string) *Config {
	t.Helper()
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
