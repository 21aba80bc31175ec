package messages

import (
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// itemLength must agree with the decoder's own well-formedness check.
func FuzzItemLength(f *testing.F) {
	for _, name := range []string{"device_response", "device_request", "session_transcript", "device_engagement_qr", "mobile_security_object"} {
		f.Add(testvectors.AnnexD(f, name))
	}
	f.Add([]byte{0x5f, 0x41, 0x00, 0xff})
	f.Add([]byte{0x9f, 0x01, 0xbf, 0x61, 0x61, 0x01, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := itemLength(data)
		_, restErr := decMode.UnmarshalFirst(data, new(any))
		if err == nil {
			if werr := decMode.Wellformed(data[:n]); werr != nil {
				t.Fatalf("itemLength accepted %x (%d bytes) that the decoder calls malformed: %v", data, n, werr)
			}
		} else if restErr == nil && decMode.Wellformed(data) == nil {
			t.Fatalf("itemLength refused %x that the decoder accepts: %v", data, err)
		}
	})
}

func TestItemLengthOnVectors(t *testing.T) {
	for _, name := range []string{"device_response", "device_request", "session_establishment", "issuer_signed"} {
		data := testvectors.AnnexD(t, name)
		n, err := itemLength(append(data, 0x00))
		if err != nil || n != len(data) {
			t.Fatalf("%s: n=%d err=%v, want %d", name, n, err, len(data))
		}
		for cut := 0; cut < len(data); cut += 13 {
			if _, err := itemLength(data[:cut]); err == nil {
				t.Fatalf("%s truncated at %d accepted", name, cut)
			}
		}
	}
}
