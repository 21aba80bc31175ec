package trust

import (
	"crypto/x509"

	"github.com/mdocgate/mdocgate/crypto/verify"
)

func verifyStore(certs ...*x509.Certificate) *verify.TrustStore {
	return verify.NewTrustStore(certs...)
}
