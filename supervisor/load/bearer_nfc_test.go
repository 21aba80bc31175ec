package load

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

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
