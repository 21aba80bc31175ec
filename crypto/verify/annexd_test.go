package verify

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

func vector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "iso18013-5", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(vector(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var annexDNow = time.Date(2021, 1, 5, 14, 1, 0, 0, time.UTC)

// annexDOptions are the inputs under which the Annex D response is valid.
func annexDOptions(t testing.TB) Options {
	t.Helper()
	st, err := messages.DecodeSessionTranscript(vector(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := messages.DecodeCOSEKey(vector(t, "ereader_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	rk.D = vector(t, "ereader_key_d")
	readerKey, err := keys.PrivateKeyFromCOSE(rk)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Trust: NewTrustStore(cert(t, "iaca_cert")), Transcript: st, ReaderKey: readerKey, Now: annexDNow}
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
	res := VerifyDeviceResponse(vector(t, "device_response"), annexDOptions(t))
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
	if err := messages.Unmarshal(portrait, &p); err != nil || !bytes.Equal(p, vector(t, "portrait_jpeg")) {
		t.Fatal("portrait differs from the vector")
	}
}

func TestAnnexDNegatives(t *testing.T) {
	base := annexDOptions(t)
	resp := vector(t, "device_response")
	otherKey, _ := keys.Generate(messages.CurveP256, nil)
	otherIACA := cert(t, "reader_root_cert")
	otherTranscript, _ := messages.DecodeSessionTranscript(vector(t, "oid4vp_session_transcript"))

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
	req, err := messages.DecodeDeviceRequest(vector(t, "device_request"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := messages.DecodeSessionTranscript(vector(t, "session_transcript"))
	dr := req.DocRequests[0]
	store := NewTrustStore(cert(t, "reader_root_cert"))
	res := VerifyReaderAuth(dr.ReaderAuth, *st, dr.ItemsRequest, store, annexDNow, Policy{})
	if !res.Valid || res.ReaderCert == nil {
		t.Fatalf("Annex D readerAuth: %+v", res.Checks)
	}
	// another session's transcript must not verify
	other, _ := messages.DecodeSessionTranscript(vector(t, "oid4vp_session_transcript"))
	if res := VerifyReaderAuth(dr.ReaderAuth, *other, dr.ItemsRequest, store, annexDNow, Policy{}); res.Valid {
		t.Fatal("readerAuth verified against a foreign transcript")
	}
	// expired reader certificate
	if res := VerifyReaderAuth(dr.ReaderAuth, *st, dr.ItemsRequest, store, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Policy{}); res.Valid {
		t.Fatal("readerAuth verified with an expired certificate")
	}
	// wrong trust anchor
	if res := VerifyReaderAuth(dr.ReaderAuth, *st, dr.ItemsRequest, NewTrustStore(cert(t, "iaca_cert")), annexDNow, Policy{}); res.Valid {
		t.Fatal("readerAuth verified with the wrong anchor")
	}
}

func TestChainCacheHonoursValidity(t *testing.T) {
	cache := NewChainCache(8)
	store := NewTrustStore(cert(t, "iaca_cert"))
	ds := cert(t, "ds_cert")
	if _, err := VerifyChain([]*x509.Certificate{ds}, store, annexDNow, cache); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyChain([]*x509.Certificate{ds}, store, annexDNow.Add(time.Hour), cache); err != nil {
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
	resp := vector(t, "device_response")
	opts := annexDOptions(t)
	for n := 0; n < len(resp); n += 97 {
		res := VerifyDeviceResponse(resp[:n], opts)
		if res.Valid {
			t.Fatalf("truncated response (%d bytes) verified", n)
		}
	}
}
