package messages

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Decoding limits. They bound the memory and stack any single message can cost.
const (
	// MaxMessageSize is the largest CBOR message any decoder accepts (a DeviceResponse with
	// several portraits and a long certificate chain stays well below it).
	MaxMessageSize = 4 << 20
	// MaxNesting bounds the depth of arrays, maps and tags together.
	MaxNesting = 24
	// MaxArrayElements bounds every array.
	MaxArrayElements = 16384
	// MaxMapPairs bounds every map.
	MaxMapPairs = 16384
)

var (
	decMode cbor.DecMode
	encMode cbor.EncMode
)

func init() {
	var err error
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  MaxNesting,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
		// 18013-5 does not forbid indefinite lengths on input and real wallets are lenient
		// about encodings; we accept them and never emit them.
		IndefLength: cbor.IndefLengthAllowed,
		TagsMd:      cbor.TagsAllowed,
		IntDec:      cbor.IntDecConvertSignedOrBigInt,
		// Element values decode into map[any]any only where a caller asks for it; the default
		// for untyped maps is map[any]any so that int and text keys both survive.
		DefaultMapType: nil,
		UTF8:           cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	encMode, err = cbor.EncOptions{
		Sort:          cbor.SortNone, // struct fields in declaration order, Map in insertion order
		ShortestFloat: cbor.ShortestFloat16,
		IndefLength:   cbor.IndefLengthForbidden,
		Time:          cbor.TimeRFC3339,
		TimeTag:       cbor.EncTagRequired,
	}.EncMode()
	if err != nil {
		panic(err)
	}
}

// DecMode returns the shared, immutable decode mode with mdocgate's limits.
func DecMode() cbor.DecMode { return decMode }

// EncMode returns the shared encode mode (preferred serialization, definite lengths).
func EncMode() cbor.EncMode { return encMode }

// ErrTooLarge is returned for input over MaxMessageSize.
var ErrTooLarge = errors.New("messages: CBOR input exceeds the size limit")

// DecodeError names the structure that could not be decoded and why.
type DecodeError struct {
	Structure string
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("messages: decoding %s: %v", e.Structure, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Unmarshal decodes exactly one CBOR data item from data into v with the shared limits.
// Trailing bytes are an error.
//
// This package's own types are decoded in one pass over a private copy of data, checked
// as the decode mode checks any input, and left unchanged when data does not decode;
// other types go through the decode mode.
func Unmarshal(data []byte, v any) error {
	return unmarshal(data, v, false, false)
}

// unmarshal is Unmarshal; fresh says v points to a zero value that may be decoded into
// directly (the caller discards it on error); borrow lets this package's types keep
// slices of data instead of a private copy (see the Decode*Borrowing functions).
func unmarshal(data []byte, v any, fresh, borrow bool) error {
	if len(data) > MaxMessageSize {
		return ErrTooLarge
	}
	d, own := v.(ownDecoder)
	_, generic := v.(decModeDecoder)
	if !own || generic || !fresh && reflect.ValueOf(v).IsNil() {
		return decMode.Unmarshal(data, v)
	}
	t, err := wellformedFor(data, v)
	if err != nil {
		return err
	}
	item := afterSelfDescribed(data)
	if err := builtinTagsOK(item); err != nil {
		return err
	}
	if _, keeps := v.(keepsNothing); !keeps && !borrow {
		item = bytes.Clone(item)
	}
	if fresh {
		return d.decode(item, t)
	}
	out := reflect.New(reflect.TypeOf(v).Elem())
	if err := out.Interface().(ownDecoder).decode(item, t); err != nil {
		return err
	}
	reflect.ValueOf(v).Elem().Set(out.Elem())
	return nil
}

// wellformedFor is wellformed(data) for decoding into v, one of this package's types.
// A structure whose decoder checks every value of its map with itemLength has that done
// in the same walk, and gets trustValues. When a value breaks itemLength's rules, the
// check is left to the decoder, whose error names the field.
func wellformedFor(data []byte, v any) (trust, error) {
	if m, ok := v.(fieldMapDecoder); ok && m.topMap() && len(data) > 0 && data[0]>>5 == majorMap {
		if n, err := walk(data, 0, rulesDecMode|rulesItem, 0, -1); err == nil && n == len(data) {
			return trustDecMode | trustValues, nil
		}
	}
	if err := wellformed(data); err != nil {
		return 0, err
	}
	return trustDecMode, nil
}

// trust records which checks an item handed to an internal decoder already passed as part
// of an enclosing item, so that the decoder skips them and runs only the others. Each
// decoder's decode(data, t) does what its UnmarshalCBOR did before, minus what t implies.
type trust uint8

const (
	// trustDecMode: the item passes wellformed (the decode mode's rules).
	trustDecMode trust = 1 << iota
	// trustItem: the item passes itemLength (its nesting counted on every item, UTF-8).
	trustItem
	// trustValues: the item is a map whose every value passes itemLength.
	trustValues
)

// structural reports whether the item is known to be well-formed, so that lengths can be
// found without checks.
func (t trust) structural() bool { return t&(trustDecMode|trustItem) != 0 }

// inner is the trust of an item enclosed in an item of trust t (an array element, a tag's
// content); value that of a map value.
func (t trust) inner() trust { return t &^ trustValues }

func (t trust) value() trust {
	if t&trustValues != 0 {
		t |= trustItem
	}
	return t &^ trustValues
}

// ownDecoder is implemented by this package's types. decode decodes data, which the
// decoded value may share (it is private to the decoder's caller), knowing that data
// passes the checks t names.
type ownDecoder interface {
	decode(data []byte, t trust) error
}

// decModeDecoder marks the types whose decoder is the decode mode's (SessionTranscript):
// Unmarshal leaves them to it.
type decModeDecoder interface{ viaDecMode() }

// keepsNothing marks the types whose decoded value shares nothing with its input (the
// dates): Unmarshal decodes them without a private copy.
type keepsNothing interface{ keepsNothing() }

// fieldMapDecoder is implemented by the structures decoded through a fieldMap (and Map
// with raw values), which run itemLength on every value of their top-level map.
type fieldMapDecoder interface {
	topMap() bool
}

// Marshal encodes v in preferred serialization.
func Marshal(v any) ([]byte, error) {
	if _, own := v.(appender); !own {
		return appendValue(nil, v)
	}
	return encodeScratch(v, func(enc []byte) []byte { return append(make([]byte, 0, len(enc)), enc...) })
}

// MarshalTransient encodes v as Marshal does into a scratch buffer and hands the encoding
// to use, returning what use returns. The encoding is valid only during use, which must
// not keep it: a sender that encrypts a message so skips a copy of it.
func MarshalTransient(v any, use func(enc []byte) ([]byte, error)) ([]byte, error) {
	var useErr error
	out, err := encodeScratch(v, func(enc []byte) []byte {
		var res []byte
		res, useErr = use(enc)
		return res
	})
	if err != nil {
		return nil, err
	}
	return out, useErr
}

// encodeScratch encodes v into a pooled scratch buffer and hands the encoding to keep,
// which copies what it needs: a message is then copied once at its final size rather
// than grown (and cleared and copied) step by step, as one with a portrait would be.
func encodeScratch(v any, keep func(enc []byte) []byte) ([]byte, error) {
	bp := marshalBuffers.Get().(*[]byte)
	out, err := appendValue((*bp)[:0], v)
	var res []byte
	if err == nil {
		res = keep(out)
	}
	if cap(out) <= maxPooledBuffer {
		*bp = out[:0]
		marshalBuffers.Put(bp)
	}
	return res, err
}

// Scratch buffers of Marshal: big enough for a session message, and never kept when a
// message needed more than maxPooledBuffer.
const (
	pooledBufferSize = 16 << 10
	maxPooledBuffer  = 256 << 10
)

var marshalBuffers = sync.Pool{New: func() any { b := make([]byte, 0, pooledBufferSize); return &b }}

// decodeAs decodes data into v, a pointer to a zero value, and wraps any
// error with the structure's name.
func decodeAs(structure string, data []byte, v any) error {
	return decodeAsFrom(structure, data, v, false)
}

// decodeAsFrom is decodeAs; borrow lets the result keep slices of data.
func decodeAsFrom(structure string, data []byte, v any, borrow bool) error {
	if err := unmarshal(data, v, true, borrow); err != nil {
		return &DecodeError{Structure: structure, Err: err}
	}
	return nil
}

// mustMarshal is for values whose encoding cannot fail (fixed-shape literals).
func mustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// afterSelfDescribed returns data without its leading self-described CBOR tags (55799),
// which the decode mode strips before it looks at an item.
func afterSelfDescribed(data []byte) []byte {
	for {
		h, err := readHead(data)
		if err != nil || h.major != majorTag || h.indefinite || h.arg != tagSelfDescribed {
			return data
		}
		data = data[h.size:]
	}
}

// builtinTagsOK checks the leading tags of data as the decode mode does before it
// decodes an item, whatever its destination: tag 0 must enclose a text string, tag 1 a
// number, tags 2 and 3 a byte string. The error is the decode mode's.
func builtinTagsOK(data []byte) error {
	for item := data; ; {
		h, err := readHead(item)
		if err != nil || h.major != majorTag {
			return nil
		}
		item = item[h.size:]
		if len(item) == 0 {
			return errTruncated
		}
		next := item[0]
		ok := true
		switch h.arg {
		case 0:
			ok = next>>5 == majorText
		case 1:
			ok = next>>5 == majorUint || next>>5 == majorNeg || next >= 0xf9 && next <= 0xfb
		case 2, 3:
			ok = next>>5 == majorBytes
		}
		if !ok {
			var raw cbor.RawMessage
			if _, err := decMode.UnmarshalFirst(data, &raw); err != nil {
				return err
			}
			return fmt.Errorf("tag %d does not admit its content", h.arg)
		}
	}
}

// unmarshalOwn is the UnmarshalCBOR of this package's types: v is decoded from a private
// copy of data, and changed only when data decodes.
func unmarshalOwn[T any, P interface {
	*T
	ownDecoder
}](v P, data []byte) error {
	var out T
	if err := P(&out).decode(bytes.Clone(data), 0); err != nil {
		return err
	}
	*v = out
	return nil
}

// decodeOwnSlice decodes an array of one of this package's types as the decode mode
// decodes it into a Go slice, with each element decoded directly; an item that is not a
// plain array (a tagged one, a null) goes through the decode mode.
func decodeOwnSlice[T any, P interface {
	*T
	ownDecoder
}](raw []byte, t trust, dst *[]T) error {
	if t&trustDecMode == 0 {
		if err := wellformed(raw); err != nil {
			return err
		}
		t |= trustDecMode
	}
	var buf [16][]byte
	items, ok, err := arrayItems(raw, t, buf[:0])
	if !ok {
		return decMode.Unmarshal(raw, dst)
	}
	if err != nil {
		return err
	}
	out := make([]T, len(items))
	for i, it := range items {
		if err := P(&out[i]).decode(it, t.inner()); err != nil {
			return err
		}
	}
	*dst = out
	return nil
}
