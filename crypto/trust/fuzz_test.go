package trust

import (
	"crypto"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// FuzzDecodeStatusListToken: any input, CWT or JWT, decodes to an error or a list whose
// every lookup stays in bounds; nothing panics.
func FuzzDecodeStatusListToken(f *testing.F) {
	key, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		f.Fatal(err)
	}
	tok := StatusListToken{URI: "https://s.example/1", Bits: 2, Statuses: []uint8{0, 1, 2, 3}, IssuedAt: time.Unix(1700000000, 0),
		Expires: time.Unix(1800000000, 0), TTL: time.Minute}
	cwt, _ := tok.SignCWT(key, nil)
	jwt, _ := tok.SignJWT(key, nil)
	f.Add(cwt)
	f.Add([]byte(jwt))
	f.Add(testvectors.Hex(f, "status-list", "token_cwt.hex"))
	f.Add(testvectors.File(f, "status-list", "token_jwt.txt"))
	ks := []crypto.PublicKey{key.Public(), draftKey(f)}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeStatusListToken(data, ks, 1<<16)
		if err != nil {
			return
		}
		if l.Bits != 1 && l.Bits != 2 && l.Bits != 4 && l.Bits != 8 || int64(len(l.list)) > 1<<16 {
			t.Fatalf("decoded an out-of-bounds list: bits %d, %d bytes", l.Bits, len(l.list))
		}
		for _, idx := range []uint64{0, l.Len() - 1, l.Len(), 1 << 63} {
			if st, err := l.Get(idx); err == nil && int(st) >= 1<<l.Bits {
				t.Fatalf("status %d in %d bits", st, l.Bits)
			}
		}
	})
}

// FuzzDecodeCRL: any input decodes to an error or a CRL indexed by serial; nothing
// panics.
func FuzzDecodeCRL(f *testing.F) {
	pki := testpki.New(f, testpki.Options{})
	f.Add(pki.CRL(f))
	f.Add(pki.CRL(f, pki.DS.Certificate, pki.IACA.Certificate))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeCRL(data)
		if err != nil {
			return
		}
		if len(d.revoked) > len(d.rl.RevokedCertificateEntries) {
			t.Fatalf("%d serials indexed from %d entries", len(d.revoked), len(d.rl.RevokedCertificateEntries))
		}
	})
}
