package keys

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
)

const cryptoHash0 = crypto.Hash(0)

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha384Sum(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
func b64(b []byte) string       { return base64.RawURLEncoding.EncodeToString(b) }
