package messages

import (
	"errors"
	"fmt"

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
func Unmarshal(data []byte, v any) error {
	if len(data) > MaxMessageSize {
		return ErrTooLarge
	}
	return decMode.Unmarshal(data, v)
}

// Marshal encodes v in preferred serialization.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// decodeAs decodes data into v and wraps any error with the structure's name.
func decodeAs(structure string, data []byte, v any) error {
	if err := Unmarshal(data, v); err != nil {
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
// number, tags 2 and 3 a byte string.
func builtinTagsOK(data []byte) error {
	for {
		h, err := readHead(data)
		if err != nil || h.major != majorTag {
			return nil
		}
		data = data[h.size:]
		if len(data) == 0 {
			return errTruncated
		}
		next := data[0]
		switch h.arg {
		case 0:
			if next>>5 != majorText {
				return errors.New("tag 0 must enclose a text string")
			}
		case 1:
			if next>>5 != majorUint && next>>5 != majorNeg && (next < 0xf9 || next > 0xfb) {
				return errors.New("tag 1 must enclose an integer or a floating-point number")
			}
		case 2, 3:
			if next>>5 != majorBytes {
				return errors.New("tags 2 and 3 must enclose a byte string")
			}
		}
	}
}
