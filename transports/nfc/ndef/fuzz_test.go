package ndef

import (
	"bytes"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// FuzzParse: any input either fails to parse or re-encodes to itself; handover and
// carrier decoders never panic.
func FuzzParse(f *testing.F) {
	f.Add(testvectors.AnnexD(f, "nfc_handover_select.hex"))
	f.Add(testvectors.AnnexD(f, "nfc_handover_request.hex"))
	f.Add(Message{ServiceParameter{URI: ServiceHandover}.Record()}.MustEncode())
	f.Add(append(Message{NewRecord(TNFWellKnown, "T", "", nil)}, Chunk(NewRecord(TNFMedia, "a/b", "1", make([]byte, 40)), 7)...).MustEncode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil {
			again, err := m.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encode differs: %v", err)
			}
			_, _ = m.Join()
			for _, r := range m {
				_, _ = ParseBLECarrier(r.Payload)
				_, _ = ParseNFCCarrier(r.Payload)
				_, _ = ParseWiFiAwareCarrier(r.Payload)
				_, _ = ParseServiceParameter(r.Payload)
				_, _ = ParseAlternativeCarrier(r.Payload)
			}
		}
		if h, err := ParseHandover(b); err == nil {
			enc, err := h.Encode()
			if err != nil || !bytes.Equal(enc, b) {
				t.Fatalf("handover re-encode differs: %v", err)
			}
			_, _ = h.DeviceEngagement()
		}
	})
}
