package messages

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// seed adds every Annex D and wallet vector, plus a few hostile heads.
func seed(f *testing.F) {
	for _, v := range allVectors(f) {
		f.Add(v)
	}
	for _, h := range []string{"", "a0", "80", "d818 41 a0", "5b ffffffffffffffff", "9f ff", "bf ff", "f7"} {
		f.Add(hexBytes(f, h))
	}
}

// reencode checks the property shared by every target: a successful decode re-encodes
// without panicking, and when it re-encodes, the output has definite lengths only
// (strict out), decodes again, and encodes again to the very same bytes.
func reencode[T any](t *testing.T, v T, decode func([]byte) (T, error)) {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		return // refusing to encode is allowed (e.g. raw parts with indefinite lengths)
	}
	if _, err := walk(b, 0, rulesDefinite, 0, 0); err != nil {
		t.Fatalf("re-encoding %x: %v", b, err)
	}
	again, err := decode(b)
	if err != nil {
		t.Fatalf("re-encoding %x does not decode: %v", b, err)
	}
	b2, err := Marshal(again)
	if err != nil {
		t.Fatalf("re-encoding %x decodes but does not encode again: %v", b, err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("encoding is not stable:\n% x\n% x", b, b2)
	}
}

func FuzzDecodeEngagement(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEngagement(data)
		if err != nil {
			return
		}
		e.raw = nil // encode from the fields, not the kept bytes
		reencode(t, e, DecodeEngagement)
		for i := range e.DeviceRetrievalMethods {
			m := &e.DeviceRetrievalMethods[i]
			_, _ = m.BLE()
			_, _ = m.NFC()
			_, _ = m.WiFiAware()
			_, _ = m.HTTP()
		}
		for i := range e.OriginInfos {
			_, _ = e.OriginInfos[i].Domain()
		}
		_ = e.Capabilities.Bool(CapReaderAuthAllSupport)
		_, _ = e.Security.Key()
	})
}

func FuzzDecodeSessionEstablishment(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSessionEstablishment(data)
		if err != nil {
			return
		}
		_, _ = s.ReaderKey()
		reencode(t, s, DecodeSessionEstablishment)
	})
}

func FuzzDecodeSessionData(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSessionData(data)
		sameAsBorrowed(t, s, err, data, DecodeSessionDataBorrowing)
		if err != nil {
			return
		}
		_ = s.IsTermination()
		reencode(t, s, DecodeSessionData)
	})
}

func FuzzDecodeSessionTranscript(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSessionTranscript(data)
		if err != nil {
			return
		}
		reencode(t, s, DecodeSessionTranscript)
		if b, err := s.Bytes(); err == nil {
			if _, err := DecodeSessionTranscript(b.Raw()); err != nil {
				t.Fatalf("SessionTranscriptBytes do not decode: %v", err)
			}
		}
	})
}

func FuzzDecodeDeviceRequest(f *testing.F) {
	seed(f)
	b, _ := builtDeviceRequest(f)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDeviceRequest(data)
		sameAsBorrowed(t, r, err, data, DecodeDeviceRequestBorrowing)
		if err != nil {
			return
		}
		for i := range r.DocRequests {
			_, _ = r.DocRequests[i].Items()
		}
		if r.DeviceRequestInfo != nil {
			var info DeviceRequestInfo
			if r.DeviceRequestInfo.Decode(&info) == nil {
				_ = info.Validate(len(r.DocRequests))
			}
		}
		reencode(t, r, DecodeDeviceRequest)
	})
}

func FuzzDecodeDeviceResponse(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDeviceResponse(data)
		sameAsBorrowed(t, r, err, data, DecodeDeviceResponseBorrowing)
		if err != nil {
			return
		}
		for _, d := range r.Documents {
			exerciseIssuerSigned(&d.IssuerSigned)
			if d.DeviceSigned != nil {
				_, _ = d.DeviceSigned.DeviceNameSpaces()
			}
		}
		reencode(t, r, DecodeDeviceResponse)
	})
}

// sameAsBorrowed checks that the borrowing twin of a decoder gives what it gave (want,
// wantErr) for data: the same value or the same error.
func sameAsBorrowed[T any](t *testing.T, want *T, wantErr error, data []byte, borrowing func([]byte) (*T, error)) {
	t.Helper()
	got, err := borrowing(bytes.Clone(data))
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("borrowing decoder: %v, copying one: %v", err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatal("borrowing decoder decoded another value")
	}
}

func exerciseIssuerSigned(is *IssuerSigned) {
	_, _, _, _ = is.IssuerAuth.X5Chain()
	_, _, _ = is.IssuerAuth.Alg()
	_ = is.IssuerAuth.KID()
	if mso, err := DecodeMSO(is.IssuerAuth.Payload); err == nil {
		_, _ = mso.StatusList()
	}
	if is.NameSpaces != nil {
		for _, items := range is.NameSpaces.All() {
			for _, it := range items {
				_, _ = DecodeIssuerSignedItem(it)
			}
		}
	}
}

func FuzzDecodeIssuerSigned(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeIssuerSigned(data)
		if err != nil {
			return
		}
		exerciseIssuerSigned(s)
		reencode(t, s, DecodeIssuerSigned)
	})
}

func FuzzDecodeMSO(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMSO(data)
		if err != nil {
			return
		}
		_, _ = m.StatusList()
		b, err := Marshal(m)
		if err != nil {
			return
		}
		// Encoding writes the bare MSO; both it and its tag-24 wrapping decode.
		if _, err := DecodeMSO(b); err != nil {
			t.Fatalf("re-encoded MSO: %v", err)
		}
		if _, err := DecodeMSO(NewEncodedCBOR(b).Raw()); err != nil {
			t.Fatalf("re-encoded MobileSecurityObjectBytes: %v", err)
		}
	})
}

func FuzzDecodeCOSEKey(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := DecodeCOSEKey(data)
		if err != nil {
			return
		}
		_, _ = k.Curve()
		reencode(t, k, DecodeCOSEKey)
	})
}

func FuzzCoseSign1(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s CoseSign1
		if Unmarshal(data, &s) != nil {
			return
		}
		_, _ = s.ProtectedHeader()
		_, _ = s.UnprotectedHeader()
		_, _, _ = s.Alg()
		_, _, _, _ = s.X5Chain()
		_ = s.KID()
		reencode(t, s, func(b []byte) (CoseSign1, error) { var o CoseSign1; return o, Unmarshal(b, &o) })
	})
}

func FuzzCoseMac0(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m CoseMac0
		if Unmarshal(data, &m) != nil {
			return
		}
		_, _, _ = m.Alg()
		reencode(t, m, func(b []byte) (CoseMac0, error) { var o CoseMac0; return o, Unmarshal(b, &o) })
	})
}

func FuzzDecodeIssuerSignedItem(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		// data as the tag-24 item, and as its content
		for _, e := range []func() (EncodedCBOR, error){
			func() (EncodedCBOR, error) { return ParseEncodedCBOR(data) },
			func() (EncodedCBOR, error) { return NewEncodedCBOR(data), nil },
		} {
			b, err := e()
			if err != nil {
				continue
			}
			it, err := DecodeIssuerSignedItem(b)
			if err != nil {
				continue
			}
			reencode(t, it, func(b []byte) (*IssuerSignedItem, error) { return DecodeIssuerSignedItem(NewEncodedCBOR(b)) })
		}
	})
}

func FuzzParseEngagementURI(f *testing.F) {
	for _, v := range allVectors(f) {
		f.Add(EngagementURI(v))
	}
	f.Add("mdoc:")
	f.Add("mdoc://x")
	f.Add("MDOC:owBjMS4w==")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEngagementURI(s)
		if err != nil {
			return
		}
		again, err := ParseEngagementURI(EngagementURI(e.Raw()))
		if err != nil {
			t.Fatalf("EngagementURI(Raw) does not parse: %v", err)
		}
		if string(again.Raw()) != string(e.Raw()) {
			t.Fatal("raw bytes differ")
		}
	})
}

func FuzzDescribe(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, v, err := Describe(data)
		if err != nil && v == nil {
			return
		}
		if kind == "" {
			t.Fatal("tree without a kind")
		}
		jsonSafe(t, v, kind)
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("json: %v", err)
		}
	})
}

func FuzzMap(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Map[string, cbor.RawMessage]
		if m.UnmarshalCBOR(data) != nil {
			return
		}
		if len(m.Keys()) != m.Len() {
			t.Fatal("keys and length disagree")
		}
		for k := range m.All() {
			if _, ok := m.Get(k); !ok {
				t.Fatalf("key %q listed but not found", k)
			}
		}
		reencode(t, m, func(b []byte) (Map[string, cbor.RawMessage], error) {
			var o Map[string, cbor.RawMessage]
			return o, o.UnmarshalCBOR(b)
		})
		var ints Map[int64, cbor.RawMessage]
		_ = ints.UnmarshalCBOR(data)
	})
}
