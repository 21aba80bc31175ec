package handoff

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
	"github.com/mdocgate/mdocgate/transports/wifiaware"
)

// Kind is a data carrier a session can be handed to. It is the DATA part of a handed-off
// session's bearer name.
type Kind string

// Carriers.
const (
	BLECentral    Kind = "ble-central"    // BLE, mdoc central client mode: the reader is the GATT server
	BLEPeripheral Kind = "ble-peripheral" // BLE, mdoc peripheral server mode: the mdoc is the GATT server
	WiFiAware     Kind = "wifiaware"      // Wi-Fi Aware (NAN), HTTP over TCP on the data path
)

// Kinds is every carrier in the reader's default order of preference: BLE in mdoc
// central client mode first (18013-5 11.1.3.1 has the reader pick it when both BLE
// modes are offered), then peripheral server mode, then Wi-Fi Aware.
var Kinds = []Kind{BLECentral, BLEPeripheral, WiFiAware}

// ErrNoCarrier is an engagement offering none of the carriers the reader may use.
var ErrNoCarrier = errors.New("handoff: the mdoc offers no carrier this reader may hand off to")

// ParseKinds reads carrier names: ble (both BLE modes, central client first),
// ble-central, ble-peripheral, wifiaware. Duplicates are dropped; the order is the
// reader's preference.
func ParseKinds(names []string) ([]Kind, error) {
	var out []Kind
	add := func(k Kind) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, n := range names {
		switch k := Kind(strings.TrimSpace(n)); k {
		case "ble":
			add(BLECentral)
			add(BLEPeripheral)
		case BLECentral, BLEPeripheral, WiFiAware:
			add(k)
		default:
			return nil, fmt.Errorf("handoff: carrier %q: want ble, ble-central, ble-peripheral or wifiaware", n)
		}
	}
	return out, nil
}

// Label is the bearer name of a session engaged on engagement and handed to k.
func Label(engagement string, k Kind) string { return engagement + ">" + string(k) }

func (k Kind) carrier() ndef.Kind {
	if k == WiFiAware {
		return ndef.KindWiFiAware
	}
	return ndef.KindBLE
}

func (k Kind) mode() ble.Mode {
	if k == BLEPeripheral {
		return ble.PeripheralServer
	}
	return ble.CentralClient
}

// Target is where a session's data goes: the carrier and the parameters both sides
// connect with. BLE.Side and BLE.MTU are set by whoever opens it.
type Target struct {
	Kind Kind
	BLE  ble.Params       // BLE kinds
	NAN  wifiaware.Params // WiFiAware
}

// key identifies the target on the radio (the holder's refusal channel).
func (t Target) key() string {
	if t.Kind == WiFiAware {
		return string(t.Kind) + ":" + t.NAN.Service
	}
	return string(t.Kind) + ":" + t.BLE.Service.String()
}

func eDeviceKeyBytes(deviceEngagement []byte) (*messages.DeviceEngagement, []byte, error) {
	de, err := messages.DecodeEngagement(deviceEngagement)
	if err != nil {
		return nil, nil, fmt.Errorf("handoff: DeviceEngagement: %w", err)
	}
	ek := de.Security.KeyBytes.Raw()
	if len(ek) == 0 {
		return nil, nil, errors.New("handoff: DeviceEngagement without EDeviceKeyBytes")
	}
	return de, ek, nil
}

// roleAllows reports whether an mdoc's LE role (from its side; nil: not said) allows
// mode: 0x00 peripheral only, 0x01 central only, 0x02 and 0x03 both.
func roleAllows(role *byte, m ble.Mode) bool {
	if role == nil {
		return true
	}
	switch *role {
	case ndef.RolePeripheral:
		return m == ble.PeripheralServer
	case ndef.RoleCentral:
		return m == ble.CentralClient
	}
	return true
}

// FromHandover picks the target of an NFC engagement: the first of allowed (the
// reader's preference) that the Handover Select offers (an active or activating
// alternative carrier), with its parameters from the Hs record and, in negotiated
// handover, the reader's own Hr record (18013-5 8.3.3.1.1.2: in mdoc central client
// mode the mdoc uses the UUID the reader put in its Hr). l2cap offers an L2CAP channel
// in mdoc central client mode; in peripheral server mode L2CAP is used when the Hs
// carries a PSM.
func FromHandover(deviceEngagement, hs, hr []byte, allowed []Kind, l2cap bool) (Target, error) {
	_, ek, err := eDeviceKeyBytes(deviceEngagement)
	if err != nil {
		return Target{}, err
	}
	sel, err := ndef.ParseHandover(hs)
	if err != nil {
		return Target{}, fmt.Errorf("handoff: Handover Select: %w", err)
	}
	var req *ndef.Handover
	if hr != nil {
		if req, err = ndef.ParseHandover(hr); err != nil {
			return Target{}, fmt.Errorf("handoff: Handover Request: %w", err)
		}
	}
	offered := func(k ndef.Kind, h *ndef.Handover) *ndef.Record {
		for _, a := range h.Carriers {
			if r, ok := h.Carrier(a); ok && ndef.KindOf(r) == k && a.CPS != ndef.CPSInactive {
				return r
			}
		}
		return nil
	}
	var tried []string
	for _, k := range allowed {
		r := offered(k.carrier(), sel)
		if r == nil {
			continue
		}
		switch k {
		case WiFiAware:
			c, err := ndef.ParseWiFiAwareCarrier(r.Payload)
			if err != nil {
				return Target{}, fmt.Errorf("handoff: Wi-Fi Aware carrier record: %w", err)
			}
			if len(c.CipherSuites) > 0 && !slices.Contains(c.CipherSuites, cipherNCSSK128) {
				tried = append(tried, fmt.Sprintf("wifiaware (cipher suites %x, want 01)", c.CipherSuites))
				continue
			}
			return Target{Kind: k, NAN: wifiaware.ParamsFor(ek, messages.WiFiAwareOptions{Passphrase: c.Passphrase,
				SupportedBands: c.Bands})}, nil
		default:
			c, err := ndef.ParseBLECarrier(r.Payload)
			if err != nil {
				return Target{}, fmt.Errorf("handoff: BLE carrier record: %w", err)
			}
			if !roleAllows(c.Role, k.mode()) {
				tried = append(tried, fmt.Sprintf("%s (LE role %#x)", k, *c.Role))
				continue
			}
			p := ble.Params{Mode: k.mode(), EDeviceKeyBytes: ek}
			switch {
			case len(c.UUIDs) > 0:
				p.Service = ble.UUID(c.UUIDs[0])
			case k == BLECentral && req != nil:
				if rr := offered(ndef.KindBLE, req); rr != nil {
					if rc, err := ndef.ParseBLECarrier(rr.Payload); err == nil && len(rc.UUIDs) > 0 {
						p.Service = ble.UUID(rc.UUIDs[0])
					}
				}
			}
			if p.Service == (ble.UUID{}) {
				tried = append(tried, fmt.Sprintf("%s (no service UUID)", k))
				continue
			}
			if k == BLEPeripheral && c.PSM != nil {
				if *c.PSM == 0 || *c.PSM > 0xffff {
					return Target{}, fmt.Errorf("handoff: BLE carrier record: L2CAP PSM %d out of range", *c.PSM)
				}
				p.PSM = uint16(*c.PSM)
			}
			if k == BLECentral {
				p.L2CAP = l2cap
			}
			return Target{Kind: k, BLE: p}, nil
		}
	}
	if len(tried) > 0 {
		return Target{}, fmt.Errorf("%w (allowed %v; offered but unusable: %s)", ErrNoCarrier, allowed, strings.Join(tried, ", "))
	}
	return Target{}, fmt.Errorf("%w (allowed %v)", ErrNoCarrier, allowed)
}

// FromEngagement picks the target of a QR engagement: the first of allowed that the
// DeviceEngagement's retrieval methods offer.
func FromEngagement(deviceEngagement []byte, allowed []Kind, l2cap bool) (Target, error) {
	de, ek, err := eDeviceKeyBytes(deviceEngagement)
	if err != nil {
		return Target{}, err
	}
	for _, k := range allowed {
		for i := range de.DeviceRetrievalMethods {
			m := &de.DeviceRetrievalMethods[i]
			switch {
			case k == WiFiAware && m.Type == messages.RetrievalWiFiAware:
				o, err := m.WiFiAware()
				if err != nil {
					return Target{}, fmt.Errorf("handoff: Wi-Fi Aware retrieval method: %w", err)
				}
				return Target{Kind: k, NAN: wifiaware.ParamsFor(ek, o)}, nil
			case k != WiFiAware && m.Type == messages.RetrievalBLE:
				o, err := m.BLE()
				if err != nil {
					return Target{}, fmt.Errorf("handoff: BLE retrieval method: %w", err)
				}
				p := ble.Params{Mode: k.mode(), EDeviceKeyBytes: ek, L2CAP: l2cap && k == BLECentral}
				var u []byte
				if k == BLECentral && o.CentralClientMode {
					u = o.CentralClientUUID
				} else if k == BLEPeripheral && o.PeripheralServerMode {
					u = o.PeripheralServerUUID
					if o.L2CAPPSM != nil {
						if *o.L2CAPPSM == 0 || *o.L2CAPPSM > 0xffff {
							return Target{}, fmt.Errorf("handoff: BLE retrieval method: L2CAP PSM %d out of range", *o.L2CAPPSM)
						}
						p.PSM = uint16(*o.L2CAPPSM)
					}
				}
				if u == nil {
					continue
				}
				if p.Service, err = ble.UUIDFromBytes(u); err != nil {
					return Target{}, fmt.Errorf("handoff: BLE retrieval method: %w", err)
				}
				return Target{Kind: k, BLE: p}, nil
			}
		}
	}
	return Target{}, fmt.Errorf("%w (allowed %v)", ErrNoCarrier, allowed)
}

// Wi-Fi Aware cipher suites (the NAN carrier record's Cipher Suite Info): the data path
// models NCS-SK-128 only.
const cipherNCSSK128 = 0x01

// RequestRecords returns the carrier configuration records a reader puts in its
// Handover Request for the carriers it allows besides NFC, in its order: one BLE record
// (its LE role from its side, and a fresh UUID for mdoc central client mode when that is
// allowed) and one Wi-Fi Aware record (the cipher suites and bands it supports).
func RequestRecords(allowed []Kind) []ndef.Record {
	var out []ndef.Record
	central, peripheral := slices.Contains(allowed, BLECentral), slices.Contains(allowed, BLEPeripheral)
	for _, k := range allowed {
		switch {
		case k == WiFiAware:
			out = append(out, ndef.WiFiAwareCarrier{CipherSuites: []byte{cipherNCSSK128}, Bands: []byte{0x14}}.Record())
		case k == BLECentral || k == BLEPeripheral:
			if slices.ContainsFunc(out, func(r ndef.Record) bool { return ndef.KindOf(&r) == ndef.KindBLE }) {
				continue
			}
			// the reader's role: the GATT server (peripheral) in central client mode, the
			// central in peripheral server mode
			role := byte(ndef.RoleBothPeripheralFirst)
			switch {
			case central && !peripheral:
				role = ndef.RolePeripheral
			case peripheral && !central:
				role = ndef.RoleCentral
			}
			c := ndef.BLECarrier{Role: &role}
			if central {
				c.UUIDs = [][16]byte{ble.NewUUID()}
			}
			out = append(out, c.Record())
		}
	}
	return out
}
