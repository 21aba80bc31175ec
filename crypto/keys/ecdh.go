package keys

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"fmt"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/mdocgate/mdocgate/messages"
)

// ECDH computes the shared secret Zab of ECKA-DH (BSI TR-03111) between priv and the
// peer's public COSE_Key: the x-coordinate, FieldSize bytes, for EC2 curves and the raw
// output for X25519/X448. Both keys must be on the same agreement curve; the peer key is
// validated, and an all-zero result (low-order peer point) is rejected.
func ECDH(priv *PrivateKey, peer *messages.COSEKey) ([]byte, error) {
	if !priv.info.Agreement {
		return nil, fmt.Errorf("%w: %s is not a key agreement curve", ErrUnsupportedCurve, priv.info.Name)
	}
	if peer == nil || peer.Crv != priv.info.ID {
		crv := int64(0)
		if peer != nil {
			crv = peer.Crv
		}
		return nil, fmt.Errorf("%w: own key %s, peer curve %d", ErrCurveMismatch, priv.info.Name, crv)
	}
	pub, err := PublicKeyFromCOSE(peer)
	if err != nil {
		return nil, fmt.Errorf("keys: ECDH peer key: %w", err)
	}
	var z []byte
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if priv.ecdh == nil { // brainpool
			z, err = ecdhGeneric(priv.ec, p, priv.info.FieldSize)
			break
		}
		var ep *ecdh.PublicKey
		if ep, err = p.ECDH(); err == nil {
			z, err = priv.ecdh.ECDH(ep)
		}
	case *ecdh.PublicKey:
		if z, err = priv.ecdh.ECDH(p); err != nil {
			// crypto/ecdh fails X25519 only on an all-zero output
			return nil, fmt.Errorf("%w: %v", ErrWeakSharedSecret, err)
		}
	case x448.Key:
		var out x448.Key
		if !x448.Shared(&out, priv.x448, &p) {
			return nil, ErrWeakSharedSecret
		}
		z = out[:]
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %s ECDH: %w", priv.info.Name, err)
	}
	if isZero(z) {
		return nil, ErrWeakSharedSecret
	}
	return z, nil
}
