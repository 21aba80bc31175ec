package messages

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mdocgate/mdocgate/internal/testvectors"
)

type decoder struct {
	name  string
	typed bool // a Decode* function: errors must be *DecodeError
	fn    func([]byte) (any, error)
}

func ret[T any](v T, err error) (any, error) { return v, err }

var decoders = []decoder{
	{"Engagement", true, func(b []byte) (any, error) { return ret(DecodeEngagement(b)) }},
	{"SessionEstablishment", true, func(b []byte) (any, error) { return ret(DecodeSessionEstablishment(b)) }},
	{"SessionData", true, func(b []byte) (any, error) { return ret(DecodeSessionData(b)) }},
	{"SessionTranscript", true, func(b []byte) (any, error) { return ret(DecodeSessionTranscript(b)) }},
	{"DeviceRequest", true, func(b []byte) (any, error) { return ret(DecodeDeviceRequest(b)) }},
	{"DeviceResponse", true, func(b []byte) (any, error) { return ret(DecodeDeviceResponse(b)) }},
	{"IssuerSigned", true, func(b []byte) (any, error) { return ret(DecodeIssuerSigned(b)) }},
	{"MSO", true, func(b []byte) (any, error) { return ret(DecodeMSO(b)) }},
	{"COSEKey", true, func(b []byte) (any, error) { return ret(DecodeCOSEKey(b)) }},
	{"IssuerSignedItem", true, func(b []byte) (any, error) { return ret(DecodeIssuerSignedItem(NewEncodedCBOR(b))) }},
	{"Describe", false, func(b []byte) (any, error) { _, v, err := Describe(b); return v, err }},
	{"CoseSign1", false, func(b []byte) (any, error) { var s CoseSign1; return s, Unmarshal(b, &s) }},
	{"CoseMac0", false, func(b []byte) (any, error) { var s CoseMac0; return s, Unmarshal(b, &s) }},
	{"ItemsRequest", false, func(b []byte) (any, error) { var s ItemsRequest; return s, Unmarshal(b, &s) }},
	{"Map", false, func(b []byte) (any, error) { var m Map[string, cbor.RawMessage]; return m, Unmarshal(b, &m) }},
	{"EncodedCBOR", false, func(b []byte) (any, error) { return ret(ParseEncodedCBOR(b)) }},
}

func decoderNamed(name string) decoder {
	for _, d := range decoders {
		if d.name == name {
			return d
		}
	}
	panic(name)
}

// mustReject runs d on data and requires a timely error of the right type.
func mustReject(t *testing.T, d decoder, label string, data []byte) {
	t.Helper()
	start := time.Now()
	_, err := d.fn(data)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("%s/%s: took %v", d.name, label, el)
	}
	if err == nil {
		t.Errorf("%s/%s: accepted %x", d.name, label, data[:min(len(data), 48)])
		return
	}
	var de *DecodeError
	if d.typed && !errors.As(err, &de) {
		t.Errorf("%s/%s: %T %v is not a *DecodeError", d.name, label, err, err)
	}
}

func mustRejectAll(t *testing.T, label string, data []byte) {
	t.Helper()
	for _, d := range decoders {
		mustReject(t, d, label, data)
	}
}

func mustAccept(t *testing.T, d decoder, label string, data []byte) any {
	t.Helper()
	v, err := d.fn(data)
	if err != nil {
		t.Fatalf("%s/%s: %v", d.name, label, err)
	}
	return v
}

// vectorDecoder is the decoder matching each Annex D vector.
var vectorDecoder = map[string]string{
	"device_engagement_qr": "Engagement", "device_engagement_nfc": "Engagement",
	"session_establishment": "SessionEstablishment", "session_data_response": "SessionData",
	"session_termination": "SessionData", "session_transcript": "SessionTranscript",
	"session_transcript_bytes": "SessionTranscript", "oid4vp_session_transcript": "SessionTranscript",
	"device_request": "DeviceRequest", "device_response": "DeviceResponse", "issuer_signed": "IssuerSigned",
	"mobile_security_object_bytes": "MSO", "mobile_security_object": "MSO", "edevice_key_cose": "COSEKey",
	"ereader_key_cose": "COSEKey", "sdevice_key_cose": "COSEKey", "issuer_auth": "CoseSign1",
	"reader_auth": "CoseSign1", "items_request": "ItemsRequest", "items_request_bytes": "EncodedCBOR",
	"edevice_key_bytes": "EncodedCBOR",
}

func TestHostileTruncations(t *testing.T) {
	for _, name := range sortedKeys(annexDCBOR) {
		data := testvectors.AnnexD(t, name)
		own := []decoder{decoderNamed("Describe"), decoderNamed("Map")}
		if dn, ok := vectorDecoder[name]; ok {
			own = append(own, decoderNamed(dn))
		}
		for i := 0; i < len(data); i++ {
			for _, d := range own {
				mustReject(t, d, name+"[:"+itoa(i)+"]", data[:i])
			}
		}
		// Every decoder on a spread of lengths.
		for i := 0; i < len(data); i += 1 + len(data)/64 {
			mustRejectAll(t, name+"[:"+itoa(i)+"]", data[:i])
		}
	}
	w := testvectors.WalletResponses(t)
	for _, name := range sortedKeys(w) {
		data := w[name]
		for i := 0; i < len(data); i += 1 + len(data)/256 {
			mustReject(t, decoderNamed("DeviceResponse"), name, data[:i])
			mustReject(t, decoderNamed("Describe"), name, data[:i])
		}
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestHostileHugeLengths(t *testing.T) {
	for label, h := range map[string]string{
		"bstr 2^63":         "5b 8000000000000000",
		"bstr 2^63-1":       "5b 7fffffffffffffff",
		"bstr max":          "5b ffffffffffffffff",
		"bstr 4GiB":         "5a ffffffff",
		"text max":          "7b ffffffffffffffff",
		"array max":         "9b ffffffffffffffff",
		"array 2^32":        "9b 0000000100000000",
		"array over limit":  "99 4001" + strings.Repeat("00", 0x4001),
		"map max":           "bb ffffffffffffffff",
		"map over limit":    "b9 4001",
		"map 2^31":          "ba 80000000",
		"tag24 huge bstr":   "d818 5b 7fffffffffffffff",
		"in response":       "a2 67 76657273696f6e 7b ffffffffffffffff 66 737461747573 00",
		"docs huge array":   "a3 67 76657273696f6e 63 312e30 69 646f63756d656e7473 9b ffffffffffffffff 66 737461747573 00",
		"engagement huge":   "a2 00 63 312e30 01 82 01 d818 5b ffffffffffffffff",
		"cose key huge x":   "a4 01 02 20 01 21 5b ffffffffffffffff 22 40",
		"sign1 huge sig":    "84 40 a0 f6 5b ffffffffffffffff",
		"item huge random":  "a1 66 72616e646f6d 5b 0fffffffffffffff",
		"nested tag24 huge": "d818 4b d818 5b ffffffffffffffff",
	} {
		mustRejectAll(t, label, hexBytes(t, h))
	}
}

func TestHostileNesting(t *testing.T) {
	deep := func(open, leaf string, n int) []byte { return hexBytes(t, strings.Repeat(open, n)+leaf) }
	for label, data := range map[string][]byte{
		"arrays":        deep("81", "01", MaxNesting+1),
		"maps":          deep("a1 01", "01", MaxNesting+1),
		"indef arrays":  append(deep("9f", "01", MaxNesting+1), bytes.Repeat([]byte{0xff}, MaxNesting+1)...),
		"tags":          deep("c6", "01", 100000),
		"mixed":         deep("81 a1 61 61 c6", "01", MaxNesting),
		"very deep":     deep("81", "01", 1_000_000),
		"tag24 chain":   nestedTag24(maxDescribeDepth + 10),
		"deep in value": append(hexBytes(t, "a2 67 76657273696f6e 63 312e30 66 737461747573"), deep("81", "01", MaxNesting)...),
	} {
		for _, d := range decoders {
			if label == "tag24 chain" && d.name == "EncodedCBOR" {
				continue // each level is a well-formed encoded item; only its content is checked
			}
			mustReject(t, d, label, data)
		}
	}
	// At the limit, plain nesting is fine.
	mustAccept(t, decoderNamed("Describe"), "at limit", deep("81", "01", MaxNesting))
}

func nestedTag24(n int) []byte {
	b := []byte{0xa0}
	for range n {
		b = NewEncodedCBOR(b).Raw()
	}
	return b
}

// dupKey turns the first pair of a map vector into two copies of that pair.
func dupFirstKey(t *testing.T, data []byte) []byte {
	t.Helper()
	h, err := readHead(data)
	if err != nil || h.major != majorMap || h.arg >= 23 {
		t.Fatalf("vector head %x", data[0])
	}
	var k, v cbor.RawMessage
	rest, err := decMode.UnmarshalFirst(data[h.size:], &k)
	if err == nil {
		_, err = decMode.UnmarshalFirst(rest, &v)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := []byte{data[0] + 1}
	out = append(out, data[h.size:]...)
	return append(append(out, k...), v...)
}

func TestHostileDuplicateKeys(t *testing.T) {
	for _, c := range []struct{ vector, decoder string }{
		{"device_response", "DeviceResponse"},
		{"device_request", "DeviceRequest"},
		{"device_engagement_qr", "Engagement"},
		{"edevice_key_cose", "COSEKey"},
		{"issuer_signed", "IssuerSigned"},
		{"mobile_security_object", "MSO"},
		{"session_establishment", "SessionEstablishment"},
		{"session_data_response", "SessionData"},
		{"items_request", "ItemsRequest"},
	} {
		mustReject(t, decoderNamed(c.decoder), "dup "+c.vector, dupFirstKey(t, testvectors.AnnexD(t, c.vector)))
		mustReject(t, decoderNamed("Describe"), "dup "+c.vector, dupFirstKey(t, testvectors.AnnexD(t, c.vector)))
	}
	// IssuerSignedItem: the item inside the first IssuerSignedItemBytes of Annex D.
	is, err := DecodeIssuerSigned(testvectors.AnnexD(t, "issuer_signed"))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := is.NameSpaces.Get("org.iso.18013.5.1")
	mustReject(t, decoderNamed("IssuerSignedItem"), "dup item", dupFirstKey(t, items[0].Content()))
	for label, h := range map[string]string{
		// the same key in two encodings
		"minimal and wide int": "a5 01 02 20 01 21 5820" + strings.Repeat("01", 32) + " 22 5820" + strings.Repeat("02", 32) + " 1b0000000000000001 02",
		"text definite/indef":  "a2 63 616263 01 7f 61 61 62 6263 ff 02",
		"engagement 0 twice":   "a3 00 63 312e30 1800 63 312e31 01 82 01 d818 41 a0",
		"valueDigests dup id":  "a1 00 40 1800 40",
		"sessiondata status":   "a2 66 737461747573 14 66 737461747573 0a",
		"protected header dup": "84 45 a2 0126 0127 a0 f6 40",
	} {
		data := hexBytes(t, h)
		mustReject(t, decoderNamed("Describe"), label, data)
		switch label {
		case "minimal and wide int":
			mustReject(t, decoderNamed("COSEKey"), label, data)
		case "text definite/indef":
			mustReject(t, decoderNamed("Map"), label, data)
		case "engagement 0 twice":
			mustReject(t, decoderNamed("Engagement"), label, data)
		case "valueDigests dup id":
			var m Map[uint64, []byte]
			if err := Unmarshal(data, &m); err == nil {
				t.Error("Map[uint64] with a duplicate key accepted")
			}
		case "sessiondata status":
			mustReject(t, decoderNamed("SessionData"), label, data)
		case "protected header dup":
			mustReject(t, decoderNamed("CoseSign1"), label, data)
		}
	}
}

// TestHostileDuplicateUnprotectedLabels: RFC 9052 §3 requires unique header labels.
func TestHostileDuplicateUnprotectedLabels(t *testing.T) {
	data := hexBytes(t, "84 43 a10126 a2 0440 0441 01 f6 40")
	mustReject(t, decoderNamed("CoseSign1"), "dup unprotected", data)
}

// replaceField re-encodes a text-keyed map vector with one field's value replaced.
func replaceField(t *testing.T, data []byte, key string, value []byte) []byte {
	t.Helper()
	var m Map[string, cbor.RawMessage]
	if err := Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get(key); !ok {
		t.Fatalf("no %q", key)
	}
	m.Set(key, value)
	return rawMap(m)
}

// rawMap encodes a map of raw values without re-validating them (the values may be
// deliberately malformed or indefinite).
func rawMap[K MapKey](m Map[K, cbor.RawMessage]) []byte {
	out := appendHead(nil, majorMap, uint64(m.Len()))
	for k, v := range m.All() {
		out = append(append(out, mustMarshal(k)...), v...)
	}
	return out
}

func replaceIntField(t *testing.T, data []byte, key int64, value []byte) []byte {
	t.Helper()
	var m Map[int64, cbor.RawMessage]
	if err := Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m.Set(key, value)
	return rawMap(m)
}

// wrongValues are one value of each CBOR type, keyed by the major type (7 = simple).
var wrongValues = map[string][]byte{
	"uint":   {0x07},
	"nint":   {0x26},
	"bstr":   {0x41, 0x00},
	"tstr":   {0x61, 'x'},
	"array":  {0x81, 0x01},
	"map":    {0xa1, 0x01, 0x01},
	"tag":    {0xc1, 0x01},
	"bool":   {0xf5},
	"float":  {0xf9, 0x3c, 0x00},
	"tag24":  {0xd8, 0x18, 0x41, 0xa0},
	"null":   {0xf6},
	"undef":  {0xf7},
	"emptys": {0x60},
}

// nullish are the values some decoders read as "absent"; they are checked separately.
var nullish = map[string]bool{"null": true, "undef": true}

func TestHostileWrongTypes(t *testing.T) {
	type field struct {
		vector, decoder string
		key             any
		ok              []string // value kinds that are valid for the field
	}
	fields := []field{
		{"device_response", "DeviceResponse", "version", []string{"tstr", "emptys"}},
		{"device_response", "DeviceResponse", "documents", nil},
		{"device_response", "DeviceResponse", "status", []string{"uint"}},
		{"device_request", "DeviceRequest", "version", []string{"tstr", "emptys"}},
		{"device_request", "DeviceRequest", "docRequests", nil},
		{"issuer_signed", "IssuerSigned", "nameSpaces", []string{"map"}}, // {1: 1} fails: int key
		{"issuer_signed", "IssuerSigned", "issuerAuth", nil},
		{"mobile_security_object", "MSO", "version", []string{"tstr", "emptys"}},
		{"mobile_security_object", "MSO", "digestAlgorithm", []string{"tstr", "emptys"}},
		{"mobile_security_object", "MSO", "valueDigests", nil},
		{"mobile_security_object", "MSO", "deviceKeyInfo", nil},
		{"mobile_security_object", "MSO", "docType", []string{"tstr", "emptys"}},
		{"mobile_security_object", "MSO", "validityInfo", nil},
		{"session_establishment", "SessionEstablishment", "eReaderKey", []string{"tag24"}},
		{"session_establishment", "SessionEstablishment", "data", []string{"bstr"}},
		{"session_data_response", "SessionData", "data", []string{"bstr"}},
		{"items_request", "ItemsRequest", "docType", []string{"tstr"}},
		{"items_request", "ItemsRequest", "nameSpaces", []string{"map"}},
		{"device_engagement_qr", "Engagement", int64(0), []string{"tstr"}},
		{"device_engagement_qr", "Engagement", int64(1), nil},
		{"device_engagement_qr", "Engagement", int64(2), nil},
		{"device_engagement_qr", "Engagement", int64(5), []string{"array"}}, // [1] fails: not a map
		{"device_engagement_qr", "Engagement", int64(6), []string{"map"}},
		{"edevice_key_cose", "COSEKey", int64(1), []string{"uint"}}, // 7 fails: kty/crv mismatch
		{"edevice_key_cose", "COSEKey", int64(-1), []string{"uint"}},
		{"edevice_key_cose", "COSEKey", int64(-2), []string{"bstr"}},
		{"edevice_key_cose", "COSEKey", int64(-3), []string{"bstr", "bool"}},
		{"edevice_key_cose", "COSEKey", int64(-4), []string{"bstr"}},
	}
	var nullAccepted, arrayAccepted, tagAccepted []string
	for _, f := range fields {
		data := testvectors.AnnexD(t, f.vector)
		d := decoderNamed(f.decoder)
		for kind, v := range wrongValues {
			if slices.Contains(f.ok, kind) {
				continue
			}
			var mutated []byte
			label := f.vector + "." + fmtKey(f.key) + "=" + kind
			if k, ok := f.key.(string); ok {
				mutated = replaceField(t, data, k, v)
			} else {
				mutated = replaceIntField(t, data, f.key.(int64), v)
			}
			if nullish[kind] {
				if _, err := d.fn(mutated); err == nil {
					nullAccepted = append(nullAccepted, label)
				}
				continue
			}
			if kind == "tag" || kind == "tag24" || (kind == "map" && (f.key == "deviceKeyInfo" || f.key == "validityInfo")) {
				// tags are transparent to typed fields; {1: 1} is a DeviceKeyInfo or
				// ValidityInfo with every key missing: TestHostileMissingStructFields
				if _, err := d.fn(mutated); err == nil {
					tagAccepted = append(tagAccepted, label)
				}
				continue
			}
			if kind == "array" && slices.Contains(f.ok, "bstr") {
				if _, err := d.fn(mutated); err == nil {
					arrayAccepted = append(arrayAccepted, label)
				}
				continue
			}
			mustReject(t, d, label, mutated)
		}
	}
	t.Logf("null/undefined read as the zero value (see TestHostileNullFields): %v", nullAccepted)
	t.Logf("array of uints read as a byte string (see TestHostileArrayAsByteString): %v", arrayAccepted)
	t.Logf("tagged value read through its tag, or struct with missing keys: %v", tagAccepted)

	// IssuerSignedItem fields.
	item := hexBytes(t, "a4 68 6469676573744944 00 66 72616e646f6d 41 01 71 656c656d656e744964656e746966696572 61 61 6c 656c656d656e7456616c7565 01")
	mustAccept(t, decoderNamed("IssuerSignedItem"), "item", item)
	for key, okKinds := range map[string][]string{
		"digestID": {"uint"}, "random": {"bstr"}, "elementIdentifier": {"tstr"},
	} {
		for kind, v := range wrongValues {
			if nullish[kind] || kind == okKinds[0] || (kind == "array" && key == "random") || kind == "tag" || kind == "tag24" {
				continue
			}
			mustReject(t, decoderNamed("IssuerSignedItem"), "item."+key+"="+kind, replaceField(t, item, key, v))
		}
	}
	// COSE_Sign1 element types.
	for i, okKinds := range [][]string{{"bstr"}, {"map"}, {"bstr", "null"}, {"bstr"}} {
		for kind, v := range wrongValues {
			if slices.Contains(okKinds, kind) || (kind == "array" && i != 1) || (kind == "tag24" && i != 1) {
				continue // arrays as byte strings: TestHostileArrayAsByteString
			}
			elems := [][]byte{{0x43, 0xa1, 0x01, 0x26}, {0xa0}, {0xf6}, {0x40}}
			elems[i] = v
			data := append([]byte{0x84}, bytes.Join(elems, nil)...)
			mustReject(t, decoderNamed("CoseSign1"), "sign1["+itoa(i)+"]="+kind, data)
			mustReject(t, decoderNamed("CoseMac0"), "mac0["+itoa(i)+"]="+kind, data)
		}
	}
}

// TestHostileArrayAsByteString: the CBOR library decodes an array of small unsigned
// integers into a []byte field, so [1, 2] is accepted where a bstr is required: COSE
// signature and payload, IssuerSignedItem random, SessionEstablishment data, COSE_Key
// coordinates, MSO digests, BLE UUIDs.
func TestHostileArrayAsByteString(t *testing.T) {
	mustReject(t, decoderNamed("CoseSign1"), "signature array", hexBytes(t, "84 43a10126 a0 f6 8101"))
	mustReject(t, decoderNamed("CoseSign1"), "payload array", hexBytes(t, "84 43a10126 a0 8101 40"))
	mustReject(t, decoderNamed("CoseSign1"), "protected array", hexBytes(t, "84 8118a0 a0 f6 40"))
	mustReject(t, decoderNamed("IssuerSignedItem"), "random array", hexBytes(t, "a4 68 6469676573744944 00 66 72616e646f6d 8101 71 656c656d656e744964656e746966696572 61 61 6c 656c656d656e7456616c7565 01"))
	mustReject(t, decoderNamed("SessionEstablishment"), "data array", replaceField(t, testvectors.AnnexD(t, "session_establishment"), "data", []byte{0x81, 0x01}))
	mustReject(t, decoderNamed("COSEKey"), "x array", replaceIntField(t, testvectors.AnnexD(t, "edevice_key_cose"), -2, []byte{0x81, 0x01}))
	var m Map[uint64, []byte]
	if Unmarshal(hexBytes(t, "a1 00 8101"), &m) == nil {
		t.Error("digest as an array accepted")
	}
}

// TestHostileMissingStructFields: the structures decoded as Go structs (ValidityInfo,
// DeviceKeyInfo, IssuerSignedItem's digestID) do not check that their mandatory keys are
// present: an MSO with validityInfo {} has zero times, deviceKeyInfo {} a zero key, and an
// item without digestID is digest ID 0.
func TestHostileMissingStructFields(t *testing.T) {
	mso := testvectors.AnnexD(t, "mobile_security_object")
	mustReject(t, decoderNamed("MSO"), "validityInfo {}", replaceField(t, mso, "validityInfo", []byte{0xa0}))
	mustReject(t, decoderNamed("MSO"), "deviceKeyInfo {}", replaceField(t, mso, "deviceKeyInfo", []byte{0xa0}))
	mustReject(t, decoderNamed("IssuerSignedItem"), "no digestID",
		hexBytes(t, "a3 66 72616e646f6d 41 01 71 656c656d656e744964656e746966696572 61 61 6c 656c656d656e7456616c7565 01"))
}

func fmtKey(k any) string {
	switch v := k.(type) {
	case string:
		return v
	case int64:
		if v < 0 {
			return "-" + itoa(int(-v))
		}
		return itoa(int(v))
	}
	return "?"
}

// TestHostileNullFields: CBOR null (or undefined) in a mandatory scalar field decodes as
// the Go zero value, because the CBOR library treats null as "leave unchanged" for
// non-pointer targets. {"version": null, "status": null} is then a DeviceResponse with
// status 0 (OK), and digestID null is digest ID 0.
func TestHostileNullFields(t *testing.T) {
	for label, c := range map[string]struct{ decoder, hex string }{
		"response status null":  {"DeviceResponse", "a2 67 76657273696f6e 63 312e30 66 737461747573 f6"},
		"response version null": {"DeviceResponse", "a2 67 76657273696f6e f6 66 737461747573 00"},
		"item digestID null":    {"IssuerSignedItem", "a4 68 6469676573744944 f6 66 72616e646f6d 41 01 71 656c656d656e744964656e746966696572 61 61 6c 656c656d656e7456616c7565 01"},
		"mso version null":      {"MSO", ""},
	} {
		data := hexBytes(t, c.hex)
		if label == "mso version null" {
			data = replaceField(t, testvectors.AnnexD(t, "mobile_security_object"), "version", []byte{0xf6})
		}
		mustReject(t, decoderNamed(c.decoder), label, data)
	}
}

func TestHostileTag24(t *testing.T) {
	mso := testvectors.AnnexD(t, "mobile_security_object_bytes")
	double := NewEncodedCBOR(mso).Raw()
	if _, err := DecodeMSO(double); err == nil {
		t.Error("MSO: tag 24 inside tag 24 accepted")
	}
	st := NewEncodedCBOR(testvectors.AnnexD(t, "session_transcript_bytes")).Raw()
	mustReject(t, decoderNamed("SessionTranscript"), "tag24 in tag24", st)
	items := NewEncodedCBOR(testvectors.AnnexD(t, "items_request_bytes"))
	if _, err := (&DocRequest{ItemsRequest: items}).Items(); err == nil {
		t.Error("ItemsRequest: tag 24 inside tag 24 accepted")
	}
	mustReject(t, decoderNamed("IssuerSignedItem"), "tag24 in tag24", testvectors.AnnexD(t, "items_request_bytes"))
	// Describe shows it, nested.
	kind, v, err := Describe(double)
	if err != nil || kind != KindEncodedCBOR || dig(t, v, "tag24", "tag24", "docType") != "org.iso.18013.5.1.mDL" {
		t.Fatalf("%s %v", kind, err)
	}

	// Content not well-formed, not a bstr, indefinite bstr, length mismatch, trailing data.
	for label, h := range map[string]string{
		"garbage content":    "d818 42 8201",
		"reserved ai":        "d818 41 1c",
		"two items":          "d818 42 0101",
		"empty content":      "d818 40",
		"not a bstr":         "d818 a0",
		"tstr":               "d818 61 01",
		"indefinite bstr":    "d818 5f 41 a0 ff",
		"indefinite chunks":  "d818 5f 41 82 42 0102 ff",
		"missing content":    "d818",
		"short content":      "d818 45 a0",
		"bad utf8 inside":    "d818 43 62 c328",
		"wrong tag":          "d819 41 a0",
		"indefinite in item": "d818 43 5f 40 ff",
	} {
		data := hexBytes(t, h)
		switch label {
		case "indefinite in item":
			// an indefinite bstr *inside* the embedded item is well-formed and accepted
			if _, err := ParseEncodedCBOR(data); err != nil {
				t.Errorf("%s: %v", label, err)
			}
			continue
		case "bad utf8 inside":
			// well-formed; the embedded item is rejected when decoded
			e, err := ParseEncodedCBOR(data)
			var s string
			if err == nil && e.Decode(&s) == nil {
				t.Errorf("%s: decoded", label)
			}
			mustReject(t, decoderNamed("Describe"), label, data)
			continue
		}
		mustReject(t, decoderNamed("EncodedCBOR"), label, data)
		if label != "wrong tag" { // a generic tag 25 for Describe
			mustReject(t, decoderNamed("Describe"), label, data)
		}
		mustReject(t, decoderNamed("MSO"), label, data)
		mustReject(t, decoderNamed("SessionTranscript"), label, data)
		// ...and as IssuerSignedItemBytes inside an IssuerSigned.
		is := replaceField(t, testvectors.AnnexD(t, "issuer_signed"), "nameSpaces", append(hexBytes(t, "a1 61 61 81"), data...))
		mustReject(t, decoderNamed("IssuerSigned"), label, is)
		// ...and as the engagement key.
		eng := replaceIntField(t, testvectors.AnnexD(t, "device_engagement_qr"), 1, append([]byte{0x82, 0x01}, data...))
		mustReject(t, decoderNamed("Engagement"), label, eng)
	}
}

func TestLenientIndefiniteAndWideHeads(t *testing.T) {
	check := func(label string, d decoder, data []byte) {
		t.Helper()
		for mode, name := range map[int]string{rewriteWide: "wide", rewriteIndef: "indefinite"} {
			mutated := rewrite(t, data, mode)
			if bytes.Equal(mutated, data) {
				continue
			}
			v := mustAccept(t, d, label+"/"+name, mutated)
			if d.name == "Describe" || d.name == "EncodedCBOR" {
				continue
			}
			out, err := Marshal(v)
			switch {
			case err != nil && mode == rewriteIndef && strings.Contains(err.Error(), "indefinite-length"):
				// raw-kept parts (COSE unprotected header, Handover, ...) are re-emitted
				// verbatim and the encoder refuses their indefinite lengths: an error, never
				// indefinite output.
			case err != nil:
				t.Errorf("%s/%s: re-encode: %v", label, name, err)
			case hasIndefinite(t, out):
				t.Errorf("%s/%s: re-encoding has indefinite lengths", label, name)
			}
		}
	}
	for name, dn := range vectorDecoder {
		check(name, decoderNamed(dn), testvectors.AnnexD(t, name))
		check(name, decoderNamed("Describe"), testvectors.AnnexD(t, name))
	}
	w := testvectors.WalletResponses(t)
	for _, name := range sortedKeys(w) {
		check(name, decoderNamed("DeviceResponse"), w[name])
	}
	check("bdr", decoderNamed("IssuerSigned"), bdrIssuerSigned(t))
}

// TestStrictOutDefiniteLengths: re-encoding what was decoded from indefinite-length
// containers writes definite lengths, tag-24 contents and all, for the typed parts.
func TestStrictOutDefiniteLengths(t *testing.T) {
	for _, name := range []string{"device_engagement_qr", "session_establishment", "session_data_response",
		"session_termination", "items_request", "mobile_security_object", "edevice_key_cose"} {
		dn := vectorDecoder[name]
		indef := rewrite(t, testvectors.AnnexD(t, name), rewriteIndef)
		v := mustAccept(t, decoderNamed(dn), name, indef)
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hasIndefinite(t, out) {
			t.Errorf("%s: re-encoding carries indefinite lengths (raw-kept parts)", name)
		} else if !bytes.Equal(out, testvectors.AnnexD(t, name)) {
			t.Errorf("%s: re-encoding differs from the preferred original", name)
		}
	}
	// Structures with raw-kept parts: Marshal refuses rather than emit indefinite lengths.
	for _, name := range []string{"device_request", "issuer_signed", "device_response", "session_transcript", "issuer_auth"} {
		v := mustAccept(t, decoderNamed(vectorDecoder[name]), name, rewrite(t, testvectors.AnnexD(t, name), rewriteIndef))
		if out, err := Marshal(v); err == nil && hasIndefinite(t, out) {
			t.Errorf("%s: indefinite lengths emitted", name)
		}
	}
	// Built values never carry one.
	b, _ := builtDeviceRequest(t)
	e, _ := Marshal(builtEngagement(t))
	for _, out := range [][]byte{b, e, mustMarshal(NewTDate(time.Now())), mustMarshal(FullDate{2000, 1, 2, false})} {
		if hasIndefinite(t, out) {
			t.Errorf("indefinite in %x", out)
		}
	}
}

func TestHostileUTF8(t *testing.T) {
	bad := []byte{0x62, 0xc3, 0x28}
	for label, data := range map[string][]byte{
		"response version": replaceField(t, testvectors.AnnexD(t, "device_response"), "version", bad),
		"request version":  replaceField(t, testvectors.AnnexD(t, "device_request"), "version", bad),
		"mso docType":      replaceField(t, testvectors.AnnexD(t, "mobile_security_object"), "docType", bad),
		"engagement ver":   replaceIntField(t, testvectors.AnnexD(t, "device_engagement_qr"), 0, bad),
		"items docType":    replaceField(t, testvectors.AnnexD(t, "items_request"), "docType", bad),
		"map key":          append([]byte{0xa1}, append(bad, 0x01)...),
		"tdate":            append([]byte{0xc0}, bad...),
	} {
		for _, d := range decoders {
			if strings.HasPrefix(label, "map key") || label == "tdate" || strings.Contains(d.name, "Describe") {
				mustReject(t, d, label, data)
			}
		}
		switch label {
		case "response version":
			mustReject(t, decoderNamed("DeviceResponse"), label, data)
		case "request version":
			mustReject(t, decoderNamed("DeviceRequest"), label, data)
		case "mso docType":
			mustReject(t, decoderNamed("MSO"), label, data)
		case "engagement ver":
			mustReject(t, decoderNamed("Engagement"), label, data)
		case "items docType":
			mustReject(t, decoderNamed("ItemsRequest"), label, data)
		case "tdate":
			var d TDate
			if Unmarshal(data, &d) == nil {
				t.Error("tdate with invalid UTF-8 accepted")
			}
		}
	}
	// Invalid UTF-8 in the MSO key of an indefinite-length text key.
	mustReject(t, decoderNamed("Map"), "indef key", hexBytes(t, "a1 7f 62 c328 ff 01"))
}

func TestHostileTooLarge(t *testing.T) {
	big := make([]byte, MaxMessageSize+1)
	copy(big, testvectors.AnnexD(t, "device_response"))
	for _, d := range decoders {
		if d.name == "EncodedCBOR" || d.name == "IssuerSignedItem" {
			continue
		}
		_, err := d.fn(big)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", d.name, err)
		}
		var de *DecodeError
		if d.typed && !errors.As(err, &de) {
			t.Errorf("%s: %T", d.name, err)
		}
	}
	var m Map[string, cbor.RawMessage]
	if err := Unmarshal(big, &m); !errors.Is(err, ErrTooLarge) {
		t.Error(err)
	}
	// A tag-24 item whose (well-formed) content is over the limit.
	wrapped := NewEncodedCBOR(append(appendHead(nil, majorBytes, MaxMessageSize), make([]byte, MaxMessageSize)...))
	if _, err := DecodeIssuerSignedItem(wrapped); !errors.Is(err, ErrTooLarge) {
		t.Errorf("IssuerSignedItem: %v", err)
	}
	if _, err := DecodeMSO(wrapped.Raw()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MSO: %v", err)
	}
	if _, err := DecodeSessionTranscript(wrapped.Raw()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("SessionTranscript: %v", err)
	}
}

func TestHostileMapPairs(t *testing.T) {
	pairs := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, mustMarshal(uint64(i))...)
			b = append(b, 0x00)
		}
		return b
	}
	over := append(appendHead(nil, majorMap, MaxMapPairs+1), pairs(MaxMapPairs+1)...)
	indefOver := append(append([]byte{0xbf}, pairs(MaxMapPairs+1)...), 0xff)
	atLimit := append(appendHead(nil, majorMap, MaxMapPairs), pairs(MaxMapPairs)...)
	var m Map[uint64, cbor.RawMessage]
	if err := m.UnmarshalCBOR(over); err == nil {
		t.Error("definite map over the pair limit accepted")
	}
	if err := m.UnmarshalCBOR(indefOver); err == nil {
		t.Error("indefinite map over the pair limit accepted")
	}
	if err := Unmarshal(over, &m); err == nil {
		t.Error("Unmarshal: map over the pair limit accepted")
	}
	if err := m.UnmarshalCBOR(atLimit); err != nil || m.Len() != MaxMapPairs {
		t.Errorf("at the limit: %v", err)
	}
	// Declared count far above what follows is refused without allocating it.
	mustRejectAll(t, "declared pairs", hexBytes(t, "ba 7fffffff 01 01"))
	mustReject(t, decoderNamed("Describe"), "over", over)
	mustReject(t, decoderNamed("Describe"), "indef over", indefOver)
	arr := append(appendHead(nil, majorArray, MaxArrayElements+1), bytes.Repeat([]byte{0}, MaxArrayElements+1)...)
	mustRejectAll(t, "array over", arr)
}
