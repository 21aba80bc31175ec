package messages

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// EncodedCBOR is an "encoded CBOR data item", #6.24(bstr .cbor T): every ...Bytes type of
// the CDDL. It keeps the complete item exactly as received (tag, byte-string head and
// content), because digests, MACs and signatures cover those bytes. Encoding it writes
// the same bytes back.
type EncodedCBOR struct {
	raw     []byte // the whole #6.24(bstr) item
	content []byte // the embedded CBOR, a sub-slice of raw
}

// NewEncodedCBOR wraps already encoded CBOR content in tag 24, preferred serialization.
func NewEncodedCBOR(content []byte) EncodedCBOR {
	raw := make([]byte, 0, len(content)+11)
	raw = append(raw, 0xd8, 0x18)
	raw = appendHead(raw, majorBytes, uint64(len(content)))
	off := len(raw)
	raw = append(raw, content...)
	return EncodedCBOR{raw: raw, content: raw[off:]}
}

// EncodeToCBOR encodes v and wraps the result in tag 24.
func EncodeToCBOR(v any) (EncodedCBOR, error) {
	var e EncodedCBOR
	_, err := encodeScratch(v, func(enc []byte) []byte { e = NewEncodedCBOR(enc); return nil })
	if err != nil {
		return EncodedCBOR{}, err
	}
	return e, nil
}

// ParseEncodedCBOR takes a complete #6.24(bstr) item.
func ParseEncodedCBOR(item []byte) (EncodedCBOR, error) {
	var e EncodedCBOR
	if err := e.UnmarshalCBOR(item); err != nil {
		return EncodedCBOR{}, err
	}
	return e, nil
}

// Raw returns the complete tag-24 item as received. Callers must not modify it.
func (e EncodedCBOR) Raw() []byte { return e.raw }

// Content returns the embedded CBOR (the byte string's content).
func (e EncodedCBOR) Content() []byte { return e.content }

// IsZero reports whether e holds nothing.
func (e EncodedCBOR) IsZero() bool { return len(e.raw) == 0 }

// Equal reports whether both items have the same encoded bytes.
func (e EncodedCBOR) Equal(o EncodedCBOR) bool { return bytes.Equal(e.raw, o.raw) }

// Decode decodes the embedded CBOR into v with the shared limits.
func (e EncodedCBOR) Decode(v any) error {
	if e.IsZero() {
		return errors.New("empty encoded CBOR item")
	}
	return unmarshal(e.content, v, false, false)
}

// decodeInto is Decode into a zero value of this package's types. The value shares a copy
// of the content: a caller may change a decoded field, and the item's bytes must stay as
// received.
func (e EncodedCBOR) decodeInto(v ownDecoder) error {
	if e.IsZero() {
		return errors.New("empty encoded CBOR item")
	}
	return unmarshal(e.content, v, true, false)
}

// MarshalCBOR writes the bytes as received or built.
func (e EncodedCBOR) MarshalCBOR() ([]byte, error) {
	if e.IsZero() {
		return nil, errEmptyEncoded
	}
	return e.raw, nil
}

func (e EncodedCBOR) appendCBOR(dst []byte) ([]byte, error) {
	if e.IsZero() {
		return nil, errEmptyEncoded
	}
	return append(dst, e.raw...), nil
}

var errEmptyEncoded = errors.New("messages: encoding an empty tag-24 item")

// UnmarshalCBOR accepts #6.24(bstr) with a definite-length byte string whose content is
// one well-formed CBOR item.
func (e *EncodedCBOR) UnmarshalCBOR(data []byte) error {
	var out EncodedCBOR
	if err := out.decode(bytes.Clone(data), 0); err != nil {
		return err
	}
	*e = out
	return nil
}

// decode keeps data itself: the item's bytes as received.
func (e *EncodedCBOR) decode(data []byte, _ trust) error {
	start, err := encodedContent(data)
	if err != nil {
		return err
	}
	content := data[start:]
	if err := wellformed(content); err != nil {
		return fmt.Errorf("tag 24 content: %w", err)
	}
	e.raw, e.content = data[:len(data):len(data)], content
	return nil
}

// encodedContent checks the head of #6.24(bstr) that data must be exactly, and returns
// where the content starts.
func encodedContent(data []byte) (int, error) {
	tag, err := readHead(data)
	if err != nil {
		return 0, err
	}
	if tag.major != majorTag || tag.indefinite || tag.arg != 24 {
		return 0, errors.New("expected an encoded CBOR data item #6.24(bstr)")
	}
	bs, err := readHead(data[tag.size:])
	if err != nil {
		return 0, err
	}
	if bs.major != majorBytes || bs.indefinite {
		return 0, errors.New("tag 24 must enclose a definite-length byte string")
	}
	start := tag.size + bs.size
	if bs.arg != uint64(len(data)-start) {
		return 0, fmt.Errorf("tag 24 byte string length %d does not match the item", bs.arg)
	}
	return start, nil
}

// arrayItems appends to items the elements of data, a plain array after any
// self-described tags, as the decode mode hands them to a Go slice's elements:
// self-described tags stripped, built-in tags checked. data must be structurally sound
// (t.structural()). ok is false when data is not such an array.
func arrayItems(data []byte, t trust, items [][]byte) (_ [][]byte, ok bool, err error) {
	data = afterSelfDescribed(data)
	h, err := readHead(data)
	if err != nil || h.major != majorArray {
		return nil, false, nil
	}
	if !t.structural() {
		return nil, false, nil
	}
	off := h.size
	for i := uint64(0); h.indefinite || i < h.arg; i++ {
		if h.indefinite && off < len(data) && data[off] == 0xff {
			break
		}
		n, err := trustedLength(data[off:])
		if err != nil {
			return nil, true, err
		}
		it := afterSelfDescribed(data[off : off+n : off+n])
		if err := builtinTagsOK(it); err != nil {
			return nil, true, err
		}
		items = append(items, it)
		off += n
	}
	return items, true, nil
}

var _ cbor.Marshaler = EncodedCBOR{}
