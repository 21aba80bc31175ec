package bearers_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/bearers"
	"github.com/mdocgate/mdocgate/transports/nfc"
)

func TestNamesAndCapabilities(t *testing.T) {
	want := []string{"ble", "http", "memory", "nfc", "nfc-pcsc", "qr", "websocket", "wifiaware"}
	if got := bearers.Names(); !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if _, err := bearers.Open("carrier-pigeon", nil); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("unknown bearer: %v", err)
	}
	for _, name := range []string{"ble", "http", "memory", "nfc", "qr", "websocket", "wifiaware"} {
		b, err := bearers.Open(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b.Name() != name {
			t.Errorf("%s calls itself %s", name, b.Name())
		}
		c := b.Capabilities()
		if c.EngagesAtOnce != (name == "memory") {
			t.Errorf("%s: EngagesAtOnce %v", name, c.EngagesAtOnce)
		}
		if c.ModelsAirTime != (name == "ble" || name == "nfc" || name == "qr") {
			t.Errorf("%s: ModelsAirTime %v", name, c.ModelsAirTime)
		}
		b.Close()
	}
}

func TestBLEBearerOptions(t *testing.T) {
	for _, bad := range []transports.BearerOptions{{"ble-mode": "x"}, {"mtu": "22"}, {"mtu": "518"}, {"phy": "3M"}, {"l2cap": "maybe"}} {
		if _, err := bearers.Open("ble", bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestWebBearerOptions(t *testing.T) {
	if _, err := bearers.Open("http", transports.BearerOptions{"holder_idle": "soon"}); err == nil {
		t.Fatal("bad holder_idle accepted")
	}
	b, err := bearers.Open("websocket", transports.BearerOptions{"ping": "1s"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

func TestWiFiAwareBearerOptions(t *testing.T) {
	b, err := bearers.Open("wifiaware", transports.BearerOptions{"ipv4": "true", "discovery_timeout": "1s", "nan_drop": "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := bearers.Open("wifiaware", transports.BearerOptions{"ipv4": "maybe"}); err == nil {
		t.Fatal("bad option accepted")
	}
	m := b.HolderMethods(0)
	o, err := m[0].WiFiAware()
	if err != nil || o.Passphrase == "" {
		t.Fatalf("holder 0: %+v %v", o, err)
	}
	o, err = b.HolderMethods(1)[0].WiFiAware()
	if err != nil || o.Passphrase != "" {
		t.Fatalf("holder 1: %+v %v", o, err)
	}
}

func TestNFCPCSCMissing(t *testing.T) {
	old := nfc.PCSCSocket
	nfc.PCSCSocket = "/nonexistent/pcscd.comm"
	defer func() { nfc.PCSCSocket = old }()
	_, err := bearers.Open(nfc.PCSCBearer, nil)
	if err == nil || !errors.Is(err, nfc.ErrPCSCMissing) || !strings.Contains(err.Error(), "pcscd") {
		t.Fatalf("%v", err)
	}
}

// A key the chosen bearer does not read is an error naming the key and the bearer's
// options; with several bearers each gets its own keys and a key none reads fails.
func TestUnknownOptions(t *testing.T) {
	for name, opts := range map[string]transports.BearerOptions{
		"memory": {"mtu": "100"}, "ble": {"bitrate": "106"}, "nfc": {"reader": "x"}, "wifiaware": {"l2cap": "true"},
		"http": {"ping": "1s", "frobnicate": "1"},
	} {
		_, err := bearers.Open(name, opts)
		var ue *transports.UnknownOptionError
		if !errors.As(err, &ue) || ue.Bearer != name || !strings.Contains(err.Error(), strings.Join(bearers.Keys(name), ", ")) {
			t.Errorf("%s %v: %v", name, opts, err)
		}
	}
	split, err := bearers.Split([]string{"memory", "ble"}, transports.BearerOptions{"memory-frame": "64", "mtu": "100"})
	if err != nil || len(split["memory"]) != 1 || split["memory"]["memory-frame"] != "64" || len(split["ble"]) != 1 || split["ble"]["mtu"] != "100" {
		t.Fatalf("split %v %v", split, err)
	}
	_, err = bearers.Split([]string{"memory", "ble"}, transports.BearerOptions{"reader": "x"})
	var ue *transports.UnknownOptionError
	if !errors.As(err, &ue) || ue.Key != "reader" || ue.Bearer != "memory,ble" {
		t.Fatalf("key of no bearer: %v", err)
	}
}
