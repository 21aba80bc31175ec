package handoff

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
)

// Offer is what a simulated mdoc offers for one carrier: its own BLE service UUID (and
// L2CAP PSM in peripheral server mode), or its Wi-Fi Aware passphrase. It writes the
// mdoc's Handover Select record (Select) or the retrieval method of its DeviceEngagement
// (Method); both sides then find the Target with FromHandover or FromEngagement.
type Offer struct {
	Kind       Kind
	UUID       ble.UUID
	PSM        uint16 // BLEPeripheral with L2CAP
	Passphrase string // WiFiAware
}

// NewOffer returns an offer with a fresh UUID, and for Wi-Fi Aware a random passphrase
// (16 bytes, hex, as Multipaz writes into its NFC carrier record); l2cap adds an L2CAP
// PSM in peripheral server mode.
func NewOffer(k Kind, l2cap bool) Offer {
	o := Offer{Kind: k, UUID: ble.NewUUID()}
	if k == BLEPeripheral && l2cap {
		o.PSM = ble.DefaultPSM
	}
	if k == WiFiAware {
		var p [16]byte
		_, _ = rand.Read(p[:])
		o.Passphrase = hex.EncodeToString(p[:])
	}
	return o
}

// CarrierKind is the kind of the carrier record the offer writes.
func (o Offer) CarrierKind() ndef.Kind { return o.Kind.carrier() }

// Select returns the offer's carrier configuration record for the mdoc's Handover
// Select. For static handover (hr nil) a BLE record carries the mdoc's UUID for its mode;
// for negotiated handover (hr: the reader's record of the same kind from its Hr) a BLE
// record in mdoc central client mode carries no UUID (the mdoc uses the reader's, 18013-5
// 8.3.3.1.1.2) unless the reader offered none, and a Wi-Fi Aware offer needs a cipher
// suite both support.
func (o Offer) Select(hr *ndef.Record) (ndef.Record, error) {
	if o.Kind == WiFiAware {
		if hr != nil {
			c, err := ndef.ParseWiFiAwareCarrier(hr.Payload)
			if err != nil {
				return ndef.Record{}, fmt.Errorf("handoff: reader's Wi-Fi Aware record: %w", err)
			}
			if len(c.CipherSuites) > 0 && !slices.Contains(c.CipherSuites, cipherNCSSK128) {
				return ndef.Record{}, fmt.Errorf("handoff: reader's Wi-Fi Aware cipher suites %x: none in common", c.CipherSuites)
			}
		}
		return ndef.WiFiAwareCarrier{CipherSuites: []byte{cipherNCSSK128}, Passphrase: o.Passphrase, Bands: []byte{0x14}}.Record(), nil
	}
	role := byte(ndef.RoleCentral)
	if o.Kind == BLEPeripheral {
		role = ndef.RolePeripheral
	}
	c := ndef.BLECarrier{Role: &role, UUIDs: [][16]byte{o.UUID}}
	if o.Kind == BLECentral && hr != nil {
		if rc, err := ndef.ParseBLECarrier(hr.Payload); err == nil && len(rc.UUIDs) > 0 {
			c.UUIDs = nil
		}
	}
	if o.PSM != 0 {
		psm := uint32(o.PSM)
		c.PSM = &psm
	}
	return c.Record(), nil
}

// Method returns the offer as a DeviceEngagement retrieval method (QR engagement).
func (o Offer) Method() messages.RetrievalMethod {
	switch o.Kind {
	case WiFiAware:
		return messages.NewWiFiAwareMethod(messages.WiFiAwareOptions{Passphrase: o.Passphrase, SupportedBands: []byte{0x14}})
	case BLEPeripheral:
		bo := messages.BLEOptions{PeripheralServerMode: true, PeripheralServerUUID: o.UUID[:]}
		if o.PSM != 0 {
			psm := uint64(o.PSM)
			bo.L2CAPPSM = &psm
		}
		return messages.NewBLEMethod(bo)
	}
	return messages.NewBLEMethod(messages.BLEOptions{CentralClientMode: true, CentralClientUUID: o.UUID[:]})
}
