package verify

import (
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// tamperFixture is a valid presentation (deviceSignature and deviceMac variants) and
// everything needed to verify it.
type tamperFixture struct {
	sig, mac []byte
	opts     Options
	macOpts  Options
	otherDS  *issuer.Signer
}

func newTamperFixture(t *testing.T) *tamperFixture {
	t.Helper()
	pki := testpki.New(t, testpki.Options{})
	otherDS := testpki.New(t, testpki.Options{}).DS
	cred := pki.IssueOn(t, messages.CurveP256, issuer.IssueRequest{
		KeyAuthorizations: &messages.KeyAuthorizations{NameSpaces: []string{"org.iso.18013.5.1.devicesigned"}}})
	readerKey, _ := keys.Generate(messages.CurveP256, nil)
	st, _ := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	p := holder.Presenter{Credentials: []*issuer.Credential{cred}}
	build := func(mac bool) []byte {
		opts := holder.PresentOptions{}
		if mac {
			opts.MACReaderKey = readerKey.COSEKey()
		}
		resp, err := p.BuildResponse(nil, *st, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := messages.Marshal(resp)
		return b
	}
	f := &tamperFixture{sig: build(false), mac: build(true), otherDS: otherDS,
		opts: Options{Trust: NewTrustStore(pki.IACA.Certificate), Transcript: st, Now: time.Now()}}
	f.macOpts = f.opts
	f.macOpts.ReaderKey = readerKey
	return f
}

// firstItem decodes, changes and re-encodes the first issuer-signed item.
func firstItem(change func(*messages.IssuerSignedItem)) func(*messages.DeviceResponse) {
	return func(r *messages.DeviceResponse) {
		ns := r.Documents[0].IssuerSigned.NameSpaces
		name := ns.Keys()[0]
		items, _ := ns.Get(name)
		it, _ := messages.DecodeIssuerSignedItem(items[0])
		change(it)
		enc, _ := messages.EncodeToCBOR(it)
		items = append([]messages.EncodedCBOR{enc}, items[1:]...)
		ns.Set(name, items)
	}
}

// inMSO decodes, changes and re-encodes the MSO inside issuerAuth (the signature stays).
func inMSO(change func(*messages.MobileSecurityObject)) func(*messages.DeviceResponse) {
	return func(r *messages.DeviceResponse) {
		ia := &r.Documents[0].IssuerSigned.IssuerAuth
		mso, _ := messages.DecodeMSO(ia.Payload)
		change(mso)
		enc, _ := messages.EncodeToCBOR(mso)
		ia.Payload = enc.Raw()
	}
}

func flip(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)/2] ^= 0x01
	return c
}

// Every field a holder controls, changed one at a time, is caught by the right check.
func TestTamperSuite(t *testing.T) {
	f := newTamperFixture(t)
	for _, useMAC := range []bool{false, true} {
		base, opts := f.sig, f.opts
		deviceCheck := CheckDeviceSignature
		if useMAC {
			base, opts, deviceCheck = f.mac, f.macOpts, CheckDeviceMac
		}
		if res := VerifyDeviceResponse(base, opts); !res.Valid {
			t.Fatalf("untampered response invalid: %+v", res.Documents[0].Failed())
		}
		cases := []struct {
			name   string
			change func(*messages.DeviceResponse)
			want   string
		}{
			{"document docType", func(r *messages.DeviceResponse) { r.Documents[0].DocType = "org.iso.23220.photoid.1" }, CheckMSODocType},
			{"item digestID", firstItem(func(it *messages.IssuerSignedItem) { it.DigestID ^= 1 }), CheckValueDigests},
			{"item random", firstItem(func(it *messages.IssuerSignedItem) { it.Random = flip(it.Random) }), CheckValueDigests},
			{"item identifier", firstItem(func(it *messages.IssuerSignedItem) { it.ElementIdentifier = "given_name" }), CheckValueDigests},
			{"item value", firstItem(func(it *messages.IssuerSignedItem) { it.ElementValue = cbor.RawMessage{0x63, 'E', 'v', 'e'} }), CheckValueDigests},
			{"item moved to another name space", func(r *messages.DeviceResponse) {
				ns := r.Documents[0].IssuerSigned.NameSpaces
				items, _ := ns.Get(ns.Keys()[0])
				ns.Set("org.iso.18013.5.1.aamva", items[:1])
			}, CheckValueDigests},
			{"item disclosed twice", func(r *messages.DeviceResponse) {
				ns := r.Documents[0].IssuerSigned.NameSpaces
				name := ns.Keys()[0]
				items, _ := ns.Get(name)
				ns.Set(name, append(items, items[0]))
			}, CheckValueDigests},
			{"issuerAuth protected header", func(r *messages.DeviceResponse) {
				r.Documents[0].IssuerSigned.IssuerAuth.Protected = messages.EncodeProtectedHeader(messages.AlgES384)
			}, CheckIssuerAuthSignature},
			{"issuerAuth signature", func(r *messages.DeviceResponse) {
				ia := &r.Documents[0].IssuerSigned.IssuerAuth
				ia.Signature = flip(ia.Signature)
			}, CheckIssuerAuthSignature},
			{"issuerAuth x5chain", func(r *messages.DeviceResponse) {
				r.Documents[0].IssuerSigned.IssuerAuth.Unprotected = messages.EncodeX5ChainHeader([][]byte{f.otherDS.Certificate.Raw})
			}, CheckIssuerAuthSignature},
			{"MSO validUntil", inMSO(func(m *messages.MobileSecurityObject) {
				m.ValidityInfo.ValidUntil = messages.NewTDate(m.ValidityInfo.ValidUntil.Add(24 * time.Hour))
			}), CheckIssuerAuthSignature},
			{"MSO docType", inMSO(func(m *messages.MobileSecurityObject) { m.DocType = "org.iso.18013.5.1.mDX" }), CheckIssuerAuthSignature},
			{"MSO deviceKey", inMSO(func(m *messages.MobileSecurityObject) {
				k, _ := keys.Generate(messages.CurveP256, nil)
				m.DeviceKeyInfo.DeviceKey = *k.COSEKey()
			}), CheckIssuerAuthSignature},
			{"MSO digest", inMSO(func(m *messages.MobileSecurityObject) {
				name := m.ValueDigests.Keys()[0]
				d, _ := m.ValueDigests.Get(name)
				id := d.Keys()[0]
				v, _ := d.Get(id)
				d.Set(id, flip(v))
				m.ValueDigests.Set(name, d)
			}), CheckIssuerAuthSignature},
			{"device name spaces", func(r *messages.DeviceResponse) {
				var ns messages.Map[string, messages.Map[string, cbor.RawMessage]]
				var el messages.Map[string, cbor.RawMessage]
				el.Set("extra", cbor.RawMessage{0xf5})
				ns.Set("org.iso.18013.5.1.devicesigned", el)
				enc, _ := messages.EncodeToCBOR(ns)
				r.Documents[0].DeviceSigned.NameSpaces = enc
			}, deviceCheck},
			{"device authentication", func(r *messages.DeviceResponse) {
				da := &r.Documents[0].DeviceSigned.DeviceAuth
				if da.DeviceSignature != nil {
					da.DeviceSignature.Signature = flip(da.DeviceSignature.Signature)
				} else {
					da.DeviceMac.Tag = flip(da.DeviceMac.Tag)
				}
			}, deviceCheck},
			{"device auth protected header", func(r *messages.DeviceResponse) {
				da := &r.Documents[0].DeviceSigned.DeviceAuth
				if da.DeviceSignature != nil {
					da.DeviceSignature.Protected = messages.EncodeProtectedHeader(messages.AlgES384)
				} else {
					da.DeviceMac.Protected = messages.EncodeProtectedHeader(6)
				}
			}, deviceCheck},
		}
		for _, tc := range cases {
			t.Run(map[bool]string{false: "sig", true: "mac"}[useMAC]+"/"+tc.name, func(t *testing.T) {
				r, err := messages.DecodeDeviceResponse(base)
				if err != nil {
					t.Fatal(err)
				}
				tc.change(r)
				data, err := messages.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				res := VerifyDeviceResponse(data, opts)
				if res.Valid {
					t.Fatal("tampered response verified")
				}
				failed := failedNames(res.Documents[0])
				for _, n := range failed {
					if n == tc.want {
						return
					}
				}
				t.Fatalf("failed checks %v, want %s among them", failed, tc.want)
			})
		}
	}
	t.Run("response status", func(t *testing.T) {
		r, _ := messages.DecodeDeviceResponse(f.sig)
		r.Status = messages.ResponseGeneralError
		data, _ := messages.Marshal(r)
		if res := VerifyDeviceResponse(data, f.opts); res.Valid || len(res.Errors) == 0 {
			t.Fatalf("status 10 response accepted: %+v", res)
		}
	})
}
