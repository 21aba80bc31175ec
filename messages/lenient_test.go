package messages

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// pyMDOC-CBOR's MSO is not conformant (deviceKey null, bstr-wrapped tdates); see
// TestLenientPyMDOCMSO.
const pymdocSample = "auth0-mdl-pymdoccbor-eudiw-pid"

func TestLenientWalletSamples(t *testing.T) {
	w := testvectors.WalletResponses(t)
	type sample struct {
		name   string
		issued []IssuerSigned
	}
	var samples []sample
	for _, name := range sortedKeys(w) {
		dr, err := DecodeDeviceResponse(w[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(dr.Documents) == 0 {
			t.Fatalf("%s: no documents", name)
		}
		s := sample{name: name}
		for _, d := range dr.Documents {
			s.issued = append(s.issued, d.IssuerSigned)
			if d.DeviceSigned != nil {
				if _, err := d.DeviceSigned.DeviceNameSpaces(); err != nil {
					t.Errorf("%s: DeviceNameSpaces: %v", name, err)
				}
			}
		}
		samples = append(samples, s)
	}
	bdr, err := DecodeIssuerSigned(bdrIssuerSigned(t))
	if err != nil {
		t.Fatal(err)
	}
	samples = append(samples, sample{"mdoc-ts-bdr-issuer-signed", []IssuerSigned{*bdr}})

	arrays := map[string]bool{}
	for _, s := range samples {
		for _, is := range s.issued {
			mso, err := DecodeMSO(is.IssuerAuth.Payload)
			if s.name == pymdocSample {
				if err == nil && !mso.NotTagged {
					t.Errorf("%s: NotTagged not set", s.name)
				}
			} else if err != nil {
				t.Errorf("%s: MSO: %v", s.name, err)
			} else if mso.NotTagged {
				t.Errorf("%s: NotTagged", s.name)
			}
			certs, asArray, _, err := is.IssuerAuth.X5Chain()
			if err != nil || len(certs) == 0 || len(certs[0]) < 100 {
				t.Errorf("%s: x5chain: %v", s.name, err)
			}
			arrays[s.name] = asArray
			if _, _, err := is.IssuerAuth.Alg(); err != nil {
				t.Errorf("%s: alg: %v", s.name, err)
			}
			if is.NameSpaces == nil {
				t.Errorf("%s: no nameSpaces", s.name)
				continue
			}
			n := 0
			for ns, items := range is.NameSpaces.All() {
				for _, b := range items {
					it, err := DecodeIssuerSignedItem(b)
					if err != nil {
						t.Errorf("%s/%s: %v", s.name, ns, err)
						continue
					}
					n++
					if mso != nil {
						digests, _ := mso.ValueDigests.Get(ns)
						if _, ok := digests.Get(it.DigestID); !ok {
							t.Errorf("%s: no digest for %s/%d", s.name, ns, it.DigestID)
						}
					}
				}
			}
			if n == 0 {
				t.Errorf("%s: no items", s.name)
			}
		}
	}
	// x5chain as a 1-element array (auth0, jmandel) and as a bstr (the others).
	if !arrays["auth0-mdl-example1"] || !arrays["jmandel-shc-android-annexc"] || arrays["kokukuma-apple-wallet-passkit"] {
		t.Fatalf("x5chain forms: %v", arrays)
	}
}

// TestLenientPyMDOCMSO: the pyMDOC-CBOR sample's MSO (not tag-24, deviceKey null,
// validityInfo values as bstr-wrapped tdates) does not decode.
func TestLenientPyMDOCMSO(t *testing.T) {
	dr, err := DecodeDeviceResponse(testvectors.WalletResponses(t)[pymdocSample])
	if err != nil {
		t.Fatal(err)
	}
	mso, err := DecodeMSO(dr.Documents[0].IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !mso.NotTagged || mso.DigestAlgorithm != "sha256" || mso.ValidityInfo.ValidUntil.Year() != 2028 {
		t.Fatalf("%+v", mso)
	}
	// The deviations are reported, not hidden.
	vi := mso.ValidityInfo
	if !mso.DeviceKeyInfo.DeviceKeyMissing || !vi.Signed.Embedded || !vi.ValidFrom.Embedded || !vi.ValidUntil.Embedded || vi.Signed.Untagged {
		t.Fatalf("flags: deviceKeyMissing=%v validityInfo=%#v", mso.DeviceKeyInfo.DeviceKeyMissing, vi)
	}
	// Without a device key the MSO cannot be re-encoded, and a conformant MSO has no flag.
	if _, err := Marshal(mso); err == nil {
		t.Error("MSO without a device key encoded")
	}
	good, err := DecodeMSO(testvectors.AnnexD(t, "mobile_security_object_bytes"))
	if err != nil || good.DeviceKeyInfo.DeviceKeyMissing || good.ValidityInfo.Signed.Embedded {
		t.Fatalf("Annex D MSO: %v", err)
	}
	// Only one level of byte-string wrapping is unwrapped, and only around a tdate.
	var d TDate
	inner := mustMarshal(NewTDate(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)))
	if err := Unmarshal(mustMarshal(inner), &d); err != nil || !d.Embedded || d.Year() != 2024 {
		t.Fatalf("embedded tdate: %+v %v", d, err)
	}
	for _, bad := range [][]byte{mustMarshal(mustMarshal(inner)), mustMarshal([]byte{0x01}), {0x40}} {
		if Unmarshal(bad, &d) == nil {
			t.Errorf("tdate %x accepted", bad)
		}
	}
	// deviceKey undefined is the same deviation; any other null in DeviceKeyInfo is not.
	var dki DeviceKeyInfo
	if err := Unmarshal(hexBytes(t, "a1 69 6465766963654b6579 f7"), &dki); err != nil || !dki.DeviceKeyMissing {
		t.Fatalf("deviceKey undefined: %v", err)
	}
	if Unmarshal(hexBytes(t, "a2 69 6465766963654b6579 f6 6b 6b6579417574686f72697a6174696f6e73 f6"), &dki) == nil {
		t.Error("keyAuthorizations null accepted")
	}
}

// TestLenientNonMinimalTag24: a tag-24 head in a longer form than needed (d9 0018) is
// recognised as SessionTranscriptBytes / MobileSecurityObjectBytes, and its bytes kept.
func TestLenientNonMinimalTag24(t *testing.T) {
	for name, decode := range map[string]func([]byte) error{
		"mobile_security_object_bytes": func(b []byte) error {
			m, err := DecodeMSO(b)
			if err == nil && m.NotTagged {
				t.Error("NotTagged")
			}
			return err
		},
		"session_transcript_bytes": func(b []byte) error { _, err := DecodeSessionTranscript(b); return err },
	} {
		data := testvectors.AnnexD(t, name)
		if data[0] != 0xd8 || data[1] != 0x18 {
			t.Fatalf("%s: %x", name, data[:2])
		}
		wide := append([]byte{0xd9, 0x00, 0x18}, data[2:]...)
		if err := decode(wide); err != nil {
			t.Errorf("%s with a d9 0018 head: %v", name, err)
		}
		e, err := ParseEncodedCBOR(wide)
		if err != nil || !bytes.Equal(e.Raw(), wide) {
			t.Errorf("%s: ParseEncodedCBOR %v", name, err)
		}
	}
}

func TestLenientFractionalTDate(t *testing.T) {
	dr, err := DecodeDeviceResponse(testvectors.WalletResponses(t)["mdoc-ts-google-cm-wallet"])
	if err != nil {
		t.Fatal(err)
	}
	mso, err := DecodeMSO(dr.Documents[0].IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !mso.ValidityInfo.Signed.Fractional || mso.ValidityInfo.Signed.NonUTC || mso.ValidityInfo.Signed.Untagged {
		t.Fatalf("%+v", mso.ValidityInfo.Signed)
	}
	var d TDate
	if err := Unmarshal(append([]byte{0xc0, 0x78, 27}, "2020-10-01T13:30:02.123456Z"...), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Fractional || d.Nanosecond() != 123456000 {
		t.Fatalf("%+v", d)
	}
	// ".000" is still reported as fractional.
	if err := Unmarshal(append([]byte{0xc0, 0x78, 24}, "2020-10-01T13:30:02.000Z"...), &d); err != nil || !d.Fractional {
		t.Fatalf("%+v %v", d, err)
	}
	// Offset and untagged forms.
	if err := Unmarshal(append([]byte{0x78, 25}, "2020-10-01T15:30:02+02:00"...), &d); err != nil || !d.NonUTC || !d.Untagged ||
		!d.Equal(time.Date(2020, 10, 1, 13, 30, 2, 0, time.UTC)) {
		t.Fatalf("%+v %v", d, err)
	}
	for _, bad := range [][]byte{{0xc1, 0x00}, {0xc0, 0x01}, append([]byte{0xc0, 0x6a}, "2020-10-01"...)} {
		if Unmarshal(bad, &d) == nil {
			t.Errorf("tdate %x accepted", bad)
		}
	}
}

func TestStrictOutTDate(t *testing.T) {
	zone := time.FixedZone("X", -5*3600-30*60)
	in := time.Date(2024, 2, 29, 18, 4, 5, 987654321, zone)
	for _, d := range []TDate{{Time: in}, NewTDate(in), {Time: in, Fractional: true, NonUTC: true, Untagged: true}} {
		b, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte{0xc0, 0x74}, "2024-02-29T23:34:05Z"...)
		if !bytes.Equal(b, want) {
			t.Fatalf("got %x (%q) want %q", b, b, want[2:])
		}
	}
	fd, err := ParseFullDate("1999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Marshal(fd)
	if !bytes.Equal(b, append([]byte{0xd9, 0x03, 0xec, 0x6a}, "1999-12-31"...)) {
		t.Fatalf("%x", b)
	}
	var back FullDate
	if err := Unmarshal(b, &back); err != nil || back != fd {
		t.Fatal(back, err)
	}
}

func TestLenientCOSEKeyShortCoordinates(t *testing.T) {
	full, err := DecodeCOSEKey(testvectors.AnnexD(t, "edevice_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	// Strip the leading bytes of x (as some producers strip zeros) with x = 00 00 || rest.
	x := append([]byte{0, 0}, full.X[2:]...)
	short := replaceIntField(t, testvectors.AnnexD(t, "edevice_key_cose"), -2, mustMarshal(x[2:]))
	k, err := DecodeCOSEKey(short)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.X) != 32 || !bytes.Equal(k.X, x) {
		t.Fatalf("x not left-padded: %x", k.X)
	}
	enc, err := Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	want := replaceIntField(t, testvectors.AnnexD(t, "edevice_key_cose"), -2, mustMarshal(x))
	if !bytes.Equal(enc, want) {
		t.Fatalf("re-encoded\n got %x\nwant %x", enc, want)
	}
	// Too long is refused.
	long := replaceIntField(t, testvectors.AnnexD(t, "edevice_key_cose"), -2, mustMarshal(append([]byte{1}, full.X...)))
	if _, err := DecodeCOSEKey(long); err == nil {
		t.Fatal("33-byte P-256 x accepted")
	}
	// Compressed point (y as the sign bit) is kept and re-emitted.
	comp := replaceIntField(t, testvectors.AnnexD(t, "edevice_key_cose"), -3, []byte{0xf5})
	k, err = DecodeCOSEKey(comp)
	if err != nil || k.YSign == nil || !*k.YSign || k.Y != nil {
		t.Fatalf("%+v %v", k, err)
	}
	if enc, _ := Marshal(k); !bytes.Equal(enc, comp) {
		t.Fatalf("compressed re-encoding %x", enc)
	}
	// kid undefined or text is tolerated and dropped.
	for _, kid := range [][]byte{{0xf7}, {0x62, '1', '1'}} {
		// {1: 2, 2: kid, -1: .., -2: .., -3: ..}: the vector's pairs after kty
		rest := testvectors.AnnexD(t, "edevice_key_cose")[3:] // skip a4 01 02
		m := append(append(hexBytes(t, "a5 01 02 02"), kid...), rest...)
		k, err := DecodeCOSEKey(m)
		if err != nil || k.KID != nil {
			t.Fatalf("kid %x: %+v %v", kid, k, err)
		}
	}
}

func TestLenientCOSEHeaders(t *testing.T) {
	cert := testvectors.AnnexD(t, "ds_cert")
	sign1 := func(protected, unprotected []byte) []byte {
		b := append([]byte{0x84}, mustMarshal(protected)...)
		b = append(b, unprotected...)
		return append(b, 0xf6, 0x40)
	}
	// kid = undefined in the protected header.
	data := sign1(hexBytes(t, "a2 0126 04f7"), []byte{0xa0})
	var s CoseSign1
	if err := Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.KID() != nil {
		t.Fatal("kid undefined should read as absent")
	}
	if alg, inProt, err := s.Alg(); err != nil || alg != AlgES256 || !inProt {
		t.Fatal(alg, inProt, err)
	}
	// kid as a bstr in the unprotected header.
	if err := Unmarshal(sign1(hexBytes(t, "a1 0126"), hexBytes(t, "a1 04 42 0102")), &s); err != nil || !bytes.Equal(s.KID(), []byte{1, 2}) {
		t.Fatal(s.KID(), err)
	}
	// x5chain as a bstr, as a 1-element array, as a 2-element array, in the protected header.
	for label, c := range map[string]struct {
		protected, unprotected []byte
		n                      int
		asArray, inProtected   bool
	}{
		"bstr":         {hexBytes(t, "a1 0126"), EncodeX5ChainHeader([][]byte{cert}), 1, false, false},
		"1-elem array": {hexBytes(t, "a1 0126"), append(hexBytes(t, "a1 1821 81"), mustMarshal(cert)...), 1, true, false},
		"2-elem array": {hexBytes(t, "a1 0126"), EncodeX5ChainHeader([][]byte{cert, testvectors.AnnexD(t, "iaca_cert")}), 2, true, false},
		"protected":    {append(hexBytes(t, "a2 0126 1821"), mustMarshal(cert)...), []byte{0xa0}, 1, false, true},
	} {
		if err := Unmarshal(sign1(c.protected, c.unprotected), &s); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		certs, asArray, inProtected, err := s.X5Chain()
		if err != nil || len(certs) != c.n || !bytes.Equal(certs[0], cert) || asArray != c.asArray || inProtected != c.inProtected {
			t.Fatalf("%s: %d %v %v %v", label, len(certs), asArray, inProtected, err)
		}
		// Describe summarises them.
		_, v, err := Describe(sign1(c.protected, c.unprotected))
		if err != nil || dig(t, v, "x5chain", 0, "subject") != "CN=utopia ds,C=US" {
			t.Fatalf("%s: describe %v", label, err)
		}
	}
	for label, u := range map[string][]byte{
		"empty cert": hexBytes(t, "a1 1821 82 40 40"),
		"int":        hexBytes(t, "a1 1821 01"),
	} {
		if err := Unmarshal(sign1(hexBytes(t, "a1 0126"), u), &s); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.X5Chain(); err == nil {
			t.Errorf("%s: x5chain accepted", label)
		}
	}
}

// TestX5ChainEmptyArray: decodeX5Chain first tries the array as a []byte, which the CBOR
// library allows for arrays of small integers: an empty array becomes one empty
// "certificate" and [48, 130, ...] becomes a certificate.
func TestX5ChainEmptyArray(t *testing.T) {
	for label, u := range map[string][]byte{
		"empty array": hexBytes(t, "a1 1821 80"),
		"empty bstr":  hexBytes(t, "a1 1821 40"),
		"uint array":  hexBytes(t, "a1 1821 82 1830 1882"),
	} {
		data := append(append([]byte{0x84, 0x43, 0xa1, 0x01, 0x26}, u...), 0xf6, 0x40)
		var s CoseSign1
		if err := Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		if certs, _, _, err := s.X5Chain(); err == nil {
			t.Errorf("%s: x5chain accepted: %x", label, certs)
		}
	}
}

func TestStrictOutEngagementVersion(t *testing.T) {
	e, err := NewEngagement(annexDKey(t), NewNFCMethod(testNFC))
	if err != nil {
		t.Fatal(err)
	}
	e.OriginInfos = []OriginInfo{}
	if _, err := Marshal(e); err == nil || !strings.Contains(err.Error(), "1.1") {
		t.Fatalf("OriginInfos with version 1.0: %v", err)
	}
	e.OriginInfos = nil
	e.Capabilities = &Capabilities{}
	if _, err := Marshal(e); err == nil {
		t.Fatal("Capabilities with version 1.0 encoded")
	}
	e.Version = "1.1"
	b, err := Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEngagement(b)
	if err != nil || got.Capabilities == nil || got.Capabilities.Len() != 0 {
		t.Fatal(err)
	}
	e.Version = ""
	if _, err := Marshal(e); err == nil {
		t.Fatal("empty version encoded")
	}
	// An empty OriginInfos array survives as empty, not absent.
	e.Version, e.OriginInfos = "1.1", []OriginInfo{}
	b, _ = Marshal(e)
	if got, err := DecodeEngagement(b); err != nil || got.OriginInfos == nil || len(got.OriginInfos) != 0 {
		t.Fatal(err)
	}
}

func TestLenientOriginInfoSpellings(t *testing.T) {
	for label, c := range map[string]struct {
		hex, domain, detailsKey string
	}{
		"multipaz":    {`a3 63 636174 01 64 74797065 01 67 64657461696c73 a1 66 646f6d61696e 6b 6578616d706c652e636f6d`, "example.com", "details"},
		"Details":     {`a3 63 636174 01 64 74797065 01 67 44657461696c73 a1 66 646f6d61696e 6b 6578616d706c652e636f6d`, "example.com", "Details"},
		"baseUrl":     {`a3 63 636174 00 64 74797065 1864 67 44657461696c73 a1 67 6261736555726c 6b 6578616d706c652e636f6d`, "example.com", "Details"},
		"ReferrerUrl": {`a3 63 636174 01 64 74797065 01 67 44657461696c73 a1 6b 526566657272657255726c 6b 6578616d706c652e636f6d`, "example.com", "Details"},
	} {
		var o OriginInfo
		data := hexBytes(t, c.hex)
		if err := Unmarshal(data, &o); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		d, ok := o.Domain()
		if !ok || d != c.domain || o.DetailsKey != c.detailsKey {
			t.Fatalf("%s: %q %v %q", label, d, ok, o.DetailsKey)
		}
		// Re-encoding keeps the received spelling.
		if b, err := Marshal(o); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%s: re-encoding %x %v", label, b, err)
		}
	}
	var o OriginInfo
	if err := Unmarshal(hexBytes(t, "a2 63 636174 01 64 74797065 01"), &o); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Domain(); ok {
		t.Fatal("domain without details")
	}
}

// TestStrictOutTDateYearRange: a tdate received with an offset near the ends of the
// RFC 3339 year range converts to a UTC year outside 0000-9999, and MarshalCBOR then
// writes "10000-01-01T04:00:00Z" or "-0001-12-31T23:00:00Z", which no decoder (this one
// included) accepts.
func TestStrictOutTDateYearRange(t *testing.T) {
	for _, s := range []string{"9999-12-31T23:00:00-05:00", "0000-01-01T00:00:00+01:00"} {
		var d TDate
		if err := Unmarshal(append([]byte{0xc0, 0x78, byte(len(s))}, s...), &d); err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(d)
		if err != nil {
			continue // refusing is a fix
		}
		if err := Unmarshal(b, &d); err != nil {
			t.Errorf("%s re-encodes as %q: %v", s, b[2:], err)
		}
	}
}
