package reference

import (
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// MapKey is the kind of key mdoc maps use: text (name spaces, element identifiers) or
// integers (digest IDs, engagement and COSE labels).
type MapKey interface {
	~string | ~int64 | ~uint64 | ~int
}

// Map is a CBOR map that keeps its entries in the order they were decoded or added. The
// zero value is an empty map.
type Map[K MapKey, V any] struct {
	keys []K
	vals map[K]V
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int {
	if m == nil {
		return 0
	}
	return len(m.keys)
}

// Get returns the value for k.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if m == nil || m.vals == nil {
		var zero V
		return zero, false
	}
	v, ok := m.vals[k]
	return v, ok
}

// Set adds k at the end, or replaces its value in place.
func (m *Map[K, V]) Set(k K, v V) {
	if m.vals == nil {
		m.vals = make(map[K]V)
	}
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

// Keys returns the keys in order. Callers must not modify the slice.
func (m *Map[K, V]) Keys() []K {
	if m == nil {
		return nil
	}
	return m.keys
}

// All iterates over the entries in order.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m == nil {
			return
		}
		for _, k := range m.keys {
			if !yield(k, m.vals[k]) {
				return
			}
		}
	}
}

// UnmarshalCBOR reads a definite or indefinite-length map, keeping key order and
// refusing duplicate keys. A null or undefined value is refused unless V is
// cbor.RawMessage or any (it would otherwise read as V's zero value), and a []byte value
// must be a byte string (not an array of small integers).
func (m *Map[K, V]) UnmarshalCBOR(data []byte) error {
	h, err := readHead(data)
	if err != nil {
		return err
	}
	if h.major != majorMap {
		return errors.New("expected a CBOR map")
	}
	rest := data[h.size:]
	n := h.arg
	if !h.indefinite && n > MaxMapPairs {
		return errors.New("map exceeds the pair limit")
	}
	m.keys, m.vals = nil, make(map[K]V)
	for i := uint64(0); h.indefinite || i < n; i++ {
		if h.indefinite {
			if len(rest) == 0 {
				return errTruncated
			}
			if rest[0] == 0xff {
				rest = rest[1:]
				break
			}
			if i >= MaxMapPairs {
				return errors.New("map exceeds the pair limit")
			}
		}
		var k K
		if rest, err = decodeKey(rest, &k); err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		if _, dup := m.vals[k]; dup {
			return fmt.Errorf("duplicate map key %v", k)
		}
		var v V
		if isNullOrUndefined(rest) && !nullable(&v) {
			return fmt.Errorf("map value for %v: null", k)
		}
		if _, isBytes := any(&v).(*[]byte); isBytes && (len(rest) == 0 || rest[0]>>5 != majorBytes) {
			return fmt.Errorf("map value for %v: %w", k, errNotBytes)
		}
		if raw, ok := any(&v).(*cbor.RawMessage); ok {
			// fast path: slice the value after a structural check, decode it later
			n, err := itemLength(rest)
			if err != nil {
				return fmt.Errorf("map value for %v: %w", k, err)
			}
			*raw = append(cbor.RawMessage(nil), rest[:n]...)
			rest = rest[n:]
		} else if rest, err = decMode.UnmarshalFirst(rest, &v); err != nil {
			return fmt.Errorf("map value for %v: %w", k, err)
		}
		m.keys = append(m.keys, k)
		m.vals[k] = v
	}
	if len(rest) != 0 {
		return errors.New("trailing bytes after map")
	}
	return nil
}

// decodeKey reads a text or integer map key directly from its head, and any other key
// type through the decoder.
func decodeKey[K MapKey](data []byte, k *K) ([]byte, error) {
	h, err := readHead(data)
	if err != nil {
		return nil, err
	}
	switch p := any(k).(type) {
	case *string:
		if h.major == majorText && !h.indefinite {
			end, err := stringEnd(data, 0, h, majorText)
			if err != nil {
				return nil, err
			}
			*p = string(data[h.size:end])
			return data[end:], nil
		}
	case *int64:
		switch {
		case h.indefinite:
		case h.major == majorUint && h.arg <= math.MaxInt64:
			*p = int64(h.arg)
			return data[h.size:], nil
		case h.major == majorNeg && h.arg <= math.MaxInt64:
			*p = -1 - int64(h.arg)
			return data[h.size:], nil
		}
	case *uint64:
		if h.major == majorUint && !h.indefinite {
			*p = h.arg
			return data[h.size:], nil
		}
	}
	return decMode.UnmarshalFirst(data, k)
}

func (m *Map[K, V]) ownMap() {}
