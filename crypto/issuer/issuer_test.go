package issuer

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

var certCurves = []int64{messages.CurveP256, messages.CurveP384, messages.CurveP521, messages.CurveEd25519}

func curveName(c int64) string {
	info, _ := messages.LookupCurve(c)
	return info.Name
}

func newChain(t testing.TB, iacaCurve, dsCurve int64) (*Authority, *Signer) {
	t.Helper()
	iaca, err := NewIACA(IACAOptions{Curve: iacaCurve, State: "UT-01", CRLURL: "https://crl.mdocgate.invalid/iaca.crl"})
	if err != nil {
		t.Fatalf("NewIACA: %v", err)
	}
	ds, err := iaca.NewDocumentSigner(DSOptions{Curve: dsCurve, Also23220: true})
	if err != nil {
		t.Fatalf("NewDocumentSigner: %v", err)
	}
	return iaca, ds
}

var (
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
)

func ext(c *x509.Certificate, oid asn1.ObjectIdentifier) *pkix.Extension {
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(oid) {
			return &c.Extensions[i]
		}
	}
	return nil
}

func wantSKI(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	h := sha1.Sum(spki.PublicKey.Bytes)
	return h[:]
}

func checkIAN(t *testing.T, c *x509.Certificate, uri string) {
	t.Helper()
	e := ext(c, oidIssuerAltName)
	if e == nil || e.Critical {
		t.Fatalf("%s: issuerAltName missing or critical", c.Subject.CommonName)
	}
	var names []asn1.RawValue
	if _, err := asn1.Unmarshal(e.Value, &names); err != nil || len(names) != 1 || names[0].Tag != 6 || string(names[0].Bytes) != uri {
		t.Errorf("%s: issuerAltName %x, want URI %s", c.Subject.CommonName, e.Value, uri)
	}
}

func checkRootProfile(t *testing.T, a *Authority) {
	t.Helper()
	c := a.Certificate
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() < 63 {
		t.Errorf("serial %v: want positive, >= 63 bits", c.SerialNumber)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basicConstraints: CA=%v pathLen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("keyUsage %b", c.KeyUsage)
	}
	for _, oid := range []asn1.ObjectIdentifier{oidKeyUsage, oidBasicConstraints} {
		if e := ext(c, oid); e == nil || !e.Critical {
			t.Errorf("extension %v missing or not critical", oid)
		}
	}
	if ski := wantSKI(t, c); !bytes.Equal(c.SubjectKeyId, ski) || !bytes.Equal(c.AuthorityKeyId, ski) {
		t.Errorf("SKI %x AKI %x, want both %x", c.SubjectKeyId, c.AuthorityKeyId, ski)
	}
	if len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) != 0 {
		t.Error("root carries an EKU")
	}
	if len(c.Subject.Country) != 1 || len(c.Subject.Country[0]) != 2 || c.Subject.CommonName == "" {
		t.Errorf("subject %v", c.Subject)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	checkIAN(t, c, a.ianURI)
}

func checkLeafProfile(t *testing.T, root *Authority, c *x509.Certificate, eku ...asn1.ObjectIdentifier) {
	t.Helper()
	rc := root.Certificate
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() < 63 {
		t.Errorf("serial %v", c.SerialNumber)
	}
	if c.BasicConstraintsValid || c.IsCA {
		t.Error("leaf has basicConstraints")
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("keyUsage %b", c.KeyUsage)
	}
	if e := ext(c, oidKeyUsage); e == nil || !e.Critical {
		t.Error("keyUsage not critical")
	}
	if e := ext(c, oidExtKeyUsage); e == nil || !e.Critical {
		t.Error("EKU missing or not critical")
	}
	if !slices.EqualFunc(c.UnknownExtKeyUsage, eku, func(a, b asn1.ObjectIdentifier) bool { return a.Equal(b) }) {
		t.Errorf("EKU %v, want %v", c.UnknownExtKeyUsage, eku)
	}
	if !bytes.Equal(c.SubjectKeyId, wantSKI(t, c)) {
		t.Error("SKI is not the SHA-1 of the public key")
	}
	if !bytes.Equal(c.AuthorityKeyId, rc.SubjectKeyId) {
		t.Error("AKI != issuer SKI")
	}
	if !slices.Equal(c.Subject.Country, rc.Subject.Country) || !slices.Equal(c.Subject.Province, rc.Subject.Province) {
		t.Errorf("subject C/ST %v/%v, issuer %v/%v", c.Subject.Country, c.Subject.Province, rc.Subject.Country, rc.Subject.Province)
	}
	if c.NotBefore.Before(rc.NotBefore) || c.NotAfter.After(rc.NotAfter) {
		t.Error("validity outside the issuer's")
	}
	checkIAN(t, c, root.ianURI)
	pool := x509.NewCertPool()
	pool.AddCert(rc)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("x509.Verify: %v", err)
	}
}

// verifyCredential checks cred the way a reader would, from its encoded form.
func verifyCredential(t *testing.T, cred *Credential, iaca *Authority, want []NameSpace, digestAlg string) {
	t.Helper()
	enc, err := messages.Marshal(cred.IssuerSigned)
	if err != nil {
		t.Fatal(err)
	}
	is, err := messages.DecodeIssuerSigned(enc)
	if err != nil {
		t.Fatal(err)
	}
	auth := is.IssuerAuth
	if auth.Detached || auth.Tagged {
		t.Error("issuerAuth detached or tagged")
	}
	alg, inProtected, err := auth.Alg()
	if err != nil || !inProtected {
		t.Fatalf("alg %d in protected %v: %v", alg, inProtected, err)
	}
	chain, _, inProt, err := auth.X5Chain()
	if err != nil || inProt || len(chain) != 1 {
		t.Fatalf("x5chain: %d certs, protected %v, %v", len(chain), inProt, err)
	}
	dsCert, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	checkLeafProfile(t, iaca, dsCert, OIDMdlDS, OIDMdocDS)
	dsKey, err := keys.COSEKeyFromPublic(dsCert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if alg != keys.DefaultAlg(dsKey.Crv) {
		t.Errorf("alg %d for curve %d", alg, dsKey.Crv)
	}
	tbs, err := messages.Marshal([]any{"Signature1", auth.Protected, []byte{}, auth.Payload})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Verify(dsCert.PublicKey, alg, tbs, auth.Signature); err != nil {
		t.Fatalf("issuerAuth signature: %v", err)
	}

	mso, err := messages.DecodeMSO(auth.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if mso.NotTagged || mso.Version != "1.0" || mso.DocType != cred.DocType || mso.DigestAlgorithm != digestAlg {
		t.Errorf("MSO version %q docType %q digest %q tagged %v", mso.Version, mso.DocType, mso.DigestAlgorithm, !mso.NotTagged)
	}
	if !mso.DeviceKeyInfo.DeviceKey.Equal(cred.DeviceKey) {
		t.Error("MSO deviceKey != credential device key")
	}
	vi := mso.ValidityInfo
	for _, d := range []messages.TDate{vi.Signed, vi.ValidFrom, vi.ValidUntil} {
		if d.Fractional || d.NonUTC || d.Untagged {
			t.Errorf("tdate %v not strict", d.Time)
		}
	}
	if vi.ValidFrom.Before(vi.Signed.Time) || !vi.ValidUntil.After(vi.ValidFrom.Time) {
		t.Errorf("validity signed %v from %v until %v", vi.Signed, vi.ValidFrom, vi.ValidUntil)
	}
	if vi.Signed.Before(dsCert.NotBefore) || vi.Signed.After(dsCert.NotAfter) {
		t.Error("signed outside the DS validity")
	}
	if now := time.Now(); now.Before(vi.ValidFrom.Time) || now.After(vi.ValidUntil.Time) {
		t.Error("credential not valid now")
	}

	hash, _ := digestHash(digestAlg)
	if !slices.Equal(is.NameSpaces.Keys(), mso.ValueDigests.Keys()) {
		t.Errorf("name spaces %v, digests for %v", is.NameSpaces.Keys(), mso.ValueDigests.Keys())
	}
	ids := map[uint64]bool{}
	for i, ns := range want {
		items, ok := is.NameSpaces.Get(ns.Name)
		if !ok || is.NameSpaces.Keys()[i] != ns.Name || len(items) != len(ns.Elements) {
			t.Fatalf("name space %s: %d items, want %d at position %d", ns.Name, len(items), len(ns.Elements), i)
		}
		digests, _ := mso.ValueDigests.Get(ns.Name)
		if digests.Len() != len(items) {
			t.Errorf("%s: %d digests for %d items", ns.Name, digests.Len(), len(items))
		}
		for j, b := range items {
			it, err := messages.DecodeIssuerSignedItem(b)
			if err != nil {
				t.Fatal(err)
			}
			el := ns.Elements[j]
			if it.ElementIdentifier != el.Identifier || len(it.Random) != 32 || it.DigestID >= 1<<31 || ids[it.DigestID] {
				t.Errorf("%s[%d]: id %q random %d digestID %d", ns.Name, j, it.ElementIdentifier, len(it.Random), it.DigestID)
			}
			ids[it.DigestID] = true
			wantValue, err := encodeValue(el.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(it.ElementValue, wantValue) {
				t.Errorf("%s/%s value %x, want %x", ns.Name, el.Identifier, it.ElementValue, wantValue)
			}
			if !bytes.Equal(b.Raw()[:2], []byte{0xd8, 0x18}) {
				t.Errorf("%s/%s item is not tag 24", ns.Name, el.Identifier)
			}
			h := hash.New()
			h.Write(b.Raw())
			if d, ok := digests.Get(it.DigestID); !ok || !bytes.Equal(d, h.Sum(nil)) {
				t.Errorf("%s/%s: digest mismatch", ns.Name, el.Identifier)
			}
		}
	}
}

func TestIssueAllCurves(t *testing.T) {
	docs := []struct {
		docType string
		ns      []NameSpace
	}{{DocTypeMDL, SampleMDL(nil)}, {DocTypePhotoID, SamplePhotoID(nil)}}
	for _, curve := range certCurves {
		t.Run(curveName(curve), func(t *testing.T) {
			t.Parallel()
			iaca, ds := newChain(t, curve, curve)
			checkRootProfile(t, iaca)
			checkLeafProfile(t, iaca, ds.Certificate, OIDMdlDS, OIDMdocDS)
			for _, d := range docs {
				cred, err := ds.Issue(IssueRequest{DocType: d.docType, NameSpaces: d.ns})
				if err != nil {
					t.Fatalf("%s: %v", d.docType, err)
				}
				if cred.DevicePrivateKey == nil || !cred.DevicePrivateKey.COSEKey().Equal(cred.DeviceKey) {
					t.Fatal("generated device key not returned")
				}
				verifyCredential(t, cred, iaca, d.ns, "SHA-256")
			}
		})
	}
}

func TestIssueMixedCurvesAndDigests(t *testing.T) {
	iaca, ds := newChain(t, messages.CurveP384, messages.CurveEd25519)
	for _, alg := range []string{"SHA-256", "SHA-384", "SHA-512"} {
		for _, dc := range []int64{messages.CurveP256, messages.CurveP521, messages.CurveEd25519, messages.CurveBrainpoolP256r1, messages.CurveX25519, messages.CurveEd448} {
			dk, err := keys.Generate(dc, nil)
			if err != nil {
				t.Fatal(err)
			}
			ns := SampleMDL(nil)
			cred, err := ds.Issue(IssueRequest{DocType: DocTypeMDL, NameSpaces: ns, DeviceKey: dk.COSEKey(), DigestAlgorithm: alg})
			if err != nil {
				t.Fatalf("%s %s: %v", alg, curveName(dc), err)
			}
			if cred.DevicePrivateKey != nil {
				t.Error("DevicePrivateKey set for a given device key")
			}
			verifyCredential(t, cred, iaca, ns, alg)
		}
	}
}

func TestIssueOptions(t *testing.T) {
	iaca, ds := newChain(t, messages.CurveP256, messages.CurveP256)
	signed := time.Now().Add(-10 * time.Minute).Add(123 * time.Millisecond)
	ns := []NameSpace{{Name: "org.example.1", Elements: []Element{
		{"raw", cbor.RawMessage{0x82, 0x01, 0x02}},
		{"map", map[string]any{"b": 1, "a": 2, "c": map[int]string{2: "x", 1: "y"}}},
		{"tdate", messages.NewTDate(signed)},
	}}}
	st := &messages.StatusListRef{Idx: 7, URI: "https://status.mdocgate.invalid/1"}
	cred, err := ds.Issue(IssueRequest{DocType: "org.example.doc", NameSpaces: ns, Signed: signed,
		ValidUntil: signed.Add(24 * time.Hour), ExpectedUpdate: signed.Add(time.Hour), StatusList: st,
		KeyAuthorizations: &messages.KeyAuthorizations{NameSpaces: []string{"org.example.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	verifyCredential(t, cred, iaca, ns, "SHA-256")
	mso, err := cred.MSO()
	if err != nil {
		t.Fatal(err)
	}
	if !mso.ValidityInfo.Signed.Equal(signed.Truncate(time.Second)) || !mso.ValidityInfo.ValidFrom.Equal(mso.ValidityInfo.Signed.Time) {
		t.Errorf("signed %v validFrom %v", mso.ValidityInfo.Signed, mso.ValidityInfo.ValidFrom)
	}
	if mso.ValidityInfo.ExpectedUpdate == nil || mso.DeviceKeyInfo.KeyAuthorizations == nil {
		t.Error("expectedUpdate or keyAuthorizations lost")
	}
	if got, err := mso.StatusList(); err != nil || got == nil || *got != *st {
		t.Errorf("status list %v, %v", got, err)
	}
	items, _ := cred.IssuerSigned.NameSpaces.Get("org.example.1")
	it, _ := messages.DecodeIssuerSignedItem(items[1])
	// Go maps are written with sorted keys: {"a": 2, "b": 1, "c": {1: "y", 2: "x"}}
	if want := "a36161026162016163a2016179026178"; fmt.Sprintf("%x", []byte(it.ElementValue)) != want {
		t.Errorf("map value %x, want %s", []byte(it.ElementValue), want)
	}
}

func TestIssueErrors(t *testing.T) {
	_, ds := newChain(t, messages.CurveP256, messages.CurveP256)
	good := SampleMDL(nil)
	cases := map[string]IssueRequest{
		"no docType":      {NameSpaces: good},
		"no name spaces":  {DocType: DocTypeMDL},
		"digest":          {DocType: DocTypeMDL, NameSpaces: good, DigestAlgorithm: "MD5"},
		"signed early":    {DocType: DocTypeMDL, NameSpaces: good, Signed: ds.Certificate.NotBefore.Add(-time.Hour)},
		"from < signed":   {DocType: DocTypeMDL, NameSpaces: good, ValidFrom: time.Now().Add(-time.Hour)},
		"until <= from":   {DocType: DocTypeMDL, NameSpaces: good, ValidUntil: time.Now().Add(-time.Hour)},
		"dup element":     {DocType: DocTypeMDL, NameSpaces: []NameSpace{{"ns", []Element{{"a", 1}, {"a", 2}}}}},
		"dup name space":  {DocType: DocTypeMDL, NameSpaces: []NameSpace{{"ns", []Element{{"a", 1}}}, {"ns", []Element{{"b", 1}}}}},
		"empty namespace": {DocType: DocTypeMDL, NameSpaces: []NameSpace{{"ns", nil}}},
		"bad raw value":   {DocType: DocTypeMDL, NameSpaces: []NameSpace{{"ns", []Element{{"a", cbor.RawMessage{0x82, 0x01}}}}}},
		"bad device key":  {DocType: DocTypeMDL, NameSpaces: good, DeviceKey: &messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveP256, X: make([]byte, 32), Y: make([]byte, 32)}},
	}
	dk, _ := keys.Generate(messages.CurveP256, nil)
	cases["constant rand"] = IssueRequest{DocType: DocTypeMDL, NameSpaces: good, DeviceKey: dk.COSEKey(), Rand: bytes.NewReader(make([]byte, 1<<16))}
	for name, req := range cases {
		if _, err := ds.Issue(req); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestCertificateErrors(t *testing.T) {
	if _, err := NewIACA(IACAOptions{Curve: messages.CurveBrainpoolP256r1}); err == nil {
		t.Error("brainpool IACA accepted")
	}
	if _, err := NewIACA(IACAOptions{NotBefore: time.Now(), NotAfter: time.Now().Add(-time.Hour)}); err == nil {
		t.Error("inverted validity accepted")
	}
	iaca, err := NewIACA(IACAOptions{NotAfter: time.Now().Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := iaca.NewDocumentSigner(DSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Certificate.NotAfter.Equal(iaca.Certificate.NotAfter) {
		t.Errorf("default DS validity not clipped: %v vs %v", ds.Certificate.NotAfter, iaca.Certificate.NotAfter)
	}
	if slices.ContainsFunc(ds.Certificate.UnknownExtKeyUsage, OIDMdocDS.Equal) {
		t.Error("23220 EKU without Also23220")
	}
	if _, err := iaca.NewDocumentSigner(DSOptions{NotAfter: time.Now().AddDate(2, 0, 0)}); err == nil {
		t.Error("DS outliving the IACA accepted")
	}
	if _, err := iaca.NewReaderCert(ReaderOptions{}); err == nil {
		t.Error("IACA issued a reader certificate")
	}
	rr, err := NewReaderAuthority(IACAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.NewDocumentSigner(DSOptions{}); err == nil {
		t.Error("reader root issued a Document Signer")
	}
}

// The reader certificate's profile, and its ReaderSigner signing readerAuth (the
// signature itself, and readerAuthAll, are package request's tests).
func TestReaderAuth(t *testing.T) {
	for _, curve := range certCurves {
		t.Run(curveName(curve), func(t *testing.T) {
			root, err := NewReaderAuthority(IACAOptions{Curve: curve, Country: "NL"})
			if err != nil {
				t.Fatal(err)
			}
			checkRootProfile(t, root)
			rs, err := root.NewReaderCert(ReaderOptions{Curve: curve, Also23220: true})
			if err != nil {
				t.Fatal(err)
			}
			checkLeafProfile(t, root, rs.Certificate, OIDMdlReaderAuth, OIDMdocReaderAuth)
			ir, _ := messages.EncodeToCBOR(map[string]any{"docType": DocTypeMDL})
			tr := messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover("https://example.com", "nonce", nil)}
			ra, err := rs.SignReaderAuth(tr, ir)
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := messages.Marshal(ra)
			var got messages.CoseSign1
			if err := messages.Unmarshal(enc, &got); err != nil {
				t.Fatal(err)
			}
			chain, asArray, _, err := got.X5Chain()
			if err != nil || asArray || !bytes.Equal(chain[0], rs.Certificate.Raw) || !got.Detached {
				t.Fatalf("x5chain %v array %v detached %v", err, asArray, got.Detached)
			}
			alg, _, _ := got.Alg()
			rab, _ := messages.ReaderAuthenticationBytes(tr, ir)
			tbs, _ := messages.Marshal([]any{"Signature1", got.Protected, []byte{}, rab.Raw()})
			if err := keys.Verify(rs.Certificate.PublicKey, alg, tbs, got.Signature); err != nil {
				t.Fatalf("readerAuth: %v", err)
			}
		})
	}
}

func TestSamplePortrait(t *testing.T) {
	p := SamplePortrait()
	if len(p) < 300 || len(p) > 2500 {
		t.Errorf("portrait is %d bytes", len(p))
	}
	img, err := jpeg.Decode(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != samplePortraitW || b.Dy() != samplePortraitH {
		t.Errorf("portrait %v", b)
	}
	if !bytes.Equal(p, SamplePortrait()) {
		t.Error("portrait not stable")
	}
}

func TestCredentialFileAndDir(t *testing.T) {
	iaca, ds := newChain(t, messages.CurveP256, messages.CurveP256)
	cred, err := ds.Issue(IssueRequest{DocType: DocTypePhotoID, NameSpaces: SamplePhotoID(nil)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cred.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCredentialFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := got.MarshalFile(); !bytes.Equal(again, b) {
		t.Error("credential file does not round-trip byte for byte")
	}
	if got.DocType != DocTypePhotoID || !got.DeviceKey.Equal(cred.DeviceKey) || got.DevicePrivateKey != nil {
		t.Error("parsed credential differs")
	}

	// a file whose docType disagrees with the MSO is refused
	other := *cred
	other.DocType = DocTypeMDL
	bad, _ := other.MarshalFile()
	if _, err := ParseCredentialFile(bad); err == nil {
		t.Error("docType mismatch accepted")
	}
	wrong, _ := keys.Generate(messages.CurveP256, nil)
	other = *cred
	other.DeviceKey = wrong.COSEKey()
	bad, _ = other.MarshalFile()
	if _, err := ParseCredentialFile(bad); err == nil {
		t.Error("deviceKey mismatch accepted")
	}

	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, iaca, ds, cred, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(dir, iaca, ds, cred, wrong); err == nil {
		t.Error("WriteDir accepted a mismatched device key")
	}
	if fi, err := os.Stat(filepath.Join(dir, FileDeviceKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device key file: %v %v", fi.Mode(), err)
	}
	lc, lk, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !lk.COSEKey().Equal(cred.DeviceKey) || lc.DevicePrivateKey != lk {
		t.Error("loaded device key differs")
	}
	if lb, _ := lc.MarshalFile(); !bytes.Equal(lb, b) {
		t.Error("loaded credential differs")
	}
	verifyCredential(t, lc, iaca, nil, "SHA-256")
	for name, want := range map[string]*x509.Certificate{FileIACA: iaca.Certificate, FileDS: ds.Certificate} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		certs, err := ParseCertificatesPEM(data)
		if err != nil || len(certs) != 1 || !certs[0].Equal(want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, FileDeviceKey), mustPEM(t, wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(dir); err == nil {
		t.Error("LoadDir accepted a mismatched device key")
	}
}

func mustPEM(t *testing.T, k *keys.PrivateKey) []byte {
	t.Helper()
	b, err := keys.MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyPEM(t *testing.T) {
	iaca, ds := newChain(t, messages.CurveEd25519, messages.CurveP521)
	for _, ck := range []*CertKey{&iaca.CertKey, &ds.CertKey} {
		p, err := ck.KeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		k, err := keys.ParsePrivateKey(p)
		if err != nil || !k.COSEKey().Equal(ck.Key.COSEKey()) {
			t.Fatalf("key PEM round trip: %v", err)
		}
	}
}

func TestSamplesHaveMandatoryElements(t *testing.T) {
	ids := func(ns []NameSpace, name string) []string {
		for _, n := range ns {
			if n.Name == name {
				var out []string
				for _, e := range n.Elements {
					out = append(out, e.Identifier)
				}
				return out
			}
		}
		return nil
	}
	mdl := ids(SampleMDL(nil), NamespaceMDL)
	for _, id := range []string{"family_name", "given_name", "birth_date", "issue_date", "expiry_date", "issuing_country",
		"issuing_authority", "document_number", "portrait", "driving_privileges", "un_distinguishing_sign"} {
		if !slices.Contains(mdl, id) {
			t.Errorf("mDL sample lacks %s", id)
		}
	}
	pid := ids(SamplePhotoID(nil), Namespace23220)
	for _, id := range []string{"family_name", "given_name", "birth_date", "portrait", "issue_date", "expiry_date",
		"issuing_authority", "issuing_country", "age_over_18"} {
		if !slices.Contains(pid, id) {
			t.Errorf("Photo ID sample lacks %s", id)
		}
	}
	if len(ids(SamplePhotoID(nil), NamespacePhotoID)) == 0 {
		t.Error("Photo ID sample has no org.iso.23220.photoid.1 elements")
	}
}

// The options that build certificates and credentials a verifier must refuse do what
// they say, and nothing else.
func TestProfileDeviationOptions(t *testing.T) {
	iaca, err := NewIACA(IACAOptions{Country: "UT", State: "UT-01", PathLen: -1, KeyUsage: x509.KeyUsageDigitalSignature})
	if err != nil {
		t.Fatal(err)
	}
	if c := iaca.Certificate; c.MaxPathLen != -1 || c.KeyUsage != x509.KeyUsageDigitalSignature || !c.IsCA {
		t.Fatalf("IACA: pathLen %d keyUsage %v CA %v", c.MaxPathLen, c.KeyUsage, c.IsCA)
	}
	serverAuth := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	for _, tc := range []struct {
		name  string
		opts  DSOptions
		check func(*x509.Certificate) bool
	}{
		{"other EKU", DSOptions{EKU: []asn1.ObjectIdentifier{serverAuth}}, func(c *x509.Certificate) bool {
			return len(c.UnknownExtKeyUsage) == 0 && slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
		}},
		{"no EKU", DSOptions{EKU: []asn1.ObjectIdentifier{}}, func(c *x509.Certificate) bool {
			return len(c.UnknownExtKeyUsage) == 0 && len(c.ExtKeyUsage) == 0
		}},
		{"CA", DSOptions{CA: true}, func(c *x509.Certificate) bool { return c.IsCA && c.BasicConstraintsValid }},
		{"country", DSOptions{Country: "UV", State: "UV-02"}, func(c *x509.Certificate) bool {
			return slices.Equal(c.Subject.Country, []string{"UV"}) && slices.Equal(c.Subject.Province, []string{"UV-02"})
		}},
		{"default", DSOptions{}, func(c *x509.Certificate) bool {
			return !c.IsCA && slices.Equal(c.Subject.Country, []string{"UT"}) && slices.Equal(c.Subject.Province, []string{"UT-01"}) &&
				len(c.UnknownExtKeyUsage) == 1 && c.UnknownExtKeyUsage[0].Equal(OIDMdlDS)
		}},
	} {
		ds, err := iaca.NewDocumentSigner(tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !tc.check(ds.Certificate) {
			t.Errorf("%s: certificate %+v", tc.name, ds.Certificate.Subject)
		}
	}
	ds, _ := iaca.NewDocumentSigner(DSOptions{})
	early := ds.Certificate.NotBefore.Add(-time.Hour)
	if _, err := ds.Issue(IssueRequest{DocType: DocTypeMDL, NameSpaces: SampleMDL(nil), Signed: early}); err == nil {
		t.Fatal("signed before the DS validity issued without Inconsistent")
	}
	cred, err := ds.Issue(IssueRequest{DocType: DocTypeMDL, NameSpaces: SampleMDL(nil), Signed: early, Inconsistent: true})
	if err != nil {
		t.Fatal(err)
	}
	if mso, _ := cred.MSO(); !mso.ValidityInfo.Signed.Equal(early.Truncate(time.Second)) {
		t.Fatalf("signed %v", mso.ValidityInfo.Signed)
	}
}
