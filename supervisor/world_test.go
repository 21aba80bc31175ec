package supervisor

import (
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// world is the PKI of the engine's tests: an IACA the reader trusts with credentials
// under it, and the reader's own certificate. (Load runs have their own, with
// misbehaving holders' credentials: supervisor/load.)
type world struct {
	trust      *verify.TrustStore
	readerAuth *issuer.ReaderSigner
	valid      []*issuer.Credential
}

func newWorld() (*world, error) {
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "test IACA", NotBefore: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		return nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "test DS", NotBefore: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	rroot, err := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: "test reader root"})
	if err != nil {
		return nil, err
	}
	rcert, err := rroot.NewReaderCert(issuer.ReaderOptions{CommonName: "test gate"})
	if err != nil {
		return nil, err
	}
	dk, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	c, err := ds.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil), DeviceKey: dk.COSEKey(),
		Signed: now.Add(-time.Hour), ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(365 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	c.DevicePrivateKey = dk
	return &world{trust: verify.NewTrustStore(iaca.Certificate), readerAuth: rcert, valid: []*issuer.Credential{c}}, nil
}

// defaultReaderConfig asks for five mDL elements with reader authentication.
func defaultReaderConfig(w *world) *readersession.Config {
	return &readersession.Config{
		Request: []request.Doc{{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{{
			Name: issuer.NamespaceMDL, Elements: []string{"family_name", "given_name", "portrait", "age_over_18", "document_number"},
		}}}},
		ReaderAuth: w.readerAuth,
		Trust:      w.trust,
		Cache:      verify.NewChainCache(64),
	}
}
