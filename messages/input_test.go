package messages

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadInput(t *testing.T) {
	raw := []byte{0xa1, 0x61, 0x61, 0x01}
	for name, in := range map[string]string{
		"binary":      string(raw),
		"hex":         "a1616101",
		"spaced hex":  "  A1 61\n61 01\r\n",
		"0x prefixed": "0xa1616101\n",
	} {
		got, err := ReadInput(strings.NewReader(in))
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: %x, %v", name, got, err)
		}
	}
	// odd hex is taken as bytes, not half-decoded
	if got, err := ReadInput(strings.NewReader("abc")); err != nil || string(got) != "abc" {
		t.Errorf("odd hex: %q, %v", got, err)
	}
	if _, err := ReadInput(strings.NewReader("")); err == nil || err.Error() != "empty" {
		t.Errorf("empty: %v", err)
	}
	big := bytes.Repeat([]byte{'a'}, MaxMessageSize*2+1)
	if _, err := ReadInput(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("too large: %v", err)
	}
}

// ReadInputFile reads a file as ReadInput does; its content errors name the file.
func TestReadInputFile(t *testing.T) {
	dir := t.TempDir()
	hexFile, empty := filepath.Join(dir, "in.hex"), filepath.Join(dir, "empty")
	os.WriteFile(hexFile, []byte("0xa1616101\n"), 0o644)
	os.WriteFile(empty, nil, 0o644)
	if got, err := ReadInputFile(hexFile); err != nil || !bytes.Equal(got, []byte{0xa1, 0x61, 0x61, 0x01}) {
		t.Errorf("hex file: %x, %v", got, err)
	}
	if _, err := ReadInputFile(empty); err == nil || err.Error() != empty+": empty" {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadInputFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// DecodeInputFile names the input in decoding errors only
	if st, err := DecodeInputFile("../testdata/iso18013-5/session_transcript_bytes.hex", "--transcript", DecodeSessionTranscript); err != nil || st.DeviceEngagementBytes == nil {
		t.Errorf("transcript: %+v %v", st, err)
	}
	var de *DecodeError
	if _, err := DecodeInputFile(hexFile, "--transcript", DecodeSessionTranscript); !errors.As(err, &de) || !strings.HasPrefix(err.Error(), "--transcript: ") {
		t.Errorf("not a transcript: %v", err)
	}
	if _, err := DecodeInputFile(empty, "--transcript", DecodeSessionTranscript); err == nil || err.Error() != empty+": empty" {
		t.Errorf("empty file: %v", err)
	}
}

// FuzzReadInput: any input is read or refused without a panic, and what is read as
// hex text re-encodes to the digits it came from.
func FuzzReadInput(f *testing.F) {
	for _, s := range []string{"", "a0", "0x", "0xA0 ff", " \n", "zz", "\xa1\x61"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadInput(bytes.NewReader(data))
		if err != nil {
			return
		}
		if h, ok := HexText(data); ok {
			if !bytes.Equal(got, h) {
				t.Fatalf("hex text %q read as %x", data, got)
			}
			digits := strings.Map(func(r rune) rune {
				if strings.ContainsRune(" \n\r\t", r) {
					return -1
				}
				return r
			}, strings.TrimSpace(string(data)))
			digits = strings.TrimPrefix(strings.TrimPrefix(digits, "0x"), "0X")
			if hex.EncodeToString(got) != strings.ToLower(digits) {
				t.Fatalf("%q read as %x", data, got)
			}
		} else if !bytes.Equal(got, data) {
			t.Fatalf("binary input changed: %x → %x", data, got)
		}
	})
}

// ReadFileLimited reads a file of up to limit bytes and refuses a larger one, naming it.
func TestReadFileLimited(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFileLimited(f, 100); err != nil || len(b) != 100 {
		t.Fatalf("at the limit: %d bytes, %v", len(b), err)
	}
	var pe *fs.PathError
	if _, err := ReadFileLimited(f, 99); !errors.As(err, &pe) || pe.Path != f || !strings.Contains(err.Error(), "larger than 99 bytes") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := ReadFileLimited(filepath.Join(dir, "missing"), 99); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
