package verify

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// annexDOptions are the inputs under which the Annex D response is valid.
func annexDOptions(t testing.TB) Options {
	t.Helper()
	st, err := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	return Options{Trust: NewTrustStore(testvectors.AnnexDCertificate(t, "iaca_cert")), Transcript: st, ReaderKey: testpki.AnnexDKey(t, "ereader_key"), Now: testvectors.AnnexDNow}
}

func failedNames(d DocumentResult) []string {
	var out []string
	for _, c := range d.Checks {
		if !c.OK && c.Severity == "error" {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestAnnexDResponseVerifies(t *testing.T) {
	res := VerifyDeviceResponse(testvectors.AnnexD(t, "device_response"), annexDOptions(t))
	if !res.Valid || len(res.Documents) != 1 {
		t.Fatalf("Annex D response not valid: %+v", res)
	}
	doc := res.Documents[0]
	for _, name := range []string{CheckIssuerAuthSignature, CheckIssuerAuthChain, CheckValueDigests, CheckMSOValidity, CheckMSODocType, CheckDeviceMac} {
		c, ok := doc.Check(name)
		if !ok || !c.OK {
			t.Errorf("check %s: %+v (present %v)", name, c, ok)
		}
	}
	mdl := doc.Elements["org.iso.18013.5.1"]
	if mdl["family_name"] != "Doe" || mdl["document_number"] != "123456789" || mdl["issue_date"] != "2019-10-20" {
		t.Fatalf("elements: %v", mdl)
	}
	if len(mdl) != 6 {
		t.Fatalf("want 6 disclosed elements, got %d", len(mdl))
	}
	portrait := doc.RawElements["org.iso.18013.5.1"]["portrait"]
	var p []byte
	if err := messages.Unmarshal(portrait, &p); err != nil || !bytes.Equal(p, testvectors.AnnexD(t, "portrait_jpeg")) {
		t.Fatal("portrait differs from the vector")
	}
}

func TestAnnexDNegatives(t *testing.T) {
	base := annexDOptions(t)
	resp := testvectors.AnnexD(t, "device_response")
	otherKey, _ := keys.Generate(messages.CurveP256, nil)
	otherIACA := testvectors.AnnexDCertificate(t, "reader_root_cert")
	otherTranscript, _ := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "oid4vp_session_transcript"))

	// flip one byte inside the family_name value "Doe"
	i := bytes.Index(resp, []byte("Doe"))
	if i < 0 {
		t.Fatal("no Doe in the response")
	}
	flipped := bytes.Clone(resp)
	flipped[i] ^= 0x01

	wrongDocType := bytes.Replace(bytes.Clone(resp), []byte("\x75org.iso.18013.5.1.mDL\x6c"), []byte("\x75org.iso.18013.5.1.mDX\x6c"), 1)
	if bytes.Equal(wrongDocType, resp) {
		t.Fatal("docType not found for the negative test")
	}

	cases := []struct {
		name   string
		data   []byte
		mutate func(*Options)
		want   string
	}{
		{"expired at 2026", resp, func(o *Options) { o.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }, CheckMSOValidity},
		{"flipped element byte", flipped, nil, CheckValueDigests},
		{"wrong docType", wrongDocType, nil, CheckMSODocType},
		{"untrusted IACA", resp, func(o *Options) { o.Trust = NewTrustStore(otherIACA) }, CheckIssuerAuthChain},
		{"no trust anchor", resp, func(o *Options) { o.Trust = nil }, CheckIssuerAuthChain},
		{"wrong reader key", resp, func(o *Options) { o.ReaderKey = otherKey }, CheckDeviceMac},
		{"no reader key", resp, func(o *Options) { o.ReaderKey = nil }, CheckDeviceMac},
		{"foreign transcript", resp, func(o *Options) { o.Transcript = otherTranscript }, CheckDeviceMac},
		{"no transcript", resp, func(o *Options) { o.Transcript = nil }, CheckTranscriptAvailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			res := VerifyDeviceResponse(tc.data, o)
			if res.Valid {
				t.Fatal("verified, want rejected")
			}
			if len(res.Documents) != 1 {
				t.Fatalf("documents: %d, errors %v", len(res.Documents), res.Errors)
			}
			failed := failedNames(res.Documents[0])
			found := false
			for _, f := range failed {
				found = found || f == tc.want
			}
			if !found {
				t.Fatalf("failed checks %v do not include %s", failed, tc.want)
			}
		})
	}
}

func TestAnnexDReaderAuth(t *testing.T) {
	req, err := messages.DecodeDeviceRequest(testvectors.AnnexD(t, "device_request"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	dr := req.DocRequests[0]
	store := NewTrustStore(testvectors.AnnexDCertificate(t, "reader_root_cert"))
	res := VerifyReaderAuth(dr.ReaderAuth, *st, dr.ItemsRequest, store, testvectors.AnnexDNow, Policy{})
	if !res.Valid || res.ReaderCert == nil {
		t.Fatalf("Annex D readerAuth: %+v", res.Checks)
	}
	// another session's transcript must not verify
	other, _ := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "oid4vp_session_transcript"))
	if res := VerifyReaderAuth(dr.ReaderAuth, *other, dr.ItemsRequest, store, testvectors.AnnexDNow, Policy{}); res.Valid {
		t.Fatal("readerAuth verified against a foreign transcript")
	}
	// expired reader certificate
	if res := VerifyReaderAuth(dr.ReaderAuth, *st, dr.ItemsRequest, store, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Policy{}); res.Valid {
		t.Fatal("readerAuth verified with an expired certificate")
	}
	// wrong trust anchor
	if res := VerifyReaderAuth(dr.ReaderAuth, *st, dr.ItemsRequest, NewTrustStore(testvectors.AnnexDCertificate(t, "iaca_cert")), testvectors.AnnexDNow, Policy{}); res.Valid {
		t.Fatal("readerAuth verified with the wrong anchor")
	}
}

func TestChainCacheHonoursValidity(t *testing.T) {
	cache := NewChainCache(8)
	store := NewTrustStore(testvectors.AnnexDCertificate(t, "iaca_cert"))
	ds := testvectors.AnnexDCertificate(t, "ds_cert")
	if _, err := VerifyChain([]*x509.Certificate{ds}, store, testvectors.AnnexDNow, cache); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyChain([]*x509.Certificate{ds}, store, testvectors.AnnexDNow.Add(time.Hour), cache); err != nil {
		t.Fatal(err)
	}
	if cache.Hits() != 1 {
		t.Fatalf("hits = %d, want 1", cache.Hits())
	}
	if _, err := VerifyChain([]*x509.Certificate{ds}, store, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), cache); err == nil {
		t.Fatal("cached chain accepted outside its validity")
	}
}

func TestHostileResponseNeverPanics(t *testing.T) {
	resp := testvectors.AnnexD(t, "device_response")
	opts := annexDOptions(t)
	for n := 0; n < len(resp); n += 97 {
		res := VerifyDeviceResponse(resp[:n], opts)
		if res.Valid {
			t.Fatalf("truncated response (%d bytes) verified", n)
		}
	}
}
