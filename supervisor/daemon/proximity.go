package daemon

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mdocgate/mdocgate/transports/handoff"
	"github.com/mdocgate/mdocgate/transports/nfc"
)

// ProximityLane is a radio lane's NFC data transfer, hand-off and QR scanner settings
// (examples/gate.yaml documents them), inlined into LaneConfig.
type ProximityLane struct {
	// Handoff names the carriers a session may continue on after an NFC engagement (nfc
	// and nfc-pcsc lanes) or a QR scan (qr_scanner lanes, besides their own bearer), in
	// order of preference: ble (either mode), ble-central, ble-peripheral, wifiaware.
	Handoff []string `yaml:"handoff"`
	// ExtendedAPDU is auto (default), on or off: when an nfc or nfc-pcsc lane uses
	// extended-length APDUs (nfc.ExtendedMode).
	ExtendedAPDU string `yaml:"extended_apdu"`
	// QRScanner is the 2D scanner of a ble or wifiaware lane: a line-oriented character
	// device (e.g. /dev/ttyACM0) or "-" for stdin (a keyboard-wedge scanner).
	QRScanner string `yaml:"qr_scanner"`
}

func (l *LaneConfig) isNFC() bool { return l.Bearer == bearerNFC || l.Bearer == bearerNFCPCSC }

// handoffKinds are the carriers the lane may hand sessions to, in order: a scanner
// lane's own bearer (its BLE modes) first, then Handoff. Call after validation.
func (l *LaneConfig) handoffKinds() []handoff.Kind {
	var names []string
	if l.QRScanner != "" {
		switch {
		case l.Bearer == bearerWiFiAware:
			names = append(names, string(handoff.WiFiAware))
		case l.BLEMode == "central_client":
			names = append(names, string(handoff.BLECentral))
		case l.BLEMode == "peripheral_server":
			names = append(names, string(handoff.BLEPeripheral))
		default:
			names = append(names, "ble")
		}
	}
	kinds, _ := handoff.ParseKinds(append(names, l.Handoff...))
	return kinds
}

// handsOffToBLE reports whether the lane may hand sessions to BLE (so that ble_l2cap
// applies to it).
func (l *LaneConfig) handsOffToBLE() bool {
	return slices.ContainsFunc(l.handoffKinds(), func(k handoff.Kind) bool { return k != handoff.WiFiAware })
}

// validateProximity checks (and defaults) the lane's proximity fields; scanners maps the
// scanners already taken to their lane's field.
func (l *LaneConfig) validateProximity(scanners map[string]string) error {
	switch {
	case l.ExtendedAPDU != "" && !l.isNFC():
		return bad("extended_apdu", "only nfc and nfc-pcsc lanes use APDUs (this lane is %s)", l.Bearer)
	case l.QRScanner != "" && l.Bearer != bearerBLE && l.Bearer != bearerWiFiAware:
		return bad("qr_scanner", "a QR scanner starts sessions on ble or wifiaware (this lane is %s)", l.Bearer)
	case l.QRScanner != "" && scanners[l.QRScanner] != "":
		return bad("qr_scanner", "scanner %q is already the scanner of %s", l.QRScanner, scanners[l.QRScanner])
	case len(l.Handoff) > 0 && !l.isNFC() && l.QRScanner == "":
		return bad("handoff", "only nfc, nfc-pcsc and qr_scanner lanes hand sessions off (this lane is %s)", l.Bearer)
	}
	if _, err := handoff.ParseKinds(l.Handoff); err != nil {
		return bad("handoff", "%v", strings.TrimPrefix(err.Error(), "handoff: "))
	}
	if l.isNFC() {
		m, err := nfc.ParseExtendedMode(l.ExtendedAPDU)
		if err != nil {
			return bad("extended_apdu", "%v", err)
		}
		l.ExtendedAPDU = string(m)
	}
	return nil
}

// checkScanner checks that a scanner lane's device is there (serve --check opens nothing).
func (l *LaneConfig) checkScanner() error {
	if l.QRScanner == "" || l.QRScanner == "-" {
		return nil
	}
	if _, err := os.Stat(l.QRScanner); err != nil {
		return bad("qr_scanner", "%v", err)
	}
	return nil
}

// openedBearer is the supervisor bearer the lane runs on: a scanner lane's is "qr".
func (l *LaneConfig) openedBearer() string {
	if l.QRScanner != "" {
		return handoff.EngagedByQR
	}
	return l.Bearer
}

// proximityOptions are the supervisor bearer options of the lane's proximity fields.
func (l *LaneConfig) proximityOptions() map[string]string {
	o := map[string]string{}
	kinds := l.handoffKinds()
	if len(kinds) > 0 {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = string(k)
		}
		o["handoff_to"] = strings.Join(names, ",")
		if l.handsOffToBLE() {
			o["l2cap"] = fmt.Sprint(l.BLEL2CAP)
		}
	}
	switch {
	case l.QRScanner != "":
		o["scanner"] = l.QRScanner
	case l.isNFC():
		o["extended"] = l.ExtendedAPDU
	}
	return o
}
