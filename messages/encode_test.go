package messages

import (
	"bytes"
	"math"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// appendValue writes exactly what the encode mode writes, for every kind of value it
// handles itself and for one it hands on.
func TestAppendValueMatchesEncodeMode(t *testing.T) {
	raw := cbor.RawMessage{0x82, 0x01, 0x63, 'a', 'b', 'c'}
	var nilBytes []byte
	var nilRaw cbor.RawMessage
	var nilDocs []Document
	var nilPtr *CoseSign1
	values := []any{
		nil, "", "text", string(make([]byte, 300)), []byte{}, nilBytes, make([]byte, 70000),
		true, false, uint64(0), uint64(23), uint64(24), uint64(255), uint64(256), uint64(65535),
		uint64(65536), uint64(math.MaxUint32), uint64(math.MaxUint32 + 1), uint64(math.MaxUint64),
		int64(0), int64(-1), int64(-24), int64(-25), int64(-256), int64(-257), int64(math.MinInt64), int64(math.MaxInt64),
		0, -1, 1000, raw, nilRaw, []any{"a", uint64(1), []byte{2}, nil, []any{true}}, []any{},
		[]EncodedCBOR{NewEncodedCBOR([]byte{0xa0})}, []string{"x", "yz"}, []string(nil), nilDocs,
		[]cbor.RawMessage{raw, raw}, 1.5, map[string]int{"a": 1}, nilPtr,
		CoseSign1{Protected: []byte{0xa1, 0x01, 0x26}, Payload: []byte("p"), Signature: []byte{1, 2}},
		NewSessionStatus(20), SessionData{Data: []byte{1, 2, 3}}, SessionData{},
	}
	for i, v := range values {
		want, wantErr := encMode.Marshal(v)
		got, gotErr := appendValue([]byte{0xff}, v)
		if (wantErr != nil) != (gotErr != nil) {
			t.Errorf("%d (%T): errors %v / %v", i, v, wantErr, gotErr)
			continue
		}
		if wantErr == nil && !bytes.Equal(got, append([]byte{0xff}, want...)) {
			t.Errorf("%d (%T): appendValue % x, encode mode % x", i, v, got[1:], want)
		}
	}
}

// A raw-kept part that is not one well-formed definite-length item is refused, as the
// encode mode refuses such a Marshaler output; invalid UTF-8 too, which the library lets
// through.
func TestAppendRawRefuses(t *testing.T) {
	for name, raw := range map[string]cbor.RawMessage{
		"indefinite array": {0x9f, 0x01, 0xff},
		"nested":           {0x81, 0xbf, 0x01, 0x02, 0xff},
		"truncated":        {0x82, 0x01},
		"two items":        {0x01, 0x02},
		"bad utf-8":        {0x62, 0xff, 0xfe},
	} {
		if _, err := appendValue(nil, raw); err == nil {
			t.Errorf("%s accepted", name)
		}
		if _, err := encMode.Marshal(raw); err == nil && name != "bad utf-8" { // stricter than the library there
			t.Errorf("%s: the encode mode accepts it (the test's premise)", name)
		}
	}
}
