package verify

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/messages"
)

// maxValueDepth bounds the recursion of JSONValue; the decode mode already bounds nesting.
const maxValueDepth = 64

// JSONValue converts a CBOR element value into a JSON-friendly value: byte strings become
// base64 (standard encoding), tdate and full-date become their strings, maps get string
// keys. Undecodable input yields its base64.
func JSONValue(raw []byte) any {
	if v, ok := plainJSONValue(raw); ok {
		return v
	}
	return genericJSONValue(raw)
}

// genericJSONValue is JSONValue through a full decode of raw.
func genericJSONValue(raw []byte) any {
	var v any
	if err := messages.Unmarshal(raw, &v); err != nil {
		return base64.StdEncoding.EncodeToString(raw)
	}
	return jsonify(v, 0)
}

// plainJSONValue is JSONValue for the element values most documents are made of,
// without a generic decode: a definite-length text or byte string, an integer that fits
// an int64, a boolean, null, and a full-date (tag 1004) text. ok is false for anything
// else, which JSONValue then decodes in full; where ok, the value is what that gives.
func plainJSONValue(raw []byte) (v any, ok bool) {
	major, arg, n, ok := plainHead(raw)
	if !ok || len(raw) > messages.MaxMessageSize {
		return nil, false
	}
	switch major {
	case 0:
		if arg > math.MaxInt64 || n != len(raw) {
			return nil, false
		}
		return int64(arg), true
	case 1:
		if arg > math.MaxInt64 || n != len(raw) {
			return nil, false
		}
		return -1 - int64(arg), true
	case 2:
		if uint64(len(raw)-n) != arg {
			return nil, false
		}
		return base64.StdEncoding.EncodeToString(raw[n:]), true
	case 3:
		if uint64(len(raw)-n) != arg || !utf8.Valid(raw[n:]) {
			return nil, false
		}
		return string(raw[n:]), true
	case 6:
		if arg != 1004 {
			return nil, false
		}
		if m, l, tn, ok := plainHead(raw[n:]); ok && m == 3 && uint64(len(raw)-n-tn) == l && utf8.Valid(raw[n+tn:]) {
			return string(raw[n+tn:]), true
		}
		return nil, false
	case 7:
		if len(raw) != 1 {
			return nil, false
		}
		switch raw[0] {
		case 0xf4:
			return false, true
		case 0xf5:
			return true, true
		case 0xf6:
			return nil, true
		}
	}
	return nil, false
}

// plainHead reads a definite-length CBOR head: major type, argument and head size.
func plainHead(b []byte) (major byte, arg uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, 0, false
	}
	major, ai := b[0]>>5, b[0]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), 1, true
	case ai == 24 && len(b) >= 2:
		if major == 7 {
			return 0, 0, 0, false // simple values and floats: the generic path
		}
		return major, uint64(b[1]), 2, true
	case ai == 25 && len(b) >= 3:
		return major, uint64(binary.BigEndian.Uint16(b[1:])), 3, true
	case ai == 26 && len(b) >= 5:
		return major, uint64(binary.BigEndian.Uint32(b[1:])), 5, true
	case ai == 27 && len(b) >= 9:
		return major, binary.BigEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, 0, false
}

func jsonify(v any, depth int) any {
	if depth > maxValueDepth {
		return nil
	}
	switch x := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case string, bool, nil, int64, uint64, float64, float32:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case big.Int:
		return x.String()
	case *big.Int:
		return x.String()
	case cbor.Tag:
		switch x.Number {
		case 0, 1004, 1005, 32:
			if s, ok := x.Content.(string); ok {
				return s
			}
		case 24:
			if b, ok := x.Content.([]byte); ok {
				return map[string]any{"tag24": JSONValue(b)}
			}
		}
		return map[string]any{"tag": x.Number, "value": jsonify(x.Content, depth+1)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonify(e, depth+1)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[keyString(k)] = jsonify(e, depth+1)
		}
		return out
	case cbor.SimpleValue:
		return fmt.Sprintf("simple(%d)", x)
	default:
		return fmt.Sprint(x)
	}
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	default:
		return fmt.Sprint(x)
	}
}
