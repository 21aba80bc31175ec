package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/mdocgate/mdocgate/messages"
)

// readInput reads a file holding CBOR either raw or as hex text (whitespace and a 0x
// prefix allowed). "-" reads standard input.
func readInput(path string) ([]byte, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, messages.MaxMessageSize*2+1))
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			data, err = io.ReadAll(io.LimitReader(f, messages.MaxMessageSize*2+1))
			f.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	if len(data) > messages.MaxMessageSize*2 {
		return nil, fmt.Errorf("%s: larger than the %d-byte limit", path, messages.MaxMessageSize)
	}
	if h, ok := asHex(data); ok {
		return h, nil
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return data, nil
}

func asHex(data []byte) ([]byte, bool) {
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
