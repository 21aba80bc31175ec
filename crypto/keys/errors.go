package keys

import "errors"

// Sentinel errors. Returned errors wrap one of these and name the failing check.
var (
	// ErrUnsupportedCurve: the COSE curve id is unknown, belongs to another key type, or
	// cannot be used for the requested operation (e.g. ECDH on Ed25519).
	ErrUnsupportedCurve = errors.New("keys: unsupported curve")
	// ErrInvalidPoint: a public key is malformed, off the curve, or the identity.
	ErrInvalidPoint = errors.New("keys: invalid public key")
	// ErrInvalidPrivateKey: a private scalar or seed is malformed or out of range, or does
	// not match the public part given with it.
	ErrInvalidPrivateKey = errors.New("keys: invalid private key")
	// ErrCurveMismatch: the two keys of an ECDH are on different curves.
	ErrCurveMismatch = errors.New("keys: keys are on different curves")
	// ErrUnsupportedAlg: the COSE algorithm is unknown or does not fit the key.
	ErrUnsupportedAlg = errors.New("keys: unsupported algorithm for this key")
	// ErrVerification: the signature does not verify.
	ErrVerification = errors.New("keys: signature verification failed")
	// ErrWeakSharedSecret: the ECDH output is all zeros (a low-order peer point).
	ErrWeakSharedSecret = errors.New("keys: ECDH produced an all-zero shared secret")
	// ErrKeyFormat: a key file is not in any accepted format.
	ErrKeyFormat = errors.New("keys: unrecognised key format")
)
