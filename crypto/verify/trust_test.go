package verify

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// trustFixture issues credentials with hostile certificates and presents them.
type trustFixture struct {
	pki   *testpki.PKI
	other *testpki.PKI
	st    *messages.SessionTranscript
	now   time.Time
}

func newTrustFixture(t *testing.T) *trustFixture {
	t.Helper()
	st, err := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	return &trustFixture{pki: testpki.New(t, testpki.Options{}), other: testpki.New(t, testpki.Options{Name: "other"}),
		st: st, now: time.Now()}
}

// issue signs an mDL with signer (sample data with the given elements replaced).
func issue(t *testing.T, signer *issuer.Signer, req issuer.IssueRequest, replace ...issuer.Element) *issuer.Credential {
	t.Helper()
	if req.DocType == "" {
		req.DocType = issuer.DocTypeMDL
	}
	if req.NameSpaces == nil {
		req.NameSpaces = issuer.SampleMDL(nil)
	}
	for _, r := range replace {
		ns := &req.NameSpaces[0]
		found := false
		for i := range ns.Elements {
			if ns.Elements[i].Identifier == r.Identifier {
				ns.Elements[i], found = r, true
			}
		}
		if !found {
			ns.Elements = append(ns.Elements, r)
		}
	}
	cred, err := signer.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func dsOf(t *testing.T, iaca *issuer.Authority, opts issuer.DSOptions) *issuer.Signer {
	t.Helper()
	ds, err := iaca.NewDocumentSigner(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// present builds a deviceSignature response disclosing everything.
func (f *trustFixture) present(t *testing.T, creds ...*issuer.Credential) []byte {
	t.Helper()
	p := holder.Presenter{Credentials: creds}
	resp, err := p.BuildResponse(nil, *f.st, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := messages.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resign replaces the credential's MSO by change(its CBOR) and signs it again with
// signer, as COSE r||s or, with der, as an ASN.1 DER signature.
func resign(t *testing.T, cred *issuer.Credential, signer *issuer.Signer, change func([]byte) []byte, der bool) {
	t.Helper()
	ia := &cred.IssuerSigned.IssuerAuth
	e, err := messages.ParseEncodedCBOR(ia.Payload)
	if err != nil {
		t.Fatal(err)
	}
	content := e.Content()
	if change != nil {
		content = change(bytes.Clone(content))
	}
	ia.Payload = messages.NewEncodedCBOR(content).Raw()
	tbs := messages.SigStructure(ia.Protected, ia.Payload)
	if der {
		h := sha256.Sum256(tbs)
		ia.Signature, err = signer.Key.Signer().Sign(rand.Reader, h[:], crypto.SHA256)
	} else {
		ia.Signature, err = keys.Sign(signer.Key, keys.AlgES256, nil, tbs)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// tdates rewrites every tdate "…Z" of an encoded MSO with rewrite(the tdate item).
func tdates(rewrite func(item []byte) []byte) func([]byte) []byte {
	return func(mso []byte) []byte {
		var out []byte
		for {
			i := bytes.Index(mso, []byte{0xc0, 0x74}) // tag 0, text of 20 bytes
			if i < 0 {
				return append(out, mso...)
			}
			out = append(out, mso[:i]...)
			out = append(out, rewrite(mso[i:i+22])...)
			mso = mso[i+22:]
		}
	}
}

var oidServerAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}

// Every hole of issue 14 in issuer data authentication, each with a credential or a
// certificate made to exploit it. Under the old rules every one of these verified:
// the errors were warnings or were not checked at all, and the warnings did not exist.
func TestTrustDecisions(t *testing.T) {
	f := newTrustFixture(t)
	ds := f.pki.DS
	stateIACA, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "state IACA", State: "UT-01"})
	if err != nil {
		t.Fatal(err)
	}
	stateDS := dsOf(t, stateIACA, issuer.DSOptions{})
	looseIACA, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "loose IACA", PathLen: -1})
	if err != nil {
		t.Fatal(err)
	}
	trust := func(iaca *issuer.Authority) *TrustStore { return NewTrustStore(iaca.Certificate) }
	scoped := func(docTypes ...string) *TrustStore {
		ts := &TrustStore{}
		ts.AddAnchor(Anchor{Certificate: f.pki.IACA.Certificate, DocTypes: docTypes})
		return ts
	}
	tooLong := func(t *testing.T) []byte {
		cred := issue(t, ds, issuer.IssueRequest{})
		raw := ds.Certificate.Raw
		cred.IssuerSigned.IssuerAuth.Unprotected = messages.EncodeX5ChainHeader([][]byte{raw, raw, raw, raw, raw})
		return f.present(t, cred)
	}
	for _, tc := range []struct {
		name     string
		response func(t *testing.T) []byte
		trust    *TrustStore
		check    string
		severity string // "error", or "warning": then valid by default and not valid when strict
	}{
		{"VICAL anchor used for another docType", func(t *testing.T) []byte {
			return f.present(t, issue(t, ds, issuer.IssueRequest{}))
		}, scoped(issuer.DocTypePhotoID), CheckIssuerAuthScope, "error"},
		{"DS for TLS server authentication", func(t *testing.T) []byte {
			return f.present(t, issue(t, dsOf(t, f.pki.IACA, issuer.DSOptions{EKU: []asn1.ObjectIdentifier{oidServerAuth}}), issuer.IssueRequest{}))
		}, nil, CheckIssuerAuthPurpose, "error"},
		{"DS for reader authentication", func(t *testing.T) []byte {
			return f.present(t, issue(t, dsOf(t, f.pki.IACA, issuer.DSOptions{EKU: []asn1.ObjectIdentifier{OIDMdlReaderAuth}}), issuer.IssueRequest{}))
		}, nil, CheckIssuerAuthPurpose, "error"},
		{"DS is a CA certificate", func(t *testing.T) []byte {
			return f.present(t, issue(t, dsOf(t, f.pki.IACA, issuer.DSOptions{CA: true}), issuer.IssueRequest{}))
		}, nil, CheckIssuerAuthPurpose, "error"},
		{"the IACA signs the MSO itself", func(t *testing.T) []byte {
			return f.present(t, issue(t, &issuer.Signer{CertKey: f.pki.IACA.CertKey}, issuer.IssueRequest{}))
		}, nil, CheckIssuerAuthPurpose, "error"},
		{"a DS listed as an IACA signs", func(t *testing.T) []byte {
			return f.present(t, issue(t, ds, issuer.IssueRequest{}))
		}, func() *TrustStore {
			ts := &TrustStore{} // as a VICAL entry that is not a CA certificate
			ts.AddAnchor(Anchor{Certificate: ds.Certificate})
			return ts
		}(), CheckIssuerAuthPurpose, "error"},
		{"DS without any EKU (real wallets)", func(t *testing.T) []byte {
			return f.present(t, issue(t, dsOf(t, f.pki.IACA, issuer.DSOptions{EKU: []asn1.ObjectIdentifier{}}), issuer.IssueRequest{}))
		}, nil, CheckIssuerAuthPurpose, "warning"},
		{"MSO signed before the DS validity", func(t *testing.T) []byte {
			signed := ds.Certificate.NotBefore.Add(-time.Hour)
			return f.present(t, issue(t, ds, issuer.IssueRequest{Signed: signed, Inconsistent: true}))
		}, nil, CheckMSOSigned, "error"},
		{"DS of another country than its IACA", func(t *testing.T) []byte {
			return f.present(t, issue(t, dsOf(t, f.pki.IACA, issuer.DSOptions{Country: "UV"}), issuer.IssueRequest{},
				issuer.Element{Identifier: "issuing_country", Value: "UV"}))
		}, nil, CheckIssuerAuthCountry, "error"},
		{"issuing_country of another jurisdiction", func(t *testing.T) []byte {
			return f.present(t, issue(t, ds, issuer.IssueRequest{}, issuer.Element{Identifier: "issuing_country", Value: "UV"}))
		}, nil, CheckIssuingCountry, "error"},
		{"issuing_jurisdiction of another state", func(t *testing.T) []byte {
			return f.present(t, issue(t, stateDS, issuer.IssueRequest{}, issuer.Element{Identifier: "issuing_jurisdiction", Value: "UT-02"}))
		}, trust(stateIACA), CheckIssuingCountry, "error"},
		{"IACA without pathLen 0", func(t *testing.T) []byte {
			return f.present(t, issue(t, dsOf(t, looseIACA, issuer.DSOptions{}), issuer.IssueRequest{}))
		}, trust(looseIACA), CheckIssuerAuthIACA, "warning"},
		{"DER ECDSA issuerAuth signature", func(t *testing.T) []byte {
			cred := issue(t, ds, issuer.IssueRequest{})
			resign(t, cred, ds, nil, true)
			return f.present(t, cred)
		}, nil, CheckIssuerAuthEncoding, "warning"},
		{"tdates with an offset instead of Z", func(t *testing.T) []byte {
			cred := issue(t, ds, issuer.IssueRequest{})
			resign(t, cred, ds, tdates(func(item []byte) []byte {
				return append(append([]byte{0xc0, 0x78, 25}, item[2:21]...), "+00:00"...)
			}), false)
			return f.present(t, cred)
		}, nil, CheckMSOEncoding, "warning"},
		{"tdates wrapped in a byte string", func(t *testing.T) []byte {
			cred := issue(t, ds, issuer.IssueRequest{})
			resign(t, cred, ds, tdates(func(item []byte) []byte { return append([]byte{0x56}, item...) }), false)
			return f.present(t, cred)
		}, nil, CheckMSOEncoding, "warning"},
		{"x5chain of five certificates", tooLong, nil, CheckIssuerAuthX5Chain, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.response(t)
			opts := Options{Trust: tc.trust, Transcript: f.st, Now: f.now}
			if opts.Trust == nil {
				opts.Trust = trust(f.pki.IACA)
			}
			res := VerifyDeviceResponse(data, opts)
			if len(res.Documents) != 1 {
				t.Fatalf("%d documents: %v", len(res.Documents), res.Errors)
			}
			if res.Valid != (tc.severity == "warning") {
				t.Fatalf("valid %v, want a failed %s %s; failed: %+v", res.Valid, tc.severity, tc.check, res.Documents[0].Failed())
			}
			strict := opts
			strict.Policy = Policy{Strict: true}
			if VerifyDeviceResponse(data, strict).Valid {
				t.Fatal("valid under the strict policy")
			}
			c, ok := res.Documents[0].Check(tc.check)
			if !ok || c.OK || c.Severity != tc.severity {
				t.Fatalf("check %s: %+v (listed %v); failed: %+v", tc.check, c, ok, res.Documents[0].Failed())
			}
		})
	}
}

// The controls: what the rules must keep accepting.
func TestTrustDecisionsAccept(t *testing.T) {
	f := newTrustFixture(t)
	stateIACA, _ := issuer.NewIACA(issuer.IACAOptions{CommonName: "state IACA", State: "UT-01"})
	stateDS := dsOf(t, stateIACA, issuer.DSOptions{})
	scoped := &TrustStore{}
	scoped.AddAnchor(Anchor{Certificate: f.pki.IACA.Certificate, DocTypes: []string{issuer.DocTypePhotoID, issuer.DocTypeMDL}})
	for _, tc := range []struct {
		name  string
		data  []byte
		trust *TrustStore
	}{
		{"anchor scoped to the docType", f.present(t, issue(t, f.pki.DS, issuer.IssueRequest{})), scoped},
		{"issuing_jurisdiction of the DS's state", f.present(t, issue(t, stateDS, issuer.IssueRequest{},
			issuer.Element{Identifier: "issuing_jurisdiction", Value: "UT-01"})), NewTrustStore(stateIACA.Certificate)},
		{"pinned Document Signer", f.present(t, issue(t, f.pki.DS, issuer.IssueRequest{})), NewTrustStore(f.pki.DS.Certificate)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := VerifyDeviceResponse(tc.data, Options{Trust: tc.trust, Transcript: f.st, Now: f.now, Policy: Policy{Strict: true}})
			if !res.Valid {
				t.Fatalf("refused: %+v %v", res.Documents[0].Failed(), res.Errors)
			}
			if c, ok := res.Documents[0].Check(CheckIssuingCountry); !ok || !c.OK {
				t.Fatalf("issuing country not compared: %+v", c)
			}
		})
	}
}

// A pinned signer is trusted as itself only, never as the issuer of another
// certificate: before, a pinned non-CA certificate was also a root for x509.Verify.
func TestPinnedSignerIssuesNothing(t *testing.T) {
	f := newTrustFixture(t)
	// a "DS" whose issuer is the pinned DS: signed with the DS key, named after it
	leafKey, _ := keys.Generate(messages.CurveP256, nil)
	sub := dsOf(t, &issuer.Authority{CertKey: f.pki.DS.CertKey}, issuer.DSOptions{Key: leafKey})
	res := VerifyDeviceResponse(f.present(t, issue(t, sub, issuer.IssueRequest{})),
		Options{Trust: NewTrustStore(f.pki.DS.Certificate), Transcript: f.st, Now: f.now})
	if res.Valid {
		t.Fatal("a certificate issued by a pinned signer was trusted")
	}
	if c, _ := res.Documents[0].Check(CheckIssuerAuthChain); c.OK {
		t.Fatal("chain check passed")
	}
}

// Issue 15: the MSO signature and the device signature are checked only with keys a
// trust anchor vouches for. Before, an untrusted DS's signature and the device
// signature of its MSO were both verified (work for a stranger).
func TestNothingVerifiedForAStranger(t *testing.T) {
	f := newTrustFixture(t)
	data := f.present(t, issue(t, f.other.DS, issuer.IssueRequest{}))
	res := VerifyDeviceResponse(data, Options{Trust: NewTrustStore(f.pki.IACA.Certificate), Transcript: f.st, Now: f.now})
	d := res.Documents[0]
	if res.Valid {
		t.Fatal("stranger accepted")
	}
	if _, ok := d.Check(CheckDeviceSignature); ok {
		t.Fatal("device signature verified for an untrusted issuer")
	}
	if c, _ := d.Check(CheckIssuerAuthSignature); c.OK || c.Reason != "not verified: the Document Signer is not trusted" {
		t.Fatalf("MSO signature: %+v", c)
	}
	if c, _ := d.Check(CheckDeviceAuthNotVerified); c.OK || c.Severity != "error" {
		t.Fatalf("device auth: %+v", c)
	}
	if res.CryptoCost > 1 { // the chain: one signature with the anchor's key at most
		t.Fatalf("spent %d on a stranger", res.CryptoCost)
	}
}

// Clock skew relaxes not-yet-valid checks (validFrom, signed, certificate notBefore),
// never expiry.
func TestClockSkew(t *testing.T) {
	f := newTrustFixture(t)
	now := f.now.Truncate(time.Second)
	soon := now.Add(30 * time.Second)
	early := dsOf(t, f.pki.IACA, issuer.DSOptions{NotBefore: soon})
	for _, tc := range []struct {
		name  string
		cred  *issuer.Credential
		skew  time.Duration
		valid bool
		check string
	}{
		{"validFrom 30 s ahead", issue(t, f.pki.DS, issuer.IssueRequest{Signed: soon}), 0, true, ""},
		{"validFrom 30 s ahead, no skew", issue(t, f.pki.DS, issuer.IssueRequest{Signed: soon}), -1, false, CheckMSOValidity},
		{"validFrom 2 min ahead", issue(t, f.pki.DS, issuer.IssueRequest{Signed: now.Add(2 * time.Minute)}), 0, false, CheckMSOValidity},
		{"DS valid from 30 s ahead", issue(t, early, issuer.IssueRequest{Signed: soon}), 0, true, ""},
		{"DS valid from 30 s ahead, no skew", issue(t, early, issuer.IssueRequest{Signed: soon}), -1, false, CheckIssuerAuthChain},
		{"expired 30 s ago", issue(t, f.pki.DS, issuer.IssueRequest{Signed: now.Add(-time.Hour), ValidUntil: now.Add(-30 * time.Second)}), 0, false, CheckMSOValidity},
		{"expired 30 s ago, ten minutes of skew", issue(t, f.pki.DS, issuer.IssueRequest{Signed: now.Add(-time.Hour), ValidUntil: now.Add(-30 * time.Second)}), 10 * time.Minute, false, CheckMSOValidity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := VerifyDeviceResponse(f.present(t, tc.cred), Options{Trust: NewTrustStore(f.pki.IACA.Certificate), Transcript: f.st, Now: now, ClockSkew: tc.skew})
			if res.Valid != tc.valid {
				t.Fatalf("valid %v: %+v", res.Valid, res.Documents[0].Failed())
			}
			if tc.check != "" {
				if c, _ := res.Documents[0].Check(tc.check); c.OK {
					t.Fatalf("%s passed", tc.check)
				}
			}
		})
	}
}

// The chain cache is keyed by the trust store's identity, not its address: a store
// whose anchors change in place (as a reloaded store at a reused address) does not hit
// chains verified against the anchors it no longer holds. Before, the key was the
// store's pointer and the removed IACA's chains kept verifying.
func TestChainCacheFollowsTheAnchors(t *testing.T) {
	f := newTrustFixture(t)
	data := f.present(t, issue(t, f.pki.DS, issuer.IssueRequest{}))
	cache := NewChainCache(16)
	store := NewTrustStore(f.pki.IACA.Certificate)
	opts := Options{Trust: store, Transcript: f.st, Now: f.now, Cache: cache}
	if res := VerifyDeviceResponse(data, opts); !res.Valid {
		t.Fatalf("%+v", res.Documents[0].Failed())
	}
	*store = *NewTrustStore(f.other.IACA.Certificate) // same address, other anchors
	res := VerifyDeviceResponse(data, opts)
	if res.Valid {
		t.Fatal("a chain verified against a removed anchor was reused")
	}
	if c, _ := res.Documents[0].Check(CheckIssuerAuthChain); c.OK {
		t.Fatal("chain check passed")
	}
	if cache.Len() == 0 {
		t.Fatal("nothing cached")
	}
	cache.Reset()
	if cache.Len() != 0 {
		t.Fatal("Reset left chains")
	}
}

// The DS is checked against the anchors directly: extra x5chain certificates are
// ignored, so a holder cannot make the verifier check signatures with keys of its
// choosing on the way to an anchor.
func TestIssuerChainIgnoresIntermediates(t *testing.T) {
	f := newTrustFixture(t)
	// an intermediate CA under an IACA without a path length limit, and a DS under it
	iaca, err := issuer.NewIACA(issuer.IACAOptions{PathLen: -1})
	if err != nil {
		t.Fatal(err)
	}
	midKey, _ := keys.Generate(messages.CurveP256, nil)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{Country: []string{"UT"}, CommonName: "intermediate"},
		NotBefore: f.now.Add(-time.Hour), NotAfter: f.now.Add(time.Hour), KeyUsage: x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: true, SubjectKeyId: []byte{7, 7}, AuthorityKeyId: iaca.Certificate.SubjectKeyId}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, iaca.Certificate, midKey.Public(), iaca.Key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	midCert, _ := x509.ParseCertificate(der)
	mid := &issuer.Authority{CertKey: issuer.CertKey{Certificate: midCert, Key: midKey}}
	sub := dsOf(t, mid, issuer.DSOptions{})
	cred := issue(t, sub, issuer.IssueRequest{})
	cred.IssuerSigned.IssuerAuth.Unprotected = messages.EncodeX5ChainHeader([][]byte{sub.Certificate.Raw, mid.Certificate.Raw})
	res := VerifyDeviceResponse(f.present(t, cred), Options{Trust: NewTrustStore(iaca.Certificate), Transcript: f.st, Now: f.now})
	if c, _ := res.Documents[0].Check(CheckIssuerAuthChain); c.OK || res.Valid {
		t.Fatalf("a DS under an intermediate was trusted: %+v", c)
	}
}

// Issue 15: verification stops at the crypto budget. A response of many trusted
// documents verified without a request (as `mdocgate verify` does) stops at the
// default budget instead of verifying every copy.
func TestCryptoBudget(t *testing.T) {
	f := newTrustFixture(t)
	cred := issue(t, f.pki.DS, issuer.IssueRequest{})
	resp, _ := messages.DecodeDeviceResponse(f.present(t, cred))
	for len(resp.Documents) < 200 {
		resp.Documents = append(resp.Documents, resp.Documents[0])
	}
	res := VerifyDecodedResponse(resp, Options{Trust: NewTrustStore(f.pki.IACA.Certificate), Transcript: f.st, Now: f.now})
	if res.Valid || len(res.Documents) >= 200 {
		t.Fatalf("valid %v after %d documents", res.Valid, len(res.Documents))
	}
	if c, ok := res.Check(CheckCryptoBudget); !ok || c.OK || res.CryptoCost > DefaultCryptoBudget {
		t.Fatalf("budget check %+v, spent %d", c, res.CryptoCost)
	}
	// one document fits with room to spare; a budget of 2 does not cover it
	one := &messages.DeviceResponse{Version: resp.Version, Documents: resp.Documents[:1]}
	if res := VerifyDecodedResponse(one, Options{Trust: NewTrustStore(f.pki.IACA.Certificate), Transcript: f.st, Now: f.now}); !res.Valid || res.CryptoCost != 3 {
		t.Fatalf("one document: valid %v, spent %d", res.Valid, res.CryptoCost)
	}
	res = VerifyDecodedResponse(one, Options{Trust: NewTrustStore(f.pki.IACA.Certificate), Transcript: f.st, Now: f.now, CryptoBudget: 2})
	if res.Valid || res.CryptoCost > 2 {
		t.Fatalf("budget 2: valid %v, spent %d", res.Valid, res.CryptoCost)
	}
	if c, _ := res.Documents[0].Check(CheckCryptoBudget); c.OK {
		t.Fatal("the document does not say why it stopped")
	}
}

// Issue 14/15: with the request given, documents not requested and repeated docTypes
// refuse the response before any signature is verified, and elements not requested are
// neither checked nor disclosed.
func TestRequestBoundsVerification(t *testing.T) {
	f := newTrustFixture(t)
	mdl := issue(t, f.pki.DS, issuer.IssueRequest{})
	photo := issue(t, f.pki.DS, issuer.IssueRequest{DocType: issuer.DocTypePhotoID, NameSpaces: issuer.SamplePhotoID(nil)})
	opts := Options{Trust: NewTrustStore(f.pki.IACA.Certificate), Transcript: f.st, Now: f.now,
		Request: testpki.MDLRequest("family_name", "issuing_country")}
	resp, _ := messages.DecodeDeviceResponse(f.present(t, mdl))
	twice := &messages.DeviceResponse{Version: resp.Version, Documents: append(resp.Documents, resp.Documents[0])}
	for _, tc := range []struct {
		name  string
		resp  *messages.DeviceResponse
		check string
	}{
		{"one document twice", twice, CheckRepeatedDocType},
		{"a document not requested", func() *messages.DeviceResponse {
			r, _ := messages.DecodeDeviceResponse(f.present(t, mdl, photo))
			return r
		}(), CheckUnrequestedDocument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := VerifyDecodedResponse(tc.resp, opts)
			c, refused := res.Refused()
			if res.Valid || !refused || c.Name != tc.check || len(res.Documents) != 0 || res.CryptoCost != 0 {
				t.Fatalf("valid %v refused %+v documents %d spent %d", res.Valid, c, len(res.Documents), res.CryptoCost)
			}
		})
	}
	res := VerifyDecodedResponse(resp, opts)
	if !res.Valid {
		t.Fatalf("%+v", res.Documents[0].Failed())
	}
	d := res.Documents[0]
	if got := len(d.Elements[issuer.NamespaceMDL]); got != 2 {
		t.Fatalf("disclosed %d elements, want the 2 requested: %v", got, d.Elements)
	}
	if c, _ := d.Check(CheckUnrequestedElements); c.OK || c.Severity != "warning" {
		t.Fatalf("unrequested elements: %+v", c)
	}
	if c, _ := d.Check(CheckIssuingCountry); !c.OK {
		t.Fatalf("issuing country: %+v", c)
	}
}
