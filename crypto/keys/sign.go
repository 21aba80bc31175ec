package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	cryptorand "crypto/rand"
	_ "crypto/sha256" // registers the hashes used by crypto.Hash.New
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/fxamacker/cbor/v2"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/veraison/go-cose"
)

// COSE algorithm identifiers (RFC 9053, RFC 9864 fully-specified algorithms).
const (
	AlgES256   int64 = -7  // ECDSA with SHA-256, any EC2 curve
	AlgES384   int64 = -35 // ECDSA with SHA-384, any EC2 curve
	AlgES512   int64 = -36 // ECDSA with SHA-512, any EC2 curve
	AlgEdDSA   int64 = -8  // EdDSA, Ed25519 or Ed448
	AlgESP256  int64 = -9  // ECDSA P-256 with SHA-256
	AlgESP384  int64 = -51 // ECDSA P-384 with SHA-384
	AlgESP512  int64 = -52 // ECDSA P-521 with SHA-512
	AlgEd25519 int64 = -19
	AlgEd448   int64 = -53
)

// DefaultAlg returns the COSE algorithm to sign with on curve: ES256/ES384/ES512 by the
// curve's size (brainpoolP320r1 gets ES384), EdDSA for Ed25519/Ed448, 0 for agreement-only
// or unknown curves.
func DefaultAlg(curve int64) int64 {
	switch curve {
	case messages.CurveP256, messages.CurveBrainpoolP256r1:
		return AlgES256
	case messages.CurveP384, messages.CurveBrainpoolP320r1, messages.CurveBrainpoolP384r1:
		return AlgES384
	case messages.CurveP521, messages.CurveBrainpoolP512r1:
		return AlgES512
	case messages.CurveEd25519, messages.CurveEd448:
		return AlgEdDSA
	}
	return 0
}

// ecdsaHash returns the hash of an ECDSA algorithm usable on curve.
func ecdsaHash(alg int64, info messages.CurveInfo) (crypto.Hash, error) {
	var h crypto.Hash
	var only int64
	switch alg {
	case AlgES256:
		h = crypto.SHA256
	case AlgES384:
		h = crypto.SHA384
	case AlgES512:
		h = crypto.SHA512
	case AlgESP256:
		h, only = crypto.SHA256, messages.CurveP256
	case AlgESP384:
		h, only = crypto.SHA384, messages.CurveP384
	case AlgESP512:
		h, only = crypto.SHA512, messages.CurveP521
	default:
		return 0, fmt.Errorf("%w: COSE alg %d on %s", ErrUnsupportedAlg, alg, info.Name)
	}
	if info.Kty != messages.KtyEC2 || (only != 0 && info.ID != only) {
		return 0, fmt.Errorf("%w: COSE alg %d on %s", ErrUnsupportedAlg, alg, info.Name)
	}
	return h, nil
}

func eddsaFits(alg int64, curve int64) bool {
	switch alg {
	case AlgEdDSA:
		return curve == messages.CurveEd25519 || curve == messages.CurveEd448
	case AlgEd25519:
		return curve == messages.CurveEd25519
	case AlgEd448:
		return curve == messages.CurveEd448
	}
	return false
}

// Sign signs msg (the COSE Sig_structure, not a digest) with alg and returns the COSE
// signature: r||s, each padded to the curve's size, for ECDSA; the RFC 8032 signature
// (pure, empty context) for EdDSA. rand nil means crypto/rand.
func Sign(priv *PrivateKey, alg int64, rand io.Reader, msg []byte) ([]byte, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	switch {
	case priv.info.Kty == messages.KtyEC2:
		h, err := ecdsaHash(alg, priv.info)
		if err != nil {
			return nil, err
		}
		hh := h.New()
		hh.Write(msg)
		return ecdsaSignRaw(rand, priv.ecKey(), hh.Sum(nil), priv.info.FieldSize)
	case priv.ed25519 != nil && eddsaFits(alg, messages.CurveEd25519):
		return ed25519.Sign(priv.ed25519, msg), nil
	case priv.ed448 != nil && eddsaFits(alg, messages.CurveEd448):
		return ed448.Sign(priv.ed448, msg, ""), nil
	}
	return nil, fmt.Errorf("%w: COSE alg %d on %s", ErrUnsupportedAlg, alg, priv.info.Name)
}

// SignSign1 makes a COSE_Sign1 with protected {1: alg} and the given unprotected header,
// signed over ["Signature1", protected, h”, payload] (messages.SigStructure). With
// detached the payload is signed but not carried. rand nil means crypto/rand.
func SignSign1(priv *PrivateKey, alg int64, rand io.Reader, unprotected cbor.RawMessage, payload []byte, detached bool) (*messages.CoseSign1, error) {
	if alg == 0 {
		return nil, fmt.Errorf("no signature algorithm for COSE curve %d", priv.Curve())
	}
	protected := messages.EncodeProtectedHeader(alg)
	sig, err := Sign(priv, alg, rand, messages.SigStructure(protected, payload))
	if err != nil {
		return nil, err
	}
	s := &messages.CoseSign1{Protected: protected, Unprotected: unprotected, Detached: detached, Signature: sig}
	if !detached {
		s.Payload = payload
	}
	return s, nil
}

// Verify checks a COSE signature made with alg over msg. pub is any type PublicKeyFromCOSE
// returns, or a *messages.COSEKey. It also accepts an ASN.1 DER ECDSA signature; use
// VerifyDetail to learn that it was one.
func Verify(pub crypto.PublicKey, alg int64, msg, sig []byte) error {
	_, err := VerifyDetail(pub, alg, msg, sig)
	return err
}

// VerifyDetail is Verify that also reports whether an ECDSA signature was taken as ASN.1
// DER (not COSE's r||s), which some wallets send. The encoding is decided by the
// signature's length before any arithmetic: exactly twice the field size is r||s,
// anything else must be one DER Ecdsa-Sig-Value; so each signature is verified at most
// once. A nil error means the signature is valid; a bad signature gives an error
// wrapping ErrVerification.
func VerifyDetail(pub crypto.PublicKey, alg int64, msg, sig []byte) (derEncoded bool, err error) {
	if c, ok := pub.(*messages.COSEKey); ok {
		if pub, err = PublicKeyFromCOSE(c); err != nil {
			return false, err
		}
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		id := curveIDOf(p)
		info, lerr := lookup(id)
		if lerr != nil {
			return false, lerr
		}
		h, err := ecdsaHash(alg, info)
		if err != nil {
			return false, err
		}
		hh := h.New()
		hh.Write(msg)
		digest := hh.Sum(nil)
		// One encoding, one verification: a signature of COSE's r||s length is r||s even
		// when its bytes also parse as DER, so no signature is verified twice.
		if len(sig) == 2*info.FieldSize {
			if ecdsaVerifyRaw(p, digest, sig) {
				return false, nil
			}
			return false, fmt.Errorf("%w: %s ECDSA signature", ErrVerification, info.Name)
		}
		if parsed, ok := ecdsaVerifyDER(p, digest, sig); parsed {
			if ok {
				return true, nil
			}
			return true, fmt.Errorf("%w: %s DER ECDSA signature", ErrVerification, info.Name)
		}
		return false, fmt.Errorf("%w: %s signature must be %d bytes, got %d", ErrVerification, info.Name, 2*info.FieldSize, len(sig))
	case ed25519.PublicKey:
		if !eddsaFits(alg, messages.CurveEd25519) {
			return false, fmt.Errorf("%w: COSE alg %d on Ed25519", ErrUnsupportedAlg, alg)
		}
		if len(p) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
			return false, fmt.Errorf("%w: Ed25519 key or signature length", ErrVerification)
		}
		if !ed25519.Verify(p, msg, sig) {
			return false, fmt.Errorf("%w: Ed25519 signature", ErrVerification)
		}
		return false, nil
	case ed448.PublicKey:
		if !eddsaFits(alg, messages.CurveEd448) {
			return false, fmt.Errorf("%w: COSE alg %d on Ed448", ErrUnsupportedAlg, alg)
		}
		if len(p) != ed448.PublicKeySize || len(sig) != ed448.SignatureSize {
			return false, fmt.Errorf("%w: Ed448 key or signature length", ErrVerification)
		}
		if !ed448.Verify(p, msg, sig, "") {
			return false, fmt.Errorf("%w: Ed448 signature", ErrVerification)
		}
		return false, nil
	}
	return false, fmt.Errorf("%w: COSE alg %d with a %T", ErrUnsupportedAlg, alg, pub)
}

// COSESigner adapts priv to go-cose for alg; it works on every signing curve, brainpool
// and Ed448 included. The signatures are those of Sign.
func COSESigner(priv *PrivateKey, alg int64) (cose.Signer, error) {
	if err := checkAlg(priv.info, alg); err != nil {
		return nil, err
	}
	return &coseSigner{priv: priv, alg: alg}, nil
}

// COSEVerifier adapts pub (as for Verify) to go-cose for alg. Failures wrap both
// cose.ErrVerification and ErrVerification.
func COSEVerifier(alg int64, pub crypto.PublicKey) (cose.Verifier, error) {
	if c, ok := pub.(*messages.COSEKey); ok {
		var err error
		if pub, err = PublicKeyFromCOSE(c); err != nil {
			return nil, err
		}
	}
	// a probe with an empty signature separates alg/key misfits from bad signatures
	if _, err := VerifyDetail(pub, alg, nil, nil); err != nil && !errors.Is(err, ErrVerification) {
		return nil, err
	}
	return &coseVerifier{pub: pub, alg: alg}, nil
}

type coseSigner struct {
	priv *PrivateKey
	alg  int64
}

func (s *coseSigner) Algorithm() cose.Algorithm { return cose.Algorithm(s.alg) }

func (s *coseSigner) Sign(rand io.Reader, content []byte) ([]byte, error) {
	return Sign(s.priv, s.alg, rand, content)
}

type coseVerifier struct {
	pub crypto.PublicKey
	alg int64
}

func (v *coseVerifier) Algorithm() cose.Algorithm { return cose.Algorithm(v.alg) }

func (v *coseVerifier) Verify(content, sig []byte) error {
	if err := Verify(v.pub, v.alg, content, sig); err != nil {
		if errors.Is(err, ErrVerification) {
			return fmt.Errorf("%w: %w", cose.ErrVerification, err)
		}
		return err
	}
	return nil
}

// checkAlg reports whether alg can sign or verify on curve info.
func checkAlg(info messages.CurveInfo, alg int64) error {
	if info.Kty == messages.KtyEC2 {
		_, err := ecdsaHash(alg, info)
		return err
	}
	if !eddsaFits(alg, info.ID) {
		return fmt.Errorf("%w: COSE alg %d on %s", ErrUnsupportedAlg, alg, info.Name)
	}
	return nil
}
