package ble

import (
	"bytes"
	"testing"
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
