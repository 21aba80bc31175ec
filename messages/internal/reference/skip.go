package reference

import (
	"errors"
	"unicode/utf8"
)

var errTooDeep = errors.New("CBOR nesting exceeds the limit")

// itemLength returns the length of the well-formed CBOR data item at the start of data.
// It checks what a decoder would (heads, lengths, nesting, UTF-8 of text, chunk types
// of indefinite strings) without allocating, so that maps can slice their raw values
// instead of decoding them twice.
func itemLength(data []byte) (int, error) {
	return skipItem(data, 0)
}

func skipItem(data []byte, depth int) (int, error) {
	if depth > MaxNesting {
		return 0, errTooDeep
	}
	h, err := readHead(data)
	if err != nil {
		return 0, err
	}
	off := h.size
	switch h.major {
	case majorUint, majorNeg:
		if h.indefinite {
			return 0, errors.New("indefinite-length integer")
		}
		return off, nil
	case majorBytes, majorText:
		if h.indefinite {
			for {
				if off >= len(data) {
					return 0, errTruncated
				}
				if data[off] == 0xff {
					return off + 1, nil
				}
				ch, err := readHead(data[off:])
				if err != nil {
					return 0, err
				}
				if ch.major != h.major || ch.indefinite {
					return 0, errors.New("bad chunk in an indefinite-length string")
				}
				n, err := stringEnd(data, off, ch, h.major)
				if err != nil {
					return 0, err
				}
				off = n
			}
		}
		return stringEnd(data, 0, h, h.major)
	case majorArray, majorMap:
		per := uint64(1)
		if h.major == majorMap {
			per = 2
		}
		if h.indefinite {
			for count := uint64(0); ; count++ {
				if off >= len(data) {
					return 0, errTruncated
				}
				if data[off] == 0xff {
					if h.major == majorMap && count%2 != 0 {
						return 0, errors.New("indefinite-length map with an odd number of items")
					}
					return off + 1, nil
				}
				if count >= MaxArrayElements*per {
					return 0, errors.New("container exceeds the element limit")
				}
				n, err := skipItem(data[off:], depth+1)
				if err != nil {
					return 0, err
				}
				off += n
			}
		}
		limit := uint64(MaxArrayElements)
		if h.major == majorMap {
			limit = MaxMapPairs
		}
		if h.arg > limit {
			return 0, errors.New("container exceeds the element limit")
		}
		for i := uint64(0); i < h.arg*per; i++ {
			if off >= len(data) {
				return 0, errTruncated
			}
			n, err := skipItem(data[off:], depth+1)
			if err != nil {
				return 0, err
			}
			off += n
		}
		return off, nil
	case majorTag:
		if h.indefinite {
			return 0, errors.New("indefinite-length tag")
		}
		n, err := skipItem(data[off:], depth+1)
		if err != nil {
			return 0, err
		}
		return off + n, nil
	default: // simple values and floats
		if h.indefinite {
			return 0, errors.New("unexpected break")
		}
		if data[0]&0x1f == 24 && h.arg < 32 {
			return 0, errors.New("invalid simple value encoding")
		}
		return off, nil
	}
}

// stringEnd returns the end offset of the definite string whose head h starts at off.
func stringEnd(data []byte, off int, h cborHead, major byte) (int, error) {
	start := off + h.size
	if h.arg > uint64(len(data)-start) {
		return 0, errTruncated
	}
	end := start + int(h.arg)
	if major == majorText && !utf8.Valid(data[start:end]) {
		return 0, errors.New("invalid UTF-8 in a text string")
	}
	return end, nil
}
