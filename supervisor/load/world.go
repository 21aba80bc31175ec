package load

import (
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// world is the PKI and credentials of a simulation.
type world struct {
	trust      *verify.TrustStore
	readerAuth *issuer.ReaderSigner
	readerRoot *verify.TrustStore
	valid      []*issuer.Credential
	expired    *issuer.Credential
	untrusted  *issuer.Credential
	// holderCache is shared by the simulated holders: they all meet the same readers.
	holderCache *verify.ChainCache
	// holderIndex is the simulated holders' wallet index of the credentials above.
	holderIndex *holder.Index
}

func newWorld() (*world, error) {
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "sim IACA", NotBefore: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		return nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "sim DS", NotBefore: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	rogue, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "rogue IACA"})
	if err != nil {
		return nil, err
	}
	rogueDS, err := rogue.NewDocumentSigner(issuer.DSOptions{CommonName: "rogue DS"})
	if err != nil {
		return nil, err
	}
	rroot, err := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: "sim reader root"})
	if err != nil {
		return nil, err
	}
	// the gate's reader certificate also signs the online lanes' requests: its DNS name is
	// their origin's host
	rcert, err := rroot.NewReaderCert(issuer.ReaderOptions{CommonName: "sim gate", Also23220: true, DNSNames: []string{"localhost"}})
	if err != nil {
		return nil, err
	}
	w := &world{trust: verify.NewTrustStore(iaca.Certificate), readerAuth: rcert, readerRoot: verify.NewTrustStore(rroot.Certificate),
		holderCache: verify.NewChainCache(16), holderIndex: holder.NewIndex()}
	now := time.Now().Truncate(time.Second)
	for i := 0; i < 8; i++ {
		c, err := issueMDL(ds, now.Add(-time.Hour), now.Add(365*24*time.Hour))
		if err != nil {
			return nil, err
		}
		w.valid = append(w.valid, c)
	}
	if w.expired, err = issueMDL(ds, now.Add(-3*time.Hour), now.Add(-2*time.Hour)); err != nil {
		return nil, err
	}
	if w.untrusted, err = issueMDL(rogueDS, now.Add(-time.Hour), now.Add(365*24*time.Hour)); err != nil {
		return nil, err
	}
	return w, nil
}

// freshIssuer makes an IACA and a DS named after name (valid from an hour ago) and
// issues an mDL under them, valid from a minute ago for a day.
func freshIssuer(name string) (*issuer.Authority, *issuer.Signer, *issuer.Credential, error) {
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: name + " IACA", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, nil, nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: name + " DS", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now().Truncate(time.Second)
	cred, err := issueMDL(ds, now.Add(-time.Minute), now.Add(24*time.Hour))
	return iaca, ds, cred, err
}

// issueMDL issues a sample mDL with a fresh P-256 device key, valid from..until.
func issueMDL(s *issuer.Signer, from, until time.Time) (*issuer.Credential, error) {
	dk, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return nil, err
	}
	c, err := s.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil),
		DeviceKey: dk.COSEKey(), Signed: from, ValidFrom: from, ValidUntil: until})
	if err != nil {
		return nil, err
	}
	c.DevicePrivateKey = dk
	return c, nil
}

// defaultElements are what the default session shape asks for.
var defaultElements = []string{"family_name", "given_name", "portrait", "age_over_18", "document_number"}

// defaultReaderConfig asks for the five mDL elements with reader authentication and
// trusts the simulation's IACA: the default session shape.
func defaultReaderConfig(w *world) *readersession.Config {
	return &readersession.Config{
		Request: []request.Doc{{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{{
			Name: issuer.NamespaceMDL, Elements: defaultElements,
		}}}},
		ReaderAuth: w.readerAuth,
		Trust:      w.trust,
		Cache:      verify.NewChainCache(64),
	}
}

// holderConfigFor is simulated holder number i showing behaviour b.
func holderConfigFor(b Behaviour, w *world, i int, cfg Config, methods []messages.RetrievalMethod) *actors.HolderConfig {
	hs := &holdersession.Config{Credentials: []*issuer.Credential{w.valid[i%len(w.valid)]}, UseMAC: i%2 == 0,
		ReaderTrust: w.readerRoot, ReaderTrustCache: w.holderCache, Index: w.holderIndex, Methods: methods}
	think := cfg.Think
	switch b {
	case Slow:
		think = cfg.Think*20 + cfg.Timeout/4
	case Tampered:
		hs.Misbehave = holdersession.TamperElement
	case Expired:
		hs.Credentials = []*issuer.Credential{w.expired}
	case Untrusted:
		hs.Credentials = []*issuer.Credential{w.untrusted}
	case WrongKey:
		hs.Misbehave = holdersession.WrongDeviceKey
	case Silent:
		hs.Misbehave = holdersession.Silent
	case Garbage:
		hs.Misbehave = holdersession.GarbageResponse
	}
	return &actors.HolderConfig{NewSession: func() (actors.HolderSession, error) { return holdersession.New(hs) }, Think: think}
}
