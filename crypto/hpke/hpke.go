// Package hpke is the Hybrid Public Key Encryption of ISO/IEC 18013-7 Annex C (mdoc
// presentation through the Digital Credentials API): RFC 9180 base mode with the suite
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, one message per context
// (single-shot). The primitives are github.com/cloudflare/circl's; this package fixes
// the suite, converts keys to and from COSE_Key, and bounds its inputs.
package hpke

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	circl "github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"

	"github.com/mdocgate/mdocgate/messages"
)

// The suite of Annex C.
const (
	KEM  = circl.KEM_P256_HKDF_SHA256
	KDF  = circl.KDF_HKDF_SHA256
	AEAD = circl.AEAD_AES128GCM
)

// EncLen is the length of the encapsulated key: an uncompressed P-256 point.
const EncLen = 65

// Errors. Every error of Open wraps ErrOpen: a wrong key, a wrong info, a tampered enc
// or ciphertext all look the same from outside.
var (
	ErrOpen = errors.New("hpke: cannot open the ciphertext")
	ErrKey  = errors.New("hpke: not a P-256 key")
)

var suite = circl.NewSuite(KEM, KDF, AEAD)

// PrivateKey is a recipient's key pair.
type PrivateKey struct {
	priv kem.PrivateKey
	pub  kem.PublicKey
}

// GenerateKey makes a fresh recipient key (rand nil: crypto/rand).
func GenerateKey(rnd io.Reader) (*PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, KEM.Scheme().SeedSize())
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, err
	}
	pub, priv := KEM.Scheme().DeriveKeyPair(seed)
	return &PrivateKey{priv: priv, pub: pub}, nil
}

// ParsePrivateKey reads a P-256 private scalar (32 bytes, big-endian).
func ParsePrivateKey(scalar []byte) (*PrivateKey, error) {
	priv, err := KEM.Scheme().UnmarshalBinaryPrivateKey(scalar)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrKey, err)
	}
	return &PrivateKey{priv: priv, pub: priv.Public()}, nil
}

// PublicKey is the public key as an uncompressed point (0x04 ‖ X ‖ Y).
func (k *PrivateKey) PublicKey() []byte {
	b, _ := k.pub.MarshalBinary()
	return b
}

// COSEKey is the public key as the COSE_Key of EncryptionInfo's recipientPublicKey.
func (k *PrivateKey) COSEKey() messages.COSEKey {
	p := k.PublicKey()
	return messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveP256, X: p[1:33], Y: p[33:65]}
}

// PointOf returns a P-256 COSE_Key's uncompressed point (coordinates shorter than 32
// bytes are left-padded, as some encoders drop leading zeros).
func PointOf(k *messages.COSEKey) ([]byte, error) {
	if k.Kty != messages.KtyEC2 || k.Crv != messages.CurveP256 || len(k.X) == 0 || len(k.X) > 32 || len(k.Y) == 0 || len(k.Y) > 32 {
		return nil, fmt.Errorf("%w: COSE_Key kty %d crv %d", ErrKey, k.Kty, k.Crv)
	}
	p := make([]byte, EncLen)
	p[0] = 4
	copy(p[33-len(k.X):33], k.X)
	copy(p[65-len(k.Y):], k.Y)
	return p, nil
}

// Seal encrypts plaintext to the recipient's public key (an uncompressed point) in base
// mode with info and aad, and returns the encapsulated key and the ciphertext.
func Seal(recipient, info, aad, plaintext []byte, rnd io.Reader) (enc, ct []byte, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, err := KEM.Scheme().UnmarshalBinaryPublicKey(recipient)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: recipient: %v", ErrKey, err)
	}
	s, err := suite.NewSender(pub, info)
	if err != nil {
		return nil, nil, err
	}
	enc, sealer, err := s.Setup(rnd)
	if err != nil {
		return nil, nil, err
	}
	ct, err = sealer.Seal(plaintext, aad)
	return enc, ct, err
}

// Open decrypts a ciphertext sealed to k with the encapsulated key enc, info and aad.
// Any failure wraps ErrOpen.
func (k *PrivateKey) Open(enc, info, aad, ct []byte) ([]byte, error) {
	if len(enc) != EncLen {
		return nil, fmt.Errorf("%w: encapsulated key of %d bytes, want %d", ErrOpen, len(enc), EncLen)
	}
	if len(ct) < int(AEAD.CipherLen(0)) || len(ct) > messages.MaxMessageSize {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes", ErrOpen, len(ct))
	}
	r, err := suite.NewReceiver(k.priv, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	opener, err := r.Setup(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: encapsulated key: %v", ErrOpen, err)
	}
	pt, err := opener.Open(ct, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	return pt, nil
}
