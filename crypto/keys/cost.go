package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/mdocgate/mdocgate/messages"
)

// MaxCost is the cost of the dearest curve, charged for keys of unknown cost.
const MaxCost = 140

// Cost is the CPU cost of one signature verification or one key agreement on curve, in
// units of one P-256 ECDSA verification, so that a verifier can budget the work a
// stranger's message makes it do. The ratios are rounded up from
// `go test -run '^$' -bench 'Verify|ECDH' ./crypto/keys/` on amd64 (brainpool runs on
// math/big, hence its weight). Unknown curves cost MaxCost.
func Cost(curve int64) int {
	switch curve {
	case messages.CurveP256, messages.CurveEd25519, messages.CurveX25519:
		return 1
	case messages.CurveEd448, messages.CurveX448:
		return 3
	case messages.CurveP384:
		return 8
	case messages.CurveP521:
		return 36
	case messages.CurveBrainpoolP256r1:
		return 60
	case messages.CurveBrainpoolP320r1:
		return 85
	case messages.CurveBrainpoolP384r1:
		return 95
	case messages.CurveBrainpoolP512r1:
		return MaxCost
	}
	return MaxCost
}

// PublicKeyCost is Cost for the curve of pub: a key as PublicKeyFromCOSE returns it, a
// *messages.COSEKey, or an X.509 certificate's public key. RSA keys (only ever a trust
// anchor's, chosen by the operator) cost 1; keys of other types cost MaxCost.
func PublicKeyCost(pub crypto.PublicKey) int {
	switch p := pub.(type) {
	case *messages.COSEKey:
		return Cost(p.Crv)
	case *ecdsa.PublicKey:
		return Cost(curveIDOf(p))
	case ed25519.PublicKey:
		return Cost(messages.CurveEd25519)
	case ed448.PublicKey:
		return Cost(messages.CurveEd448)
	case *rsa.PublicKey:
		return 1
	}
	return MaxCost
}
