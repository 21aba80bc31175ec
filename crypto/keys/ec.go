//lint:file-ignore SA1019 brainpool keys exist only as big.Int coordinates on an elliptic.Curve: crypto/ecdh and the byte-oriented crypto/ecdsa APIs reject those curves.

package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/ProtonMail/go-crypto/brainpool"
	"github.com/mdocgate/mdocgate/messages"
)

// ellipticCurve returns the elliptic.Curve of an EC2 curve id, or nil.
func ellipticCurve(id int64) elliptic.Curve {
	switch id {
	case messages.CurveP256:
		return elliptic.P256()
	case messages.CurveP384:
		return elliptic.P384()
	case messages.CurveP521:
		return elliptic.P521()
	case messages.CurveBrainpoolP256r1:
		return brainpool.P256r1()
	case messages.CurveBrainpoolP320r1:
		return brainpoolP320r1()
	case messages.CurveBrainpoolP384r1:
		return brainpool.P384r1()
	case messages.CurveBrainpoolP512r1:
		return brainpool.P512r1()
	}
	return nil
}

func isBrainpool(id int64) bool {
	return id >= messages.CurveBrainpoolP256r1 && id <= messages.CurveBrainpoolP512r1
}

// ecPublicFromCoords validates an uncompressed point and returns it as an ECDSA key.
func ecPublicFromCoords(info messages.CurveInfo, x, y []byte) (*ecdsa.PublicKey, error) {
	if len(x) != info.FieldSize || len(y) != info.FieldSize {
		return nil, fmt.Errorf("%w: %s coordinates must be %d bytes, got %d and %d",
			ErrInvalidPoint, info.Name, info.FieldSize, len(x), len(y))
	}
	c := ellipticCurve(info.ID)
	if !isBrainpool(info.ID) {
		buf := make([]byte, 0, 1+2*info.FieldSize)
		buf = append(append(append(buf, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(c, buf)
		if err != nil {
			return nil, fmt.Errorf("%w: %s point: %v", ErrInvalidPoint, info.Name, err)
		}
		return pub, nil
	}
	p := c.Params().P
	X, Y := new(big.Int).SetBytes(x), new(big.Int).SetBytes(y)
	switch {
	case X.Cmp(p) >= 0 || Y.Cmp(p) >= 0:
		// the isomorphism to the twisted curve reduces mod p, so check the range here
		return nil, fmt.Errorf("%w: %s coordinate not below p", ErrInvalidPoint, info.Name)
	case X.Sign() == 0 && Y.Sign() == 0:
		return nil, fmt.Errorf("%w: %s point at infinity", ErrInvalidPoint, info.Name)
	case !c.IsOnCurve(X, Y):
		return nil, fmt.Errorf("%w: point not on %s", ErrInvalidPoint, info.Name)
	}
	return &ecdsa.PublicKey{Curve: c, X: X, Y: Y}, nil
}

// decompressNIST returns y of a compressed NIST point; ySign is the parity of y.
func decompressNIST(info messages.CurveInfo, x []byte, ySign bool) ([]byte, error) {
	if isBrainpool(info.ID) {
		return nil, fmt.Errorf("%w: compressed %s points are not supported", ErrInvalidPoint, info.Name)
	}
	if len(x) != info.FieldSize {
		return nil, fmt.Errorf("%w: %s x must be %d bytes, got %d", ErrInvalidPoint, info.Name, info.FieldSize, len(x))
	}
	buf := make([]byte, 1, 1+len(x))
	buf[0] = 2
	if ySign {
		buf[0] = 3
	}
	_, Y := elliptic.UnmarshalCompressed(ellipticCurve(info.ID), append(buf, x...))
	if Y == nil {
		return nil, fmt.Errorf("%w: compressed x is not on %s", ErrInvalidPoint, info.Name)
	}
	return Y.FillBytes(make([]byte, info.FieldSize)), nil
}

// ecCoords returns the full-length coordinates of an ECDSA public key.
func ecCoords(pub *ecdsa.PublicKey, size int) (x, y []byte) {
	return pub.X.FillBytes(make([]byte, size)), pub.Y.FillBytes(make([]byte, size))
}

func ecScalar(priv *ecdsa.PrivateKey, size int) []byte {
	return priv.D.FillBytes(make([]byte, size))
}

// ecPrivateFromScalar builds an ECDSA key from a big-endian scalar of full length.
func ecPrivateFromScalar(info messages.CurveInfo, d []byte) (*ecdsa.PrivateKey, error) {
	if len(d) != info.ScalarLen {
		return nil, fmt.Errorf("%w: %s scalar must be %d bytes, got %d", ErrInvalidPrivateKey, info.Name, info.ScalarLen, len(d))
	}
	c := ellipticCurve(info.ID)
	if !isBrainpool(info.ID) {
		k, err := ecdsa.ParseRawPrivateKey(c, d)
		if err != nil {
			return nil, fmt.Errorf("%w: %s scalar: %v", ErrInvalidPrivateKey, info.Name, err)
		}
		return k, nil
	}
	D := new(big.Int).SetBytes(d)
	if D.Sign() == 0 || D.Cmp(c.Params().N) >= 0 {
		return nil, fmt.Errorf("%w: %s scalar not in [1, n-1]", ErrInvalidPrivateKey, info.Name)
	}
	x, y := c.ScalarBaseMult(d)
	return &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: c, X: x, Y: y}, D: D}, nil
}

// generateBrainpool draws d uniformly from [1, n-1] (FIPS 186-5 A.2.1, extra 64 bits).
func generateBrainpool(info messages.CurveInfo, rand io.Reader) (*ecdsa.PrivateKey, error) {
	n := ellipticCurve(info.ID).Params().N
	b := make([]byte, (n.BitLen()+64+7)/8)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("keys: reading randomness: %w", err)
	}
	k := new(big.Int).SetBytes(b)
	k.Mod(k, new(big.Int).Sub(n, big.NewInt(1)))
	k.Add(k, big.NewInt(1))
	return ecPrivateFromScalar(info, k.FillBytes(make([]byte, info.ScalarLen)))
}

// ecdhGeneric is ECKA-DH (BSI TR-03111) on an elliptic.Curve: x of d·Q. Brainpool
// curves have cofactor 1, so a validated Q never yields the identity for d in [1, n-1].
func ecdhGeneric(priv *ecdsa.PrivateKey, pub *ecdsa.PublicKey, size int) ([]byte, error) {
	x, y := priv.Curve.ScalarMult(pub.X, pub.Y, ecScalar(priv, size))
	if x.Sign() == 0 && y.Sign() == 0 {
		return nil, ErrWeakSharedSecret
	}
	return x.FillBytes(make([]byte, size)), nil
}

// ecdsaSignRaw signs a digest and returns r||s, each padded to size bytes.
func ecdsaSignRaw(rand io.Reader, priv *ecdsa.PrivateKey, digest []byte, size int) ([]byte, error) {
	r, s, err := ecdsa.Sign(rand, priv, digest)
	if err != nil {
		return nil, fmt.Errorf("keys: ECDSA signing: %w", err)
	}
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	return sig, nil
}

func ecdsaVerifyRaw(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	h := len(sig) / 2
	return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:h]), new(big.Int).SetBytes(sig[h:]))
}

// ecdsaVerifyDER accepts an ASN.1 DER Ecdsa-Sig-Value; it reports ok=false for anything
// that is not exactly one such SEQUENCE.
func ecdsaVerifyDER(pub *ecdsa.PublicKey, digest, sig []byte) (parsed, ok bool) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil {
		return false, false
	}
	return true, ecdsa.Verify(pub, digest, v.R, v.S)
}

// brainpoolP320r1 is missing from ProtonMail's brainpool package; it is built the same
// way, as the isomorphic image of brainpoolP320t1 (a = -3) under z (RFC 5639 §3.5).
var (
	p320Once sync.Once
	p320     *rcurve
)

func brainpoolP320r1() elliptic.Curve {
	p320Once.Do(func() {
		h := func(s string) *big.Int {
			v, ok := new(big.Int).SetString(s, 16)
			if !ok {
				panic("keys: bad brainpoolP320 constant")
			}
			return v
		}
		twisted := &elliptic.CurveParams{
			Name:    "brainpoolP320t1",
			P:       h("D35E472036BC4FB7E13C785ED201E065F98FCFA6F6F40DEF4F92B9EC7893EC28FCD412B1F1B32E27"),
			N:       h("D35E472036BC4FB7E13C785ED201E065F98FCFA5B68F12A32D482EC7EE8658E98691555B44C59311"),
			B:       h("A7F561E038EB1ED560B3D147DB782013064C19F27ED27C6780AAF77FB8A547CEB5B4FEF422340353"),
			Gx:      h("925BE9FB01AFC6FB4D3E7D4990010F813408AB106C4F09CB7EE07868CC136FFF3357F624A21BED52"),
			Gy:      h("63BA3A7A27483EBF6671DBEF7ABB30EBEE084E58A0B077AD42A5A0989D1EE71B1B9BC0455FB0D2C3"),
			BitSize: 320,
		}
		params := &elliptic.CurveParams{
			Name:    "brainpoolP320r1",
			P:       twisted.P,
			N:       twisted.N,
			B:       h("520883949DFDBC42D3AD198640688A6FE13F41349554B49ACC31DCCD884539816F5EB4AC8FB1F1A6"),
			Gx:      h("43BD7E9AFB53D8B85289BCC48EE5BFE6F20137D10A087EB6E7871E2A10A599C710AF8D0D39E20611"),
			Gy:      h("14FDD05545EC1CC8AB4093247F77275E0743FFED117182EAA9C77877AAAC6AC7D35245D1692E8EE1"),
			BitSize: 320,
		}
		z := h("15F75CAF668077F7E85B42EB01F0A81FF56ECD6191D55CB82B7D861458A18FEFC3E5AB7496F3C7B1")
		p320 = &rcurve{twisted: twisted, params: params, z: z, zinv: new(big.Int).ModInverse(z, twisted.P)}
	})
	return p320
}

// rcurve maps a random brainpool curve onto its twisted form: (x, y) -> (x·z², y·z³).
// The point at infinity is (0, 0) on both sides.
type rcurve struct {
	twisted *elliptic.CurveParams
	params  *elliptic.CurveParams
	z, zinv *big.Int
}

func (c *rcurve) scale(x, y, s *big.Int) (*big.Int, *big.Int) {
	p := c.params.P
	s2 := new(big.Int).Mul(s, s)
	s2.Mod(s2, p)
	s3 := new(big.Int).Mul(s2, s)
	s3.Mod(s3, p)
	tx := new(big.Int).Mul(x, s2)
	ty := new(big.Int).Mul(y, s3)
	return tx.Mod(tx, p), ty.Mod(ty, p)
}

func (c *rcurve) toTwisted(x, y *big.Int) (*big.Int, *big.Int)   { return c.scale(x, y, c.z) }
func (c *rcurve) fromTwisted(x, y *big.Int) (*big.Int, *big.Int) { return c.scale(x, y, c.zinv) }

func (c *rcurve) Params() *elliptic.CurveParams { return c.params }

func (c *rcurve) IsOnCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || x.Cmp(c.params.P) >= 0 || y.Sign() < 0 || y.Cmp(c.params.P) >= 0 {
		return false
	}
	return c.twisted.IsOnCurve(c.toTwisted(x, y))
}

func (c *rcurve) Add(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	tx1, ty1 := c.toTwisted(x1, y1)
	tx2, ty2 := c.toTwisted(x2, y2)
	return c.fromTwisted(c.twisted.Add(tx1, ty1, tx2, ty2))
}

func (c *rcurve) Double(x1, y1 *big.Int) (*big.Int, *big.Int) {
	return c.fromTwisted(c.twisted.Double(c.toTwisted(x1, y1)))
}

func (c *rcurve) ScalarMult(x1, y1 *big.Int, k []byte) (*big.Int, *big.Int) {
	tx, ty := c.toTwisted(x1, y1)
	return c.fromTwisted(c.twisted.ScalarMult(tx, ty, k))
}

func (c *rcurve) ScalarBaseMult(k []byte) (*big.Int, *big.Int) {
	return c.ScalarMult(c.params.Gx, c.params.Gy, k)
}
