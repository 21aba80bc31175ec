package supervisor

import (
	"testing"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
)

// world is what the engine's tests run sessions with: the test PKI (internal/testpki),
// whose IACA the reader trusts, and an mDL under it. (Load runs have their own world,
// with misbehaving holders' credentials: supervisor/load.)
type world struct {
	pki   *testpki.PKI
	valid []*issuer.Credential
}

func newWorld(t testing.TB) *world {
	t.Helper()
	p := testpki.New(t, testpki.Options{})
	return &world{pki: p, valid: []*issuer.Credential{p.IssueOn(t, 0, issuer.IssueRequest{})}}
}

// defaultReaderConfig asks for five mDL elements with reader authentication.
func defaultReaderConfig(w *world) *readersession.Config {
	return &readersession.Config{
		Request:    testpki.MDLRequest("family_name", "given_name", "portrait", "age_over_18", "document_number"),
		ReaderAuth: w.pki.Reader,
		Trust:      verify.NewTrustStore(w.pki.IACA.Certificate),
		Cache:      verify.NewChainCache(64),
	}
}
