package keys

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/mdocgate/mdocgate/messages"
)

// MaxKeyFileSize bounds the input of every key parser here.
const MaxKeyFileSize = 64 << 10

// ParsePrivateKey reads a private key in any of these forms: PEM "PRIVATE KEY" (PKCS#8) or
// "EC PRIVATE KEY" (SEC1); the same as raw DER; a JWK JSON object (kty "EC" with crv
// P-256/P-384/P-521, or "OKP" with Ed25519/X25519/Ed448/X448) with d; a COSE_Key in CBOR
// with d, as bytes or as hex text. Keys whose public part is given must match d.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: key file over %d bytes", ErrKeyFormat, MaxKeyFileSize)
	}
	text := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(text, []byte("-----BEGIN")):
		block, _ := pem.Decode(text)
		if block == nil {
			return nil, fmt.Errorf("%w: malformed PEM", ErrKeyFormat)
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: PKCS#8: %v", ErrKeyFormat, err)
			}
			return fromStdlib(k)
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: SEC1: %v", ErrKeyFormat, err)
			}
			return fromStdlib(k)
		}
		return nil, fmt.Errorf("%w: PEM block %q", ErrKeyFormat, block.Type)
	case bytes.HasPrefix(text, []byte("{")):
		j, err := parseJWK(text)
		if err != nil {
			return nil, err
		}
		if j.D == nil {
			return nil, fmt.Errorf("%w: JWK has no d", ErrInvalidPrivateKey)
		}
		return PrivateKeyFromCOSE(j)
	}
	if k, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return fromStdlib(k)
	}
	if k, err := x509.ParseECPrivateKey(data); err == nil {
		return fromStdlib(k)
	}
	raw := data
	if h, err := hex.DecodeString(string(text)); err == nil {
		raw = h
	}
	c, err := messages.DecodeCOSEKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not PEM, DER, JWK or COSE_Key (%v)", ErrKeyFormat, err)
	}
	return PrivateKeyFromCOSE(c)
}

// fromStdlib converts the private key types of crypto/x509.
func fromStdlib(k any) (*PrivateKey, error) {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		id := curveIDOf(&k.PublicKey)
		info, err := lookup(id)
		if err != nil {
			return nil, err
		}
		d, err := k.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidPrivateKey, err)
		}
		return privateFromBytes(info, d)
	case ed25519.PrivateKey:
		info, _ := lookup(messages.CurveEd25519)
		return privateFromBytes(info, k.Seed())
	case *ecdh.PrivateKey:
		var id int64
		switch k.Curve() {
		case ecdh.X25519():
			id = messages.CurveX25519
		case ecdh.P256():
			id = messages.CurveP256
		case ecdh.P384():
			id = messages.CurveP384
		case ecdh.P521():
			id = messages.CurveP521
		}
		info, err := lookup(id)
		if err != nil {
			return nil, err
		}
		return privateFromBytes(info, k.Bytes())
	}
	return nil, fmt.Errorf("%w: %T keys are not mdoc keys", ErrUnsupportedCurve, k)
}

// MarshalPrivateKeyPEM encodes k as a PEM "PRIVATE KEY" (PKCS#8). crypto/x509 has no
// PKCS#8 form for brainpool, X448 and Ed448 keys; those give an error wrapping
// ErrUnsupportedCurve (store them as a COSE_Key with COSEKeyWithPrivate instead).
func MarshalPrivateKeyPEM(k *PrivateKey) ([]byte, error) {
	var v any
	switch {
	case k.info.Kty == messages.KtyEC2 && !isBrainpool(k.info.ID):
		v = k.ecKey()
	case k.ecdh != nil:
		v = k.ecdh
	case k.ed25519 != nil:
		v = k.ed25519
	default:
		return nil, fmt.Errorf("%w: crypto/x509 cannot write %s keys as PKCS#8; use a COSE_Key", ErrUnsupportedCurve, k.info.Name)
	}
	der, err := x509.MarshalPKCS8PrivateKey(v)
	if err != nil {
		return nil, fmt.Errorf("keys: PKCS#8 of %s key: %w", k.info.Name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

type jwkFields struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// parseJWK maps an EC or OKP JWK to a COSE_Key (with D if the JWK has d) and validates the
// public key. Members must have their full RFC 7518/8037 length.
func parseJWK(data []byte) (*messages.COSEKey, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: JWK over %d bytes", ErrKeyFormat, MaxKeyFileSize)
	}
	var j jwkFields
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%w: JWK: %v", ErrKeyFormat, err)
	}
	info, ok := messages.CurveByName(j.Crv)
	if !ok {
		return nil, fmt.Errorf("%w: JWK crv %q", ErrUnsupportedCurve, j.Crv)
	}
	wantKty := map[int64]string{messages.KtyEC2: "EC", messages.KtyOKP: "OKP"}[info.Kty]
	if j.Kty != wantKty || isBrainpool(info.ID) {
		return nil, fmt.Errorf("%w: JWK kty %q with crv %q", ErrUnsupportedCurve, j.Kty, j.Crv)
	}
	field := func(name, v string, n int) ([]byte, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
		if err != nil {
			return nil, fmt.Errorf("%w: JWK %s: %v", ErrKeyFormat, name, err)
		}
		if len(b) != n {
			return nil, fmt.Errorf("%w: JWK %s must be %d bytes, got %d", ErrInvalidPoint, name, n, len(b))
		}
		return b, nil
	}
	c := &messages.COSEKey{Kty: info.Kty, Crv: info.ID}
	var err error
	if c.X, err = field("x", j.X, info.FieldSize); err != nil {
		return nil, err
	}
	if info.Kty == messages.KtyEC2 {
		if c.Y, err = field("y", j.Y, info.FieldSize); err != nil {
			return nil, err
		}
	}
	if _, err := PublicKeyFromCOSE(c); err != nil {
		return nil, err
	}
	if j.D != "" {
		if c.D, err = field("d", j.D, info.ScalarLen); err != nil {
			return nil, errors.Join(ErrInvalidPrivateKey, err)
		}
	}
	return c, nil
}

// MarshalPrivateKey encodes k as a PEM "PRIVATE KEY" (PKCS#8), or, on the curves
// PKCS#8 cannot carry (brainpool, X448, Ed448), as a COSE_Key with d in CBOR.
// ParsePrivateKey reads both.
func MarshalPrivateKey(k *PrivateKey) ([]byte, error) {
	b, err := MarshalPrivateKeyPEM(k)
	if errors.Is(err, ErrUnsupportedCurve) {
		var enc messages.EncodedCBOR
		if enc, err = messages.EncodeToCBOR(k.COSEKeyWithPrivate()); err == nil {
			b = enc.Content()
		}
	}
	return b, err
}

// ParsePublicKey reads a public key in any of these forms: a JWK; any private key
// ParsePrivateKey reads (its public part); a COSE_Key in CBOR, as bytes or as hex text,
// bare or as tag-24 COSE_KeyBytes (EReaderKeyBytes). A bare COSE_Key is decoded, not
// checked against its curve.
func ParsePublicKey(data []byte) (*messages.COSEKey, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: key file over %d bytes", ErrKeyFormat, MaxKeyFileSize)
	}
	if k, err := ParsePublicKeyJWK(data); err == nil {
		return k, nil
	}
	if k, err := ParsePrivateKey(data); err == nil {
		return k.COSEKey(), nil
	}
	if h, ok := messages.HexText(data); ok {
		data = h
	}
	if len(data) > 2 && data[0] == 0xd8 && data[1] == 0x18 { // COSE_KeyBytes
		e, err := messages.ParseEncodedCBOR(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyFormat, err)
		}
		data = e.Content()
	}
	k, err := messages.DecodeCOSEKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWK, private key or COSE_Key (%v)", ErrKeyFormat, err)
	}
	return k, nil
}

// ParsePublicKeyJWK reads the public part of an EC (P-256/384/521) or OKP JWK as a
// validated COSE_Key; a d member is ignored.
func ParsePublicKeyJWK(data []byte) (*messages.COSEKey, error) {
	c, err := parseJWK(data)
	if err != nil {
		return nil, err
	}
	return c.Public(), nil
}

// JWKThumbprint returns the RFC 7638 SHA-256 thumbprint of a JWK (kty EC, OKP, RSA or
// oct): the hash of its required members, sorted, without whitespace.
func JWKThumbprint(jwkJSON []byte) ([]byte, error) {
	if len(jwkJSON) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: JWK over %d bytes", ErrKeyFormat, MaxKeyFileSize)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(jwkJSON, &m); err != nil {
		return nil, fmt.Errorf("%w: JWK: %v", ErrKeyFormat, err)
	}
	var kty string
	if err := json.Unmarshal(m["kty"], &kty); err != nil {
		return nil, fmt.Errorf("%w: JWK kty missing or not a string", ErrKeyFormat)
	}
	required := map[string][]string{ // already in lexicographic order
		"EC":  {"crv", "kty", "x", "y"},
		"OKP": {"crv", "kty", "x"},
		"RSA": {"e", "kty", "n"},
		"oct": {"k", "kty"},
	}[kty]
	if required == nil {
		return nil, fmt.Errorf("%w: JWK kty %q", ErrKeyFormat, kty)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, name := range required {
		var v string
		if err := json.Unmarshal(m[name], &v); err != nil {
			return nil, fmt.Errorf("%w: JWK member %q missing or not a string", ErrKeyFormat, name)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(name)
		buf.Truncate(buf.Len() - 1) // Encode appends a newline
		buf.WriteByte(':')
		_ = enc.Encode(v)
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	sum := sha256.Sum256(buf.Bytes())
	return sum[:], nil
}
