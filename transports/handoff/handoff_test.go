package handoff

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The Annex D negotiated handover: the mdoc selects BLE in central client mode (LE role
// 01) and, as 18013-5 asks, puts no UUID in its Hs: the service is the UUID the reader
// offered in its Hr.
func TestAnnexDNegotiatedBLE(t *testing.T) {
	de := testvectors.AnnexD(t, "device_engagement_nfc.hex")
	hs, hr := testvectors.AnnexD(t, "nfc_handover_select.hex"), testvectors.AnnexD(t, "nfc_handover_request.hex")
	tg, err := FromHandover(de, hs, hr, Kinds, false)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Kind != BLECentral || tg.BLE.Mode != ble.CentralClient || hex.EncodeToString(tg.BLE.Service[:]) != "3a82d455d5fc4db3bea06fd2f6ff32c8" {
		t.Fatalf("target %+v", tg)
	}
	if !bytes.Equal(tg.BLE.EDeviceKeyBytes, testvectors.AnnexD(t, "edevice_key_bytes.hex")) {
		t.Fatal("EDeviceKeyBytes not taken from the engagement")
	}
	// a reader allowing peripheral server mode only cannot use an mdoc that is central only
	if _, err := FromHandover(de, hs, hr, []Kind{BLEPeripheral, WiFiAware}, false); !errors.Is(err, ErrNoCarrier) {
		t.Fatalf("peripheral only: %v", err)
	}
	// static handover with that Hs: no UUID anywhere
	if _, err := FromHandover(de, hs, nil, Kinds, false); !errors.Is(err, ErrNoCarrier) {
		t.Fatalf("no UUID: %v", err)
	}
}

func engagement(t *testing.T, methods ...messages.RetrievalMethod) []byte {
	t.Helper()
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	de, err := messages.NewEngagement(k.COSEKey(), methods...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := messages.Marshal(de)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hs builds a Handover Select with the given carrier records.
func hs(t *testing.T, de []byte, records ...ndef.Record) []byte {
	t.Helper()
	h := &ndef.Handover{Select: true, Version: ndef.HandoverVersion}
	for _, r := range records {
		h.Carriers = append(h.Carriers, ndef.AlternativeCarrier{CPS: ndef.CPSActive, CarrierRef: r.ID, AuxRefs: [][]byte{[]byte("mdoc")}})
		h.Records = append(h.Records, r)
	}
	h.Records = append(h.Records, ndef.DeviceEngagementRecord(de))
	b, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hr(t *testing.T, records []ndef.Record) []byte {
	t.Helper()
	h := &ndef.Handover{Version: ndef.HandoverVersion, Random: 7}
	for _, r := range records {
		h.Carriers = append(h.Carriers, ndef.AlternativeCarrier{CPS: ndef.CPSActive, CarrierRef: r.ID})
		h.Records = append(h.Records, r)
	}
	b, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What each side writes is what the other reads: the reader's Hr records, an mdoc's
// static and negotiated Hs records and its retrieval methods give the same Target.
func TestOffersRoundTrip(t *testing.T) {
	de := engagement(t)
	for _, l2cap := range []bool{false, true} {
		for _, k := range Kinds {
			o := NewOffer(k, l2cap)
			static, err := o.Select(nil)
			if err != nil {
				t.Fatal(err)
			}
			reqRecords := RequestRecords(Kinds)
			var mine *ndef.Record
			for i := range reqRecords {
				if ndef.KindOf(&reqRecords[i]) == o.CarrierKind() {
					mine = &reqRecords[i]
				}
			}
			negotiated, err := o.Select(mine)
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]struct{ hs, hr []byte }{
				"static":     {hs(t, de, static), nil},
				"negotiated": {hs(t, de, negotiated), hr(t, reqRecords)},
			} {
				tg, err := FromHandover(de, c.hs, c.hr, Kinds, l2cap)
				if err != nil {
					t.Fatalf("%s %s: %v", k, name, err)
				}
				if tg.Kind != k {
					t.Fatalf("%s %s: target %s", k, name, tg.Kind)
				}
				switch {
				case k == WiFiAware:
					if !tg.NAN.Explicit || tg.NAN.Passphrase != o.Passphrase || tg.NAN.Service == "" {
						t.Fatalf("%s %s: %+v", k, name, tg.NAN)
					}
				case k == BLECentral && name == "negotiated":
					hrBLE, _ := ndef.ParseBLECarrier(mine.Payload)
					if tg.BLE.Service != ble.UUID(hrBLE.UUIDs[0]) || tg.BLE.L2CAP != l2cap {
						t.Fatalf("negotiated central: service %s, want the Hr's %x", tg.BLE.Service, hrBLE.UUIDs[0])
					}
				default:
					if tg.BLE.Service != o.UUID || (k == BLEPeripheral && tg.BLE.PSM != o.PSM) {
						t.Fatalf("%s %s: %+v, offer %+v", k, name, tg.BLE, o)
					}
				}
			}
			qr := engagement(t, o.Method())
			tg, err := FromEngagement(qr, Kinds, l2cap)
			if err != nil || tg.Kind != k {
				t.Fatalf("%s from a QR engagement: %+v %v", k, tg, err)
			}
		}
	}
}

// The Handover Request carries what 18013-5 asks: a BLE record with the reader's LE role
// and a UUID for mdoc central client mode, a Wi-Fi Aware record with its cipher suites.
func TestRequestRecords(t *testing.T) {
	rs := RequestRecords(Kinds)
	if len(rs) != 2 || ndef.KindOf(&rs[0]) != ndef.KindBLE || ndef.KindOf(&rs[1]) != ndef.KindWiFiAware {
		t.Fatalf("%d records", len(rs))
	}
	b, err := ndef.ParseBLECarrier(rs[0].Payload)
	if err != nil || b.Role == nil || *b.Role != ndef.RoleBothPeripheralFirst || len(b.UUIDs) != 1 {
		t.Fatalf("BLE %+v %v", b, err)
	}
	w, err := ndef.ParseWiFiAwareCarrier(rs[1].Payload)
	if err != nil || !bytes.Equal(w.CipherSuites, []byte{0x01}) || !bytes.Equal(w.Bands, []byte{0x14}) {
		t.Fatalf("Wi-Fi Aware %+v %v", w, err)
	}
	if p := RequestRecords([]Kind{BLEPeripheral}); len(p) != 1 {
		t.Fatal(p)
	} else if c, _ := ndef.ParseBLECarrier(p[0].Payload); *c.Role != ndef.RoleCentral || len(c.UUIDs) != 0 {
		t.Fatalf("peripheral server mode only: the reader is central and offers no UUID: %+v", c)
	}
	if c, _ := ndef.ParseBLECarrier(RequestRecords([]Kind{BLECentral})[0].Payload); *c.Role != ndef.RolePeripheral || len(c.UUIDs) != 1 {
		t.Fatalf("central client mode only: %+v", c)
	}
}

// What a reader refuses: a Wi-Fi Aware offer without a cipher suite in common, a BLE
// role that excludes the allowed modes, a PSM out of range; none allowed at all.
func TestTargetRefusals(t *testing.T) {
	de := engagement(t)
	w := ndef.WiFiAwareCarrier{CipherSuites: []byte{0x02}}.Record()
	if _, err := FromHandover(de, hs(t, de, w), nil, Kinds, false); !errors.Is(err, ErrNoCarrier) {
		t.Fatalf("NCS-SK-256 only: %v", err)
	}
	if _, err := (Offer{Kind: WiFiAware}).Select(&w); err == nil {
		t.Fatal("the mdoc answered a reader with no cipher suite in common")
	}
	role := byte(ndef.RolePeripheral)
	b := ndef.BLECarrier{Role: &role, UUIDs: [][16]byte{ble.NewUUID()}}.Record()
	if _, err := FromHandover(de, hs(t, de, b), nil, []Kind{BLECentral}, false); !errors.Is(err, ErrNoCarrier) {
		t.Fatalf("peripheral-only mdoc, central-only reader: %v", err)
	}
	psm := uint32(0x10000)
	bad := ndef.BLECarrier{Role: &role, UUIDs: [][16]byte{ble.NewUUID()}, PSM: &psm}.Record()
	if _, err := FromHandover(de, hs(t, de, bad), nil, Kinds, false); err == nil || errors.Is(err, ErrNoCarrier) {
		t.Fatalf("PSM out of range: %v", err)
	}
	if _, err := FromHandover(de, hs(t, de, b), nil, nil, false); !errors.Is(err, ErrNoCarrier) {
		t.Fatalf("nothing allowed: %v", err)
	}
	if _, err := FromEngagement(engagement(t), Kinds, false); !errors.Is(err, ErrNoCarrier) {
		t.Fatalf("no methods: %v", err)
	}
	if _, err := ParseKinds([]string{"ble", "zigbee"}); err == nil {
		t.Fatal("zigbee accepted")
	}
	if ks, err := ParseKinds([]string{"wifiaware", "ble", "ble-central"}); err != nil || len(ks) != 3 || ks[0] != WiFiAware || ks[1] != BLECentral {
		t.Fatalf("%v %v", ks, err)
	}
}

// Both sides connect on the simulated radio and carry whole messages each way, on every
// carrier; a refusal by the lane reaches the holder as transports.ErrBusy, before and
// after its connection is up.
func TestRadioConnections(t *testing.T) {
	r := NewRadio(RadioConfig{})
	defer r.Close()
	lane := r.Reader(Kinds, true)
	for _, k := range Kinds {
		for _, l2cap := range []bool{false, true} {
			o := NewOffer(k, l2cap)
			de := engagement(t, o.Method())
			tg, err := FromEngagement(de, []Kind{k}, l2cap)
			if err != nil {
				t.Fatal(err)
			}
			reader := lane.Dial(tg, func() time.Duration { return time.Millisecond })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			holder, err := r.Holder(ctx, tg, transports.LinkFaults{})
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			big := bytes.Repeat([]byte{0xab}, 3000)
			if err := reader.WriteFrame(ctx, big); err != nil {
				t.Fatal(err)
			}
			if got, err := holder.ReadFrame(ctx); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("%s: holder read %d bytes, %v", k, len(got), err)
			}
			if err := holder.WriteFrame(ctx, []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			if got, err := reader.ReadFrame(ctx); err != nil || !bytes.Equal(got, []byte{1, 2, 3}) {
				t.Fatalf("%s: reader read %x, %v", k, got, err)
			}
			if air := reader.AirTime(); air < time.Millisecond || (k != WiFiAware && air == time.Millisecond) {
				t.Fatalf("%s: air time %v", k, air)
			}
			reader.Reject(transports.ErrBusy)
			if _, err := holder.ReadFrame(ctx); !errors.Is(err, transports.ErrBusy) {
				t.Fatalf("%s: rejected holder reads %v", k, err)
			}
			holder.Close()
			cancel()
		}
	}
	// refused before the holder started: it learns it when it does
	o := NewOffer(BLECentral, false)
	tg, _ := FromEngagement(engagement(t, o.Method()), Kinds, false)
	lane.Dial(tg, nil).Reject(nil)
	if _, err := r.Holder(context.Background(), tg, transports.LinkFaults{}); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("early refusal: %v", err)
	}
	// a lane without the carrier's radio fails the session's first call, naming it
	none := (&Reader{}).Dial(tg, nil)
	if err := none.WriteFrame(context.Background(), []byte{1}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("no BLE")) {
		t.Fatalf("no radio: %v", err)
	}
	none.Close()
}

// FuzzFromHandover: whatever Handover Select and Request a phone sends, the reader gets
// a target it can use or an error, never a panic.
func FuzzFromHandover(f *testing.F) {
	f.Add(testvectors.AnnexD(f, "nfc_handover_select.hex"), testvectors.AnnexD(f, "nfc_handover_request.hex"))
	f.Add(testvectors.AnnexD(f, "nfc_handover_select.hex"), []byte{})
	de := testvectors.AnnexD(f, "device_engagement_nfc.hex")
	f.Fuzz(func(t *testing.T, hs, hr []byte) {
		if len(hr) == 0 {
			hr = nil
		}
		tg, err := FromHandover(de, hs, hr, Kinds, true)
		if err == nil && tg.Kind != WiFiAware && tg.BLE.Service == (ble.UUID{}) {
			t.Fatalf("BLE target without a service: %+v", tg)
		}
	})
}
