package messages

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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

// ReadInputFile is ReadInput of the file at path, "-" being standard input. Errors of
// the content name the file.
func ReadInputFile(path string) ([]byte, error) {
	r := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := ReadInput(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// ReadFileLimited reads the file at path, at most limit bytes: a larger file is refused
// (an *fs.PathError, as os errors name the file) after reading limit+1 bytes, never
// loaded whole. It is how every file the commands and the gate are given is read
// (keys, certificates, lists); the caller names the flag or field.
func ReadFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return data, nil
}

// DecodeInputFile reads the file at path (ReadInputFile) and decodes it: how the
// commands read their input files. A decoding error is prefixed with name, the input's
// name where it was given (a flag: "--response").
func DecodeInputFile[T any](path, name string, decode func([]byte) (T, error)) (T, error) {
	var v T
	b, err := ReadInputFile(path)
	if err != nil {
		return v, err
	}
	if v, err = decode(b); err != nil {
		return v, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
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
