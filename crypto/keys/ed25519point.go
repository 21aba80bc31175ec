package keys

import (
	"fmt"
	"math/big"
	"slices"
)

var (
	ed25519P = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// d = -121665/121666 mod p
	ed25519D = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), ed25519P)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, ed25519P)
	}()
)

// checkEd25519Point decodes an RFC 8032 §5.1.3 point encoding. crypto/ed25519 only rejects
// a bad key when verifying, where it looks like a bad signature; this catches it on input.
// Public data only, so math/big's timing does not matter.
func checkEd25519Point(enc []byte) error {
	if len(enc) != 32 {
		return fmt.Errorf("%w: Ed25519 key must be 32 bytes, got %d", ErrInvalidPoint, len(enc))
	}
	le := slices.Clone(enc)
	sign := le[31] >> 7
	le[31] &= 0x7f
	slices.Reverse(le)
	y := new(big.Int).SetBytes(le)
	if y.Cmp(ed25519P) >= 0 {
		return fmt.Errorf("%w: Ed25519 y not below p", ErrInvalidPoint)
	}
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(ed25519D, y2)
	v.Add(v, big.NewInt(1)).Mod(v, ed25519P)
	x2 := u.Mul(u, v.ModInverse(v, ed25519P)).Mod(u, ed25519P)
	if x2.Sign() == 0 {
		if sign == 1 {
			return fmt.Errorf("%w: Ed25519 x = 0 with sign bit set", ErrInvalidPoint)
		}
		if y.Cmp(big.NewInt(1)) == 0 {
			return fmt.Errorf("%w: Ed25519 identity", ErrInvalidPoint)
		}
		return nil
	}
	if new(big.Int).ModSqrt(x2, ed25519P) == nil {
		return fmt.Errorf("%w: Ed25519 point not on the curve", ErrInvalidPoint)
	}
	return nil
}
