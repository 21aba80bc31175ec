package load

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testpcsc"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/nfc"
)

func TestLoadNFCDemoMix(t *testing.T) {
	rep, err := Run(context.Background(), Config{Transport: nfc.Bearer, Lanes: 3, Holders: 300, Concurrency: 48,
		Mix: DemoMix, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 || rep.Mismatched != 0 || rep.Sessions+rep.Busy != 300 {
		t.Fatalf("lost %d mismatched %d sessions %d busy %d: %v", rep.Lost, rep.Mismatched, rep.Sessions, rep.Busy, rep.Mismatches)
	}
	if rep.Accepted == 0 || rep.AirTimeSeconds <= 0 {
		t.Fatalf("accepted %d air time %v", rep.Accepted, rep.AirTimeSeconds)
	}
	t.Logf("nfc: %d sessions, %.0f/s, air time %.2f s, reasons %v", rep.Sessions, rep.SessionsPerSecond, rep.AirTimeSeconds, rep.Reasons)
}

func TestLoadNFCNegotiatedShort(t *testing.T) {
	rep, err := Run(context.Background(), Config{Transport: nfc.Bearer, Lanes: 2, Holders: 40, Concurrency: 8,
		BearerOptions: transports.BearerOptions{"handover": "negotiated", "short": "true", "bitrate": "848", "fsc": "64"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 || rep.Mismatched != 0 || rep.Accepted != 40 {
		t.Fatalf("%+v", rep)
	}
}

func pcscOrSkip(t *testing.T) {
	t.Helper()
	testpcsc.Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := nfc.VPCDSlots(ctx); err != nil {
		if os.Geteuid() != 0 && errors.Is(err, nfc.ErrPCSCMissing) {
			t.Skipf("PC/SC test skipped: not root and %v (run .ci/pcscd.sh as root)", err)
		}
		t.Fatalf("pcscd with vpcd is required (run .ci/pcscd.sh): %v", err)
	}
}

func TestLoadNFCPCSC(t *testing.T) {
	pcscOrSkip(t)
	// Dropping holders are cards pulled mid-session: each must end in exactly one error
	// verdict (tally: Mismatched 0) and the lane must go on to serve the next holders.
	mix, _ := ParseMix("valid=70,tampered=10,dropping=20")
	rep, err := Run(context.Background(), Config{Transport: nfc.PCSCBearer, Lanes: 4, Holders: 40, Concurrency: 8,
		Mix: mix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 || rep.Mismatched != 0 || rep.Sessions != 40 || rep.Busy != 0 {
		t.Fatalf("lost %d mismatched %d sessions %d busy %d: %v %v", rep.Lost, rep.Mismatched, rep.Sessions, rep.Busy, rep.Mismatches, rep.Reasons)
	}
	if len(rep.ByLane) != 4 {
		t.Fatalf("lanes used: %v", rep.ByLane)
	}
	t.Logf("nfc-pcsc: %d sessions, %.1f/s, by behaviour %v", rep.Sessions, rep.SessionsPerSecond, rep.ByBehaviour)
}

// Holders whose Handover Select offers only BLE (either mode) or only Wi-Fi Aware: every
// session is handed off and counted under ENGAGEMENT>DATA; the demo's crowd gets the
// verdicts it should, none lost, on static and negotiated handover alike.
func TestLoadNFCHandoff(t *testing.T) {
	for _, k := range []string{"ble-central", "ble-peripheral", "wifiaware"} {
		t.Run(k, func(t *testing.T) {
			timeout, holders, mix := 1500*time.Millisecond, 120, DemoMix
			if k == "wifiaware" { // the data path's set-up (PBKDF2 on both sides) is inside the session's time
				timeout, holders = 5*time.Second, 60
				mix, _ = ParseMix("valid=6,tampered=1,wrong_key=1,dropping=1,garbage=1") // none waits for the long timeout
			}
			rep, err := Run(context.Background(), Config{Transport: nfc.Bearer, Lanes: 2, Holders: holders, Concurrency: 12,
				Mix: mix, Timeout: timeout, BearerOptions: transports.BearerOptions{"handoff": k, "l2cap": "true"}})
			if err != nil {
				t.Fatal(err)
			}
			label := "nfc>" + k
			if rep.Lost != 0 || rep.Mismatched != 0 || rep.Sessions+rep.Busy != int64(holders) || rep.ByTransport[label] == nil ||
				rep.ByTransport[label].Sessions != rep.Sessions {
				t.Fatalf("lost %d mismatched %d sessions %d busy %d by transport %v: %v %v", rep.Lost, rep.Mismatched, rep.Sessions,
					rep.Busy, rep.ByTransport, rep.Mismatches, rep.Losses)
			}
			tm := rep.Timing[label]
			// the NFC engagement's air time is modelled, and BLE's after it
			if tm == nil || tm.Sessions != rep.Sessions || tm.EngagementToVerdictMs.P50 <= 0 || !tm.AirModelled ||
				rep.AirTimeSeconds <= 0 || tm.AirTimeMsPerSession <= 0 {
				t.Fatalf("timing of %s: %+v, air time %v s", label, tm, rep.AirTimeSeconds)
			}
			t.Logf("%s: engagement to verdict p50 %.1f ms, air time %.2f ms per session", label, tm.EngagementToVerdictMs.P50, tm.AirTimeMsPerSession)
		})
	}
}

// The acceptance runs through pcscd and vpcd: holders offering only BLE (both modes) or
// only Wi-Fi Aware, then short APDUs only (extended=off) with holders that stay on NFC:
// all accepted, none lost.
func TestLoadNFCPCSCHandoffAndShortAPDUs(t *testing.T) {
	pcscOrSkip(t)
	for _, opts := range []transports.BearerOptions{
		{"handoff": "ble-central"}, {"handoff": "ble-peripheral", "l2cap": "true"}, {"handoff": "wifiaware"},
		{"extended": "off"}, {"extended": "off", "handoff": "ble-central", "handover": "negotiated"},
	} {
		rep, err := Run(context.Background(), Config{Transport: nfc.PCSCBearer, Lanes: 2, Holders: 30, Concurrency: 4,
			Timeout: 2 * time.Second, BearerOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		label := "nfc-pcsc"
		if k := opts["handoff"]; k != "" {
			label += ">" + k
		}
		if rep.Lost != 0 || rep.Accepted != 30 || rep.ByTransport[label] == nil || rep.ByTransport[label].Accepted != 30 {
			t.Fatalf("%v: accepted %d lost %d by transport %v reasons %v %v", opts, rep.Accepted, rep.Lost, rep.ByTransport, rep.Reasons, rep.Losses)
		}
		t.Logf("%v: %d sessions, %.0f/s", opts, rep.Sessions, rep.SessionsPerSecond)
	}
}
