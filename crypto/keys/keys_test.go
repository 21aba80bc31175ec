package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/cloudflare/circl/sign/ed448"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/veraison/go-cose"
)

var allCurves = []int64{
	messages.CurveP256, messages.CurveP384, messages.CurveP521,
	messages.CurveX25519, messages.CurveX448, messages.CurveEd25519, messages.CurveEd448,
	messages.CurveBrainpoolP256r1, messages.CurveBrainpoolP320r1,
	messages.CurveBrainpoolP384r1, messages.CurveBrainpoolP512r1,
}

func curveName(id int64) string {
	info, _ := messages.LookupCurve(id)
	return info.Name
}

func curvesWhere(f func(messages.CurveInfo) bool) []int64 {
	var out []int64
	for _, id := range allCurves {
		if info, _ := messages.LookupCurve(id); f(info) {
			out = append(out, id)
		}
	}
	return out
}

func mustGenerate(t testing.TB, curve int64) *PrivateKey {
	t.Helper()
	k, err := Generate(curve, rand.Reader)
	if err != nil {
		t.Fatalf("Generate(%s): %v", curveName(curve), err)
	}
	return k
}

func TestGenerateRoundTrip(t *testing.T) {
	for _, id := range allCurves {
		t.Run(curveName(id), func(t *testing.T) {
			k := mustGenerate(t, id)
			if k.Curve() != id {
				t.Fatalf("Curve() = %d", k.Curve())
			}
			c := k.COSEKey()
			if c.D != nil {
				t.Fatal("COSEKey leaks d")
			}
			info, _ := messages.LookupCurve(id)
			if len(c.X) != info.FieldSize || (info.Kty == messages.KtyEC2 && len(c.Y) != info.FieldSize) {
				t.Fatalf("coordinate lengths %d/%d", len(c.X), len(c.Y))
			}
			// through CBOR and back
			enc, err := messages.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := messages.DecodeCOSEKey(enc)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := PublicKeyFromCOSE(dec)
			if err != nil {
				t.Fatalf("PublicKeyFromCOSE: %v", err)
			}
			back, err := COSEKeyFromPublic(pub)
			if err != nil {
				t.Fatalf("COSEKeyFromPublic: %v", err)
			}
			if !back.Equal(c) {
				t.Fatalf("public key round trip changed the key")
			}
			if eq, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && !eq.Equal(pub) {
				t.Fatal("Public() differs from the decoded key")
			}
			k2, err := PrivateKeyFromCOSE(k.COSEKeyWithPrivate())
			if err != nil {
				t.Fatalf("PrivateKeyFromCOSE: %v", err)
			}
			if !k2.COSEKey().Equal(c) || !bytes.Equal(k2.privateBytes(), k.privateBytes()) {
				t.Fatal("private key round trip changed the key")
			}
			if (k.Signer() != nil) != info.Signing {
				t.Fatalf("Signer() nil = %v for signing=%v", k.Signer() == nil, info.Signing)
			}
		})
	}
}

func TestGenerateUnsupported(t *testing.T) {
	if _, err := Generate(99, nil); !errors.Is(err, ErrUnsupportedCurve) {
		t.Fatalf("got %v", err)
	}
}

func TestECDHSymmetric(t *testing.T) {
	for _, id := range curvesWhere(func(c messages.CurveInfo) bool { return c.Agreement }) {
		t.Run(curveName(id), func(t *testing.T) {
			a, b := mustGenerate(t, id), mustGenerate(t, id)
			z1, err := ECDH(a, b.COSEKey())
			if err != nil {
				t.Fatal(err)
			}
			z2, err := ECDH(b, a.COSEKey())
			if err != nil {
				t.Fatal(err)
			}
			info, _ := messages.LookupCurve(id)
			if !bytes.Equal(z1, z2) || len(z1) != info.FieldSize {
				t.Fatalf("Zab differs or has length %d", len(z1))
			}
		})
	}
}

func TestECDHNegative(t *testing.T) {
	p256 := mustGenerate(t, messages.CurveP256)
	p384 := mustGenerate(t, messages.CurveP384)
	x25519 := mustGenerate(t, messages.CurveX25519)
	x448k := mustGenerate(t, messages.CurveX448)
	ed := mustGenerate(t, messages.CurveEd25519)
	bp := mustGenerate(t, messages.CurveBrainpoolP256r1)
	offCurve := p256.COSEKey()
	offCurve.Y = bytes.Clone(offCurve.Y)
	offCurve.Y[5] ^= 1
	bpOff := mustGenerate(t, messages.CurveBrainpoolP256r1).COSEKey()
	bpOff.Y[3] ^= 0x80
	// u = 1 is a low-order point on both Montgomery curves
	one25519 := &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveX25519, X: append([]byte{1}, make([]byte, 31)...)}
	one448 := &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveX448, X: append([]byte{1}, make([]byte, 55)...)}
	tests := []struct {
		name string
		priv *PrivateKey
		peer *messages.COSEKey
		want error
	}{
		{"curve mismatch", p256, p384.COSEKey(), ErrCurveMismatch},
		{"brainpool vs P-256", bp, p256.COSEKey(), ErrCurveMismatch},
		{"signing curve", ed, mustGenerate(t, messages.CurveEd25519).COSEKey(), ErrUnsupportedCurve},
		{"P-256 off curve", p256, offCurve, ErrInvalidPoint},
		{"brainpool off curve", bp, bpOff, ErrInvalidPoint},
		{"X25519 low order", x25519, one25519, ErrWeakSharedSecret},
		{"X448 low order", x448k, one448, ErrWeakSharedSecret},
		{"nil peer", p256, nil, ErrCurveMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ECDH(tt.priv, tt.peer); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPublicKeyFromCOSENegative(t *testing.T) {
	p256 := mustGenerate(t, messages.CurveP256).COSEKey()
	bp := mustGenerate(t, messages.CurveBrainpoolP384r1).COSEKey()
	with := func(c *messages.COSEKey, f func(*messages.COSEKey)) *messages.COSEKey {
		d := *c
		d.X, d.Y = bytes.Clone(c.X), bytes.Clone(c.Y)
		f(&d)
		return &d
	}
	tru := true
	pBytes := elliptic.P256().Params().P.FillBytes(make([]byte, 32))
	bpP := ellipticCurve(messages.CurveBrainpoolP384r1).Params().P
	tests := []struct {
		name string
		key  *messages.COSEKey
		want error
	}{
		{"unknown curve", with(p256, func(c *messages.COSEKey) { c.Crv = 42 }), ErrUnsupportedCurve},
		{"kty mismatch", with(p256, func(c *messages.COSEKey) { c.Kty = messages.KtyOKP }), ErrUnsupportedCurve},
		{"short x", with(p256, func(c *messages.COSEKey) { c.X = c.X[1:] }), ErrInvalidPoint},
		{"long y", with(p256, func(c *messages.COSEKey) { c.Y = append(c.Y, 0) }), ErrInvalidPoint},
		{"no y", with(p256, func(c *messages.COSEKey) { c.Y = nil }), ErrInvalidPoint},
		{"not on curve", with(p256, func(c *messages.COSEKey) { c.Y[31] ^= 1 }), ErrInvalidPoint},
		{"identity", with(p256, func(c *messages.COSEKey) { clear(c.X); clear(c.Y) }), ErrInvalidPoint},
		{"x = p", with(p256, func(c *messages.COSEKey) { c.X = bytes.Clone(pBytes) }), ErrInvalidPoint},
		{"brainpool off curve", with(bp, func(c *messages.COSEKey) { c.X[0] ^= 1 }), ErrInvalidPoint},
		{"brainpool identity", with(bp, func(c *messages.COSEKey) { clear(c.X); clear(c.Y) }), ErrInvalidPoint},
		// x + p is the same point mod p but not a valid encoding
		{"brainpool unreduced", with(bp, func(c *messages.COSEKey) {
			x := new(big.Int).Add(new(big.Int).SetBytes(c.X), bpP)
			if x.BitLen() <= 384 {
				c.X = x.FillBytes(make([]byte, 48))
			} else {
				c.X = bytes.Repeat([]byte{0xff}, 48)
			}
		}), ErrInvalidPoint},
		{"brainpool compressed", with(bp, func(c *messages.COSEKey) { c.Y = nil; c.YSign = &tru }), ErrInvalidPoint},
		{"X25519 zero", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveX25519, X: make([]byte, 32)}, ErrInvalidPoint},
		{"X448 short", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveX448, X: make([]byte, 55)}, ErrInvalidPoint},
		{"Ed25519 identity", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd25519, X: append([]byte{1}, make([]byte, 31)...)}, ErrInvalidPoint},
		// y = 2 gives x² = 3/(4d+1), a non-square mod p
		{"Ed25519 off curve", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd25519, X: append([]byte{2}, make([]byte, 31)...)}, ErrInvalidPoint},
		{"Ed25519 y >= p", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd25519, X: append(bytes.Repeat([]byte{0xff}, 31), 0x7f)}, ErrInvalidPoint},
		{"Ed448 identity", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd448, X: append([]byte{1}, make([]byte, 56)...)}, ErrInvalidPoint},
		{"Ed448 garbage", &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd448, X: bytes.Repeat([]byte{0xff}, 57)}, ErrInvalidPoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := PublicKeyFromCOSE(tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCompressedNIST(t *testing.T) {
	for _, id := range []int64{messages.CurveP256, messages.CurveP384, messages.CurveP521} {
		k := mustGenerate(t, id)
		full := k.COSEKey()
		sign := full.Y[len(full.Y)-1]&1 == 1
		comp := &messages.COSEKey{Kty: messages.KtyEC2, Crv: id, X: full.X, YSign: &sign}
		pub, err := PublicKeyFromCOSE(comp)
		if err != nil {
			t.Fatalf("%s: %v", curveName(id), err)
		}
		if !pub.(*ecdsa.PublicKey).Equal(k.Public()) {
			t.Fatalf("%s: decompressed to another point", curveName(id))
		}
		z, err := ECDH(mustGenerate(t, id), comp)
		if err != nil || len(z) == 0 {
			t.Fatalf("%s: ECDH with compressed peer: %v", curveName(id), err)
		}
		// the other sign is the negated point, also valid; a bad x is not
		bad := &messages.COSEKey{Kty: messages.KtyEC2, Crv: id, X: bytes.Repeat([]byte{0xff}, len(full.X)), YSign: &sign}
		if _, err := PublicKeyFromCOSE(bad); !errors.Is(err, ErrInvalidPoint) {
			t.Fatalf("%s: x = ff..ff accepted: %v", curveName(id), err)
		}
	}
}

func TestPrivateKeyFromCOSENegative(t *testing.T) {
	k := mustGenerate(t, messages.CurveP256)
	other := mustGenerate(t, messages.CurveP256)
	mismatch := k.COSEKeyWithPrivate()
	mismatch.X, mismatch.Y = other.COSEKey().X, other.COSEKey().Y
	noD := k.COSEKey()
	n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	outOfRange := &messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveP256, D: n}
	bpN := ellipticCurve(messages.CurveBrainpoolP256r1).Params().N.FillBytes(make([]byte, 32))
	bpOut := &messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveBrainpoolP256r1, D: bpN}
	zero := &messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveBrainpoolP256r1, D: make([]byte, 32)}
	short := &messages.COSEKey{Kty: messages.KtyOKP, Crv: messages.CurveEd25519, D: make([]byte, 31)}
	for name, c := range map[string]*messages.COSEKey{
		"public mismatch": mismatch, "no d": noD, "d = n": outOfRange,
		"brainpool d = n": bpOut, "brainpool d = 0": zero, "short seed": short,
	} {
		if _, err := PrivateKeyFromCOSE(c); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// Annex D: the published private keys give the published public keys and Zab values.
func TestAnnexD(t *testing.T) {
	load := func(prefix string) *PrivateKey {
		c := &messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveP256,
			X: testvectors.AnnexD(t, prefix+"_x.hex"), Y: testvectors.AnnexD(t, prefix+"_y.hex"), D: testvectors.AnnexD(t, prefix+"_d.hex")}
		k, err := PrivateKeyFromCOSE(c)
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		return k
	}
	eDevice, eReader, sDevice := load("edevice_key"), load("ereader_key"), load("sdevice_key")
	for name, tc := range map[string]struct {
		k    *PrivateKey
		file string
	}{
		"EDeviceKey": {eDevice, "edevice_key_cose.hex"},
		"EReaderKey": {eReader, "ereader_key_cose.hex"},
		"SDeviceKey": {sDevice, "sdevice_key_cose.hex"},
	} {
		got, err := messages.Marshal(tc.k.COSEKey())
		if err != nil {
			t.Fatal(err)
		}
		if want := testvectors.AnnexD(t, tc.file); !bytes.Equal(got, want) {
			t.Errorf("%s COSE_Key = %x, want %x", name, got, want)
		}
	}
	decode := func(file string) *messages.COSEKey {
		c, err := messages.DecodeCOSEKey(testvectors.AnnexD(t, file))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		priv *PrivateKey
		peer string
		want string
	}{
		{"session, mdoc side", eDevice, "ereader_key_cose.hex", "session_ecdh_zab.hex"},
		{"session, reader side", eReader, "edevice_key_cose.hex", "session_ecdh_zab.hex"},
		{"EMacKey, mdoc side", sDevice, "ereader_key_cose.hex", "emac_zab.hex"},
		{"EMacKey, reader side", eReader, "sdevice_key_cose.hex", "emac_zab.hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := ECDH(tt.priv, decode(tt.peer))
			if err != nil {
				t.Fatal(err)
			}
			if want := testvectors.AnnexD(t, tt.want); !bytes.Equal(z, want) {
				t.Fatalf("Zab = %x, want %x", z, want)
			}
		})
	}
	// ECDH with the tag-24 form as carried in DeviceEngagement
	e, err := messages.ParseEncodedCBOR(testvectors.AnnexD(t, "edevice_key_bytes.hex"))
	if err != nil {
		t.Fatal(err)
	}
	var ek messages.COSEKey
	if err := e.Decode(&ek); err != nil {
		t.Fatal(err)
	}
	if !ek.Equal(eDevice.COSEKey()) {
		t.Fatal("EDeviceKeyBytes content differs from EDeviceKey")
	}
}

var signAlgs = map[int64][]int64{
	messages.CurveP256:            {AlgES256, AlgESP256, AlgES384, AlgES512},
	messages.CurveP384:            {AlgES384, AlgESP384, AlgES256},
	messages.CurveP521:            {AlgES512, AlgESP512, AlgES256},
	messages.CurveEd25519:         {AlgEdDSA, AlgEd25519},
	messages.CurveEd448:           {AlgEdDSA, AlgEd448},
	messages.CurveBrainpoolP256r1: {AlgES256, AlgES384},
	messages.CurveBrainpoolP320r1: {AlgES384, AlgES256},
	messages.CurveBrainpoolP384r1: {AlgES384},
	messages.CurveBrainpoolP512r1: {AlgES512},
}

func TestSignVerify(t *testing.T) {
	msg := []byte("Sig_structure stand-in")
	for _, id := range curvesWhere(func(c messages.CurveInfo) bool { return c.Signing }) {
		k := mustGenerate(t, id)
		pub, err := PublicKeyFromCOSE(k.COSEKey())
		if err != nil {
			t.Fatal(err)
		}
		if DefaultAlg(id) == 0 {
			t.Errorf("%s: no default alg", curveName(id))
		}
		for _, alg := range signAlgs[id] {
			t.Run(curveName(id)+"/"+cose.Algorithm(alg).String(), func(t *testing.T) {
				sig, err := Sign(k, alg, rand.Reader, msg)
				if err != nil {
					t.Fatal(err)
				}
				info, _ := messages.LookupCurve(id)
				if info.Kty == messages.KtyEC2 && len(sig) != 2*info.FieldSize {
					t.Fatalf("signature length %d, want %d", len(sig), 2*info.FieldSize)
				}
				if der, err := VerifyDetail(pub, alg, msg, sig); err != nil || der {
					t.Fatalf("VerifyDetail = %v, %v", der, err)
				}
				if err := Verify(k.COSEKey(), alg, msg, sig); err != nil {
					t.Fatalf("Verify with COSEKey: %v", err)
				}
				for _, i := range []int{0, len(sig) / 2, len(sig) - 1} {
					bad := bytes.Clone(sig)
					bad[i] ^= 1
					if err := Verify(pub, alg, msg, bad); !errors.Is(err, ErrVerification) {
						t.Fatalf("flipped bit accepted: %v", err)
					}
				}
				if err := Verify(pub, alg, append(bytes.Clone(msg), 0), sig); !errors.Is(err, ErrVerification) {
					t.Fatalf("other message accepted: %v", err)
				}
				if err := Verify(pub, alg, msg, sig[:len(sig)-1]); !errors.Is(err, ErrVerification) {
					t.Fatalf("short signature accepted: %v", err)
				}
				// go-cose round trip through COSESigner / COSEVerifier
				signer, err := COSESigner(k, alg)
				if err != nil {
					t.Fatal(err)
				}
				verifier, err := COSEVerifier(alg, pub)
				if err != nil {
					t.Fatal(err)
				}
				m := cose.NewSign1Message()
				m.Headers.Protected.SetAlgorithm(cose.Algorithm(alg))
				m.Payload = msg
				if err := m.Sign(rand.Reader, nil, signer); err != nil {
					t.Fatal(err)
				}
				if err := m.Verify(nil, verifier); err != nil {
					t.Fatalf("go-cose verify: %v", err)
				}
				m.Payload = []byte("other")
				if err := m.Verify(nil, verifier); !errors.Is(err, cose.ErrVerification) {
					t.Fatalf("go-cose accepted another payload: %v", err)
				}
			})
		}
	}
}

func TestSignWrongAlg(t *testing.T) {
	tests := []struct {
		curve int64
		alg   int64
	}{
		{messages.CurveP256, AlgEdDSA},
		{messages.CurveP384, AlgESP256},
		{messages.CurveBrainpoolP256r1, AlgESP256},
		{messages.CurveEd25519, AlgEd448},
		{messages.CurveEd448, AlgES256},
		{messages.CurveX25519, AlgEdDSA},
		{messages.CurveP256, -257},
	}
	for _, tt := range tests {
		k := mustGenerate(t, tt.curve)
		if _, err := Sign(k, tt.alg, nil, []byte("m")); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("%s alg %d: Sign got %v", curveName(tt.curve), tt.alg, err)
		}
		if _, err := COSESigner(k, tt.alg); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("%s alg %d: COSESigner got %v", curveName(tt.curve), tt.alg, err)
		}
		if _, err := COSEVerifier(tt.alg, k.Public()); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("%s alg %d: COSEVerifier got %v", curveName(tt.curve), tt.alg, err)
		}
	}
}

func TestVerifyDER(t *testing.T) {
	msg := []byte("payload")
	for _, id := range []int64{messages.CurveP256, messages.CurveBrainpoolP320r1} {
		k := mustGenerate(t, id)
		alg := DefaultAlg(id)
		h := map[int64]func([]byte) []byte{AlgES256: sha256Sum, AlgES384: sha384Sum}[alg](msg)
		der, err := ecdsa.SignASN1(rand.Reader, k.ecKey(), h)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := VerifyDetail(k.Public(), alg, msg, der); err != nil || !got {
			t.Fatalf("%s: DER signature: der=%v err=%v", curveName(id), got, err)
		}
		der[len(der)-1] ^= 1
		if got, err := VerifyDetail(k.Public(), alg, msg, der); !errors.Is(err, ErrVerification) || !got {
			t.Fatalf("%s: bad DER signature: der=%v err=%v", curveName(id), got, err)
		}
	}
}

// Annex D readerAuth and issuerAuth are ES256 over P-256 certificate keys.
func TestVerifyAnnexDSignatures(t *testing.T) {
	for _, tc := range []struct{ cert, sign1, sigStructure string }{
		{"reader_cert.hex", "reader_auth.hex", "reader_auth_sig_structure.hex"},
		{"ds_cert.hex", "issuer_auth.hex", "issuer_auth_sig_structure.hex"},
	} {
		cert, err := x509.ParseCertificate(testvectors.AnnexD(t, tc.cert))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := COSEKeyFromPublic(cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		var s1 []any
		if err := messages.Unmarshal(testvectors.AnnexD(t, tc.sign1), &s1); err != nil {
			t.Fatal(err)
		}
		sig := s1[3].([]byte)
		tbs := testvectors.AnnexD(t, tc.sigStructure)
		if err := Verify(ck, AlgES256, tbs, sig); err != nil {
			t.Errorf("%s: %v", tc.sign1, err)
		}
		tbs[len(tbs)-1] ^= 1
		if err := Verify(ck, AlgES256, tbs, sig); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: tampered structure: %v", tc.sign1, err)
		}
	}
}

func TestCOSEKeyFromPublicTypes(t *testing.T) {
	ek, _ := ecdh.P384().GenerateKey(rand.Reader)
	c, err := COSEKeyFromPublic(ek.PublicKey())
	if err != nil || c.Crv != messages.CurveP384 {
		t.Fatalf("ecdh P-384: %v %v", c, err)
	}
	var xk x448.Key
	if _, err := COSEKeyFromPublic(xk); !errors.Is(err, ErrInvalidPoint) {
		t.Fatalf("zero X448 key: %v", err)
	}
	pub, _, _ := ed448.GenerateKey(rand.Reader)
	if c, err := COSEKeyFromPublic(pub); err != nil || c.Crv != messages.CurveEd448 {
		t.Fatalf("ed448: %v", err)
	}
	sk, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if _, err := COSEKeyFromPublic(&sk.PublicKey); !errors.Is(err, ErrUnsupportedCurve) {
		t.Fatalf("P-224: %v", err)
	}
	if _, err := COSEKeyFromPublic("nope"); !errors.Is(err, ErrUnsupportedCurve) {
		t.Fatalf("string: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	p256 := mustGenerate(t, messages.CurveP256)
	p384 := mustGenerate(t, messages.CurveP384)
	edk := mustGenerate(t, messages.CurveEd25519)
	xk := mustGenerate(t, messages.CurveX25519)
	bp := mustGenerate(t, messages.CurveBrainpoolP512r1)
	ed448k := mustGenerate(t, messages.CurveEd448)

	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(p384.ecKey())
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	ourPEM, err := MarshalPrivateKeyPEM(p256)
	if err != nil {
		t.Fatal(err)
	}
	coseBytes := func(k *PrivateKey) []byte {
		b, err := messages.Marshal(k.COSEKeyWithPrivate())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	jwk := func(kty string, k *PrivateKey, withD bool) []byte {
		c := k.COSEKeyWithPrivate()
		m := map[string]string{"kty": kty, "crv": curveName(k.Curve()), "x": b64(c.X)}
		if c.Y != nil {
			m["y"] = b64(c.Y)
		}
		if withD {
			m["d"] = b64(c.D)
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want *PrivateKey
	}{
		{"PEM PKCS#8 P-256 (stdlib)", pemOf("PRIVATE KEY", pkcs8(p256.ecKey())), p256},
		{"PEM PKCS#8 P-256 (ours)", ourPEM, p256},
		{"PEM SEC1 P-384", pemOf("EC PRIVATE KEY", sec1), p384},
		{"PEM PKCS#8 Ed25519", pemOf("PRIVATE KEY", pkcs8(edk.ed25519)), edk},
		{"PEM PKCS#8 X25519", pemOf("PRIVATE KEY", pkcs8(xk.ecdh)), xk},
		{"DER PKCS#8", pkcs8(p384.ecKey()), p384},
		{"DER SEC1", sec1, p384},
		{"JWK EC", jwk("EC", p256, true), p256},
		{"JWK OKP Ed25519", jwk("OKP", edk, true), edk},
		{"JWK OKP X25519", jwk("OKP", xk, true), xk},
		{"COSE_Key CBOR brainpool", coseBytes(bp), bp},
		{"COSE_Key hex Ed448", []byte(hex.EncodeToString(coseBytes(ed448k)) + "\n"), ed448k},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if k.Curve() != tt.want.Curve() || !bytes.Equal(k.privateBytes(), tt.want.privateBytes()) ||
				!k.COSEKey().Equal(tt.want.COSEKey()) {
				t.Fatal("parsed another key")
			}
		})
	}
	bad := map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("hello"),
		"PEM cert type": pemOf("CERTIFICATE", []byte{1, 2}),
		"JWK without d": jwk("EC", p256, false),
		"JWK kty wrong": jwk("OKP", p256, true),
		"too large":     make([]byte, MaxKeyFileSize+1),
		"COSE no d":     mustMarshal(t, p256.COSEKey()),
	}
	for name, in := range bad {
		if _, err := ParsePrivateKey(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, k := range []*PrivateKey{bp, ed448k, mustGenerate(t, messages.CurveX448)} {
		if _, err := MarshalPrivateKeyPEM(k); !errors.Is(err, ErrUnsupportedCurve) {
			t.Errorf("MarshalPrivateKeyPEM(%s) = %v", curveName(k.Curve()), err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := messages.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWK(t *testing.T) {
	data := testvectors.File(t, "iso18013-5", "oid4vp_verifier_jwk.json")
	got, err := JWKThumbprint(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.AnnexD(t, "oid4vp_jwk_thumbprint.hex"); !bytes.Equal(got, want) {
		t.Fatalf("thumbprint %x, want %x", got, want)
	}
	c, err := ParsePublicKeyJWK(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Crv != messages.CurveP256 || c.D != nil {
		t.Fatalf("parsed %+v", c)
	}
	// RFC 8037 appendix A.3 Ed25519 thumbprint
	okp := []byte(`{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`)
	got, err = JWKThumbprint(okp)
	if err != nil {
		t.Fatal(err)
	}
	if b64(got) != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("RFC 8037 thumbprint = %s", b64(got))
	}
	if _, err := ParsePublicKeyJWK(okp); err != nil {
		t.Fatal(err)
	}
	offCurve := strings.Replace(string(data), "DxiH5Q4Yx3UrukE2", "DxiH5Q4Yx3UrukE3", 1)
	if _, err := ParsePublicKeyJWK([]byte(offCurve)); !errors.Is(err, ErrInvalidPoint) {
		t.Fatalf("off-curve JWK: %v", err)
	}
	for _, bad := range []string{`{"kty":"EC"}`, `{"kty":"XYZ"}`, `[]`, `{"kty":"OKP","crv":"Ed25519"}`} {
		if _, err := JWKThumbprint([]byte(bad)); err == nil {
			t.Errorf("JWKThumbprint(%s) accepted", bad)
		}
	}
}

func TestSignerInterop(t *testing.T) {
	// crypto.Signer output verifies with the standard library
	k := mustGenerate(t, messages.CurveEd25519)
	sig, err := k.Signer().Sign(rand.Reader, []byte("m"), cryptoHash0)
	if err != nil || !ed25519.Verify(k.Public().(ed25519.PublicKey), []byte("m"), sig) {
		t.Fatalf("ed25519 Signer: %v", err)
	}
	if mustGenerate(t, messages.CurveX448).Signer() != nil {
		t.Fatal("X448 has a Signer")
	}
}

// A signature of COSE's r||s length is verified once, as r||s, even when its bytes
// also parse as DER: before, such a signature was verified a second time as DER.
func TestVerifyOneEncodingOnly(t *testing.T) {
	k := mustGenerate(t, messages.CurveP256)
	// a well-formed DER Ecdsa-Sig-Value of exactly 64 bytes: SEQUENCE { INTEGER (29 bytes), INTEGER (29 bytes) }
	sig := []byte{0x30, 62, 0x02, 29}
	sig = append(sig, bytes.Repeat([]byte{0x11}, 29)...)
	sig = append(sig, 0x02, 29)
	sig = append(sig, bytes.Repeat([]byte{0x22}, 29)...)
	if len(sig) != 64 {
		t.Fatalf("test signature is %d bytes", len(sig))
	}
	der, err := VerifyDetail(k.Public(), AlgES256, []byte("m"), sig)
	if !errors.Is(err, ErrVerification) {
		t.Fatalf("forged signature: %v", err)
	}
	if der {
		t.Fatal("a 64-byte P-256 signature was also tried as DER")
	}
}

func TestCostOrder(t *testing.T) {
	order := []int64{messages.CurveP256, messages.CurveEd448, messages.CurveP384, messages.CurveP521,
		messages.CurveBrainpoolP256r1, messages.CurveBrainpoolP320r1, messages.CurveBrainpoolP384r1, messages.CurveBrainpoolP512r1}
	for i := 1; i < len(order); i++ {
		if Cost(order[i]) <= Cost(order[i-1]) {
			t.Errorf("%s costs %d, not more than %s (%d)", curveName(order[i]), Cost(order[i]), curveName(order[i-1]), Cost(order[i-1]))
		}
	}
	if Cost(999) != MaxCost || PublicKeyCost("not a key") != MaxCost {
		t.Error("unknown keys must cost the most")
	}
	for _, id := range curvesWhere(func(c messages.CurveInfo) bool { return c.Signing }) {
		k := mustGenerate(t, id)
		if got := PublicKeyCost(k.Public()); got != Cost(id) {
			t.Errorf("%s: PublicKeyCost %d, Cost %d", curveName(id), got, Cost(id))
		}
		if got := PublicKeyCost(k.COSEKey()); got != Cost(id) {
			t.Errorf("%s: COSE key cost %d, Cost %d", curveName(id), got, Cost(id))
		}
	}
}
