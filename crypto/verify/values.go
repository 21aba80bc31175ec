package verify

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/messages"
)

// maxValueDepth bounds the recursion of JSONValue; the decode mode already bounds nesting.
const maxValueDepth = 64

// JSONValue converts a CBOR element value into a JSON-friendly value: byte strings become
// base64 (standard encoding), tdate and full-date become their strings, maps get string
// keys. Undecodable input yields its base64.
func JSONValue(raw []byte) any {
	var v any
	if err := messages.Unmarshal(raw, &v); err != nil {
		return base64.StdEncoding.EncodeToString(raw)
	}
	return jsonify(v, 0)
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
