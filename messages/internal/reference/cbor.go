package reference

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

var decMode cbor.DecMode

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
}

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

// decodeAs decodes data into v and wraps any error with the structure's name.
func decodeAs(structure string, data []byte, v any) error {
	if err := Unmarshal(data, v); err != nil {
		return &DecodeError{Structure: structure, Err: err}
	}
	return nil
}
