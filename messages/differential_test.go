package messages

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages/internal/reference"
)

// The differential tests decode the same bytes with this package and with
// messages/internal/reference (the decoders as they were before the single-pass path)
// and require the same error-or-not and the same decoded values.

type diffDecoder struct {
	name      string
	cur, ref  func([]byte) (any, error)
	structure bool // both return *DecodeError naming the same structure
}

func unmarshalCur[T any](b []byte) (any, error) {
	var v T
	err := Unmarshal(b, &v)
	return &v, err
}

func unmarshalRef[T any](b []byte) (any, error) {
	var v T
	err := reference.Unmarshal(b, &v)
	return &v, err
}

// direct calls UnmarshalCBOR without the decode mode's well-formedness pass, as
// fxamacker/cbor does for a field of this type inside a container and as callers may.
func directCur[T any, P interface {
	*T
	cbor.Unmarshaler
}](b []byte) (any, error) {
	var v T
	err := P(&v).UnmarshalCBOR(b)
	return &v, err
}

func directRef[T any, P interface {
	*T
	cbor.Unmarshaler
}](b []byte) (any, error) {
	var v T
	err := P(&v).UnmarshalCBOR(b)
	return &v, err
}

// reused decodes into a value already holding prefill's decoding: the value must be
// replaced when data decodes and, for the structures, left alone when it does not (a Map
// used to keep the pairs decoded before the error; it is now left alone too).
type reused struct {
	Value any
	Err   bool
}

func reuseCur[T any](prefill []byte, keptOnError bool) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		var v T
		_ = Unmarshal(prefill, &v)
		err := Unmarshal(b, &v)
		if !keptOnError {
			return &v, err
		}
		return reused{&v, err != nil}, nil
	}
}

func reuseRef[T any](prefill []byte, keptOnError bool) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		var v T
		_ = reference.Unmarshal(prefill, &v)
		err := reference.Unmarshal(b, &v)
		if !keptOnError {
			return &v, err
		}
		return reused{&v, err != nil}, nil
	}
}

// coseParts is what a verifier reads of a COSE_Sign1 after decoding it.
type coseReadings struct {
	Sign1                          any
	Alg                            int64
	AlgInProtected, AlgErr         bool
	Certs                          [][]byte
	AsArray, InProtected, CertsErr bool
	KID                            []byte
	Protected, Unprotected         any
	ProtectedErr, UnprotectedErr   bool
}

func curCose(b []byte) (any, error) {
	var s CoseSign1
	if err := Unmarshal(b, &s); err != nil {
		return nil, err
	}
	var r coseReadings
	var err error
	r.Alg, r.AlgInProtected, err = s.Alg()
	r.AlgErr = err != nil
	r.Certs, r.AsArray, r.InProtected, err = s.X5Chain()
	r.CertsErr = err != nil
	r.KID = s.KID()
	r.Protected, err = s.ProtectedHeader()
	r.ProtectedErr = err != nil
	r.Unprotected, err = s.UnprotectedHeader()
	r.UnprotectedErr = err != nil
	r.Sign1 = &s
	return r, nil
}

func refCose(b []byte) (any, error) {
	var s reference.CoseSign1
	if err := reference.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	var r coseReadings
	var err error
	r.Alg, r.AlgInProtected, err = s.Alg()
	r.AlgErr = err != nil
	r.Certs, r.AsArray, r.InProtected, err = s.X5Chain()
	r.CertsErr = err != nil
	r.KID = s.KID()
	r.Protected, err = s.ProtectedHeader()
	r.ProtectedErr = err != nil
	r.Unprotected, err = s.UnprotectedHeader()
	r.UnprotectedErr = err != nil
	r.Sign1 = &s
	return r, nil
}

// afterResponse exercises what a verifier decodes after the response itself.
type responseParts struct {
	Response   any
	MSOs       []any
	MSOErrs    []bool
	Items      []any
	ItemErrs   []bool
	DeviceNS   []any
	DeviceErrs []bool
}

func diffDecoders(t testing.TB) []diffDecoder {
	t.Helper()
	return []diffDecoder{
		{"Reuse/SessionData", reuseCur[SessionData](testvectors.AnnexD(t, "session_data_response"), true), reuseRef[reference.SessionData](testvectors.AnnexD(t, "session_data_response"), true), false},
		{"Reuse/Engagement", reuseCur[Engagement](testvectors.AnnexD(t, "device_engagement_qr"), true), reuseRef[reference.Engagement](testvectors.AnnexD(t, "device_engagement_qr"), true), false},
		{"Reuse/DeviceResponse", reuseCur[DeviceResponse](testvectors.AnnexD(t, "device_response"), true), reuseRef[reference.DeviceResponse](testvectors.AnnexD(t, "device_response"), true), false},
		{"Reuse/CoseSign1", reuseCur[CoseSign1](testvectors.AnnexD(t, "issuer_auth"), true), reuseRef[reference.CoseSign1](testvectors.AnnexD(t, "issuer_auth"), true), false},
		{"Reuse/Map", reuseCur[Map[string, cbor.RawMessage]](testvectors.AnnexD(t, "items_request"), false), reuseRef[reference.Map[string, cbor.RawMessage]](testvectors.AnnexD(t, "items_request"), false), false},
		{"Reuse/MSO", reuseCur[MobileSecurityObject](testvectors.AnnexD(t, "mobile_security_object"), true), reuseRef[reference.MobileSecurityObject](testvectors.AnnexD(t, "mobile_security_object"), true), false},
		{"NilPointer", func(b []byte) (any, error) { return nil, Unmarshal(b, (*SessionData)(nil)) },
			func(b []byte) (any, error) { return nil, reference.Unmarshal(b, (*reference.SessionData)(nil)) }, false},

		{"Engagement", func(b []byte) (any, error) { return ret(DecodeEngagement(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeEngagement(b)) }, true},
		{"SessionEstablishment", func(b []byte) (any, error) { return ret(DecodeSessionEstablishment(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeSessionEstablishment(b)) }, true},
		{"SessionData", func(b []byte) (any, error) { return ret(DecodeSessionData(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeSessionData(b)) }, true},
		{"SessionTranscript", func(b []byte) (any, error) { return ret(DecodeSessionTranscript(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeSessionTranscript(b)) }, true},
		{"DeviceRequest", curRequest, refRequest, true},
		{"DeviceResponse", curResponse, refResponse, true},
		{"IssuerSigned", func(b []byte) (any, error) { return ret(DecodeIssuerSigned(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeIssuerSigned(b)) }, true},
		{"MSO", func(b []byte) (any, error) { return ret(DecodeMSO(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeMSO(b)) }, true},
		{"COSEKey", func(b []byte) (any, error) { return ret(DecodeCOSEKey(b)) },
			func(b []byte) (any, error) { return ret(reference.DecodeCOSEKey(b)) }, true},
		{"IssuerSignedItem", func(b []byte) (any, error) { return ret(DecodeIssuerSignedItem(NewEncodedCBOR(b))) },
			func(b []byte) (any, error) { return ret(reference.DecodeIssuerSignedItem(reference.NewEncodedCBOR(b))) }, true},
		{"IssuerSignedItemBytes", func(b []byte) (any, error) {
			e, err := ParseEncodedCBOR(b)
			if err != nil {
				return nil, err
			}
			return ret(DecodeIssuerSignedItem(e))
		}, func(b []byte) (any, error) {
			e, err := reference.ParseEncodedCBOR(b)
			if err != nil {
				return nil, err
			}
			return ret(reference.DecodeIssuerSignedItem(e))
		}, false},
		{"EncodedCBOR", func(b []byte) (any, error) { return ret(ParseEncodedCBOR(b)) },
			func(b []byte) (any, error) { return ret(reference.ParseEncodedCBOR(b)) }, false},
		{"Items", func(b []byte) (any, error) { return ret((&DocRequest{ItemsRequest: NewEncodedCBOR(b)}).Items()) },
			func(b []byte) (any, error) {
				return ret((&reference.DocRequest{ItemsRequest: reference.NewEncodedCBOR(b)}).Items())
			}, false},

		{"Unmarshal/CoseSign1", unmarshalCur[CoseSign1], unmarshalRef[reference.CoseSign1], false},
		{"CoseSign1 headers", curCose, refCose, false},
		{"Unmarshal/CoseMac0", unmarshalCur[CoseMac0], unmarshalRef[reference.CoseMac0], false},
		{"Unmarshal/ItemsRequest", unmarshalCur[ItemsRequest], unmarshalRef[reference.ItemsRequest], false},
		{"Unmarshal/Document", unmarshalCur[Document], unmarshalRef[reference.Document], false},
		{"Unmarshal/DeviceSigned", unmarshalCur[DeviceSigned], unmarshalRef[reference.DeviceSigned], false},
		{"Unmarshal/DeviceAuth", unmarshalCur[DeviceAuth], unmarshalRef[reference.DeviceAuth], false},
		{"Unmarshal/DeviceKeyInfo", unmarshalCur[DeviceKeyInfo], unmarshalRef[reference.DeviceKeyInfo], false},
		{"Unmarshal/ValidityInfo", unmarshalCur[ValidityInfo], unmarshalRef[reference.ValidityInfo], false},
		{"Unmarshal/TDate", unmarshalCur[TDate], unmarshalRef[reference.TDate], false},
		{"Unmarshal/FullDate", unmarshalCur[FullDate], unmarshalRef[reference.FullDate], false},
		{"Unmarshal/OriginInfo", unmarshalCur[OriginInfo], unmarshalRef[reference.OriginInfo], false},
		{"Unmarshal/Capabilities", unmarshalCur[Capabilities], unmarshalRef[reference.Capabilities], false},
		{"Unmarshal/DocRequest", unmarshalCur[DocRequest], unmarshalRef[reference.DocRequest], false},
		{"Unmarshal/DeviceRequestInfo", unmarshalCur[DeviceRequestInfo], unmarshalRef[reference.DeviceRequestInfo], false},
		{"Unmarshal/DocumentSlice", unmarshalCur[[]Document], unmarshalRef[[]reference.Document], false},
		{"Unmarshal/MessageData", unmarshalCur[MessageData], unmarshalRef[reference.MessageData], false},
		{"Unmarshal/Map[string,Raw]", unmarshalCur[Map[string, cbor.RawMessage]], unmarshalRef[reference.Map[string, cbor.RawMessage]], false},
		{"Unmarshal/Map[int64,Raw]", unmarshalCur[Map[int64, cbor.RawMessage]], unmarshalRef[reference.Map[int64, cbor.RawMessage]], false},
		{"Unmarshal/Map[uint64,bytes]", unmarshalCur[Map[uint64, []byte]], unmarshalRef[reference.Map[uint64, []byte]], false},
		{"Unmarshal/ValueDigests", unmarshalCur[Map[string, Map[uint64, []byte]]], unmarshalRef[reference.Map[string, Map[uint64, []byte]]], false},
		{"Unmarshal/NameSpaces", unmarshalCur[Map[string, []EncodedCBOR]], unmarshalRef[reference.Map[string, []reference.EncodedCBOR]], false},
		{"Unmarshal/RequestedNameSpaces", unmarshalCur[Map[string, Map[string, bool]]], unmarshalRef[reference.Map[string, reference.Map[string, bool]]], false},
		{"Unmarshal/DocumentErrors", unmarshalCur[Map[string, int64]], unmarshalRef[reference.Map[string, int64]], false},
		{"Unmarshal/DeviceNameSpaces", unmarshalCur[Map[string, Map[string, cbor.RawMessage]]], unmarshalRef[reference.Map[string, reference.Map[string, cbor.RawMessage]]], false},

		{"Direct/DeviceResponse", directCur[DeviceResponse], directRef[reference.DeviceResponse], false},
		{"Direct/DeviceRequest", directCur[DeviceRequest], directRef[reference.DeviceRequest], false},
		{"Direct/Engagement", directCur[Engagement], directRef[reference.Engagement], false},
		{"Direct/MSO", directCur[MobileSecurityObject], directRef[reference.MobileSecurityObject], false},
		{"Direct/IssuerSigned", directCur[IssuerSigned], directRef[reference.IssuerSigned], false},
		{"Direct/Document", directCur[Document], directRef[reference.Document], false},
		{"Direct/IssuerSignedItem", directCur[IssuerSignedItem], directRef[reference.IssuerSignedItem], false},
		{"Direct/CoseSign1", directCur[CoseSign1], directRef[reference.CoseSign1], false},
		{"Direct/CoseMac0", directCur[CoseMac0], directRef[reference.CoseMac0], false},
		{"Direct/COSEKey", directCur[COSEKey], directRef[reference.COSEKey], false},
		{"Direct/EncodedCBOR", directCur[EncodedCBOR], directRef[reference.EncodedCBOR], false},
		{"Direct/SessionData", directCur[SessionData], directRef[reference.SessionData], false},
		{"Direct/SessionEstablishment", directCur[SessionEstablishment], directRef[reference.SessionEstablishment], false},
		{"Direct/SessionTranscript", directCur[SessionTranscript], directRef[reference.SessionTranscript], false},
		{"Direct/TDate", directCur[TDate], directRef[reference.TDate], false},
		{"Direct/Map[string,Raw]", directCur[Map[string, cbor.RawMessage]], directRef[reference.Map[string, cbor.RawMessage]], false},
		{"Direct/ValueDigests", directCur[Map[string, Map[uint64, []byte]]], directRef[reference.Map[string, Map[uint64, []byte]]], false},
		{"Direct/NameSpaces", directCur[Map[string, []EncodedCBOR]], directRef[reference.Map[string, []reference.EncodedCBOR]], false},
	}
}

// curResponse decodes a DeviceResponse and everything a verifier decodes from it.
func curResponse(b []byte) (any, error) {
	r, err := DecodeDeviceResponse(b)
	if err != nil {
		return nil, err
	}
	p := responseParts{Response: r}
	for _, d := range r.Documents {
		m, err := DecodeMSO(d.IssuerSigned.IssuerAuth.Payload)
		p.MSOs, p.MSOErrs = append(p.MSOs, m), append(p.MSOErrs, err != nil)
		if d.IssuerSigned.NameSpaces != nil {
			for _, items := range d.IssuerSigned.NameSpaces.All() {
				for _, e := range items {
					it, err := DecodeIssuerSignedItem(e)
					p.Items, p.ItemErrs = append(p.Items, it), append(p.ItemErrs, err != nil)
				}
			}
		}
		if d.DeviceSigned != nil {
			ns, err := d.DeviceSigned.DeviceNameSpaces()
			p.DeviceNS, p.DeviceErrs = append(p.DeviceNS, ns), append(p.DeviceErrs, err != nil)
		}
	}
	return p, nil
}

func refResponse(b []byte) (any, error) {
	r, err := reference.DecodeDeviceResponse(b)
	if err != nil {
		return nil, err
	}
	p := responseParts{Response: r}
	for _, d := range r.Documents {
		m, err := reference.DecodeMSO(d.IssuerSigned.IssuerAuth.Payload)
		p.MSOs, p.MSOErrs = append(p.MSOs, m), append(p.MSOErrs, err != nil)
		if d.IssuerSigned.NameSpaces != nil {
			for _, items := range d.IssuerSigned.NameSpaces.All() {
				for _, e := range items {
					it, err := reference.DecodeIssuerSignedItem(e)
					p.Items, p.ItemErrs = append(p.Items, it), append(p.ItemErrs, err != nil)
				}
			}
		}
		if d.DeviceSigned != nil {
			ns, err := d.DeviceSigned.DeviceNameSpaces()
			p.DeviceNS, p.DeviceErrs = append(p.DeviceNS, ns), append(p.DeviceErrs, err != nil)
		}
	}
	return p, nil
}

type requestParts struct {
	Request  any
	Items    []any
	ItemErrs []bool
	Info     any
	InfoErr  bool
}

func curRequest(b []byte) (any, error) {
	r, err := DecodeDeviceRequest(b)
	if err != nil {
		return nil, err
	}
	p := requestParts{Request: r}
	for i := range r.DocRequests {
		ir, err := r.DocRequests[i].Items()
		p.Items, p.ItemErrs = append(p.Items, ir), append(p.ItemErrs, err != nil)
	}
	if r.DeviceRequestInfo != nil {
		var info DeviceRequestInfo
		err := r.DeviceRequestInfo.Decode(&info)
		p.Info, p.InfoErr = &info, err != nil
	}
	return p, nil
}

func refRequest(b []byte) (any, error) {
	r, err := reference.DecodeDeviceRequest(b)
	if err != nil {
		return nil, err
	}
	p := requestParts{Request: r}
	for i := range r.DocRequests {
		ir, err := r.DocRequests[i].Items()
		p.Items, p.ItemErrs = append(p.Items, ir), append(p.ItemErrs, err != nil)
	}
	if r.DeviceRequestInfo != nil {
		var info reference.DeviceRequestInfo
		err := r.DeviceRequestInfo.Decode(&info)
		p.Info, p.InfoErr = &info, err != nil
	}
	return p, nil
}

// diffOne runs one decoder pair on data and reports the first difference.
func diffOne(d diffDecoder, data []byte) error {
	in := bytes.Clone(data)
	cv, cerr := d.cur(in)
	if !bytes.Equal(in, data) {
		return errors.New("the decoder modified its input")
	}
	rv, rerr := d.ref(data)
	if (cerr == nil) != (rerr == nil) {
		return fmt.Errorf("error-or-not differs: current %v, reference %v", cerr, rerr)
	}
	if cerr != nil {
		// the same words, but for the package name in Go type names
		if want := strings.ReplaceAll(rerr.Error(), "reference.", "messages."); cerr.Error() != want {
			return fmt.Errorf("error message differs:\n current   %v\n reference %v", cerr, want)
		}
		if errors.Is(cerr, ErrTooLarge) != errors.Is(rerr, reference.ErrTooLarge) {
			return fmt.Errorf("ErrTooLarge differs: current %v, reference %v", cerr, rerr)
		}
		if d.structure {
			var ce *DecodeError
			var re *reference.DecodeError
			if !errors.As(cerr, &ce) || !errors.As(rerr, &re) || ce.Structure != re.Structure {
				return fmt.Errorf("structure differs: current %v, reference %v", cerr, rerr)
			}
		}
		return nil
	}
	// Overwrite the input: nothing decoded may alias the caller's buffer.
	for i := range in {
		in[i] ^= 0xff
	}
	return sameValue("", reflect.ValueOf(cv), reflect.ValueOf(rv))
}

var timeType = reflect.TypeFor[time.Time]()

// sameValue compares a value of this package with the reference's value of the same
// shape: exported fields by name, Map and EncodedCBOR through their methods.
func sameValue(path string, a, b reflect.Value) error {
	if a.IsValid() != b.IsValid() {
		return fmt.Errorf("%s: valid %v vs %v", path, a.IsValid(), b.IsValid())
	}
	if !a.IsValid() {
		return nil
	}
	if a.Kind() != b.Kind() {
		return fmt.Errorf("%s: kind %s vs %s", path, a.Kind(), b.Kind())
	}
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		na, oa := ta.Zone()
		nb, ob := tb.Zone()
		if !ta.Equal(tb) || na != nb || oa != ob || ta.Location().String() != tb.Location().String() {
			return fmt.Errorf("%s: time %v vs %v", path, ta, tb)
		}
		return nil
	}
	name := a.Type().Name()
	switch {
	case strings.HasPrefix(name, "Map["):
		return sameMap(path, a, b)
	case name == "EncodedCBOR":
		return sameEncoded(path, a, b)
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return fmt.Errorf("%s: nil %v vs %v", path, a.IsNil(), b.IsNil())
		}
		if a.IsNil() {
			return nil
		}
		return sameValue(path, a.Elem(), b.Elem())
	case reflect.Struct:
		if a.NumField() != b.NumField() {
			return fmt.Errorf("%s: %d fields vs %d", path, a.NumField(), b.NumField())
		}
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if f.Name != b.Type().Field(i).Name {
				return fmt.Errorf("%s: field %s vs %s", path, f.Name, b.Type().Field(i).Name)
			}
			switch {
			case f.Name == "_":
			case f.Name == "raw" && name == "Engagement":
				if err := sameBytes(path+".raw", a.Field(i), b.Field(i)); err != nil {
					return err
				}
			case !f.IsExported():
				return fmt.Errorf("%s: unexported field %s of %s not compared", path, f.Name, name)
			default:
				if err := sameValue(path+"."+f.Name, a.Field(i), b.Field(i)); err != nil {
					return err
				}
			}
		}
		return nil
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Uint8 {
			return sameBytes(path, a, b)
		}
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Errorf("%s: slice nil=%v len=%d vs nil=%v len=%d", path, a.IsNil(), a.Len(), b.IsNil(), b.Len())
		}
		for i := range a.Len() {
			if err := sameValue(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Errorf("%s: map nil=%v len=%d vs nil=%v len=%d", path, a.IsNil(), a.Len(), b.IsNil(), b.Len())
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() {
				return fmt.Errorf("%s: key %v missing", path, k)
			}
			if err := sameValue(fmt.Sprintf("%s[%v]", path, k), a.MapIndex(k), bv); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Errorf("%s: %q vs %q", path, a.String(), b.String())
		}
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Errorf("%s: %v vs %v", path, a.Bool(), b.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Errorf("%s: %d vs %d", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if a.Uint() != b.Uint() {
			return fmt.Errorf("%s: %d vs %d", path, a.Uint(), b.Uint())
		}
	case reflect.Float32, reflect.Float64:
		if a.Float() != b.Float() && a.Float() == a.Float() {
			return fmt.Errorf("%s: %v vs %v", path, a.Float(), b.Float())
		}
	default:
		return fmt.Errorf("%s: kind %s not compared", path, a.Kind())
	}
	return nil
}

func sameBytes(path string, a, b reflect.Value) error {
	if a.IsNil() != b.IsNil() || !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("%s: bytes nil=%v %x vs nil=%v %x", path, a.IsNil(), a.Bytes(), b.IsNil(), b.Bytes())
	}
	return nil
}

// addressable returns a pointer to a copy of v, for calling pointer methods.
func addressable(v reflect.Value) reflect.Value {
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	return p
}

func sameMap(path string, a, b reflect.Value) error {
	pa, pb := addressable(a), addressable(b)
	ka := pa.MethodByName("Keys").Call(nil)[0]
	kb := pb.MethodByName("Keys").Call(nil)[0]
	la := pa.MethodByName("Len").Call(nil)[0].Int()
	lb := pb.MethodByName("Len").Call(nil)[0].Int()
	if la != lb || ka.Len() != kb.Len() || int(la) != ka.Len() {
		return fmt.Errorf("%s: map len %d/%d vs %d/%d", path, la, ka.Len(), lb, kb.Len())
	}
	for i := range ka.Len() {
		if err := sameValue(fmt.Sprintf("%s.key[%d]", path, i), ka.Index(i), kb.Index(i)); err != nil {
			return err
		}
		ra := pa.MethodByName("Get").Call([]reflect.Value{ka.Index(i)})
		rb := pb.MethodByName("Get").Call([]reflect.Value{kb.Index(i)})
		if !ra[1].Bool() || !rb[1].Bool() {
			return fmt.Errorf("%s: key %v not found", path, ka.Index(i))
		}
		if err := sameValue(fmt.Sprintf("%s[%v]", path, ka.Index(i)), ra[0], rb[0]); err != nil {
			return err
		}
	}
	return nil
}

func sameEncoded(path string, a, b reflect.Value) error {
	for _, m := range []string{"Raw", "Content"} {
		x := a.MethodByName(m).Call(nil)[0]
		y := b.MethodByName(m).Call(nil)[0]
		if err := sameBytes(path+"."+m, x, y); err != nil {
			return err
		}
	}
	return nil
}

// diffAll runs every decoder pair on data.
func diffAll(t testing.TB, label string, data []byte) {
	t.Helper()
	for _, d := range diffDecoders(t) {
		if err := diffOne(d, data); err != nil {
			t.Errorf("%s on %s (%x): %v", d.name, label, data[:min(len(data), 64)], err)
		}
	}
}

// diffCorpus is every vector plus the structures nested in them, so that each decoder
// sees inputs of its own type.
func diffCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range sortedKeys(annexDCBOR) {
		out[name] = testvectors.AnnexD(t, name)
	}
	for name, v := range testvectors.WalletResponses(t) {
		out[name] = v
	}
	out["bdr-issuer-signed"] = bdrIssuerSigned(t)
	out["built-request"], _ = builtDeviceRequest(t)
	if e, err := Marshal(builtEngagement(t)); err == nil {
		out["built-engagement"] = e
	}
	for name, v := range out {
		r, err := DecodeDeviceResponse(v)
		if err != nil {
			continue
		}
		for i, d := range r.Documents {
			p := fmt.Sprintf("%s/doc%d", name, i)
			out[p+"/mso"] = d.IssuerSigned.IssuerAuth.Payload
			if e, err := ParseEncodedCBOR(d.IssuerSigned.IssuerAuth.Payload); err == nil {
				out[p+"/mso-content"] = e.Content()
			}
			out[p+"/issuerAuth"] = mustMarshal(d.IssuerSigned.IssuerAuth)
			if d.IssuerSigned.NameSpaces != nil {
				for ns, items := range d.IssuerSigned.NameSpaces.All() {
					if len(items) > 0 {
						out[p+"/"+ns+"/item"] = items[0].Raw()
						out[p+"/"+ns+"/item-content"] = items[0].Content()
					}
				}
			}
		}
	}
	return out
}

// mutations returns variants of data: truncations, wide and indefinite heads, and single
// bytes replaced at n positions spread over it.
func mutations(data []byte, n int) [][]byte {
	var out [][]byte
	step := 1 + len(data)/n
	for i := 0; i < len(data); i += step {
		out = append(out, data[:i])
	}
	for _, mode := range []int{rewriteWide, rewriteIndef} {
		if m, ok := tryRewrite(data, mode); ok {
			out = append(out, m)
		}
	}
	for i := 0; i < len(data); i += step {
		for _, b := range []byte{0x00, 0xff, 0xf6, 0xd8, 0x9f, 0xc6, data[i] ^ 0x01, data[i] + 1} {
			m := bytes.Clone(data)
			m[i] = b
			out = append(out, m)
		}
	}
	return out
}

func tryRewrite(data []byte, mode int) (out []byte, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ft := &fatalRecorder{}
	out = rewrite(ft, data, mode)
	return out, !ft.failed
}

// fatalRecorder is a testing.TB whose Fatal panics, so that rewrite can be tried on
// inputs it does not handle.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatal(args ...any) {
	f.failed = true
	panic("rewrite failed")
}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	panic("rewrite failed")
}

func TestDifferentialCorpus(t *testing.T) {
	corpus := diffCorpus(t)
	for _, name := range sortedKeys(corpus) {
		data := corpus[name]
		diffAll(t, name, data)
		if raceEnabled {
			continue // single-goroutine code: the mutations run without the race detector
		}
		n := 8 // positions; FuzzDifferential explores further
		if len(data) > 16<<10 || testing.Short() {
			n = 2
		}
		for i, m := range mutations(data, n) {
			diffAll(t, fmt.Sprintf("%s/mutation%d", name, i), m)
		}
	}
}

func TestDifferentialHostile(t *testing.T) {
	deep := func(open, leaf string, n int) []byte { return hexBytes(t, strings.Repeat(open, n)+leaf) }
	inputs := map[string][]byte{
		"arrays at limit":    deep("81", "01", MaxNesting),
		"arrays over limit":  deep("81", "01", MaxNesting+1),
		"empty arrays":       deep("81", "80", MaxNesting),
		"tags":               deep("c6", "01", MaxNesting+2),
		"tag and array":      deep("c6 81", "01", MaxNesting/2+2),
		"self-described":     hexBytes(t, "d9d9f7 a0"),
		"self-described x2":  hexBytes(t, "d9d9f7 d9d9f7 f6"),
		"tag0 on map":        hexBytes(t, "c0 a0"),
		"tag1 on text":       hexBytes(t, "c1 61 61"),
		"map at depth":       append(hexBytes(t, "a1 61 61"), deep("81", "01", MaxNesting)...),
		"bad utf8 in value":  hexBytes(t, "a1 61 61 62 c328"),
		"bad utf8 deep":      hexBytes(t, "a1 61 61 81 81 62 c328"),
		"indef text key":     hexBytes(t, "a1 7f 61 61 ff 01"),
		"tagged key":         hexBytes(t, "a1 c6 61 61 01"),
		"null key":           hexBytes(t, "a1 f6 01"),
		"tag-wrapped null":   hexBytes(t, "a2 67 76657273696f6e c6 f6 66 737461747573 00"),
		"float simple":       hexBytes(t, "a1 01 f9 7e00"),
		"simple 24":          hexBytes(t, "a1 01 f8 18"),
		"simple 31 bad":      hexBytes(t, "a1 01 f8 1f"),
		"indef map odd":      hexBytes(t, "bf 01 ff"),
		"break top":          hexBytes(t, "ff"),
		"empty":              {},
		"trailing":           hexBytes(t, "a0 00"),
		"sign1 self-desc":    hexBytes(t, "d2 d9d9f7 84 43a10126 a0 f6 40"),
		"sign1 tag6":         hexBytes(t, "d2 c6 84 43a10126 a0 f6 40"),
		"sign1 tag6 untag":   hexBytes(t, "c6 84 43a10126 a0 f6 40"),
		"sign1 sd elems":     hexBytes(t, "84 d9d9f7 43a10126 d9d9f7 a0 d9d9f7 f6 d9d9f7 40"),
		"sign1 prot null":    hexBytes(t, "84 41f6 a0 f6 40"),
		"sign1 prot tagged":  hexBytes(t, "84 44c6a10126 a0 f6 40"),
		"sign1 prot text":    hexBytes(t, "84 43a16161 a0 f6 40"),
		"sign1 hdr tag1":     hexBytes(t, "84 40 a1 04 c1 61 61 f6 40"),
		"sign1 hdr bigint":   hexBytes(t, "84 40 a1 1b ffffffffffffffff 01 f6 40"),
		"sign1 hdr textkeys": hexBytes(t, "84 40 a2 61 61 01 61 61 02 f6 40"),
		"sign1 indef":        hexBytes(t, "9f 43a10126 bf ff f6 5f 41 01 ff ff"),
		"digests tagged":     hexBytes(t, "a1 61 61 c6 a1 00 40"),
		"digests indef":      hexBytes(t, "a1 61 61 bf 00 5f 41 01 41 02 ff ff"),
		"digests sd":         hexBytes(t, "a1 61 61 d9d9f7 a1 00 40"),
		"namespaces sd":      hexBytes(t, "a1 61 61 d9d9f7 81 d9d9f7 d818 41 a0"),
		"namespaces tagged":  hexBytes(t, "a1 61 61 c6 81 d818 41 a0"),
		"namespaces null":    hexBytes(t, "a1 61 61 c6 f6"),
		"requested bool":     hexBytes(t, "a1 61 61 a1 61 62 c6 f5"),
		"requested tagnull":  hexBytes(t, "a1 61 61 a1 61 62 c6 f6"),
		"errors int tagged":  hexBytes(t, "a1 61 61 c6 01"),
	}
	for _, name := range sortedKeys(inputs) {
		diffAll(t, name, inputs[name])
	}
	// Fields of the Annex D structures replaced with odd but well-formed values.
	odd := map[string][]byte{
		"tag6":           {0xc6, 0x01},
		"self-described": {0xd9, 0xd9, 0xf7, 0x61, 0x61},
		"tag-null":       {0xc6, 0xf6},
		"tag-empty-arr":  {0xc6, 0x80},
		"empty-arr":      {0x80},
		"arr-null":       {0x81, 0xf6},
		"arr-sd-null":    {0x81, 0xd9, 0xd9, 0xf7, 0xf6},
		"indef-text":     {0x7f, 0x61, 0x61, 0xff},
		"indef-bytes":    {0x5f, 0x41, 0x01, 0xff},
		"wide-uint":      {0x1b, 0, 0, 0, 0, 0, 0, 0, 0x01},
		"big-uint":       {0x1b, 0xff, 0, 0, 0, 0, 0, 0, 0x01},
		"neg":            {0x20},
		"float":          {0xf9, 0x3c, 0x00},
		"tag0-text":      append([]byte{0xc0, 0x74}, "2020-10-01T13:30:02Z"...),
		"bad-utf8":       {0x62, 0xc3, 0x28},
	}
	for _, vec := range []string{"device_response", "device_request", "mobile_security_object", "session_establishment",
		"session_data_response", "items_request", "issuer_signed", "device_signed", "device_auth"} {
		data := testvectors.AnnexD(t, vec)
		var m Map[string, cbor.RawMessage]
		if err := Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range m.Keys() {
			for _, on := range sortedKeys(odd) {
				diffAll(t, vec+"."+k+"="+on, replaceField(t, data, k, odd[on]))
			}
		}
	}
	for _, vec := range []string{"device_engagement_qr", "edevice_key_cose"} {
		data := testvectors.AnnexD(t, vec)
		var m Map[int64, cbor.RawMessage]
		if err := Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range m.Keys() {
			for _, on := range sortedKeys(odd) {
				diffAll(t, fmt.Sprintf("%s.%d=%s", vec, k, on), replaceIntField(t, data, k, odd[on]))
			}
		}
	}
}

func FuzzDifferential(f *testing.F) {
	seed(f)
	for _, v := range diffCorpus(f) {
		f.Add(v)
	}
	decoders := diffDecoders(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			if err := diffOne(d, data); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
		}
	})
}

// TestDifferentialDuplicateOrder: in a map of more than a few pairs, a repeated key is
// refused before anything that follows it, and the first repeated key is the one named.
func TestDifferentialDuplicateOrder(t *testing.T) {
	pair := func(k uint64, v []byte) []byte { return append(mustMarshal(k), v...) }
	var keys []uint64
	for i := range uint64(12) {
		keys = append(keys, i)
	}
	for _, c := range []struct {
		name  string
		order []uint64
		bad   int // position of a null value, or -1
	}{
		{"dup late", append(keys, 3), -1},
		{"dup then null", append(append(keys, 3), 20), 13},
		{"two dups", append(append(keys, 5), 3), -1},
		{"null before dup", append(append(keys, 20), 3), 12},
		{"dup early, null late", append([]uint64{1, 1}, keys[2:]...), 11},
	} {
		data := appendHead(nil, majorMap, uint64(len(c.order)))
		for i, k := range c.order {
			v := []byte{0x41, byte(i)}
			if i == c.bad {
				v = []byte{0xf6}
			}
			data = append(data, pair(k, v)...)
		}
		diffAll(t, c.name, data)
		indef := append(append([]byte{0xbf}, data[1:]...), 0xff)
		if data[0] == 0xb8 {
			indef = append(append([]byte{0xbf}, data[2:]...), 0xff)
		}
		diffAll(t, c.name+" indefinite", indef)
	}
}
