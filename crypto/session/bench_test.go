package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

var benchSizes = []int{1 << 10, 64 << 10}

func sizeName(n int) string { return fmt.Sprintf("%dKiB", n>>10) }

func BenchmarkEncrypt(b *testing.B) {
	skr, skd := annexDKeys(b)
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			c, _ := NewCipher(RoleReader, skr, skd)
			pt := make([]byte, n)
			b.SetBytes(int64(n))
			for b.Loop() {
				if c.out.counter > lastCounter-1 {
					c.out.counter = 1 // keep the loop going; benchmarks only
				}
				if _, err := c.Encrypt(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	skr, skd := annexDKeys(b)
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			r, _ := NewCipher(RoleReader, skr, skd)
			ct, _ := r.Encrypt(make([]byte, n))
			d, _ := NewCipher(RoleDevice, skr, skd)
			b.SetBytes(int64(n))
			for b.Loop() {
				d.in.counter = 1 // same message each time; benchmarks only
				if _, err := d.Decrypt(ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawAESGCM is the floor for Encrypt: the bare stdlib seal.
func BenchmarkRawAESGCM(b *testing.B) {
	skr, _ := annexDKeys(b)
	block, _ := aes.NewCipher(skr)
	gcm, _ := cipher.NewGCM(block)
	iv := make([]byte, 12)
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			pt := make([]byte, n)
			b.SetBytes(int64(n))
			for b.Loop() {
				gcm.Seal(nil, iv, pt, nil)
			}
		})
	}
}

// BenchmarkHKDF compares one raw HKDF-SHA-256 expansion with DeriveSessionKeys (two
// expansions plus the transcript hash and tag-24 check).
func BenchmarkHKDF(b *testing.B) {
	zab := testvectors.AnnexD(b, "session_ecdh_zab.hex")
	st := testvectors.AnnexD(b, "session_transcript_bytes.hex")
	salt := SessionTranscriptSalt(st)
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			if _, err := hkdf.Key(sha256.New, zab, salt, "SKReader", 32); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DeriveSessionKeys", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := DeriveSessionKeys(zab, st); err != nil {
				b.Fatal(err)
			}
		}
	})
}
