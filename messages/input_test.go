package messages

import (
	"bytes"
	"encoding/hex"
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
