package messages

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

var (
	errTooDeep     = errors.New("CBOR nesting exceeds the limit")
	errTooMany     = errors.New("container exceeds the element limit")
	errBadChunk    = errors.New("bad chunk in an indefinite-length string")
	errBadUTF8     = errors.New("invalid UTF-8 in a text string")
	errReservedAI  = errors.New("reserved CBOR additional information")
	errIndefInt    = errors.New("indefinite-length integer")
	errIndefTag    = errors.New("indefinite-length tag")
	errBreak       = errors.New("unexpected break")
	errBadSimple   = errors.New("invalid simple value encoding")
	errOddIndefMap = errors.New("indefinite-length map with an odd number of items")
	// errIndefiniteOut refuses to re-emit a raw-kept part received with indefinite lengths.
	errIndefiniteOut = errors.New("raw item has indefinite-length encoding, which is never emitted")
)

// The rules a walk checks. Every walk checks the structure (heads, lengths, chunks of
// indefinite-length strings, breaks); the rules add the limits and text checks.
type walkRules uint8

const (
	// rulesDecMode are the decode mode's well-formedness rules (what decMode.Wellformed
	// and the first pass of decMode.Unmarshal check): the container limits and the nesting
	// limit counted as fxamacker/cbor counts it (arrays, maps, and every tag of a chain of
	// tags but the first).
	rulesDecMode walkRules = 1 << iota
	// rulesItem are itemLength's rules: the container limits, the nesting limit counted
	// on every item (tags included, leaves included), and UTF-8 of every text string.
	rulesItem
	// rulesDefinite refuses indefinite lengths anywhere in the item: what is emitted
	// (appendRaw) is definite-length only.
	rulesDefinite
)

// trustedNesting bounds the recursion of a walk without rules, which runs only on items an
// enclosing walk already checked (their nesting is below 2*MaxNesting+2 in any count).
const trustedNesting = 4*MaxNesting + 4

// walk returns the end offset of the data item starting at off. fx is the nesting of the
// item in the decode mode's count (the number of enclosing containers and chained tags),
// sk its nesting in itemLength's count.
func walk(data []byte, off int, rules walkRules, fx, sk int) (int, error) {
	if rules&rulesItem != 0 {
		if sk > MaxNesting {
			return 0, errTooDeep
		}
	} else if sk > trustedNesting {
		return 0, errTooDeep
	}
	if off >= len(data) {
		return 0, errTruncated
	}
	ib := data[off]
	major, ai := ib>>5, ib&0x1f
	var arg uint64
	indef := false
	switch {
	case ai < 24:
		arg = uint64(ai)
		off++
	case ai == 24:
		if len(data)-off < 2 {
			return 0, errTruncated
		}
		arg = uint64(data[off+1])
		if major == majorOther && arg < 32 {
			return 0, errBadSimple
		}
		off += 2
	case ai == 25:
		if len(data)-off < 3 {
			return 0, errTruncated
		}
		arg = uint64(binary.BigEndian.Uint16(data[off+1:]))
		off += 3
	case ai == 26:
		if len(data)-off < 5 {
			return 0, errTruncated
		}
		arg = uint64(binary.BigEndian.Uint32(data[off+1:]))
		off += 5
	case ai == 27:
		if len(data)-off < 9 {
			return 0, errTruncated
		}
		arg = binary.BigEndian.Uint64(data[off+1:])
		off += 9
	case ai == 31:
		switch major {
		case majorUint, majorNeg:
			return 0, errIndefInt
		case majorTag:
			return 0, errIndefTag
		case majorOther:
			return 0, errBreak
		}
		if rules&rulesDefinite != 0 {
			return 0, errIndefiniteOut
		}
		indef = true
		off++
	default:
		return 0, errReservedAI
	}
	switch major {
	case majorUint, majorNeg, majorOther:
		return off, nil
	case majorBytes, majorText:
		check := major == majorText && rules&rulesItem != 0
		if !indef {
			if arg > uint64(len(data)-off) {
				return 0, errTruncated
			}
			end := off + int(arg)
			if check && !utf8.Valid(data[off:end]) {
				return 0, errBadUTF8
			}
			return end, nil
		}
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
			if ch.major != major || ch.indefinite {
				return 0, errBadChunk
			}
			start := off + ch.size
			if ch.arg > uint64(len(data)-start) {
				return 0, errTruncated
			}
			off = start + int(ch.arg)
			if check && !utf8.Valid(data[start:off]) {
				return 0, errBadUTF8
			}
		}
	case majorArray, majorMap:
		fx++
		if rules&rulesDecMode != 0 && fx > MaxNesting {
			return 0, errTooDeep
		}
		per := uint64(1)
		limit := uint64(MaxArrayElements)
		if major == majorMap {
			per, limit = 2, MaxMapPairs
		}
		if !indef {
			if arg > limit {
				return 0, errTooMany
			}
			var err error
			for i := uint64(0); i < arg*per; i++ {
				if off >= len(data) {
					return 0, errTruncated
				}
				if off, err = walk(data, off, rules, fx, sk+1); err != nil {
					return 0, err
				}
			}
			return off, nil
		}
		for count := uint64(0); ; count++ {
			if off >= len(data) {
				return 0, errTruncated
			}
			if data[off] == 0xff {
				if count%per != 0 {
					return 0, errOddIndefMap
				}
				return off + 1, nil
			}
			if count >= limit*per {
				return 0, errTooMany
			}
			var err error
			if off, err = walk(data, off, rules, fx, sk+1); err != nil {
				return 0, err
			}
		}
	default: // tag: a chain of tags counts once less than its length in the decode mode
		for off < len(data) && data[off]>>5 == majorTag {
			sk++
			if rules&rulesItem != 0 && sk > MaxNesting {
				return 0, errTooDeep
			}
			h, err := readHead(data[off:])
			if err != nil {
				return 0, err
			}
			if h.indefinite {
				return 0, errIndefTag
			}
			off += h.size
			fx++
			if rules&rulesDecMode != 0 && fx > MaxNesting {
				return 0, errTooDeep
			}
		}
		return walk(data, off, rules, fx, sk+1)
	}
}

// itemLength returns the length of the well-formed CBOR data item at the start of data.
// It checks what a decoder would (heads, lengths, nesting, UTF-8 of text, chunk types
// of indefinite strings) without allocating, so that maps can slice their raw values
// instead of decoding them twice.
func itemLength(data []byte) (int, error) {
	return walk(data, 0, rulesItem, 0, 0)
}

// wellformed checks that data is exactly one data item under the decode mode's rules: what
// decMode.Unmarshal checks before it decodes anything. Its errors are the decode mode's.
func wellformed(data []byte) error {
	n, err := walk(data, 0, rulesDecMode, 0, 0)
	if err == nil && n == len(data) {
		return nil
	}
	return decModeError(decMode.Wellformed(data))
}

// wellformedFirst is wellformed for the first item of data, which may be followed by more
// (what decMode.UnmarshalFirst checks); it returns the item's length.
func wellformedFirst(data []byte) (int, error) {
	n, err := walk(data, 0, rulesDecMode, 0, 0)
	if err == nil {
		return n, nil
	}
	var raw cbor.RawMessage
	_, err = decMode.UnmarshalFirst(data, &raw)
	return 0, decModeError(err)
}

// decModeError is the decode mode's error for input the walk refused (the decode mode
// words them in detail); the two agree on what they refuse, but should they not, the
// input is still refused.
func decModeError(err error) error {
	if err == nil {
		return errors.New("malformed CBOR")
	}
	return err
}

// trustedLength returns the length of the item at the start of data, which an enclosing
// check already found well-formed. It still checks bounds.
func trustedLength(data []byte) (int, error) {
	return walk(data, 0, 0, 0, 0)
}

// stringEnd returns the end offset of the definite string whose head h starts at off.
func stringEnd(data []byte, off int, h cborHead, major byte) (int, error) {
	start := off + h.size
	if h.arg > uint64(len(data)-start) {
		return 0, errTruncated
	}
	end := start + int(h.arg)
	if major == majorText && !utf8.Valid(data[start:end]) {
		return 0, errBadUTF8
	}
	return end, nil
}
