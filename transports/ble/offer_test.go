package ble

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/messages"
)

func TestParseUUID(t *testing.T) {
	u, err := ParseUUID("45efef74-2b2c-4837-a9a3-b0e1d05a6917")
	if err != nil || u.String() != "45efef74-2b2c-4837-a9a3-b0e1d05a6917" {
		t.Fatalf("%v %v", u, err)
	}
	if v, err := ParseUUID("45EFEF742B2C4837A9A3B0E1D05A6917"); err != nil || v != u {
		t.Fatalf("without dashes: %v %v", v, err)
	}
	for _, bad := range []string{"", "1234", "45efef74-2b2c-4837-a9a3-b0e1d05a691", "zz" + u.String()[2:]} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestOffer(t *testing.T) {
	u := NewUUID()
	for mode, want := range map[string][2]bool{"central": {true, false}, "peripheral": {false, true}, "both": {true, true}} {
		o, err := Offer(mode, u)
		if err != nil || o.CentralClientMode != want[0] || o.PeripheralServerMode != want[1] {
			t.Fatalf("%s: %+v %v", mode, o, err)
		}
		if (want[0] && !bytes.Equal(o.CentralClientUUID, u[:])) || (want[1] && !bytes.Equal(o.PeripheralServerUUID, u[:])) {
			t.Fatalf("%s: UUIDs %+v", mode, o)
		}
		if o.L2CAPPSM != nil {
			t.Fatalf("%s: L2CAP PSM offered", mode)
		}
	}
	if _, err := Offer("sideways", u); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// OfferMethod offers BLE in a mode with a given or random UUID, naming the setting it
// could not read.
func TestOfferMethod(t *testing.T) {
	m, err := OfferMethod("both", "45efef74-2b2c-4837-a9a3-b0e1d05a6917")
	if err != nil || m.Type != messages.RetrievalBLE {
		t.Fatalf("%+v %v", m, err)
	}
	o, err := m.BLE()
	if err != nil || !o.CentralClientMode || !o.PeripheralServerMode || UUID(o.CentralClientUUID).String() != "45efef74-2b2c-4837-a9a3-b0e1d05a6917" {
		t.Fatalf("%+v %v", o, err)
	}
	var uuids [][]byte
	for range 2 {
		m, err := OfferMethod("central", "")
		o, _ := m.BLE()
		if err != nil || !o.CentralClientMode || o.PeripheralServerMode || len(o.CentralClientUUID) != 16 {
			t.Fatalf("central, random UUID: %+v %v", o, err)
		}
		uuids = append(uuids, o.CentralClientUUID)
	}
	if bytes.Equal(uuids[0], uuids[1]) {
		t.Error("the same random UUID twice")
	}
	if _, err := OfferMethod("central", "1234"); err == nil || !strings.HasPrefix(err.Error(), "--ble-uuid: ") {
		t.Errorf("bad UUID: %v", err)
	}
	if _, err := OfferMethod("sideways", ""); err == nil || !strings.HasPrefix(err.Error(), "--ble-mode: ") {
		t.Errorf("bad mode: %v", err)
	}
}
