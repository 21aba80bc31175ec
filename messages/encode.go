package messages

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// appender is implemented by this package's types: they append their encoding to dst, so
// that a whole message is written into one buffer rather than each level encoding its
// children into buffers of their own that are then copied into the parent's.
type appender interface {
	appendCBOR(dst []byte) ([]byte, error)
}

// appendValue appends v's encoding in preferred serialization. This package's types and
// the plain values mdoc structures hold are written directly; anything else goes
// through the encode mode. Both give the same bytes: the direct cases are those with a
// single preferred form (a nil slice is null, as the encode mode writes it).
func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, 0xf6), nil
	case string:
		return append(appendHead(dst, majorText, uint64(len(x))), x...), nil
	case []byte:
		if x == nil {
			return append(dst, 0xf6), nil
		}
		return append(appendHead(dst, majorBytes, uint64(len(x))), x...), nil
	case bool:
		if x {
			return append(dst, 0xf5), nil
		}
		return append(dst, 0xf4), nil
	case uint64:
		return appendHead(dst, majorUint, x), nil
	case int64:
		return appendCBORInt(dst, x), nil
	case int:
		return appendCBORInt(dst, int64(x)), nil
	case cbor.RawMessage:
		if len(x) == 0 {
			return append(dst, 0xf6), nil // what the CBOR library writes for an empty RawMessage
		}
		return appendRaw(dst, x)
	case []any:
		return appendArray(dst, x)
	case []EncodedCBOR:
		return appendArray(dst, x)
	case []Document:
		return appendArray(dst, x)
	case []DocRequest:
		return appendArray(dst, x)
	case []cbor.RawMessage:
		return appendArray(dst, x)
	case []string:
		return appendArray(dst, x)
	case appender:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return append(dst, 0xf6), nil
		}
		return x.appendCBOR(dst)
	}
	b, err := encMode.Marshal(v)
	if err != nil || dst == nil {
		return b, err
	}
	return append(dst, b...), nil
}

// appendRaw appends a raw-kept item (an extension, a COSE header, a Handover) as received,
// after the checks the encode mode makes of a Marshaler's output: exactly one well-formed
// item, and no indefinite lengths anywhere in it (strict out).
func appendRaw(dst []byte, raw []byte) ([]byte, error) {
	n, err := walk(raw, 0, rulesItem|rulesDefinite, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("messages: raw item: %w", err)
	}
	if n != len(raw) {
		return nil, errTrailingBytes
	}
	return append(dst, raw...), nil
}

// appendArray appends a definite-length array of items, or null for a nil slice.
func appendArray[E any](dst []byte, items []E) ([]byte, error) {
	if items == nil {
		return append(dst, 0xf6), nil
	}
	dst = appendHead(dst, majorArray, uint64(len(items)))
	var err error
	for i := range items {
		if dst, err = appendValue(dst, items[i]); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// appendCBORInt appends an integer as major type 0 or 1.
func appendCBORInt(dst []byte, n int64) []byte {
	if n >= 0 {
		return appendHead(dst, majorUint, uint64(n))
	}
	return appendHead(dst, majorNeg, uint64(-1-n))
}
