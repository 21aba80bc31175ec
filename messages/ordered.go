package messages

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"

	"github.com/fxamacker/cbor/v2"
)

// MapKey is the kind of key mdoc maps use: text (name spaces, element identifiers) or
// integers (digest IDs, engagement and COSE labels).
type MapKey interface {
	~string | ~int64 | ~uint64 | ~int
}

// Map is a CBOR map that keeps its entries in the order they were decoded or added, so
// that re-encoding a received map reproduces its bytes. The zero value is an empty map.
//
// Entries are kept in two slices; a map of more than linearMap entries also keeps its
// positions sorted by key, so that lookups stay logarithmic in large maps.
type Map[K MapKey, V any] struct {
	keys []K
	vals []V
	idx  []int // positions in key order, when len(keys) > linearMap
}

// linearMap is the size up to which lookups compare every key.
const linearMap = 8

// Len returns the number of entries.
func (m *Map[K, V]) Len() int {
	if m == nil {
		return 0
	}
	return len(m.keys)
}

// find returns the position of k, or -1.
func (m *Map[K, V]) find(k K) int {
	if m.idx == nil {
		for i, x := range m.keys {
			if x == k {
				return i
			}
		}
		return -1
	}
	if p := m.lowerBound(k); p < len(m.idx) && m.keys[m.idx[p]] == k {
		return m.idx[p]
	}
	return -1
}

// lowerBound returns the first place in idx whose key is not less than k.
func (m *Map[K, V]) lowerBound(k K) int {
	lo, hi := 0, len(m.idx)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.keys[m.idx[mid]] < k {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// reindex rebuilds idx for the current keys and returns the position of a key that
// appears twice, or -1.
func (m *Map[K, V]) reindex() int {
	if len(m.keys) <= linearMap {
		m.idx = nil
		for i := 1; i < len(m.keys); i++ {
			for j := range i {
				if m.keys[j] == m.keys[i] {
					return i
				}
			}
		}
		return -1
	}
	idx := make([]int, len(m.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch ka, kb := m.keys[a], m.keys[b]; {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	m.idx = idx
	for i := 1; i < len(idx); i++ {
		if m.keys[idx[i]] == m.keys[idx[i-1]] {
			return idx[i]
		}
	}
	return -1
}

// Get returns the value for k.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if m != nil {
		if i := m.find(k); i >= 0 {
			return m.vals[i], true
		}
	}
	var zero V
	return zero, false
}

// Set adds k at the end, or replaces its value in place.
func (m *Map[K, V]) Set(k K, v V) {
	if i := m.find(k); i >= 0 {
		m.vals[i] = v
		return
	}
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
	switch {
	case m.idx != nil:
		// a new index rather than an insertion in place: a copy of the Map may share it
		p := m.lowerBound(k)
		idx := make([]int, 0, len(m.idx)+1)
		idx = append(append(append(idx, m.idx[:p]...), len(m.keys)-1), m.idx[p:]...)
		m.idx = idx
	case len(m.keys) > linearMap:
		m.reindex()
	}
}

// reserve makes room for n entries in an empty Map: for the Maps an encoder builds for
// itself, whose size it knows (a Map copied by value shares its spare room, so reserve
// only what nobody copies).
func (m *Map[K, V]) reserve(n int) {
	if m.keys == nil {
		m.keys, m.vals = make([]K, 0, n), make([]V, 0, n)
	}
}

// Delete removes k.
func (m *Map[K, V]) Delete(k K) {
	if m == nil {
		return
	}
	i := m.find(k)
	if i < 0 {
		return
	}
	m.keys = append(m.keys[:i:i], m.keys[i+1:]...)
	m.vals = append(m.vals[:i:i], m.vals[i+1:]...)
	m.idx = nil
	m.reindex()
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
		keys, vals := m.keys, m.vals
		for i, k := range keys {
			if !yield(k, vals[i]) {
				return
			}
		}
	}
}

// MarshalCBOR writes a definite-length map in insertion order.
func (m Map[K, V]) MarshalCBOR() ([]byte, error) { return m.appendCBOR(nil) }

// appendKey is appendValue for a map key, without boxing the usual key types.
func appendKey[K MapKey](dst []byte, k K) ([]byte, error) {
	switch x := any(k).(type) {
	case string:
		return append(appendHead(dst, majorText, uint64(len(x))), x...), nil
	case int64:
		return appendCBORInt(dst, x), nil
	case uint64:
		return appendHead(dst, majorUint, x), nil
	case int:
		return appendCBORInt(dst, int64(x)), nil
	}
	return appendValue(dst, any(k))
}

func (m Map[K, V]) appendCBOR(dst []byte) ([]byte, error) {
	dst = appendHead(dst, majorMap, uint64(len(m.keys)))
	var err error
	for i, k := range m.keys {
		if dst, err = appendKey(dst, k); err != nil {
			return nil, err
		}
		if dst, err = appendValue(dst, any(m.vals[i])); err != nil {
			return nil, fmt.Errorf("map value for %v: %w", k, err)
		}
	}
	return dst, nil
}

// UnmarshalCBOR reads a definite or indefinite-length map, keeping key order and
// refusing duplicate keys. A null or undefined value is refused unless V is
// cbor.RawMessage or any (it would otherwise read as V's zero value), and a []byte value
// must be a byte string (not an array of small integers).
func (m *Map[K, V]) UnmarshalCBOR(data []byte) error {
	var out Map[K, V]
	if err := out.decode(bytes.Clone(data), 0); err != nil {
		return err
	}
	*m = out
	return nil
}

func (m *Map[K, V]) decode(data []byte, t trust) error {
	n, err := m.decodePrefix(data, t)
	if err != nil {
		return err
	}
	if n != len(data) {
		*m = Map[K, V]{}
		return errors.New("trailing bytes after map")
	}
	return nil
}

// decodePrefix decodes the map at the start of data and returns its length.
func (m *Map[K, V]) decodePrefix(data []byte, t trust) (int, error) {
	h, err := readMapHead(data)
	if err != nil {
		return 0, err
	}
	n := 0
	if !h.indefinite {
		// every pair takes two bytes at least: a count beyond that is refused below
		n = int(min(h.arg, uint64(len(data)-h.size)/2))
	}
	keys, vals := make([]K, 0, n), make([]V, 0, n)
	vt := t.value()
	off := h.size
	for i := uint64(0); h.indefinite || i < h.arg; i++ {
		if h.indefinite {
			if off >= len(data) {
				return 0, duplicateOr(keys, errTruncated)
			}
			if data[off] == 0xff {
				off++
				break
			}
			if i >= MaxMapPairs {
				return 0, duplicateOr(keys, errors.New("map exceeds the pair limit"))
			}
		}
		k, rest, err := decodeKey[K](data[off:])
		if err != nil {
			return 0, duplicateOr(keys, fmt.Errorf("map key: %w", err))
		}
		off = len(data) - len(rest)
		if len(keys) < linearMap && slices.Contains(keys, k) {
			// larger maps are checked once decoded, or on an error
			return 0, fmt.Errorf("duplicate map key %v", k)
		}
		keys = append(keys, k)
		var zero V
		vals = append(vals, zero)
		if off, err = decodeMapValue(data, off, vt, &vals[len(vals)-1]); err != nil {
			return 0, duplicateOr(keys, fmt.Errorf("map value for %v: %w", k, err))
		}
	}
	if len(keys) == 0 {
		keys, vals = nil, nil
	}
	out := Map[K, V]{keys: keys, vals: vals}
	if out.reindex() >= 0 {
		return 0, duplicateOr(keys, nil)
	}
	*m = out
	return off, nil
}

// duplicateOr is the error of a map decoded up to keys and then refused with err: a
// decoder that reads the keys in order refuses the first key that repeats one before it
// as soon as it reads it, before anything that follows.
func duplicateOr[K MapKey](keys []K, err error) error {
	seen := make(map[K]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			return fmt.Errorf("duplicate map key %v", k)
		}
		seen[k] = struct{}{}
	}
	return err
}

// decodeMapValue decodes the value at data[off:] into v as Map.UnmarshalCBOR always has
// (raw values checked with itemLength, everything else as decMode.UnmarshalFirst would),
// and returns the offset after it. t is what is known of the value.
func decodeMapValue[V any](data []byte, off int, t trust, v *V) (int, error) {
	rest := data[off:]
	if isNullOrUndefined(rest) && !nullable(v) {
		return 0, errors.New("null")
	}
	switch p := any(v).(type) {
	case *cbor.RawMessage:
		// slice the value after a structural check, decode it later
		var n int
		var err error
		if t&trustItem != 0 {
			n, err = trustedLength(rest)
		} else {
			n, err = itemLength(rest)
		}
		if err != nil {
			return 0, err
		}
		*p = rest[:n:n]
		return off + n, nil
	case *[]byte:
		if len(rest) == 0 || rest[0]>>5 != majorBytes {
			return 0, errNotBytes
		}
		// a byte string (definite or of definite chunks) is well-formed as itself
		n, err := wellformedFirst(rest)
		if err != nil {
			return 0, err
		}
		return off + n, decodeBytes(rest[:n], p)
	case *bool:
		if len(rest) > 0 && (rest[0] == 0xf4 || rest[0] == 0xf5) {
			*p = rest[0] == 0xf5
			return off + 1, nil
		}
	case *int64:
		if h, err := readHead(rest); err == nil && !h.indefinite && h.arg <= math.MaxInt64 {
			switch h.major {
			case majorUint:
				*p = int64(h.arg)
				return off + h.size, nil
			case majorNeg:
				*p = -1 - int64(h.arg)
				return off + h.size, nil
			}
		}
	case *[]EncodedCBOR:
		n, err := firstItem(rest, t)
		if err != nil {
			return 0, err
		}
		return off + n, decodeOwnSlice(rest[:n], t|trustDecMode, p)
	case ownDecoder:
		// what decMode.UnmarshalFirst does before it calls UnmarshalCBOR
		if pd, ok := p.(prefixDecoder); ok && t&trustDecMode != 0 {
			// known to be well-formed: the map finds its own end
			item := afterSelfDescribed(rest)
			if err := builtinTagsOK(item); err != nil {
				return 0, err
			}
			n, err := pd.decodePrefix(item, t.inner())
			return off + len(rest) - len(item) + n, err
		}
		n, err := firstItem(rest, t)
		if err != nil {
			return 0, err
		}
		item := afterSelfDescribed(rest[:n])
		if err := builtinTagsOK(item); err != nil {
			return 0, err
		}
		return off + n, p.decode(item, t.inner()|trustDecMode)
	}
	after, err := decMode.UnmarshalFirst(rest, v)
	if err != nil {
		return 0, err
	}
	return len(data) - len(after), nil
}

// firstItem returns the length of the first item of data, checked as
// decMode.UnmarshalFirst checks it unless t says that is known.
func firstItem(data []byte, t trust) (int, error) {
	if t&trustDecMode != 0 {
		return trustedLength(data)
	}
	return wellformedFirst(data)
}

// decodeKey reads a text or integer map key directly from its head, and any other key
// type through the decoder. It returns the data after the key.
func decodeKey[K MapKey](data []byte) (K, []byte, error) {
	var k K
	h, err := readHead(data)
	if err != nil {
		return k, nil, err
	}
	switch p := any(&k).(type) {
	case *string:
		if h.major == majorText && !h.indefinite {
			end, err := stringEnd(data, 0, h, majorText)
			if err != nil {
				return k, nil, err
			}
			*p = string(data[h.size:end])
			return k, data[end:], nil
		}
	case *int64:
		switch {
		case h.indefinite:
		case h.major == majorUint && h.arg <= math.MaxInt64:
			*p = int64(h.arg)
			return k, data[h.size:], nil
		case h.major == majorNeg && h.arg <= math.MaxInt64:
			*p = -1 - int64(h.arg)
			return k, data[h.size:], nil
		}
	case *uint64:
		if h.major == majorUint && !h.indefinite {
			*p = h.arg
			return k, data[h.size:], nil
		}
	}
	return decodeKeySlow[K](data)
}

// decodeKeySlow reads a key through the decoder.
func decodeKeySlow[K MapKey](data []byte) (K, []byte, error) {
	var k K
	rest, err := decMode.UnmarshalFirst(data, &k)
	return k, rest, err
}

// prefixDecoder is implemented by the decoders that can find the end of their item.
type prefixDecoder interface {
	decodePrefix(data []byte, t trust) (int, error)
}

// topMap reports whether decode runs itemLength on every value.
func (m *Map[K, V]) topMap() bool {
	_, raw := any((*V)(nil)).(*cbor.RawMessage)
	return raw
}
