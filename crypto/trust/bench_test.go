package trust

import (
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

// What revocation adds to issuer data authentication once the list and the CRL are
// cached (the gate's steady state): the same credential verified without and with a
// status client, the DS chain cached either way.
func BenchmarkIssuerAuthRevocation(b *testing.B) {
	srv := newRevServer(b)
	pki := testpki.New(b, testpki.Options{CRLURL: srv.URL + "/crl"})
	now := time.Now()
	uri := srv.URL + "/status"
	srv.set("/status", MediaTypeStatusListCWT, signedList(b, pki.StatusListSigner(b), uri, make([]uint8, 100_000), now, now.Add(time.Hour), time.Hour))
	srv.set("/crl", "application/pkix-crl", pki.CRL(b))
	cred := pki.Issue(b, issuer.IssueRequest{StatusList: &messages.StatusListRef{Idx: 4711, URI: uri}})
	for _, tc := range []struct {
		name string
		rev  verify.Revocation
	}{{"off", nil}, {"status-list+crl", &StatusClient{}}} {
		b.Run(tc.name, func(b *testing.B) {
			opts := verify.Options{Trust: verify.NewTrustStore(pki.IACA.Certificate), Cache: verify.NewChainCache(0), Revocation: tc.rev}
			if d := verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts); !d.Valid {
				b.Fatalf("%+v", d.Checks)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				verify.VerifyIssuerSigned(&cred.IssuerSigned, cred.DocType, opts)
			}
		})
	}
}
