package verify

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// plainSeeds are element values of every kind plainJSONValue takes or declines, and
// the edge cases of each: head sizes, integer limits, invalid UTF-8, trailing bytes,
// truncation, and tags other than 1004.
func plainSeeds() [][]byte {
	return [][]byte{
		{0x00}, {0x17}, {0x18, 0x18}, {0x19, 0x01, 0x00}, {0x1a, 0, 1, 0, 0}, {0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, {0x20}, {0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{0x40}, {0x43, 1, 2, 3}, {0x58, 0x02, 0xff, 0xfe}, {0x43, 1, 2}, {0x42, 1, 2, 3},
		{0x60}, {0x63, 'a', 'b', 'c'}, {0x62, 0xff, 0xfe}, {0x78, 0x01, 'x'}, {0x61, 'a', 0x00},
		{0xd9, 0x03, 0xec, 0x6a, '2', '0', '2', '4', '-', '0', '2', '-', '2', '9'}, {0xd9, 0x03, 0xec, 0x01},
		{0xc0, 0x74, '2', '0', '2', '4', '-', '0', '2', '-', '2', '9', 'T', '0', '0', ':', '0', '0', ':', '0', '0', 'Z'},
		{0xd8, 0x18, 0x41, 0x01}, {0xc1, 0x1a, 0x65, 0, 0, 0},
		{0xf4}, {0xf5}, {0xf6}, {0xf7}, {0xf8, 0x20}, {0xf9, 0x3c, 0x00}, {0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0},
		{0x5f, 0x41, 0x01, 0xff}, {0x7f, 0x61, 'a', 0xff}, {0x82, 0x01, 0x02}, {0xa1, 0x01, 0x02}, {}, {0x1c},
	}
}

func checkPlain(t *testing.T, raw []byte) {
	t.Helper()
	v, ok := plainJSONValue(raw)
	if !ok {
		return
	}
	if want := genericJSONValue(raw); !reflect.DeepEqual(v, want) {
		t.Fatalf("% x: plain %#v, full decode %#v", raw, v, want)
	}
}

// TestPlainJSONValue: wherever the shortcut answers, it answers what the full decode
// does, on the edge cases and on every element value of the Annex D and wallet samples.
func TestPlainJSONValue(t *testing.T) {
	taken := 0
	for _, raw := range plainSeeds() {
		checkPlain(t, raw)
		if _, ok := plainJSONValue(raw); ok {
			taken++
		}
	}
	if taken < 15 {
		t.Fatalf("the shortcut took only %d of the seeds", taken)
	}
	responses := testvectors.WalletResponses(t)
	responses["annex-d"] = testvectors.AnnexD(t, "device_response")
	values := 0
	for _, data := range responses {
		resp, err := messages.DecodeDeviceResponse(data)
		if err != nil {
			continue
		}
		for _, d := range resp.Documents {
			if d.IssuerSigned.NameSpaces == nil {
				continue
			}
			for _, items := range d.IssuerSigned.NameSpaces.All() {
				for _, it := range items {
					item, err := messages.DecodeIssuerSignedItem(it)
					if err != nil {
						continue
					}
					checkPlain(t, item.ElementValue)
					values++
				}
			}
		}
	}
	if values < 20 {
		t.Fatalf("only %d sample element values", values)
	}
}

func FuzzPlainJSONValue(f *testing.F) {
	for _, s := range plainSeeds() {
		f.Add(s)
	}
	f.Add(bytes.Repeat([]byte{0x61}, 3))
	f.Fuzz(func(t *testing.T, raw []byte) { checkPlain(t, raw) })
}
