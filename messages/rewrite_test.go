package messages

import (
	"encoding/binary"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Rewrite modes for re-heading a vector without changing what it means.
const (
	rewriteWide  = iota // every integer, length and tag head in its 9-byte form
	rewriteIndef        // every map and array indefinite-length
)

func wideHead(major byte, arg uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, arg)
}

// rewriteItem copies the first item of data in the given mode and returns the rest.
// Tag-24 items and strings' contents are copied verbatim (they are hashed as received),
// as are floats and simple values.
func rewriteItem(t testing.TB, data []byte, mode int) (out, rest []byte) {
	t.Helper()
	h, err := readHead(data)
	if err != nil {
		t.Fatal(err)
	}
	verbatim := func() ([]byte, []byte) {
		var raw cbor.RawMessage
		rest, err := decMode.UnmarshalFirst(data, &raw)
		if err != nil {
			t.Fatal(err)
		}
		return raw, rest
	}
	head := func() []byte {
		if mode == rewriteWide && !h.indefinite {
			return wideHead(h.major, h.arg)
		}
		return data[:h.size]
	}
	switch h.major {
	case majorUint, majorNeg:
		return head(), data[h.size:]
	case majorBytes, majorText:
		if h.indefinite {
			return verbatim()
		}
		end := h.size + int(h.arg)
		return append(head(), data[h.size:end]...), data[end:]
	case majorArray, majorMap:
		var o []byte
		if mode == rewriteIndef {
			o = []byte{h.major<<5 | 31}
		} else {
			o = head()
		}
		rest = data[h.size:]
		n := h.arg
		if h.major == majorMap {
			n *= 2
		}
		for i := uint64(0); h.indefinite || i < n; i++ {
			if h.indefinite && rest[0] == 0xff {
				rest = rest[1:]
				break
			}
			var item []byte
			item, rest = rewriteItem(t, rest, mode)
			o = append(o, item...)
		}
		if mode == rewriteIndef {
			o = append(o, 0xff)
		}
		return o, rest
	case majorTag:
		if h.arg == 24 {
			return verbatim()
		}
		content, rest := rewriteItem(t, data[h.size:], mode)
		return append(head(), content...), rest
	}
	return verbatim()
}

func rewrite(t testing.TB, data []byte, mode int) []byte {
	t.Helper()
	out, rest := rewriteItem(t, data, mode)
	if len(rest) != 0 {
		t.Fatal("trailing bytes")
	}
	return out
}

// hasIndefinite reports an indefinite-length head anywhere in data, tag-24 contents
// included.
func hasIndefinite(t testing.TB, data []byte) bool {
	t.Helper()
	var walk func(d []byte) ([]byte, bool)
	walk = func(d []byte) ([]byte, bool) {
		h, err := readHead(d)
		if err != nil {
			t.Fatal(err)
		}
		if h.indefinite {
			return nil, true
		}
		rest := d[h.size:]
		switch h.major {
		case majorBytes, majorText:
			return rest[h.arg:], false
		case majorArray, majorMap:
			n := h.arg
			if h.major == majorMap {
				n *= 2
			}
			for range n {
				var found bool
				if rest, found = walk(rest); found {
					return nil, true
				}
			}
			return rest, false
		case majorTag:
			if h.arg == 24 {
				bs, err := readHead(rest)
				if err != nil || bs.indefinite {
					return nil, true
				}
				content := rest[bs.size : bs.size+int(bs.arg)]
				if _, found := walk(content); found {
					return nil, true
				}
				return rest[bs.size+int(bs.arg):], false
			}
			return walk(rest)
		}
		return rest, false // readHead consumed any float or simple value argument
	}
	_, found := walk(data)
	return found
}
