// Package keys holds the ephemeral and static keys of every mdoc curve (ISO/IEC 18013-5
// cipher suite 1 and the ISO/IEC TS 23220-4 additions): NIST P-256/384/521, brainpoolP256r1,
// P320r1, P384r1 and P512r1, X25519, X448, Ed25519 and Ed448.
//
// It converts keys to and from COSE_Key (messages.COSEKey), computes the ECDH shared secret
// Zab of BSI TR-03111 used for session keys and EMacKey, and produces and checks COSE
// signatures (r||s for ECDSA, RFC 8032 for EdDSA). Every public key taken from the outside
// is validated: coordinates of full length, on the curve, not the identity.
//
// NIST curves, X25519 and Ed25519 use the standard library's constant-time code. Brainpool
// curves go through crypto/ecdsa's generic elliptic.Curve path and math/big, which is not
// constant time: fine for verification and for ephemeral keys on a phone-to-reader link,
// but do not use brainpool for long-lived keys exposed to timing attackers.
package keys
