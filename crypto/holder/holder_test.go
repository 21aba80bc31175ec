package holder_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

const unknownDocType = "org.example.unknown.1"

type fixture struct {
	pki        *testpki.PKI
	mdl, photo *issuer.Credential
	transcript messages.SessionTranscript
	readerPriv *keys.PrivateKey // the reader's ephemeral key
}

func newFixture(t *testing.T, deviceCurve int64) *fixture {
	t.Helper()
	f := &fixture{pki: testpki.New(t, testpki.Options{})}
	f.mdl = f.pki.IssueOn(t, deviceCurve, issuer.IssueRequest{DocType: issuer.DocTypeMDL})
	f.photo = f.pki.IssueOn(t, deviceCurve, issuer.IssueRequest{DocType: issuer.DocTypePhotoID})
	var err error
	readerCurve := deviceCurve
	if _, ok := messages.LookupCurve(deviceCurve); !ok || deviceCurve == messages.CurveEd25519 || deviceCurve == messages.CurveEd448 {
		readerCurve = messages.CurveP256
	}
	if f.readerPriv, err = keys.Generate(readerCurve, nil); err != nil {
		t.Fatal(err)
	}
	eDevice, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := messages.NewEngagement(eDevice.COSEKey())
	if err != nil {
		t.Fatal(err)
	}
	deb, err := eng.EncodedBytes()
	if err != nil {
		t.Fatal(err)
	}
	erk, err := messages.EncodeToCBOR(f.readerPriv.COSEKey())
	if err != nil {
		t.Fatal(err)
	}
	f.transcript = messages.NewProximityTranscript(deb, erk, messages.QRHandover())
	return f
}

func (f *fixture) presenter() *holder.Presenter {
	return &holder.Presenter{Credentials: []*issuer.Credential{f.mdl, f.photo}}
}

// issuedItems maps namespace/identifier to the issued IssuerSignedItemBytes.
func issuedItems(t *testing.T, c *issuer.Credential) map[string]messages.EncodedCBOR {
	t.Helper()
	out := map[string]messages.EncodedCBOR{}
	for ns, items := range c.IssuerSigned.NameSpaces.All() {
		for _, b := range items {
			it, err := messages.DecodeIssuerSignedItem(b)
			if err != nil {
				t.Fatal(err)
			}
			out[ns+"/"+it.ElementIdentifier] = b
		}
	}
	return out
}

// disclosed lists namespace/identifier of a document's items in order, checking each is
// byte-identical to the issued item and matches its MSO digest.
func disclosed(t *testing.T, doc *messages.Document, cred *issuer.Credential) []string {
	t.Helper()
	issued := issuedItems(t, cred)
	mso, err := messages.DecodeMSO(doc.IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for ns, items := range doc.IssuerSigned.NameSpaces.All() {
		if len(items) == 0 {
			t.Errorf("empty name space %s disclosed", ns)
		}
		digests, _ := mso.ValueDigests.Get(ns)
		for _, b := range items {
			it, err := messages.DecodeIssuerSignedItem(b)
			if err != nil {
				t.Fatal(err)
			}
			key := ns + "/" + it.ElementIdentifier
			if want, ok := issued[key]; !ok || !want.Equal(b) {
				t.Errorf("%s: not the issued bytes", key)
			}
			d := sha256.Sum256(b.Raw())
			if got, _ := digests.Get(it.DigestID); !bytes.Equal(got, d[:]) {
				t.Errorf("%s: digest mismatch", key)
			}
			out = append(out, key)
		}
	}
	return out
}

// checkDeviceAuth verifies deviceSignature or deviceMac the way a reader would.
func checkDeviceAuth(t *testing.T, f *fixture, doc *messages.Document, wantMAC bool) {
	t.Helper()
	ds := doc.DeviceSigned
	if ds == nil {
		t.Fatal("no deviceSigned")
	}
	if !bytes.Equal(ds.NameSpaces.Raw(), []byte{0xd8, 0x18, 0x41, 0xa0}) {
		t.Errorf("deviceSigned.nameSpaces %x", ds.NameSpaces.Raw())
	}
	mso, err := messages.DecodeMSO(doc.IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		t.Fatal(err)
	}
	deviceKey := &mso.DeviceKeyInfo.DeviceKey
	dab, err := messages.DeviceAuthenticationBytes(f.transcript, doc.DocType, ds.NameSpaces)
	if err != nil {
		t.Fatal(err)
	}
	if wantMAC {
		m := ds.DeviceAuth.DeviceMac
		if m == nil || ds.DeviceAuth.DeviceSignature != nil {
			t.Fatal("want deviceMac only")
		}
		if alg, inProt, err := m.Alg(); err != nil || !inProt || alg != messages.AlgHMAC256_256 || !m.Detached {
			t.Fatalf("deviceMac alg %d protected %v detached %v: %v", alg, inProt, m.Detached, err)
		}
		zab, err := keys.ECDH(f.readerPriv, deviceKey)
		if err != nil {
			t.Fatal(err)
		}
		stb, _ := f.transcript.Bytes()
		emac, err := session.DeriveEMacKey(zab, stb.Raw())
		if err != nil {
			t.Fatal(err)
		}
		tbm, _ := messages.Marshal([]any{"MAC0", m.Protected, []byte{}, dab.Raw()})
		h := hmac.New(sha256.New, emac)
		h.Write(tbm)
		if !hmac.Equal(h.Sum(nil), m.Tag) {
			t.Fatal("deviceMac tag does not verify")
		}
		return
	}
	s := ds.DeviceAuth.DeviceSignature
	if s == nil || ds.DeviceAuth.DeviceMac != nil {
		t.Fatal("want deviceSignature only")
	}
	alg, inProt, err := s.Alg()
	if err != nil || !inProt || !s.Detached || alg != keys.DefaultAlg(deviceKey.Crv) {
		t.Fatalf("deviceSignature alg %d protected %v detached %v: %v", alg, inProt, s.Detached, err)
	}
	if _, _, _, err := s.X5Chain(); err == nil {
		t.Error("deviceSignature carries an x5chain")
	}
	tbs, _ := messages.Marshal([]any{"Signature1", s.Protected, []byte{}, dab.Raw()})
	if err := keys.Verify(deviceKey, alg, tbs, s.Signature); err != nil {
		t.Fatalf("deviceSignature: %v", err)
	}
}

func subsetRequest(t *testing.T, f *fixture, auth request.Signer) *messages.DeviceRequest {
	t.Helper()
	req, err := request.Build([]request.Doc{
		{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{
			// request order differs from issued order on purpose
			{Name: issuer.NamespaceMDL, Elements: []string{"portrait", "family_name", "no_such_element", "birth_date"},
				IntentToRetain: map[string]bool{"family_name": true}},
			{Name: "org.iso.18013.5.1.aamva", Elements: []string{"organ_donor"}},
		}},
		{DocType: unknownDocType, NameSpaces: []request.NameSpace{{Name: "x", Elements: []string{"y"}}}},
		{DocType: issuer.DocTypePhotoID, NameSpaces: []request.NameSpace{
			{Name: issuer.NamespacePhotoID, Elements: []string{"person_id"}},
		}},
	}, auth, f.transcript)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func roundTrip(t *testing.T, resp *messages.DeviceResponse) *messages.DeviceResponse {
	t.Helper()
	b, err := messages.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := messages.DecodeDeviceResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := messages.Marshal(got); !bytes.Equal(again, b) {
		t.Error("DeviceResponse does not re-encode to the same bytes")
	}
	return got
}

func TestSelectiveDisclosure(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	reader := f.pki.Reader
	req := subsetRequest(t, f, reader)
	// the request survives encoding, and its readerAuth verifies over the exact ItemsRequestBytes
	rb, _ := messages.Marshal(req)
	req, err := messages.DecodeDeviceRequest(rb)
	if err != nil {
		t.Fatal(err)
	}
	for i, dr := range req.DocRequests {
		rab, _ := messages.ReaderAuthenticationBytes(f.transcript, dr.ItemsRequest)
		tbs, _ := messages.Marshal([]any{"Signature1", dr.ReaderAuth.Protected, []byte{}, rab.Raw()})
		alg, _, _ := dr.ReaderAuth.Alg()
		if err := keys.Verify(reader.Certificate.PublicKey, alg, tbs, dr.ReaderAuth.Signature); err != nil {
			t.Errorf("docRequest %d readerAuth: %v", i, err)
		}
	}
	ir, _ := req.DocRequests[0].Items()
	if ns, _ := ir.NameSpaces.Get(issuer.NamespaceMDL); !slices.Equal(ns.Keys(), []string{"portrait", "family_name", "no_such_element", "birth_date"}) {
		t.Errorf("request order %v", ns.Keys())
	} else if keep, _ := ns.Get("family_name"); !keep {
		t.Error("intent to retain lost")
	}

	for _, mac := range []bool{false, true} {
		opts := holder.PresentOptions{}
		if mac {
			opts.MACReaderKey = f.readerPriv.COSEKey()
		}
		resp, err := f.presenter().BuildResponse(req, f.transcript, opts)
		if err != nil {
			t.Fatal(err)
		}
		resp = roundTrip(t, resp)
		if resp.Version != "1.0" || resp.Status != 0 || len(resp.Documents) != 2 {
			t.Fatalf("version %q status %d documents %d", resp.Version, resp.Status, len(resp.Documents))
		}
		if len(resp.DocumentErrors) != 1 || resp.DocumentErrors[0].Len() != 1 {
			t.Fatalf("documentErrors %v", resp.DocumentErrors)
		} else if code, ok := resp.DocumentErrors[0].Get(unknownDocType); !ok || code != 0 {
			t.Errorf("documentErrors for %s: %d %v", unknownDocType, code, ok)
		}

		mdl := &resp.Documents[0]
		if mdl.DocType != issuer.DocTypeMDL {
			t.Fatalf("first document %s", mdl.DocType)
		}
		// issued order, not request order
		want := []string{"org.iso.18013.5.1/family_name", "org.iso.18013.5.1/birth_date", "org.iso.18013.5.1/portrait"}
		if got := disclosed(t, mdl, f.mdl); !slices.Equal(got, want) {
			t.Errorf("mDL disclosed %v, want %v", got, want)
		}
		if mdl.Errors == nil || !slices.Equal(mdl.Errors.Keys(), []string{issuer.NamespaceMDL, "org.iso.18013.5.1.aamva"}) {
			t.Fatalf("mDL errors %v", mdl.Errors)
		}
		e1, _ := mdl.Errors.Get(issuer.NamespaceMDL)
		e2, _ := mdl.Errors.Get("org.iso.18013.5.1.aamva")
		if c, ok := e1.Get("no_such_element"); e1.Len() != 1 || !ok || c != 0 {
			t.Errorf("errors in %s: %v", issuer.NamespaceMDL, e1.Keys())
		}
		if c, ok := e2.Get("organ_donor"); e2.Len() != 1 || !ok || c != 0 {
			t.Errorf("errors in aamva: %v", e2.Keys())
		}
		if !bytes.Equal(mdl.IssuerSigned.IssuerAuth.Signature, f.mdl.IssuerSigned.IssuerAuth.Signature) {
			t.Error("issuerAuth changed")
		}
		checkDeviceAuth(t, f, mdl, mac)

		photo := &resp.Documents[1]
		if got := disclosed(t, photo, f.photo); photo.DocType != issuer.DocTypePhotoID || !slices.Equal(got, []string{"org.iso.23220.photoid.1/person_id"}) {
			t.Errorf("Photo ID %s disclosed %v", photo.DocType, got)
		}
		if photo.Errors != nil {
			t.Errorf("Photo ID errors %v", photo.Errors.Keys())
		}
		checkDeviceAuth(t, f, photo, mac)
	}
}

func TestDiscloseEverything(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	p := f.presenter()
	for _, req := range []*messages.DeviceRequest{nil, mustRequest(t, f)} {
		resp, err := p.BuildResponse(req, f.transcript, holder.PresentOptions{})
		if err != nil {
			t.Fatal(err)
		}
		resp = roundTrip(t, resp)
		if len(resp.Documents) != 2 || resp.DocumentErrors != nil {
			t.Fatalf("%d documents, errors %v", len(resp.Documents), resp.DocumentErrors)
		}
		for i, c := range p.Credentials {
			doc := &resp.Documents[i]
			var want []string
			for ns, items := range c.IssuerSigned.NameSpaces.All() {
				for _, b := range items {
					it, _ := messages.DecodeIssuerSignedItem(b)
					want = append(want, ns+"/"+it.ElementIdentifier)
				}
			}
			if got := disclosed(t, doc, c); !slices.Equal(got, want) {
				t.Errorf("%s: disclosed %v, want %v", c.DocType, got, want)
			}
			if doc.Errors != nil {
				t.Errorf("%s: errors", c.DocType)
			}
			checkDeviceAuth(t, f, doc, false)
		}
	}
}

func mustRequest(t *testing.T, f *fixture) *messages.DeviceRequest {
	req, err := request.Build([]request.Doc{
		request.Everything(issuer.DocTypeMDL, testpki.ElementNames(issuer.SampleMDL(nil))),
		request.Everything(issuer.DocTypePhotoID, testpki.ElementNames(issuer.SamplePhotoID(nil))),
	}, nil, messages.SessionTranscript{})
	if err != nil {
		t.Fatal(err)
	}
	if req.DocRequests[0].ReaderAuth != nil {
		t.Error("readerAuth without a signer")
	}
	return req
}

func TestNothingDisclosed(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	req, err := request.Build([]request.Doc{{DocType: issuer.DocTypeMDL,
		NameSpaces: []request.NameSpace{{Name: "org.example", Elements: []string{"a"}}}}}, nil, messages.SessionTranscript{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.presenter().BuildResponse(req, f.transcript, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp = roundTrip(t, resp)
	doc := &resp.Documents[0]
	if doc.IssuerSigned.NameSpaces != nil || doc.Errors == nil {
		t.Fatal("want no nameSpaces and an errors map")
	}
	checkDeviceAuth(t, f, doc, false)
}

// TestDeviceCurves presents with device keys on other curves: deviceSignature on every
// signing curve, deviceMac on every agreement curve.
func TestDeviceCurves(t *testing.T) {
	cases := []struct {
		curve    int64
		sig, mac bool
	}{
		{messages.CurveP384, true, true},
		{messages.CurveP521, true, true},
		{messages.CurveEd25519, true, false},
		{messages.CurveEd448, true, false},
		{messages.CurveBrainpoolP256r1, true, true},
		{messages.CurveBrainpoolP320r1, true, true},
		{messages.CurveX25519, false, true},
		{messages.CurveX448, false, true},
	}
	for _, c := range cases {
		info, _ := messages.LookupCurve(c.curve)
		t.Run(info.Name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.curve)
			req := subsetRequest(t, f, nil)
			for _, mac := range []bool{false, true} {
				opts := holder.PresentOptions{}
				if mac {
					opts.MACReaderKey = f.readerPriv.COSEKey()
				}
				resp, err := f.presenter().BuildResponse(req, f.transcript, opts)
				if ok := (mac && c.mac) || (!mac && c.sig); !ok {
					if err == nil {
						t.Errorf("mac=%v: no error on %s", mac, info.Name)
					}
					continue
				}
				if err != nil {
					t.Fatalf("mac=%v: %v", mac, err)
				}
				resp = roundTrip(t, resp)
				for i := range resp.Documents {
					checkDeviceAuth(t, f, &resp.Documents[i], mac)
				}
			}
		})
	}
}

func TestOpenID4VPTranscript(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	f.transcript = messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover("https://example.com", "nonce-123", nil)}
	resp, err := f.presenter().BuildResponse(subsetRequest(t, f, nil), f.transcript, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range resp.Documents {
		checkDeviceAuth(t, f, &resp.Documents[i], false)
	}
}

func TestPresentErrors(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	req := subsetRequest(t, f, nil)

	noKey := *f.mdl
	noKey.DevicePrivateKey = nil
	if _, err := (&holder.Presenter{Credentials: []*issuer.Credential{&noKey}}).BuildResponse(req, f.transcript, holder.PresentOptions{}); err == nil {
		t.Error("credential without device key accepted")
	}
	wrong := *f.mdl
	wrong.DevicePrivateKey = f.photo.DevicePrivateKey
	if _, err := (&holder.Presenter{Credentials: []*issuer.Credential{&wrong}}).BuildResponse(req, f.transcript, holder.PresentOptions{}); err == nil {
		t.Error("mismatched device key accepted")
	}
	other, _ := keys.Generate(messages.CurveP384, nil)
	if _, err := f.presenter().BuildResponse(req, f.transcript, holder.PresentOptions{MACReaderKey: other.COSEKey()}); err == nil {
		t.Error("deviceMac with a reader key on another curve accepted")
	}
	if _, err := f.presenter().BuildResponse(req, messages.SessionTranscript{}, holder.PresentOptions{}); err == nil {
		t.Error("transcript without handover accepted")
	}
	bad := *req
	bad.DocRequests = []messages.DocRequest{{ItemsRequest: messages.NewEncodedCBOR([]byte{0xa0})}}
	if _, err := f.presenter().BuildResponse(&bad, f.transcript, holder.PresentOptions{}); err == nil {
		t.Error("undecodable ItemsRequest accepted")
	}
}
