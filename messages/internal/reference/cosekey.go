package reference

import (
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

// COSEKey is a COSE_Key (RFC 9052 §7) of type EC2 or OKP.
//
// Decoding is lenient: EC coordinates and OKP keys shorter than the field size are
// left-padded with zeros (some producers strip leading zero bytes), and a compressed EC2
// point (y as a bool) is kept as YSign.
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

// UnmarshalCBOR decodes an EC2 or OKP COSE_Key.
func (k *COSEKey) UnmarshalCBOR(data []byte) error {
	var m Map[int64, cbor.RawMessage]
	if err := m.UnmarshalCBOR(data); err != nil {
		return fmt.Errorf("COSE_Key: %w", err)
	}
	*k = COSEKey{}
	field := func(label int64, v any) (bool, error) {
		raw, ok := m.Get(label)
		if !ok {
			return false, nil
		}
		if isNullOrUndefined(raw) {
			return true, fmt.Errorf("COSE_Key label %d: null", label)
		}
		if err := decodeValue(raw, v); err != nil {
			return true, fmt.Errorf("COSE_Key label %d: %w", label, err)
		}
		return true, nil
	}
	if ok, err := field(coseKeyKty, &k.Kty); err != nil || !ok {
		return errors.Join(errors.New("COSE_Key: kty missing or not an integer"), err)
	}
	if ok, err := field(coseKeyCrv, &k.Crv); err != nil || !ok {
		return errors.Join(errors.New("COSE_Key: crv missing or not an integer"), err)
	}
	c, err := k.Curve()
	if err != nil {
		return fmt.Errorf("COSE_Key: %w", err)
	}
	var x []byte
	if ok, err := field(coseKeyX, &x); err != nil || !ok {
		return errors.Join(errors.New("COSE_Key: x missing or not a byte string"), err)
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
		case isMajor(raw, majorOther) && !isNullOrUndefined(raw) && decMode.Unmarshal(raw, &sign) == nil:
			k.YSign = &sign
		default:
			return errors.New("COSE_Key: y is neither a byte string nor a bool")
		}
	}
	var d []byte
	if ok, err := field(coseKeyD, &d); err != nil {
		return err
	} else if ok {
		if k.D, err = leftPad(d, c.ScalarLen); err != nil {
			return fmt.Errorf("COSE_Key d: %w", err)
		}
	}
	if _, err := field(coseKeyKid, &k.KID); err != nil {
		// a kid that is not a byte string (text, undefined) is tolerated and dropped
		k.KID = nil
	}
	if raw, ok := m.Get(coseKeyAlg); ok {
		var alg int64
		if decMode.Unmarshal(raw, &alg) == nil {
			k.Alg = &alg
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

// DecodeCOSEKey decodes a COSE_Key.
func DecodeCOSEKey(data []byte) (*COSEKey, error) {
	var k COSEKey
	if err := decodeAs("COSE_Key", data, &k); err != nil {
		return nil, err
	}
	return &k, nil
}
