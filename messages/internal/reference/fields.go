package reference

import (
	"errors"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// fieldMap decodes a map with known keys into typed fields and keeps the others, for the
// extensible structures of the CDDL ("* tstr => any", "* int => any").
//
// Values are decoded strictly where the CBOR library is lenient:
//
//   - null and undefined are refused ("<structure>: <key>: null") unless the destination
//     is a *cbor.RawMessage, which keeps the null visibly (an element value or an
//     extension may legitimately be null). The library would otherwise leave the Go zero
//     value in place, so {"status": null} would read as status 0. Optional fields are
//     optional by absence in the CDDL ("? key: T"), never by null, so pointer
//     destinations get no exemption. A structure that tolerates a null for one key (the
//     pyMDOC deviceKey) checks it with null() before calling req/opt.
//   - a *[]byte destination takes a byte string only (major type 2, definite or
//     indefinite), never an array of small integers.
type fieldMap[K MapKey] struct {
	structure string
	m         Map[K, cbor.RawMessage]
	used      map[K]bool
	err       error
}

func newFieldMap[K MapKey](structure string, data []byte) (*fieldMap[K], error) {
	f := &fieldMap[K]{structure: structure, used: map[K]bool{}}
	if err := f.m.UnmarshalCBOR(data); err != nil {
		return nil, fmt.Errorf("%s: %w", structure, err)
	}
	return f, nil
}

// req decodes a mandatory field.
func (f *fieldMap[K]) req(key K, v any) {
	if f.err != nil {
		return
	}
	if !f.opt(key, v) && f.err == nil {
		f.err = fmt.Errorf("%s: missing %v", f.structure, key)
	}
}

// opt decodes an optional field and reports whether it was present.
func (f *fieldMap[K]) opt(key K, v any) bool {
	if f.err != nil {
		return false
	}
	raw, ok := f.m.Get(key)
	if !ok {
		return false
	}
	f.used[key] = true
	if isNullOrUndefined(raw) && !nullable(v) {
		f.err = fmt.Errorf("%s: %v: null", f.structure, key)
		return false
	}
	if err := decodeValue(raw, v); err != nil {
		f.err = fmt.Errorf("%s: %v: %w", f.structure, key, err)
		return false
	}
	return true
}

// null reports whether key is present with a null or undefined value, and if so marks it
// consumed. It is for the rare key where a null is tolerated and flagged.
func (f *fieldMap[K]) null(key K) bool {
	if f.err != nil {
		return false
	}
	raw, ok := f.m.Get(key)
	if !ok || !isNullOrUndefined(raw) {
		return false
	}
	f.used[key] = true
	return true
}

// rest returns the fields no req/opt call consumed, in received order.
func (f *fieldMap[K]) rest() Map[K, cbor.RawMessage] {
	var out Map[K, cbor.RawMessage]
	for k, v := range f.m.All() {
		if !f.used[k] {
			out.Set(k, v)
		}
	}
	return out
}

// isNullOrUndefined reports whether the data item at the start of data is CBOR null or undefined,
// looking through self-described CBOR tags (55799), which the CBOR library strips before
// it treats null as "leave the zero value".
func isNullOrUndefined(data []byte) bool {
	for {
		h, err := readHead(data)
		if err != nil {
			return false
		}
		if h.major == majorTag && !h.indefinite && h.arg == tagSelfDescribed {
			data = data[h.size:]
			continue
		}
		return len(data) > 0 && (data[0] == 0xf6 || data[0] == 0xf7)
	}
}

const tagSelfDescribed = 55799

// nullable reports whether a null may be decoded into v: only destinations that keep the
// value as received (raw CBOR, or an interface that then holds nil).
func nullable(v any) bool {
	switch v.(type) {
	case *cbor.RawMessage, *any:
		return true
	}
	return false
}

var errNotBytes = errors.New("expected a byte string")

// bstr is a byte string decoded strictly: major type 2 only (definite or, per the
// decode mode, indefinite length). The CBOR library would also fill a []byte from an
// array of small unsigned integers, or from null (as nil).
type bstr []byte

// UnmarshalCBOR accepts a byte string only. An empty byte string decodes as a non-nil
// empty slice, so that "present and empty" and "absent" stay distinct.
func (b *bstr) UnmarshalCBOR(data []byte) error {
	if len(data) == 0 || data[0]>>5 != majorBytes {
		return errNotBytes
	}
	if h, err := readHead(data); err == nil && !h.indefinite {
		end, err := stringEnd(data, 0, h, majorBytes)
		if err != nil {
			return err
		}
		if end != len(data) {
			return errTrailingBytes
		}
		*b = append([]byte{}, data[h.size:end]...)
		return nil
	}
	var v []byte
	if err := decMode.Unmarshal(data, &v); err != nil {
		return err
	}
	if v == nil {
		v = []byte{}
	}
	*b = v
	return nil
}

// decodeBytes decodes a strict byte string into *dst.
func decodeBytes(data []byte, dst *[]byte) error {
	var b bstr
	if err := b.UnmarshalCBOR(data); err != nil {
		return err
	}
	*dst = b
	return nil
}

// decodeValue decodes one data item into v, with *[]byte destinations strict. Text,
// integers, booleans, raw items and this package's own types are read directly from
// their heads; everything else goes through the decode mode. Either way data must be
// exactly one item.
func decodeValue(data []byte, v any) error {
	h, err := readHead(data)
	if err != nil {
		return err
	}
	switch p := v.(type) {
	case *[]byte:
		return decodeBytes(data, p)
	case *string:
		if h.major == majorText && !h.indefinite {
			end, err := stringEnd(data, 0, h, majorText)
			if err != nil {
				return err
			}
			if end != len(data) {
				return errTrailingBytes
			}
			*p = string(data[h.size:end])
			return nil
		}
	case *uint64:
		if h.major == majorUint && !h.indefinite && h.size == len(data) {
			*p = h.arg
			return nil
		}
	case *int64:
		if !h.indefinite && h.size == len(data) && h.arg <= math.MaxInt64 {
			switch h.major {
			case majorUint:
				*p = int64(h.arg)
				return nil
			case majorNeg:
				*p = -1 - int64(h.arg)
				return nil
			}
		}
	case *bool:
		if len(data) == 1 && (data[0] == 0xf4 || data[0] == 0xf5) {
			*p = data[0] == 0xf5
			return nil
		}
	case *cbor.RawMessage:
		n, err := itemLength(data)
		if err != nil {
			return err
		}
		if n != len(data) {
			return errTrailingBytes
		}
		*p = append((*p)[:0], data...)
		return nil
	case cbor.Unmarshaler:
		if isOwnType(v) {
			// our own decoders parse from heads and refuse trailing bytes themselves
			return p.UnmarshalCBOR(data)
		}
	}
	return decMode.Unmarshal(data, v)
}

var errTrailingBytes = errors.New("trailing bytes after the data item")

// isOwnType reports whether v is a pointer to one of this package's types, whose
// UnmarshalCBOR parses from heads and checks what it is given.
func isOwnType(v any) bool {
	switch v.(type) {
	case *Engagement, *OriginInfo, *Capabilities,
		*DeviceRequest, *DocRequest, *ItemsRequest, *DeviceRequestInfo,
		*DeviceResponse, *Document, *IssuerSigned, *IssuerSignedItem, *DeviceSigned, *DeviceAuth,
		*MobileSecurityObject, *DeviceKeyInfo, *ValidityInfo, *COSEKey, *CoseSign1, *CoseMac0,
		*EncodedCBOR, *TDate, *FullDate, *SessionEstablishment, *SessionData, *SessionTranscript, *bstr:
		return true
	}
	_, isMap := v.(ownMap)
	return isMap
}

// ownMap marks Map instantiations.
type ownMap interface{ ownMap() }
