package messages

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// COSE key types (RFC 9053).
const (
	KtyOKP = 1
	KtyEC2 = 2
)

// COSE curve identifiers as used by mdoc (RFC 9053 and the brainpool registrations).
const (
	CurveP256            = 1
	CurveP384            = 2
	CurveP521            = 3
	CurveX25519          = 4
	CurveX448            = 5
	CurveEd25519         = 6
	CurveEd448           = 7
	CurveBrainpoolP256r1 = 256
	CurveBrainpoolP320r1 = 257
	CurveBrainpoolP384r1 = 258
	CurveBrainpoolP512r1 = 259
)

// COSE_Key labels.
const (
	coseKeyKty = 1
	coseKeyKid = 2
	coseKeyAlg = 3
	coseKeyCrv = -1
	coseKeyX   = -2
	coseKeyY   = -3
	coseKeyD   = -4
)

// CurveInfo describes a curve of the mdoc cipher suite as COSE_Key sees it.
type CurveInfo struct {
	ID        int64
	Name      string
	Kty       int64
	FieldSize int  // bytes of one coordinate (EC2) or of the public key (OKP)
	ScalarLen int  // bytes of the private key
	Agreement bool // usable for ECDH (session and EMacKey)
	Signing   bool // usable for signatures
}

var curves = map[int64]CurveInfo{
	CurveP256:            {CurveP256, "P-256", KtyEC2, 32, 32, true, true},
	CurveP384:            {CurveP384, "P-384", KtyEC2, 48, 48, true, true},
	CurveP521:            {CurveP521, "P-521", KtyEC2, 66, 66, true, true},
	CurveX25519:          {CurveX25519, "X25519", KtyOKP, 32, 32, true, false},
	CurveX448:            {CurveX448, "X448", KtyOKP, 56, 56, true, false},
	CurveEd25519:         {CurveEd25519, "Ed25519", KtyOKP, 32, 32, false, true},
	CurveEd448:           {CurveEd448, "Ed448", KtyOKP, 57, 57, false, true},
	CurveBrainpoolP256r1: {CurveBrainpoolP256r1, "brainpoolP256r1", KtyEC2, 32, 32, true, true},
	CurveBrainpoolP320r1: {CurveBrainpoolP320r1, "brainpoolP320r1", KtyEC2, 40, 40, true, true},
	CurveBrainpoolP384r1: {CurveBrainpoolP384r1, "brainpoolP384r1", KtyEC2, 48, 48, true, true},
	CurveBrainpoolP512r1: {CurveBrainpoolP512r1, "brainpoolP512r1", KtyEC2, 64, 64, true, true},
}

// LookupCurve returns what is known of a COSE curve identifier.
func LookupCurve(id int64) (CurveInfo, bool) {
	c, ok := curves[id]
	return c, ok
}

// CurveByName finds a curve by its name ("P-256", "Ed25519", "brainpoolP256r1", ...).
func CurveByName(name string) (CurveInfo, bool) {
	for _, c := range curves {
		if c.Name == name {
			return c, true
		}
	}
	return CurveInfo{}, false
}

// COSEKey is a COSE_Key (RFC 9052 §7) of type EC2 or OKP.
//
// Decoding is lenient: EC coordinates and OKP keys shorter than the field size are
// left-padded with zeros (some producers strip leading zero bytes), and a compressed EC2
// point (y as a bool) is kept as YSign. Encoding is strict: coordinates are always written
// at full field length, labels in the order kty, kid, alg, crv, x, y, d, then others.
type COSEKey struct {
	Kty   int64
	Crv   int64
	X     []byte
	Y     []byte // nil for OKP keys and for compressed EC2 points
	YSign *bool  // set when y was sent as the sign bit of a compressed point
	D     []byte // private key; never present on the wire in mdoc
	KID   []byte
	Alg   *int64
	// Other holds labels this type does not model, in received order.
	Other Map[int64, cbor.RawMessage]
}

// Curve returns the CurveInfo of the key's curve.
func (k *COSEKey) Curve() (CurveInfo, error) {
	c, ok := curves[k.Crv]
	if !ok {
		return CurveInfo{}, fmt.Errorf("unsupported COSE curve %d", k.Crv)
	}
	if c.Kty != k.Kty {
		return CurveInfo{}, fmt.Errorf("COSE curve %s does not belong to key type %d", c.Name, k.Kty)
	}
	return c, nil
}

// Public returns a copy of k without the private part.
func (k *COSEKey) Public() *COSEKey {
	c := *k
	c.D = nil
	return &c
}

// Equal reports whether two keys denote the same public key on the same curve.
func (k *COSEKey) Equal(o *COSEKey) bool {
	return k.Kty == o.Kty && k.Crv == o.Crv && bytes.Equal(k.X, o.X) && bytes.Equal(k.Y, o.Y)
}

func leftPad(b []byte, n int) ([]byte, error) {
	if len(b) > n {
		return nil, fmt.Errorf("coordinate of %d bytes exceeds the field size %d", len(b), n)
	}
	if len(b) == n {
		return b, nil
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out, nil
}

// MarshalCBOR writes the key with full-length coordinates.
func (k COSEKey) MarshalCBOR() ([]byte, error) { return k.appendCBOR(nil) }

func (k COSEKey) appendCBOR(dst []byte) ([]byte, error) {
	c, err := k.Curve()
	if err != nil {
		return nil, err
	}
	var m Map[int64, any]
	m.reserve(5)
	m.Set(coseKeyKty, k.Kty)
	if k.KID != nil {
		m.Set(coseKeyKid, k.KID)
	}
	if k.Alg != nil {
		m.Set(coseKeyAlg, *k.Alg)
	}
	m.Set(coseKeyCrv, k.Crv)
	x, err := leftPad(k.X, c.FieldSize)
	if err != nil {
		return nil, err
	}
	m.Set(coseKeyX, x)
	if k.Kty == KtyEC2 {
		switch {
		case k.Y != nil:
			y, err := leftPad(k.Y, c.FieldSize)
			if err != nil {
				return nil, err
			}
			m.Set(coseKeyY, y)
		case k.YSign != nil:
			m.Set(coseKeyY, *k.YSign)
		default:
			return nil, errors.New("EC2 key without y")
		}
	}
	if k.D != nil {
		d, err := leftPad(k.D, c.ScalarLen)
		if err != nil {
			return nil, err
		}
		m.Set(coseKeyD, d)
	}
	for label, v := range k.Other.All() {
		m.Set(label, v)
	}
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes an EC2 or OKP COSE_Key.
func (k *COSEKey) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(k, data)
}

func (k *COSEKey) topMap() bool { return true }

func (k *COSEKey) decode(data []byte, t trust) error {
	var m Map[int64, cbor.RawMessage]
	if err := m.decode(data, t); err != nil {
		return fmt.Errorf("COSE_Key: %w", err)
	}
	*k = COSEKey{}
	if err := coseLabel(&m, coseKeyKty, func(raw []byte) error { return decodeInt(raw, &k.Kty) }); err != nil {
		return errors.Join(errors.New("COSE_Key: kty missing or not an integer"), unlessMissing(err))
	}
	if err := coseLabel(&m, coseKeyCrv, func(raw []byte) error { return decodeInt(raw, &k.Crv) }); err != nil {
		return errors.Join(errors.New("COSE_Key: crv missing or not an integer"), unlessMissing(err))
	}
	c, err := k.Curve()
	if err != nil {
		return fmt.Errorf("COSE_Key: %w", err)
	}
	var x []byte
	if err := coseLabel(&m, coseKeyX, func(raw []byte) error { return decodeBytes(raw, &x) }); err != nil {
		return errors.Join(errors.New("COSE_Key: x missing or not a byte string"), unlessMissing(err))
	}
	if k.X, err = leftPad(x, c.FieldSize); err != nil {
		return fmt.Errorf("COSE_Key x: %w", err)
	}
	if c.Kty == KtyEC2 {
		raw, ok := m.Get(coseKeyY)
		if !ok {
			return errors.New("COSE_Key: EC2 key without y")
		}
		var y []byte
		var sign bool
		switch {
		case isMajor(raw, majorBytes) && decodeBytes(raw, &y) == nil:
			if k.Y, err = leftPad(y, c.FieldSize); err != nil {
				return fmt.Errorf("COSE_Key y: %w", err)
			}
		case isMajor(raw, majorOther) && !isNullOrUndefined(raw) && decodeBool(raw, &sign) == nil:
			ys := sign
			k.YSign = &ys
		default:
			return errors.New("COSE_Key: y is neither a byte string nor a bool")
		}
	}
	var d []byte
	if err := coseLabel(&m, coseKeyD, func(raw []byte) error { return decodeBytes(raw, &d) }); err != nil && err != errLabelMissing {
		return err
	} else if err == nil {
		if k.D, err = leftPad(d, c.ScalarLen); err != nil {
			return fmt.Errorf("COSE_Key d: %w", err)
		}
	}
	if err := coseLabel(&m, coseKeyKid, func(raw []byte) error { return decodeBytes(raw, &k.KID) }); err != nil {
		// a kid that is not a byte string (text, undefined) is tolerated and dropped
		k.KID = nil
	}
	if raw, ok := m.Get(coseKeyAlg); ok {
		var alg int64
		if decodeInt(raw, &alg) == nil {
			a := alg
			k.Alg = &a
		}
	}
	for label, v := range m.All() {
		switch label {
		case coseKeyKty, coseKeyKid, coseKeyAlg, coseKeyCrv, coseKeyX, coseKeyY, coseKeyD:
		default:
			k.Other.Set(label, v)
		}
	}
	return nil
}

var errLabelMissing = errors.New("COSE_Key label missing")

// unlessMissing is err, or nil for a missing label (reported by the caller's message).
func unlessMissing(err error) error {
	if err == errLabelMissing {
		return nil
	}
	return err
}

// coseLabel decodes label's value with dec: errLabelMissing when absent, an error naming
// the label when null or not decodable.
func coseLabel(m *Map[int64, cbor.RawMessage], label int64, dec func([]byte) error) error {
	raw, ok := m.Get(label)
	if !ok {
		return errLabelMissing
	}
	if isNullOrUndefined(raw) {
		return fmt.Errorf("COSE_Key label %v: null", label)
	}
	if err := dec(raw); err != nil {
		return fmt.Errorf("COSE_Key label %v: %w", label, err)
	}
	return nil
}

// DecodeCOSEKey decodes a COSE_Key.
func DecodeCOSEKey(data []byte) (*COSEKey, error) {
	var k COSEKey
	if err := decodeAs("COSE_Key", data, &k); err != nil {
		return nil, err
	}
	return &k, nil
}
