package messages

import (
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/messages/internal/reference"
)

// FuzzWalk holds each rule set of walk to what it stands for: wellformed to the decode
// mode's Wellformed, wellformedFirst plus the tag checks to UnmarshalFirst into a raw
// item, itemLength to the itemLength it replaced.
func FuzzWalk(f *testing.F) {
	seed(f)
	for _, h := range []string{"c6 c6 81 01", "81 c6 81 c6 81 01", "d9d9f7 c0 01", "c1 61 61", "f8 1f", "bf 01 ff", "7f 61 61 60 ff", "1f", "df 01", "fc"} {
		f.Add(hexBytes(f, h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := wellformed(data)
		werr := decMode.Wellformed(data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("wellformed %x: %v, decode mode: %v", data, err, werr)
		}
		n, err := wellformedFirst(data)
		if err == nil {
			err = builtinTagsOK(afterSelfDescribed(data[:n]))
		}
		var raw cbor.RawMessage
		rest, ferr := decMode.UnmarshalFirst(data, &raw)
		if (err == nil) != (ferr == nil) || err == nil && n != len(data)-len(rest) {
			t.Fatalf("wellformedFirst %x: %d %v, decode mode: %d %v", data, n, err, len(data)-len(rest), ferr)
		}
		n, err = itemLength(data)
		rn, rerr := reference.ItemLength(data)
		if (err == nil) != (rerr == nil) || n != rn || err != nil && err.Error() != rerr.Error() {
			t.Fatalf("itemLength %x: %d %v, reference: %d %v", data, n, err, rn, rerr)
		}
		if err == nil {
			if tn, terr := trustedLength(data); terr != nil || tn != n {
				t.Fatalf("trustedLength %x: %d %v, itemLength %d", data, tn, terr, n)
			}
		}
		if n, err := wellformedFirst(data); err == nil {
			if tn, terr := trustedLength(data); terr != nil || tn != n {
				t.Fatalf("trustedLength %x: %d %v, wellformedFirst %d", data, tn, terr, n)
			}
		}
	})
}
