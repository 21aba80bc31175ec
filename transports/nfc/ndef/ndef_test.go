package ndef

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAnnexDRoundTrip(t *testing.T) {
	for _, name := range []string{"nfc_handover_select.hex", "nfc_handover_request.hex"} {
		raw := testvectors.AnnexD(t, name)
		m, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := m.Encode()
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("%s: message re-encode differs (%v)", name, err)
		}
		h, err := ParseHandover(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc, err := h.Encode()
		if err != nil || !bytes.Equal(enc, raw) {
			t.Fatalf("%s: handover re-encode differs (%v)\n got %x\nwant %x", name, err, enc, raw)
		}
		// Rebuilt from the decoded fields alone (no Embedded): same bytes too.
		h.Embedded = nil
		enc, err = h.Encode()
		if err != nil || !bytes.Equal(enc, raw) {
			t.Fatalf("%s: rebuilt handover differs (%v)\n got %x\nwant %x", name, err, enc, raw)
		}
	}
}

func TestAnnexDSelect(t *testing.T) {
	h, err := ParseHandover(testvectors.AnnexD(t, "nfc_handover_select.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Select || h.Version != 0x15 || len(h.Carriers) != 1 {
		t.Fatalf("%+v", h)
	}
	ac := h.Carriers[0]
	if ac.CPS != CPSActive || string(ac.CarrierRef) != "0" || len(ac.AuxRefs) != 1 || string(ac.AuxRefs[0]) != "mdoc" {
		t.Fatalf("ac %+v", ac)
	}
	de, ok := h.DeviceEngagement()
	if !ok || !bytes.Equal(de, testvectors.AnnexD(t, "device_engagement_nfc.hex")) {
		t.Fatalf("device engagement %x", de)
	}
	if _, err := messages.DecodeEngagement(de); err != nil {
		t.Fatal(err)
	}
	r, ok := h.Carrier(ac)
	if !ok || KindOf(r) != KindBLE {
		t.Fatal("BLE carrier record")
	}
	ble, err := ParseBLECarrier(r.Payload)
	if err != nil || ble.Role == nil || *ble.Role != RoleCentral || len(ble.Address) != 6 || ble.AddressType == nil {
		t.Fatalf("%+v %v", ble, err)
	}
	if rec := ble.Record(); !bytes.Equal(rec.Payload, r.Payload) {
		t.Fatalf("BLE payload re-encode %x != %x", rec.Payload, r.Payload)
	}
}

func TestAnnexDRequest(t *testing.T) {
	h, err := ParseHandover(testvectors.AnnexD(t, "nfc_handover_request.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Select || h.Random != 0x0102 || len(h.Carriers) != 3 {
		t.Fatalf("%+v", h)
	}
	kinds := []Kind{}
	for _, ac := range h.Carriers {
		if len(ac.AuxRefs) != 0 {
			t.Fatal("Hr ac with aux refs")
		}
		r, ok := h.Carrier(ac)
		if !ok {
			t.Fatalf("carrier %q not found", ac.CarrierRef)
		}
		kinds = append(kinds, KindOf(r))
		var again Record
		switch KindOf(r) {
		case KindBLE:
			c, err := ParseBLECarrier(r.Payload)
			if err != nil || len(c.UUIDs) != 1 || *c.Role != RoleBothPeripheralFirst {
				t.Fatalf("%+v %v", c, err)
			}
			if got := hex.EncodeToString(c.UUIDs[0][:]); got != "3a82d455d5fc4db3bea06fd2f6ff32c8" {
				t.Fatalf("uuid %s", got)
			}
			again = c.Record()
		case KindNFC:
			c, err := ParseNFCCarrier(r.Payload)
			if err != nil || c.HasSizes {
				t.Fatalf("%+v %v", c, err)
			}
			again = c.Record()
		case KindWiFiAware:
			c, err := ParseWiFiAwareCarrier(r.Payload)
			if err != nil || c.DHGroup != 19 || len(c.DHKey) != 32 || !bytes.Equal(c.Bands, []byte{0x14}) {
				t.Fatalf("%+v %v", c, err)
			}
			again = c.Record()
		}
		if !bytes.Equal(again.Payload, r.Payload) || !bytes.Equal(again.ID, r.ID) {
			t.Fatalf("%s payload re-encode %x != %x", KindOf(r), again.Payload, r.Payload)
		}
	}
	if kinds[0] != KindBLE || kinds[1] != KindNFC || kinds[2] != KindWiFiAware {
		t.Fatal(kinds)
	}
}

func TestAnnexDTranscript(t *testing.T) {
	hs, hr := testvectors.AnnexD(t, "nfc_handover_select.hex"), testvectors.AnnexD(t, "nfc_handover_request.hex")
	ho := messages.NFCHandover(hs, hr)
	if !bytes.Equal(ho, testvectors.AnnexD(t, "session_handover_nfc.hex")) {
		t.Fatalf("handover %x", ho)
	}
	h, _ := ParseHandover(hs)
	de, _ := h.DeviceEngagement()
	var erk messages.EncodedCBOR
	if err := erk.UnmarshalCBOR(testvectors.AnnexD(t, "ereader_key_bytes.hex")); err != nil {
		t.Fatal(err)
	}
	st := messages.NewProximityTranscript(messages.NewEncodedCBOR(de), erk, ho)
	b, err := messages.Marshal(st)
	if err != nil || !bytes.Equal(b, testvectors.AnnexD(t, "session_transcript.hex")) {
		t.Fatalf("transcript %x (%v)", b, err)
	}
}

func TestNFCCarrierSizes(t *testing.T) {
	for _, c := range []NFCCarrier{{255, 256, true}, {65535, 65536, true}, {0x1000000 - 1, 7, true}, {}} {
		r := c.Record()
		got, err := ParseNFCCarrier(r.Payload)
		if err != nil || got != c {
			t.Fatalf("%+v -> %x -> %+v %v", c, r.Payload, got, err)
		}
	}
	for _, bad := range [][]byte{{}, {2}, {1, 1, 1}, {1, 3, 1, 0, 0}, {1, 2, 1, 5}, {1, 9, 1}} {
		if _, err := ParseNFCCarrier(bad); err == nil {
			t.Fatalf("%x accepted", bad)
		}
	}
}

func TestBLEAddressForms(t *testing.T) {
	six := []byte{0x07, 0x1b, 1, 2, 3, 4, 5, 6, 0x02, 0x1c, 0x00}
	c, err := ParseBLECarrier(six)
	if err != nil || c.AddressType != nil || len(c.Address) != 6 {
		t.Fatalf("%+v %v", c, err)
	}
	if r := c.Record(); !bytes.Equal(r.Payload, six) {
		t.Fatalf("%x", r.Payload)
	}
	if _, err := ParseBLECarrier([]byte{0x06, 0x1b, 1, 2, 3, 4, 5}); err == nil {
		t.Fatal("5-byte address accepted")
	}
}

func TestChunksAndLongRecords(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 700)
	r := NewRecord(TNFMedia, "text/plain", "id1", payload)
	m := append(Message{NewRecord(TNFWellKnown, "T", "", []byte("hi"))}, Chunk(r, 300)...)
	m = append(m, Record{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte{1}, Long: true})
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := got.Encode(); !bytes.Equal(again, b) {
		t.Fatal("re-encode differs")
	}
	if len(got) != 5 || !got[1].Chunked || got[2].TNF != TNFUnchanged || !got[4].Long {
		t.Fatalf("%+v", got)
	}
	j, err := got.Join()
	if err != nil || len(j) != 3 || !bytes.Equal(j[1].Payload, payload) || string(j[1].ID) != "id1" {
		t.Fatalf("join %v", err)
	}
	// a long record with a big payload
	big := Message{NewRecord(TNFMedia, "a/b", "", bytes.Repeat([]byte{1}, 70000))}
	bb, _ := big.Encode()
	if bb[0]&flagSR != 0 {
		t.Fatal("SR on a 70000-byte payload")
	}
	if got, err := Parse(bb); err != nil || len(got[0].Payload) != 70000 {
		t.Fatal(err)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":             {},
		"no MB":             {0x51, 0x01, 0x00, 'T'},
		"no ME":             {0x91, 0x01, 0x00, 'T'},
		"truncated":         {0xd1, 0x01, 0x05, 'T', 1},
		"trailing":          {0xd1, 0x01, 0x00, 'T', 0},
		"huge long":         {0xc1, 0x01, 0xff, 0xff, 0xff, 0xff, 'T'},
		"reserved TNF":      {0xd7, 0x00, 0x00},
		"wellknown untyped": {0xd1, 0x00, 0x00},
		"unchanged first":   {0xd6, 0x00, 0x00},
		"CF on last":        {0xf1, 0x01, 0x00, 'T'},
		"second MB":         {0x91, 0x01, 0x00, 'T', 0xd1, 0x01, 0x00, 'T'},
	}
	for name, b := range cases {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	many := []byte{}
	for i := 0; i <= MaxRecords; i++ {
		h := byte(0x11)
		if i == 0 {
			h |= flagMB
		}
		if i == MaxRecords {
			h |= flagME
		}
		many = append(many, h, 1, 0, 'T')
	}
	if _, err := Parse(many); !errors.Is(err, ErrTooMany) {
		t.Fatalf("too many: %v", err)
	}
}

func TestTNEP(t *testing.T) {
	sp := ServiceParameter{URI: ServiceHandover, WTInt: 0, NWait: 15, MaxNDEFSize: 0xffff}
	r := sp.Record()
	got, err := ParseServiceParameter(r.Payload)
	sp.Version = TNEPVersion
	if err != nil || got != sp {
		t.Fatalf("%+v %v", got, err)
	}
	if want := "10" + "13" + hex.EncodeToString([]byte(ServiceHandover)) + "00000f" + "ffff"; hex.EncodeToString(r.Payload) != want {
		t.Fatalf("Tp payload %x", r.Payload)
	}
	if d := got.MinWait(); d != 500*1000 {
		t.Fatalf("min wait %v", d)
	}
	ts := ServiceSelectRecord(ServiceHandover)
	if s, err := ParseServiceSelect(ts.Payload); err != nil || s != ServiceHandover {
		t.Fatal(s, err)
	}
	if s, err := ParseStatus(StatusRecord(0).Payload); err != nil || s != 0 {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{}, {0x10}, {0x10, 5, 'a'}, {0x10, 0, 0, 64, 0, 0, 0}} {
		if _, err := ParseServiceParameter(bad); err == nil {
			t.Fatalf("%x accepted", bad)
		}
	}
}
