package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"fmt"
	"io"
	"sync"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/cloudflare/circl/ecc/goldilocks"
	"github.com/cloudflare/circl/sign/ed448"
	"github.com/mdocgate/mdocgate/messages"
)

// PrivateKey is a private key on one of the mdoc curves. The zero value is not usable;
// make one with Generate, PrivateKeyFromCOSE or ParsePrivateKey. It is immutable and safe
// for concurrent use.
type PrivateKey struct {
	info    messages.CurveInfo
	ec      *ecdsa.PrivateKey // brainpool always; NIST built on first use (ecKey)
	ecOnce  sync.Once
	ecdh    *ecdh.PrivateKey // NIST and X25519
	ed25519 ed25519.PrivateKey
	ed448   ed448.PrivateKey
	x448    *x448.Key // private; x448Pub is its public key
	x448Pub x448.Key
}

func lookup(curve int64) (messages.CurveInfo, error) {
	info, ok := messages.LookupCurve(curve)
	if !ok {
		return messages.CurveInfo{}, fmt.Errorf("%w: COSE curve %d", ErrUnsupportedCurve, curve)
	}
	return info, nil
}

// Generate creates a new key on curve (a messages.Curve* id). rand nil means crypto/rand.
// Since Go 1.26 the standard library ignores rand for NIST curves, X25519 and Ed25519 and
// always uses a secure source; brainpool, X448 and Ed448 keys are drawn from rand.
func Generate(curve int64, rand io.Reader) (*PrivateKey, error) {
	info, err := lookup(curve)
	if err != nil {
		return nil, err
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	k := &PrivateKey{info: info}
	switch {
	case isBrainpool(curve):
		k.ec, err = generateBrainpool(info, rand)
	case info.Kty == messages.KtyEC2:
		// one scalar multiplication: the ECDSA form is derived only if the key signs
		k.ecdh, err = ecdhCurve(curve).GenerateKey(rand)
	case curve == messages.CurveX25519:
		k.ecdh, err = ecdh.X25519().GenerateKey(rand)
	case curve == messages.CurveX448:
		var d x448.Key
		if _, err = io.ReadFull(rand, d[:]); err == nil {
			k.setX448(&d)
		}
	case curve == messages.CurveEd25519:
		_, k.ed25519, err = ed25519.GenerateKey(rand)
	case curve == messages.CurveEd448:
		_, k.ed448, err = ed448.GenerateKey(rand)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generating %s key: %w", info.Name, err)
	}
	return k, nil
}

func (k *PrivateKey) setX448(d *x448.Key) {
	k.x448 = d
	x448.KeyGen(&k.x448Pub, d)
}

// Curve returns the COSE curve id (messages.Curve*).
func (k *PrivateKey) Curve() int64 { return k.info.ID }

// Public returns the public key: *ecdsa.PublicKey (NIST and brainpool), *ecdh.PublicKey
// (X25519), x448.Key (X448), ed25519.PublicKey or ed448.PublicKey.
func (k *PrivateKey) Public() crypto.PublicKey {
	switch {
	case k.info.Kty == messages.KtyEC2:
		return &k.ecKey().PublicKey
	case k.ecdh != nil:
		return k.ecdh.PublicKey()
	case k.x448 != nil:
		return k.x448Pub
	case k.ed25519 != nil:
		return k.ed25519.Public()
	case k.ed448 != nil:
		return k.ed448.Public()
	}
	return nil
}

// Signer returns the key as a crypto.Signer (ASN.1 ECDSA signatures over a digest, or
// pure EdDSA with crypto.Hash(0)), or nil for the agreement-only curves X25519 and X448.
// COSE signatures come from Sign or COSESigner instead.
func (k *PrivateKey) Signer() crypto.Signer {
	switch {
	case k.info.Kty == messages.KtyEC2:
		return k.ecKey()
	case k.ed25519 != nil:
		return k.ed25519
	case k.ed448 != nil:
		return k.ed448
	}
	return nil
}

// COSEKey returns the public key as a COSE_Key with full-length coordinates.
func (k *PrivateKey) COSEKey() *messages.COSEKey {
	c := &messages.COSEKey{Kty: k.info.Kty, Crv: k.info.ID}
	switch {
	case isBrainpool(k.info.ID): // k.ec is set at construction and never changes
		c.X, c.Y = ecCoords(&k.ec.PublicKey, k.info.FieldSize)
	case k.info.Kty == messages.KtyEC2: // NIST key known in ECDH form: 04 || X || Y
		pub := k.ecdh.PublicKey().Bytes()
		n := k.info.FieldSize
		c.X, c.Y = bytes.Clone(pub[1:1+n]), bytes.Clone(pub[1+n:])
	case k.ecdh != nil:
		c.X = k.ecdh.PublicKey().Bytes()
	case k.x448 != nil:
		c.X = bytes.Clone(k.x448Pub[:])
	case k.ed25519 != nil:
		c.X = bytes.Clone(k.ed25519[ed25519.SeedSize:])
	case k.ed448 != nil:
		c.X = bytes.Clone(k.ed448[ed448.SeedSize:])
	}
	return c
}

// COSEKeyWithPrivate is COSEKey plus d: the scalar for EC2 and X25519/X448, the RFC 8032
// seed for Ed25519/Ed448.
func (k *PrivateKey) COSEKeyWithPrivate() *messages.COSEKey {
	c := k.COSEKey()
	c.D = k.privateBytes()
	return c
}

func (k *PrivateKey) privateBytes() []byte {
	switch {
	case isBrainpool(k.info.ID):
		return ecScalar(k.ec, k.info.ScalarLen)
	case k.ecdh != nil:
		return k.ecdh.Bytes()
	case k.x448 != nil:
		return bytes.Clone(k.x448[:])
	case k.ed25519 != nil:
		return bytes.Clone(k.ed25519.Seed())
	case k.ed448 != nil:
		return bytes.Clone(k.ed448.Seed())
	}
	return nil
}

// PrivateKeyFromCOSE builds a private key from a COSE_Key with d. When x (and y) are
// present they must equal d's public key.
func PrivateKeyFromCOSE(c *messages.COSEKey) (*PrivateKey, error) {
	info, err := coseCurve(c)
	if err != nil {
		return nil, err
	}
	if c.D == nil {
		return nil, fmt.Errorf("%w: COSE_Key has no d", ErrInvalidPrivateKey)
	}
	k, err := privateFromBytes(info, c.D)
	if err != nil {
		return nil, err
	}
	if c.X != nil {
		pub := k.COSEKey()
		ok := bytes.Equal(pub.X, c.X)
		switch {
		case info.Kty != messages.KtyEC2:
		case c.Y != nil:
			ok = ok && bytes.Equal(pub.Y, c.Y)
		case c.YSign != nil:
			ok = ok && *c.YSign == (pub.Y[len(pub.Y)-1]&1 == 1)
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s public key does not match d", ErrInvalidPrivateKey, info.Name)
		}
	}
	return k, nil
}

// privateFromBytes takes the scalar (EC2, X25519, X448) or seed (Ed25519, Ed448).
func privateFromBytes(info messages.CurveInfo, d []byte) (*PrivateKey, error) {
	if len(d) != info.ScalarLen {
		return nil, fmt.Errorf("%w: %s private key must be %d bytes, got %d", ErrInvalidPrivateKey, info.Name, info.ScalarLen, len(d))
	}
	k := &PrivateKey{info: info}
	var err error
	switch info.ID {
	case messages.CurveX25519:
		k.ecdh, err = ecdh.X25519().NewPrivateKey(d)
	case messages.CurveX448:
		var s x448.Key
		copy(s[:], d)
		k.setX448(&s)
	case messages.CurveEd25519:
		k.ed25519 = ed25519.NewKeyFromSeed(d)
	case messages.CurveEd448:
		k.ed448 = ed448.NewKeyFromSeed(d)
	default:
		if k.ec, err = ecPrivateFromScalar(info, d); err == nil && !isBrainpool(info.ID) {
			k.ecdh, err = k.ec.ECDH()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidPrivateKey, info.Name, err)
	}
	return k, nil
}

func coseCurve(c *messages.COSEKey) (messages.CurveInfo, error) {
	if c == nil {
		return messages.CurveInfo{}, fmt.Errorf("%w: nil COSE_Key", ErrInvalidPoint)
	}
	info, err := lookup(c.Crv)
	if err != nil {
		return info, err
	}
	if info.Kty != c.Kty {
		return info, fmt.Errorf("%w: %s with key type %d", ErrUnsupportedCurve, info.Name, c.Kty)
	}
	return info, nil
}

// PublicKeyFromCOSE validates a COSE_Key's public part and returns it as *ecdsa.PublicKey
// (NIST and brainpool), ed25519.PublicKey, ed448.PublicKey, *ecdh.PublicKey (X25519) or
// x448.Key. Coordinates must have full length and the point must be on the curve and not
// the identity; compressed points are decompressed for NIST curves only.
func PublicKeyFromCOSE(c *messages.COSEKey) (crypto.PublicKey, error) {
	info, err := coseCurve(c)
	if err != nil {
		return nil, err
	}
	if len(c.X) != info.FieldSize {
		return nil, fmt.Errorf("%w: %s x must be %d bytes, got %d", ErrInvalidPoint, info.Name, info.FieldSize, len(c.X))
	}
	switch info.ID {
	case messages.CurveX25519:
		if isZero(c.X) {
			return nil, fmt.Errorf("%w: X25519 u = 0", ErrInvalidPoint)
		}
		pub, err := ecdh.X25519().NewPublicKey(c.X)
		if err != nil {
			return nil, fmt.Errorf("%w: X25519: %v", ErrInvalidPoint, err)
		}
		return pub, nil
	case messages.CurveX448:
		if isZero(c.X) {
			return nil, fmt.Errorf("%w: X448 u = 0", ErrInvalidPoint)
		}
		var pub x448.Key
		copy(pub[:], c.X)
		return pub, nil
	case messages.CurveEd25519:
		if err := checkEd25519Point(c.X); err != nil {
			return nil, err
		}
		return ed25519.PublicKey(bytes.Clone(c.X)), nil
	case messages.CurveEd448:
		p, err := goldilocks.FromBytes(c.X)
		if err != nil {
			return nil, fmt.Errorf("%w: Ed448: %v", ErrInvalidPoint, err)
		}
		if p.IsIdentity() {
			return nil, fmt.Errorf("%w: Ed448 identity", ErrInvalidPoint)
		}
		return ed448.PublicKey(bytes.Clone(c.X)), nil
	}
	y := c.Y
	if y == nil {
		if c.YSign == nil {
			return nil, fmt.Errorf("%w: %s key without y", ErrInvalidPoint, info.Name)
		}
		if y, err = decompressNIST(info, c.X, *c.YSign); err != nil {
			return nil, err
		}
	}
	return ecPublicFromCoords(info, c.X, y)
}

// COSEKeyFromPublic is the inverse of PublicKeyFromCOSE (e.g. for a certificate's key):
// it accepts the types PublicKeyFromCOSE returns and also *ecdh.PublicKey on NIST curves.
// The result is validated like any received key.
func COSEKeyFromPublic(pub crypto.PublicKey) (*messages.COSEKey, error) {
	var c *messages.COSEKey
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		id := curveIDOf(p)
		if id == 0 {
			return nil, fmt.Errorf("%w: ECDSA key on %s", ErrUnsupportedCurve, p.Params().Name)
		}
		info, _ := lookup(id)
		c = &messages.COSEKey{Kty: messages.KtyEC2, Crv: id}
		c.X, c.Y = ecCoords(p, info.FieldSize)
	case *ecdh.PublicKey:
		switch p.Curve() {
		case ecdh.X25519():
			c = &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveX25519, X: p.Bytes()}
		case ecdh.P256(), ecdh.P384(), ecdh.P521():
			b := p.Bytes()[1:]
			id := map[int]int64{64: messages.CurveP256, 96: messages.CurveP384, 132: messages.CurveP521}[len(b)]
			c = &messages.COSEKey{Kty: messages.KtyEC2, Crv: id, X: b[:len(b)/2], Y: b[len(b)/2:]}
		}
	case x448.Key:
		c = &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveX448, X: bytes.Clone(p[:])}
	case ed25519.PublicKey:
		c = &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd25519, X: bytes.Clone(p)}
	case ed448.PublicKey:
		c = &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd448, X: bytes.Clone(p)}
	}
	if c == nil {
		return nil, fmt.Errorf("%w: public key type %T", ErrUnsupportedCurve, pub)
	}
	if _, err := PublicKeyFromCOSE(c); err != nil {
		return nil, err
	}
	return c, nil
}

// curveIDOf maps an ECDSA key's curve to its COSE id, 0 if none.
func curveIDOf(p *ecdsa.PublicKey) int64 {
	for _, id := range []int64{
		messages.CurveP256, messages.CurveP384, messages.CurveP521,
		messages.CurveBrainpoolP256r1, messages.CurveBrainpoolP320r1,
		messages.CurveBrainpoolP384r1, messages.CurveBrainpoolP512r1,
	} {
		c := ellipticCurve(id)
		if p.Curve == c || p.Params().Name == c.Params().Name && p.Params().P.Cmp(c.Params().P) == 0 {
			return id
		}
	}
	return 0
}

func isZero(b []byte) bool {
	var acc byte
	for _, v := range b {
		acc |= v
	}
	return acc == 0
}

// ecKey returns the EC2 key in ECDSA form, deriving it once from the ECDH form for NIST
// keys that were generated for key agreement.
func (k *PrivateKey) ecKey() *ecdsa.PrivateKey {
	if k.info.Kty != messages.KtyEC2 {
		return nil
	}
	k.ecOnce.Do(func() {
		if k.ec == nil && k.ecdh != nil {
			ec, err := ecdsa.ParseRawPrivateKey(ellipticCurve(k.info.ID), k.ecdh.Bytes())
			if err != nil {
				panic("keys: ECDH key has no ECDSA form: " + err.Error()) // cannot happen for NIST curves
			}
			k.ec = ec
		}
	})
	return k.ec
}

// ecdhCurve returns the crypto/ecdh curve of a NIST COSE curve.
func ecdhCurve(curve int64) ecdh.Curve {
	switch curve {
	case messages.CurveP384:
		return ecdh.P384()
	case messages.CurveP521:
		return ecdh.P521()
	default:
		return ecdh.P256()
	}
}
