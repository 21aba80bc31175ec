package messages

import (
	"encoding/binary"
	"errors"
)

// CBOR major types.
const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
	majorTag   = 6
	majorOther = 7
)

var errTruncated = errors.New("truncated CBOR head")

// cborHead is the initial byte plus argument of one CBOR data item.
type cborHead struct {
	major      byte
	arg        uint64
	size       int  // bytes taken by the head
	indefinite bool // additional info 31
}

// readHead parses the head of the data item at the start of data.
func readHead(data []byte) (cborHead, error) {
	if len(data) == 0 {
		return cborHead{}, errTruncated
	}
	h := cborHead{major: data[0] >> 5}
	ai := data[0] & 0x1f
	switch {
	case ai < 24:
		h.arg, h.size = uint64(ai), 1
	case ai == 24:
		if len(data) < 2 {
			return h, errTruncated
		}
		h.arg, h.size = uint64(data[1]), 2
	case ai == 25:
		if len(data) < 3 {
			return h, errTruncated
		}
		h.arg, h.size = uint64(binary.BigEndian.Uint16(data[1:])), 3
	case ai == 26:
		if len(data) < 5 {
			return h, errTruncated
		}
		h.arg, h.size = uint64(binary.BigEndian.Uint32(data[1:])), 5
	case ai == 27:
		if len(data) < 9 {
			return h, errTruncated
		}
		h.arg, h.size = binary.BigEndian.Uint64(data[1:]), 9
	case ai == 31:
		h.indefinite, h.size = true, 1
	default:
		return h, errors.New("reserved CBOR additional information")
	}
	return h, nil
}

// appendHead appends the preferred (shortest) head for major type and argument.
func appendHead(dst []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(dst, m|byte(arg))
	case arg <= 0xff:
		return append(dst, m|24, byte(arg))
	case arg <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(arg))
	case arg <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(arg))
	default:
		return binary.BigEndian.AppendUint64(append(dst, m|27), arg)
	}
}

// readMapHead reads the head of a map item, refusing anything else and a definite length
// over MaxMapPairs (an indefinite map is counted as its pairs are read).
func readMapHead(data []byte) (cborHead, error) {
	h, err := readHead(data)
	if err != nil {
		return h, err
	}
	if h.major != majorMap {
		return h, errors.New("expected a CBOR map")
	}
	if !h.indefinite && h.arg > MaxMapPairs {
		return h, errors.New("map exceeds the pair limit")
	}
	return h, nil
}
