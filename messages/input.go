package messages

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// ReadInput reads a CBOR message given either as its bytes or as hex text (white space
// and a 0x prefix allowed), as the command line takes its input files. It reads at most
// twice MaxMessageSize (the hex text of the largest message) and refuses empty input.
func ReadInput(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMessageSize*2+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMessageSize*2 {
		return nil, fmt.Errorf("larger than the %d-byte limit", MaxMessageSize)
	}
	if h, ok := HexText(data); ok {
		return h, nil
	}
	if len(data) == 0 {
		return nil, errors.New("empty")
	}
	return data, nil
}

// HexText returns the bytes data spells when it is hex text: hex digits with white
// space anywhere and an optional 0x prefix. ok is false for anything else (binary CBOR,
// an odd number of digits, empty text).
func HexText(data []byte) (b []byte, ok bool) {
	s := bytes.TrimSpace(data)
	s = bytes.TrimPrefix(bytes.TrimPrefix(s, []byte("0x")), []byte("0X"))
	if len(s) == 0 {
		return nil, false
	}
	clean := make([]byte, 0, len(s))
	for _, c := range s {
		switch {
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
			clean = append(clean, c)
		default:
			return nil, false
		}
	}
	out, err := hex.DecodeString(string(clean))
	if err != nil {
		return nil, false
	}
	return out, true
}
