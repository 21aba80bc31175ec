package profile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

type fixture struct {
	pki *testpki.PKI
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	now := time.Now()
	// valid for long enough before now to sign MSOs in the past
	return &fixture{pki: testpki.New(t, testpki.Options{NotBefore: now.AddDate(-2, 0, 0)}), now: now}
}

func transcript() messages.SessionTranscript {
	return messages.NewProximityTranscript(messages.NewEncodedCBOR([]byte{0xa0}),
		messages.NewEncodedCBOR([]byte{0xa1, 0x01, 0x02}), messages.QRHandover())
}

// present issues req, asks for the profile's request, presents and verifies.
func (f *fixture) present(t *testing.T, p *Profile, req issuer.IssueRequest) Input {
	t.Helper()
	if req.Signed.IsZero() {
		// the fixture's now, not the issuer's: issued a second boundary later, the MSO
		// would be valid only from a second after the time it is verified at
		req.Signed = f.now
	}
	cred := f.pki.Issue(t, req)
	st := transcript()
	dreq, err := request.Build(p.Request(), nil, st)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&holder.Presenter{Credentials: []*issuer.Credential{cred}}).BuildResponse(dreq, st, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := verify.VerifyDecodedResponse(resp, verify.Options{
		Trust: verify.NewTrustStore(f.pki.IACA.Certificate), Transcript: &st, Now: f.now})
	return Input{Result: res, Response: resp, Now: f.now}
}

func setElement(nss []issuer.NameSpace, ns, id string, v any) []issuer.NameSpace {
	for i := range nss {
		if nss[i].Name != ns {
			continue
		}
		for j := range nss[i].Elements {
			if nss[i].Elements[j].Identifier == id {
				nss[i].Elements[j].Value = v
				return nss
			}
		}
		nss[i].Elements = append(nss[i].Elements, issuer.Element{Identifier: id, Value: v})
	}
	return nss
}

func dropElement(nss []issuer.NameSpace, ns, id string) []issuer.NameSpace {
	for i := range nss {
		if nss[i].Name == ns {
			nss[i].Elements = slices.DeleteFunc(nss[i].Elements, func(e issuer.Element) bool { return e.Identifier == id })
		}
	}
	return nss
}

func expect(t *testing.T, d Decision, outcome Outcome, reason string) {
	t.Helper()
	if d.Outcome != outcome || d.Reason != reason {
		t.Fatalf("decision %s/%q (%s), want %s/%q; checks %+v", d.Outcome, d.Reason, d.Detail, outcome, reason, d.Checks)
	}
}

func TestMDLAccepted(t *testing.T) {
	f := newFixture(t)
	p := MDL()
	in := f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: issuer.SampleMDL(nil)})
	if !in.Result.Valid {
		t.Fatalf("verification failed: %+v", in.Result)
	}
	d := p.Evaluate(in)
	expect(t, d, Accept, "")
	if d.Document != 0 || d.DocType != DocTypeMDL || d.HolderVerification {
		t.Fatalf("decision %+v", d)
	}
}

func TestPhotoIDAccepted(t *testing.T) {
	f := newFixture(t)
	p := PhotoID()
	in := f.present(t, p, issuer.IssueRequest{DocType: DocTypePhotoID, NameSpaces: issuer.SamplePhotoID(nil)})
	expect(t, p.Evaluate(in), Accept, "")
}

func TestAgeOver18AcceptsBothDocTypes(t *testing.T) {
	f := newFixture(t)
	p := AgeOver18()
	for _, req := range []issuer.IssueRequest{
		{DocType: DocTypeMDL, NameSpaces: issuer.SampleMDL(nil)},
		{DocType: DocTypePhotoID, NameSpaces: issuer.SamplePhotoID(nil)},
	} {
		d := p.Evaluate(f.present(t, p, req))
		expect(t, d, Accept, "")
		if !d.HolderVerification || d.DocType != req.DocType {
			t.Fatalf("%s: %+v", req.DocType, d)
		}
	}
}

func TestMissingMandatoryElement(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		p   *Profile
		req issuer.IssueRequest
		el  string
	}{
		{MDL(), issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: dropElement(issuer.SampleMDL(nil), NamespaceMDL, "portrait")}, "org.iso.18013.5.1/portrait"},
		{PhotoID(), issuer.IssueRequest{DocType: DocTypePhotoID, NameSpaces: dropElement(issuer.SamplePhotoID(nil), Namespace23220, "age_over_18")}, "org.iso.23220.1/age_over_18"},
	} {
		d := tc.p.Evaluate(f.present(t, tc.p, tc.req))
		expect(t, d, Reject, CheckMandatory)
		if !strings.Contains(d.Detail, tc.el) {
			t.Fatalf("detail %q does not name %s", d.Detail, tc.el)
		}
	}
}

func TestWrongElementType(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		p    *Profile
		req  issuer.IssueRequest
		want string
	}{
		{"mDL age_over_18 as text", MDL(), issuer.IssueRequest{DocType: DocTypeMDL,
			NameSpaces: setElement(issuer.SampleMDL(nil), NamespaceMDL, "age_over_18", "yes")}, "age_over_18: want bool, got tstr"},
		{"mDL portrait as text", MDL(), issuer.IssueRequest{DocType: DocTypeMDL,
			NameSpaces: setElement(issuer.SampleMDL(nil), NamespaceMDL, "portrait", "not an image")}, "portrait: want bstr"},
		{"mDL birth_date as tdate", MDL(), issuer.IssueRequest{DocType: DocTypeMDL,
			NameSpaces: setElement(issuer.SampleMDL(nil), NamespaceMDL, "birth_date", messages.NewTDate(time.Now()))}, "birth_date: want full-date"},
		{"mDL driving_privileges without category", &Profile{Name: "dp", Docs: []Doc{{DocType: DocTypeMDL, Schema: "mdl",
			Elements: []Element{{NameSpace: NamespaceMDL, Identifier: "driving_privileges"}}}}},
			issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: setElement(issuer.SampleMDL(nil), NamespaceMDL,
				"driving_privileges", []any{map[string]any{"issue_date": "2020-01-01"}})}, "vehicle_category_code missing"},
		{"Photo ID sex as text", &Profile{Name: "pid", Docs: []Doc{{DocType: DocTypePhotoID, Schema: "photoid",
			Elements: []Element{{NameSpace: Namespace23220, Identifier: "sex"}}}}},
			issuer.IssueRequest{DocType: DocTypePhotoID, NameSpaces: setElement(issuer.SamplePhotoID(nil), Namespace23220, "sex", "F")}, "sex: want uint"},
		{"Photo ID expiry_date as int", PhotoID(), issuer.IssueRequest{DocType: DocTypePhotoID,
			NameSpaces: setElement(issuer.SamplePhotoID(nil), Namespace23220, "expiry_date", uint64(2034))}, "expiry_date: want tdate or full-date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.p.Evaluate(f.present(t, tc.p, tc.req))
			expect(t, d, Reject, CheckElementType)
			if !strings.Contains(d.Detail, tc.want) {
				t.Fatalf("detail %q lacks %q", d.Detail, tc.want)
			}
		})
	}
}

func TestStaleMSO(t *testing.T) {
	f := newFixture(t)
	signed := f.now.AddDate(0, 0, -200)
	nss := issuer.SampleMDL(nil)
	for _, p := range []*Profile{MDL(), AgeOver18()} {
		in := f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: nss,
			Signed: signed, ValidFrom: signed, ValidUntil: f.now.AddDate(1, 0, 0)})
		if !in.Result.Valid {
			t.Fatalf("an old but valid MSO must verify: %+v", in.Result.Documents[0].Failed())
		}
		d := p.Evaluate(in)
		expect(t, d, Reject, CheckSignedAge)
		// a wider limit accepts it
		q := MDL()
		q.Freshness.MaxSignedAge = 365 * 24 * time.Hour
		if p.Name == "mdl" {
			expect(t, q.Evaluate(in), Accept, "")
		}
	}

	// expectedUpdate passed and validFrom limit
	p := MDL()
	p.Freshness = Freshness{RejectPastExpectedUpdate: true}
	in := f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: nss,
		Signed: f.now.Add(-48 * time.Hour), ExpectedUpdate: f.now.Add(-time.Hour)})
	expect(t, p.Evaluate(in), Reject, CheckExpectedUpdate)
	p = MDL()
	p.Freshness = Freshness{MaxValidFromAge: time.Hour}
	expect(t, p.Evaluate(in), Reject, CheckValidFromAge)
}

func TestRuleFalse(t *testing.T) {
	f := newFixture(t)
	p := AgeOver18()
	in := f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL,
		NameSpaces: setElement(issuer.SampleMDL(nil), NamespaceMDL, "age_over_18", false)})
	d := p.Evaluate(in)
	expect(t, d, Reject, CheckRule)
	if d.HolderVerification {
		t.Fatal("holder verification asked for a rejected document")
	}
	// expired document under the mDL rule
	q := MDL()
	nss := setElement(issuer.SampleMDL(nil), NamespaceMDL, "expiry_date", messages.FullDate{Year: 2020, Month: 1, Day: 1})
	expect(t, q.Evaluate(f.present(t, q, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: nss})), Reject, CheckRule)
}

// oldPhotoID is a Photo ID as Multipaz and 23220-2 ed.1 / N 4583 spell it.
func oldPhotoID() []issuer.NameSpace {
	nss := issuer.SamplePhotoID(nil)
	for i := range nss[0].Elements {
		switch e := &nss[0].Elements[i]; e.Identifier {
		case "family_name", "given_name", "issuing_authority":
			e.Identifier += "_unicode"
		}
	}
	nss[1].Name = NamespacePhotoIDOld
	nss = append(nss, issuer.NameSpace{Name: NamespaceDTC, Elements: []issuer.Element{
		{Identifier: "dtc_version", Value: "1.0"},
		{Identifier: "dtc_dg1", Value: []byte{0x61, 0x01}},
		{Identifier: "dtc_sod", Value: []byte{0x77, 0x01}},
	}})
	return nss
}

func TestPhotoIDOldSpellingsAccepted(t *testing.T) {
	f := newFixture(t)
	p := PhotoID()
	p.Docs[0].Elements = append(p.Docs[0].Elements,
		Element{NameSpace: NamespacePhotoID, Identifier: "person_id", Mandatory: true},
		Element{NameSpace: NamespaceDataGroups, Identifier: "dg1", Mandatory: true},
		Element{NameSpace: NamespaceDataGroups, Identifier: "version"})
	p.Rule = `expiry_date >= today and family_name == "Mustermann" and present(dg1)`
	for _, docType := range []string{DocTypePhotoID, DocTypePhotoIDOld} {
		in := f.present(t, p, issuer.IssueRequest{DocType: docType, NameSpaces: oldPhotoID()})
		if !in.Result.Valid {
			t.Fatalf("%s: not valid: %+v", docType, in.Result.Errors)
		}
		d := p.Evaluate(in)
		expect(t, d, Accept, "")
		if d.DocType != docType {
			t.Fatalf("decided on %s", d.DocType)
		}
		v, err := p.NewView(&in.Result.Documents[d.Document])
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v.Get(NamespaceDataGroups, "dg1"); !ok {
			t.Fatal("dtc_dg1 not mapped to datagroups dg1")
		}
	}
	// an old-spelling element with the wrong type is still caught
	nss := oldPhotoID()
	nss[2].Elements[1].Value = "text"
	d := p.Evaluate(f.present(t, p, issuer.IssueRequest{DocType: DocTypePhotoIDOld, NameSpaces: nss}))
	expect(t, d, Reject, CheckElementType)
	if !strings.Contains(d.Detail, NamespaceDataGroups+"/dg1") {
		t.Fatalf("detail %q", d.Detail)
	}
}

func TestRequest(t *testing.T) {
	p := PhotoID()
	p.Docs[0].Elements[0].Retain = true
	req := p.Request()
	if len(req) != 2 || req[0].DocType != DocTypePhotoID || req[1].DocType != DocTypePhotoIDOld {
		t.Fatalf("request %+v", req)
	}
	ns := req[0].NameSpaces[0]
	if ns.Name != Namespace23220 || ns.Elements[0] != "family_name" || !ns.IntentToRetain["family_name"] || ns.IntentToRetain["given_name"] {
		t.Fatalf("name space %+v", ns)
	}
	if !slices.Contains(ns.Elements, "family_name_unicode") || !ns.IntentToRetain["family_name_unicode"] {
		t.Fatalf("old spelling not requested: %v", ns.Elements)
	}
	if _, err := request.Build(req, nil, transcript()); err != nil {
		t.Fatal(err)
	}
	if got := MDL().Request(); len(got) != 1 || len(got[0].NameSpaces) != 1 || len(got[0].NameSpaces[0].IntentToRetain) != 0 {
		t.Fatalf("mDL request %+v", got)
	}
}

func TestDeviceAuthAndCurve(t *testing.T) {
	f := newFixture(t)
	p := MDL()
	p.DeviceAuth = []string{DeviceAuthMAC}
	in := f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: issuer.SampleMDL(nil)})
	expect(t, p.Evaluate(in), Reject, CheckDeviceAuth)
	p = MDL()
	p.Curves = []string{"P-384"}
	expect(t, p.Evaluate(in), Reject, CheckCurve)
	p = MDL()
	p.DeviceAuth, p.Curves = []string{DeviceAuthSignature}, []string{"P-256"}
	expect(t, p.Evaluate(in), Accept, "")
	// without the response the MSO checks fail closed
	expect(t, p.Decide(in.Result, f.now), Reject, CheckEvidence)
}

type fakeStatus struct {
	st  uint8
	err error
	ref *messages.StatusListRef
}

func (s *fakeStatus) Status(_ context.Context, ref messages.StatusListRef) (uint8, error) {
	s.ref = &ref
	return s.st, s.err
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	p := MDL()
	ref := &messages.StatusListRef{Idx: 7, URI: "https://status.example/1"}
	in := f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: issuer.SampleMDL(nil), StatusList: ref})
	expect(t, p.Evaluate(in), Reject, CheckStatus) // no client configured
	s := &fakeStatus{}
	in.Status = s
	expect(t, p.Evaluate(in), Accept, "")
	if s.ref == nil || *s.ref != *ref {
		t.Fatalf("looked up %+v", s.ref)
	}
	s.st = 1
	d := p.Evaluate(in)
	expect(t, d, Reject, CheckStatus)
	if !strings.Contains(d.Detail, "INVALID") {
		t.Fatal(d.Detail)
	}
	s.st, s.err = 0, errors.New("unreachable")
	expect(t, p.Evaluate(in), Reject, CheckStatus)

	// required: an MSO without a reference is refused
	p.Status = StatusRequired
	in = f.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: issuer.SampleMDL(nil)})
	expect(t, p.Evaluate(in), Reject, CheckStatus)
}

func TestVerificationFailureNamesCheck(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	p := MDL()
	in := other.present(t, p, issuer.IssueRequest{DocType: DocTypeMDL, NameSpaces: issuer.SampleMDL(nil)})
	in.Result = verify.VerifyDecodedResponse(in.Response, verify.Options{Trust: verify.NewTrustStore(f.pki.IACA.Certificate),
		Transcript: ptr(transcript()), Now: f.now})
	expect(t, p.Evaluate(in), Reject, verify.CheckIssuerAuthChain)
	// wrong document type
	q := PhotoID()
	expect(t, q.Evaluate(in), Reject, CheckDocType)
	expect(t, q.Evaluate(Input{}), Reject, CheckVerification)
}

func ptr[T any](v T) *T { return &v }

func TestCompileErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Profile)
		want string
	}{
		{func(p *Profile) { p.Rule = "age_over_21 == true" }, "rule: element age_over_21 is not requested"},
		{func(p *Profile) { p.Rule = "age_over_18 ==" }, "rule: rule: unexpected end of rule"},
		{func(p *Profile) { p.Docs[0].Schema = "pid" }, "documents[0].schema"},
		{func(p *Profile) { p.DeviceAuth = []string{"sig"} }, "device_auth[0]"},
		{func(p *Profile) { p.Curves = []string{"P-257"} }, "curves[0]"},
		{func(p *Profile) { p.Status = "always" }, "status"},
		{func(p *Profile) { p.Docs = nil }, "documents: no document types"},
		{func(p *Profile) { p.Docs[0].Elements = p.Docs[0].Elements[:1] }, "holder_verification needs the portrait"},
	} {
		p := AgeOver18()
		tc.mod(p)
		err := p.Compile()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Profile != "age_over_18" || fe.Field == "" || !strings.Contains(fe.Field+": "+fe.Msg, tc.want) ||
			err.Error() != "profile age_over_18: "+fe.Field+": "+fe.Msg {
			t.Errorf("%v: not a FieldError naming the field %q (%+v)", err, tc.want, fe)
		}
		if d := p.Evaluate(Input{}); d.Outcome != Reject || d.Reason != "profile.config" {
			t.Errorf("a broken profile decided %+v", d)
		}
	}
	p := MDL()
	p.ReaderAuthRequired = true
	if err := p.CheckLane(false); err == nil || !strings.Contains(err.Error(), "reader_auth_required") {
		t.Fatal(err)
	}
	if err := p.CheckLane(true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"mdl", "photoid", "age_over_18"} {
		if err := Builtin(n).Compile(); err != nil {
			t.Fatal(err)
		}
	}
}

// Only the elements marked show may be shown, under their current spelling or an older
// one the schema maps onto them; built-in profiles show nothing.
func TestShows(t *testing.T) {
	p := PhotoID()
	for i := range p.Docs[0].Elements {
		if e := &p.Docs[0].Elements[i]; e.Identifier == "family_name" || e.Identifier == "age_over_18" {
			e.Show = true
		}
	}
	for _, c := range []struct {
		ns, id string
		want   bool
	}{
		{Namespace23220, "family_name", true}, {Namespace23220, "age_over_18", true},
		{Namespace23220, "family_name_unicode", true}, // older spelling of family_name
		{Namespace23220, "given_name", false}, {Namespace23220, "portrait", false}, {NamespaceMDL, "family_name", false},
	} {
		if got := p.Shows(c.ns, c.id); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.ns, c.id, got, c.want)
		}
	}
	for _, b := range []*Profile{MDL(), PhotoID(), AgeOver18()} {
		for _, d := range b.Docs {
			for _, e := range d.Elements {
				if b.Shows(e.NameSpace, e.Identifier) {
					t.Errorf("built-in %s shows %s", b.Name, e.Identifier)
				}
			}
		}
	}
}
