package messages

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// fieldMap decodes a map with known keys into typed fields and keeps the others, for the
// extensible structures of the CDDL ("* tstr => any", "* int => any").
//
// The map is split once into (key, value) pairs that are sub-slices of the input; every
// value is checked with itemLength (unless an enclosing check implies it) and duplicate
// keys are refused. Values are then decoded strictly where the CBOR library is lenient:
//
//   - null and undefined are refused ("<structure>: <key>: null") unless the destination
//     keeps raw CBOR (cbor.RawMessage), which keeps the null visibly (an element value or
//     an extension may legitimately be null). The library would otherwise leave the Go
//     zero value in place, so {"status": null} would read as status 0. Optional fields
//     are optional by absence in the CDDL ("? key: T"), never by null, so pointer
//     destinations get no exemption. A structure that tolerates a null for one key (the
//     pyMDOC deviceKey) checks it with null() before reading it.
//   - a []byte destination takes a byte string only (major type 2, definite or
//     indefinite), never an array of small integers.
//
// A fieldMap is meant to live on the stack: K is string or int64.
type fieldMap[K MapKey] struct {
	structure string
	t         trust // of every value
	n         int
	small     [12]field
	more      []field
	seen      map[string]struct{} // duplicate detection for large maps
	err       error
}

// field is one pair of the map. Text keys are kept as the bytes received, integer keys
// as their value.
type field struct {
	text []byte
	num  int64
	raw  []byte
	used bool
}

// smallFieldMap is the size up to which duplicate keys are found by comparing with
// every key before.
const smallFieldMap = 16

func (f *fieldMap[K]) at(i int) *field {
	if i < len(f.small) {
		return &f.small[i]
	}
	return &f.more[i-len(f.small)]
}

func (f *fieldMap[K]) add(fl field) {
	if f.n < len(f.small) {
		f.small[f.n] = fl
	} else {
		f.more = append(f.more, fl)
	}
	f.n++
}

// init splits data, a map, into its pairs, with the checks Map[K, cbor.RawMessage] makes.
func (f *fieldMap[K]) init(structure string, data []byte, t trust) error {
	f.structure = structure
	if err := f.split(data, t); err != nil {
		return fmt.Errorf("%s: %w", structure, err)
	}
	return nil
}

func (f *fieldMap[K]) split(data []byte, t trust) error {
	h, err := readMapHead(data)
	if err != nil {
		return err
	}
	checked := t&(trustItem|trustValues) != 0
	f.t = t.value() | trustItem
	off := h.size
	for i := uint64(0); h.indefinite || i < h.arg; i++ {
		if h.indefinite {
			if off >= len(data) {
				return errTruncated
			}
			if data[off] == 0xff {
				off++
				break
			}
			if i >= MaxMapPairs {
				return errors.New("map exceeds the pair limit")
			}
		}
		var fl field
		if off, err = f.key(data, off, &fl); err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		if f.duplicate(&fl) {
			return fmt.Errorf("duplicate map key %v", fl.display())
		}
		var n int
		if checked {
			n, err = trustedLength(data[off:])
		} else {
			n, err = itemLength(data[off:])
		}
		if err != nil {
			return fmt.Errorf("map value for %v: %w", fl.display(), err)
		}
		fl.raw = data[off : off+n : off+n]
		off += n
		f.add(fl)
	}
	if off != len(data) {
		return errors.New("trailing bytes after map")
	}
	return nil
}

// key reads the key at data[off:] as decodeKey does.
func (f *fieldMap[K]) key(data []byte, off int, fl *field) (int, error) {
	var zero K
	if _, text := any(zero).(string); !text {
		k, rest, err := decodeKey[int64](data[off:])
		fl.num = k
		return len(data) - len(rest), err
	}
	h, err := readHead(data[off:])
	if err != nil {
		return 0, err
	}
	if h.major == majorText && !h.indefinite {
		end, err := stringEnd(data, off, h, majorText)
		if err != nil {
			return 0, err
		}
		fl.text = data[off+h.size : end]
		return end, nil
	}
	k, rest, err := decodeKeySlow[string](data[off:])
	if err != nil {
		return 0, err
	}
	fl.text = append([]byte{}, k...)
	return len(data) - len(rest), nil
}

func (fl *field) display() any {
	if fl.text != nil {
		return string(fl.text)
	}
	return fl.num
}

func (f *fieldMap[K]) duplicate(fl *field) bool {
	if f.n < smallFieldMap {
		for i := range f.n {
			o := f.at(i)
			if fl.text != nil && bytes.Equal(o.text, fl.text) || fl.text == nil && o.text == nil && o.num == fl.num {
				return true
			}
		}
		return false
	}
	if f.seen == nil {
		f.seen = make(map[string]struct{}, 2*smallFieldMap)
		for i := range f.n {
			f.seen[f.at(i).id()] = struct{}{}
		}
	}
	id := fl.id()
	if _, dup := f.seen[id]; dup {
		return true
	}
	f.seen[id] = struct{}{}
	return false
}

// id is a key's identity for the duplicate set.
func (fl *field) id() string {
	if fl.text != nil {
		return string(fl.text)
	}
	return fmt.Sprint(fl.num)
}

// find returns the pair for key, or nil.
func (f *fieldMap[K]) find(key K) *field {
	switch k := any(key).(type) {
	case string:
		for i := range f.n {
			if fl := f.at(i); string(fl.text) == k && fl.text != nil {
				return fl
			}
		}
	case int64:
		for i := range f.n {
			if fl := f.at(i); fl.text == nil && fl.num == k {
				return fl
			}
		}
	}
	return nil
}

// take returns the value for key and marks it consumed. A null or undefined value fails
// the map unless nullOK.
func (f *fieldMap[K]) take(key K, nullOK bool) ([]byte, bool) {
	if f.err != nil {
		return nil, false
	}
	fl := f.find(key)
	if fl == nil {
		return nil, false
	}
	fl.used = true
	if !nullOK && isNullOrUndefined(fl.raw) {
		f.err = fmt.Errorf("%s: %v: null", f.structure, key)
		return nil, false
	}
	return fl.raw, true
}

// fail records the error of key's value (the first error wins).
func (f *fieldMap[K]) fail(key K, err error) bool {
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("%s: %v: %w", f.structure, key, err)
	}
	return err == nil
}

// absent records a missing mandatory key.
func (f *fieldMap[K]) absent(key K, required bool) bool {
	if required && f.err == nil {
		f.err = fmt.Errorf("%s: missing %v", f.structure, key)
	}
	return false
}

// The typed readers decode key's value into dst and report whether it was present and
// valid; a missing required key, a null or an invalid value sets f.err.

func (f *fieldMap[K]) text(key K, dst *string, required bool) bool {
	raw, ok := f.take(key, false)
	if !ok {
		return f.absent(key, required)
	}
	return f.fail(key, decodeText(raw, dst))
}

func (f *fieldMap[K]) uint(key K, dst *uint64, required bool) bool {
	raw, ok := f.take(key, false)
	if !ok {
		return f.absent(key, required)
	}
	return f.fail(key, decodeUint(raw, dst))
}

func (f *fieldMap[K]) bytes(key K, dst *[]byte, required bool) bool {
	raw, ok := f.take(key, false)
	if !ok {
		return f.absent(key, required)
	}
	return f.fail(key, decodeBytes(raw, dst))
}

// raw keeps the value as received (a null included).
func (f *fieldMap[K]) raw(key K, dst *cbor.RawMessage, required bool) bool {
	raw, ok := f.take(key, true)
	if !ok {
		return f.absent(key, required)
	}
	*dst = raw
	return true
}

// own decodes a value of this package's types (the UnmarshalCBOR of the type, without the
// decode mode's steps in between).
func (f *fieldMap[K]) own(key K, dst ownDecoder, required bool) bool {
	raw, ok := f.take(key, false)
	if !ok {
		return f.absent(key, required)
	}
	return f.fail(key, dst.decode(raw, f.t))
}

// generic decodes any other destination through decodeValue.
func (f *fieldMap[K]) generic(key K, dst any, required bool) bool {
	raw, ok := f.take(key, nullable(dst))
	if !ok {
		return f.absent(key, required)
	}
	return f.fail(key, decodeValue(raw, dst, f.t))
}

// null reports whether key is present with a null or undefined value, and if so marks it
// consumed. It is for the rare key where a null is tolerated and flagged.
func (f *fieldMap[K]) null(key K) bool {
	if f.err != nil {
		return false
	}
	fl := f.find(key)
	if fl == nil || !isNullOrUndefined(fl.raw) {
		return false
	}
	fl.used = true
	return true
}

// rest returns the fields no reader consumed, in received order, sharing the input.
func (f *fieldMap[K]) rest() Map[K, cbor.RawMessage] {
	var out Map[K, cbor.RawMessage]
	unused := 0
	for i := range f.n {
		if !f.at(i).used {
			unused++
		}
	}
	if unused == 0 {
		return out
	}
	out.keys = make([]K, 0, unused)
	out.vals = make([]cbor.RawMessage, 0, unused)
	for i := range f.n {
		fl := f.at(i)
		if fl.used {
			continue
		}
		var k K
		switch p := any(&k).(type) {
		case *string:
			*p = string(fl.text)
		case *int64:
			*p = fl.num
		}
		out.keys = append(out.keys, k)
		out.vals = append(out.vals, fl.raw)
	}
	out.reindex()
	return out
}

// appendRest adds extension fields after the known ones when encoding.
func appendRest[K MapKey](m *Map[K, any], rest Map[K, cbor.RawMessage]) {
	for k, v := range rest.All() {
		if _, taken := m.Get(k); !taken {
			m.Set(k, v)
		}
	}
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
	var v []byte
	if err := decodeBytes(data, &v); err != nil {
		return err
	}
	*b = bytes.Clone(v)
	return nil
}

func (b *bstr) decode(data []byte, _ trust) error {
	return decodeBytes(data, (*[]byte)(b))
}

// decodeBytes decodes a strict byte string into *dst: data must be exactly one byte
// string. A definite-length one is shared with data (capacity limited, so an append
// copies); the chunks of an indefinite-length one are joined into a new slice.
func decodeBytes(data []byte, dst *[]byte) error {
	if len(data) == 0 || data[0]>>5 != majorBytes {
		return errNotBytes
	}
	h, err := readHead(data)
	if err == nil && !h.indefinite {
		end, err := stringEnd(data, 0, h, majorBytes)
		if err != nil {
			return err
		}
		if end != len(data) {
			return errTrailingBytes
		}
		*dst = data[h.size:end:end]
		return nil
	}
	if err == nil {
		if b, ok := joinChunks(data, h.size); ok {
			*dst = b
			return nil
		}
	}
	// malformed: the decode mode says how
	v, err := viaDecMode[[]byte](data)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{}
	}
	*dst = v
	return nil
}

// joinChunks joins the chunks of the indefinite-length byte string data, whose head
// takes off bytes; ok is false unless data is exactly such a string.
func joinChunks(data []byte, off int) ([]byte, bool) {
	out := []byte{}
	for off < len(data) {
		if data[off] == 0xff {
			return out, off+1 == len(data)
		}
		if data[off]>>5 != majorBytes || data[off]&0x1f == 31 {
			return nil, false
		}
		ch, err := readHead(data[off:])
		if err != nil {
			return nil, false
		}
		end, err := stringEnd(data, off, ch, majorBytes)
		if err != nil {
			return nil, false
		}
		out = append(out, data[off+ch.size:end]...)
		off = end
	}
	return nil, false
}

// decodeText decodes a text string; a definite-length one directly, anything else (an
// indefinite-length string, a tagged one) through the decode mode.
func decodeText(data []byte, dst *string) error {
	h, err := readHead(data)
	if err != nil {
		return err
	}
	if h.major == majorText && !h.indefinite {
		end, err := stringEnd(data, 0, h, majorText)
		if err != nil {
			return err
		}
		if end != len(data) {
			return errTrailingBytes
		}
		*dst = string(data[h.size:end])
		return nil
	}
	v, err := viaDecMode[string](data)
	if err == nil {
		*dst = v
	}
	return err
}

// viaDecMode decodes data through the decode mode, into a variable of its own so that
// the callers' destinations stay where they are.
func viaDecMode[T any](data []byte) (T, error) {
	var v T
	err := decMode.Unmarshal(data, &v)
	return v, err
}

// decodeUint decodes an unsigned integer from its head, or anything else through the
// decode mode.
func decodeUint(data []byte, dst *uint64) error {
	if h, err := readHead(data); err == nil && h.major == majorUint && !h.indefinite && h.size == len(data) {
		*dst = h.arg
		return nil
	}
	v, err := viaDecMode[uint64](data)
	if err == nil {
		*dst = v
	}
	return err
}

// decodeInt decodes a signed integer from its head, or anything else through the decode
// mode.
func decodeInt(data []byte, dst *int64) error {
	if h, err := readHead(data); err == nil && !h.indefinite && h.size == len(data) && h.arg <= math.MaxInt64 {
		switch h.major {
		case majorUint:
			*dst = int64(h.arg)
			return nil
		case majorNeg:
			*dst = -1 - int64(h.arg)
			return nil
		}
	}
	v, err := viaDecMode[int64](data)
	if err == nil {
		*dst = v
	}
	return err
}

// decodeBool decodes a boolean from its byte, or anything else through the decode mode.
func decodeBool(data []byte, dst *bool) error {
	if len(data) == 1 && (data[0] == 0xf4 || data[0] == 0xf5) {
		*dst = data[0] == 0xf5
		return nil
	}
	v, err := viaDecMode[bool](data)
	if err == nil {
		*dst = v
	}
	return err
}

// decodeValue decodes one data item into v, with []byte destinations strict. Text,
// integers, booleans, raw items and this package's own types are read directly from
// their heads; everything else goes through the decode mode. Either way data must be
// exactly one item, which t says what is known of.
func decodeValue(data []byte, v any, t trust) error {
	if _, err := readHead(data); err != nil {
		return err
	}
	switch p := v.(type) {
	case *[]byte:
		return decodeBytes(data, p)
	case *string:
		return decodeText(data, p)
	case *uint64:
		return decodeUint(data, p)
	case *int64:
		return decodeInt(data, p)
	case *bool:
		return decodeBool(data, p)
	case *cbor.RawMessage:
		n, err := itemLength(data)
		if err != nil {
			return err
		}
		if n != len(data) {
			return errTrailingBytes
		}
		*p = data
		return nil
	case ownDecoder:
		// our own decoders parse from heads and refuse trailing bytes themselves
		return p.decode(data, t)
	}
	return decMode.Unmarshal(data, v)
}

var errTrailingBytes = errors.New("trailing bytes after the data item")
