package reference

import (
	"bytes"
	"errors"
	"fmt"
)

// EncodedCBOR is an "encoded CBOR data item", #6.24(bstr .cbor T): every ...Bytes type of
// the CDDL. It keeps the complete item exactly as received (tag, byte-string head and
// content), because digests, MACs and signatures cover those bytes.
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

// Decode decodes the embedded CBOR into v with the shared limits.
func (e EncodedCBOR) Decode(v any) error {
	if e.IsZero() {
		return errors.New("empty encoded CBOR item")
	}
	return Unmarshal(e.content, v)
}

// UnmarshalCBOR accepts #6.24(bstr) with a definite-length byte string whose content is
// one well-formed CBOR item.
func (e *EncodedCBOR) UnmarshalCBOR(data []byte) error {
	tag, err := readHead(data)
	if err != nil {
		return err
	}
	if tag.major != majorTag || tag.indefinite || tag.arg != 24 {
		return errors.New("expected an encoded CBOR data item #6.24(bstr)")
	}
	bs, err := readHead(data[tag.size:])
	if err != nil {
		return err
	}
	if bs.major != majorBytes || bs.indefinite {
		return errors.New("tag 24 must enclose a definite-length byte string")
	}
	start := tag.size + bs.size
	if bs.arg != uint64(len(data)-start) {
		return fmt.Errorf("tag 24 byte string length %d does not match the item", bs.arg)
	}
	content := data[start:]
	if err := decMode.Wellformed(content); err != nil {
		return fmt.Errorf("tag 24 content: %w", err)
	}
	raw := bytes.Clone(data)
	e.raw, e.content = raw, raw[start:]
	return nil
}
