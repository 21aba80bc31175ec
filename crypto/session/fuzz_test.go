package session

import (
	"bytes"
	"testing"
)

func FuzzDecrypt(f *testing.F) {
	skr, skd := annexDKeys(f)
	est := decodeSession(f, "session_establishment.hex").Data
	f.Add(est)
	f.Add(decodeSession(f, "session_data_response.hex").Data)
	f.Add(est[:16])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ct []byte) {
		c, err := NewCipher(RoleDevice, skr, skd)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := c.Decrypt(ct)
		if err != nil {
			if c.in.counter != 1 {
				t.Fatal("failed decrypt advanced the counter")
			}
			return
		}
		// only the genuine message can open; anything else would be a forgery
		if !bytes.Equal(ct, est) {
			t.Fatalf("forged ciphertext opened: %x", ct)
		}
		if _, err := c.Decrypt(ct); err == nil {
			t.Fatal("replay opened")
		}
		_ = pt
	})
}
