package messages

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// fieldMap decodes a map with known keys into typed fields and keeps the others, for the
// extensible structures of the CDDL ("* tstr => any", "* int => any").
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
	if err := decMode.Unmarshal(raw, v); err != nil {
		f.err = fmt.Errorf("%s: %v: %w", f.structure, key, err)
		return false
	}
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

// appendRest adds extension fields after the known ones when encoding.
func appendRest[K MapKey](m *Map[K, any], rest Map[K, cbor.RawMessage]) {
	for k, v := range rest.All() {
		if _, taken := m.Get(k); !taken {
			m.Set(k, v)
		}
	}
}
