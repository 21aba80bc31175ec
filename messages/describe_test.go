package messages

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// jsonSafe checks that v holds only the types Describe promises.
func jsonSafe(t testing.TB, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case nil, string, bool, int64, uint64, float64:
	case []any:
		for i, e := range x {
			jsonSafe(t, e, path+"["+string(rune('0'+i%10))+"]")
		}
	case map[string]any:
		for k, e := range x {
			jsonSafe(t, e, path+"."+k)
		}
	default:
		t.Fatalf("%s: %T in the tree", path, v)
	}
}

func describeOK(t *testing.T, name string, data []byte, wantKind string) any {
	t.Helper()
	kind, v, err := Describe(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if kind != wantKind {
		t.Fatalf("%s: kind %q, want %q", name, kind, wantKind)
	}
	jsonSafe(t, v, name)
	if _, err := json.Marshal(v); err != nil {
		t.Fatalf("%s: json: %v", name, err)
	}
	return v
}

func TestDescribeAnnexD(t *testing.T) {
	for _, name := range sortedKeys(annexDCBOR) {
		describeOK(t, name, testvectors.AnnexD(t, name), annexDCBOR[name])
	}
}

func TestDescribeWallets(t *testing.T) {
	w := testvectors.WalletResponses(t)
	for _, name := range sortedKeys(w) {
		kind, v, err := Describe(w[name])
		if kind != KindDeviceResponse || v == nil {
			t.Fatalf("%s: kind %q", name, kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		jsonSafe(t, v, name)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// issuerAuth is shown as COSE with the certificate summarised and the MSO expanded.
		s := string(b)
		for _, want := range []string{`"x5chain":[{`, `"subject":`, `"notAfter":`, `"validityInfo":`, `"type":"COSE_Sign1"`} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: %s missing", name, want)
			}
		}
	}
	describeOK(t, "bdr issuer_signed", bdrIssuerSigned(t), KindIssuerSigned)
}

func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: %T is not a map", k, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("no %q in %v", k, keysOf(m))
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: %T", k, v)
			}
			v = a[k]
		}
	}
	return v
}

func keysOf(m map[string]any) []string { return sortedKeys(m) }

func TestDescribeTree(t *testing.T) {
	v := describeOK(t, "device_response", testvectors.AnnexD(t, "device_response"), KindDeviceResponse)
	doc := dig(t, v, "documents", 0)
	ia := dig(t, doc, "issuerSigned", "issuerAuth")
	if dig(t, ia, "alg") != "ES256" || dig(t, ia, "protected", "1") != int64(-7) {
		t.Fatal("protected header")
	}
	if dig(t, ia, "x5chain", 0, "subject") != "CN=utopia ds,C=US" || dig(t, ia, "x5chain", 0, "notAfter") != "2021-10-01T00:00:00Z" {
		t.Fatal("x5chain summary")
	}
	if dig(t, ia, "payload", "tag24", "validityInfo", "validFrom") != "2020-10-01T13:30:02Z" {
		t.Fatal("tdate")
	}
	if _, ok := dig(t, ia, "payload", "tag24", "valueDigests", "org.iso.18013.5.1", "12").(string); !ok {
		t.Fatal("int map key / base64 digest")
	}
	if dig(t, ia, "payload", "tag24", "deviceKeyInfo", "deviceKey", "-1") != uint64(1) {
		t.Fatal("negative int key")
	}
	item := dig(t, doc, "issuerSigned", "nameSpaces", "org.iso.18013.5.1", 1, "tag24")
	if dig(t, item, "elementIdentifier") != "issue_date" || dig(t, item, "elementValue") != "2019-10-20" {
		t.Fatal("full-date")
	}
	mac := dig(t, doc, "deviceSigned", "deviceAuth", "deviceMac")
	if dig(t, mac, "type") != "COSE_Mac0" || dig(t, mac, "detached") != true {
		t.Fatal("deviceMac")
	}
	if m, ok := dig(t, doc, "deviceSigned", "nameSpaces", "tag24").(map[string]any); !ok || len(m) != 0 {
		t.Fatal("DeviceNameSpacesBytes")
	}

	req := describeOK(t, "device_request", testvectors.AnnexD(t, "device_request"), KindDeviceRequest)
	ra := dig(t, req, "docRequests", 0, "readerAuth")
	if dig(t, ra, "detached") != true || dig(t, ra, "x5chain", 0, "subject") == nil {
		t.Fatal("readerAuth")
	}
	if dig(t, req, "docRequests", 0, "itemsRequest", "tag24", "nameSpaces", "org.iso.18013.5.1", "portrait") != false {
		t.Fatal("items request")
	}

	// readerAuthAll entries are COSE too.
	b, _ := builtDeviceRequest(t)
	ext := describeOK(t, "extended request", b, KindDeviceRequest)
	if dig(t, ext, "readerAuthAll", 0, "type") != "COSE_Sign1" {
		t.Fatal("readerAuthAll")
	}
	if dig(t, ext, "deviceRequestInfo", "tag24", "useCases", 0, "mandatory") != true {
		t.Fatal("deviceRequestInfo")
	}

	st := describeOK(t, "session_transcript_bytes", testvectors.AnnexD(t, "session_transcript_bytes"), KindSessionTranscriptBytes)
	if dig(t, st, "tag24", 0, "tag24", "0") != "1.0" {
		t.Fatal("transcript: DeviceEngagementBytes not expanded")
	}
	eng := describeOK(t, "device_engagement_qr", testvectors.AnnexD(t, "device_engagement_qr"), KindEngagement)
	if dig(t, eng, "1", 1, "tag24", "-1") != uint64(1) {
		t.Fatal("engagement security key")
	}
	if dig(t, eng, "2", 0, 2, "11") != "Re/vdCssSDepo7Dh0FppFw==" {
		t.Fatal("BLE uuid")
	}
}

func TestDescribeWalletQuirks(t *testing.T) {
	w := testvectors.WalletResponses(t)
	// pyMDOC-CBOR: MSO not tag-24 (expanded as embedded CBOR), x5chain in both headers.
	v := describeOK(t, "pymdoc", w["auth0-mdl-pymdoccbor-eudiw-pid"], KindDeviceResponse)
	ia := dig(t, v, "documents", 0, "issuerSigned", "issuerAuth")
	if dig(t, ia, "payload", "embeddedCBOR", "digestAlgorithm") != "sha256" {
		t.Fatal("untagged MSO not expanded")
	}
	// x5chain as a 1-element array.
	v = describeOK(t, "auth0", w["auth0-mdl-example1"], KindDeviceResponse)
	if dig(t, v, "documents", 0, "issuerSigned", "issuerAuth", "x5chain", 0, "serial") == "" {
		t.Fatal("serial")
	}
	// Fractional tdates keep their text.
	v = describeOK(t, "google", w["mdoc-ts-google-cm-wallet"], KindDeviceResponse)
	if s, _ := dig(t, v, "documents", 0, "issuerSigned", "issuerAuth", "payload", "tag24", "validityInfo", "signed").(string); !strings.Contains(s, ".") {
		t.Fatalf("fractional tdate %q", s)
	}
}

func TestDescribeGeneric(t *testing.T) {
	for name, c := range map[string]struct {
		hex  string
		want string
	}{
		"uint":            {"1b ffffffffffffffff", `18446744073709551615`},
		"min neg":         {"3b ffffffffffffffff", `"-18446744073709551616"`},
		"neg":             {"20", `-1`},
		"bytes":           {"43 010203", `"AQID"`},
		"indef bytes":     {"5f 41 01 42 0203 ff", `"AQID"`},
		"text":            {"62 6869", `"hi"`},
		"nan":             {"f9 7e00", `"NaN"`},
		"inf":             {"f9 7c00", `"Infinity"`},
		"-inf":            {"f9 fc00", `"-Infinity"`},
		"float":           {"fb 3ff8000000000000", `1.5`},
		"undefined":       {"f7", `{"undefined":true}`},
		"simple":          {"f8 20", `{"simple":32}`},
		"null":            {"f6", `null`},
		"bool":            {"f5", `true`},
		"tdate":           {"c0 74 323032302d31302d30315431333a33303a30325a", `"2020-10-01T13:30:02Z"`},
		"full-date":       {"d903ec 6a 323031392d31302d3230", `"2019-10-20"`},
		"epoch":           {"c1 1a 5f75d9ea", `{"tag":1,"value":1601559018}`},
		"bignum":          {"c2 49 010000000000000000", `"18446744073709551616"`},
		"neg bignum":      {"c3 49 010000000000000000", `"-18446744073709551617"`},
		"other tag":       {"d9 d9f7 01", `{"tag":55799,"value":1}`},
		"tag24":           {"d818 43 820102", `{"tag24":[1,2]}`},
		"tag24 in tag24":  {"d818 45 d818 42 1801", `{"tag24":{"tag24":1}}`},
		"mixed keys":      {"a3 01 61 61 61 31 61 62 20 61 63", `{"-1":"c","1":"a","1~2":"b"}`},
		"bstr key":        {"a1 42 0102 01", `{"h'0102'":1}`},
		"indef map":       {"bf 61 61 01 ff", `{"a":1}`},
		"indef array":     {"9f 01 02 ff", `[1,2]`},
		"non-minimal":     {"b9 0001 78 01 61 1b 0000000000000001", `{"a":1}`},
		"tagged sign1":    {"d2 84 43 a10126 a0 f6 40", ""},
		"untagged mac0":   {"84 43 a10105 a0 f6 40", ""},
		"not cose shape":  {"84 01 02 03 04", `[1,2,3,4]`},
		"cose wrong hdr":  {"d2 84 41 01 a0 f6 40", `{"tag":18,"value":["AQ==",{},null,""]}`},
		"session status":  {"a1 66 737461747573 14", `{"status":20}`},
		"messagedata":     {"a1 75 646576696365456e676167656d656e744279746573 d818 41 a0", ""},
		"cose key sans y": {"a3 01 01 20 06 21 42 0102", ""},
	} {
		data := hexBytes(t, c.hex)
		kind, v, err := Describe(data)
		if err != nil && v == nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v == nil && c.want != "null" {
			if err == nil {
				t.Errorf("%s: no tree", name)
			}
			continue
		}
		jsonSafe(t, v, name)
		b, jerr := json.Marshal(v)
		if jerr != nil {
			t.Errorf("%s: %v", name, jerr)
			continue
		}
		if c.want != "" && string(b) != c.want {
			t.Errorf("%s (%s): got %s want %s", name, kind, b, c.want)
		}
	}
}

func TestDescribeKinds(t *testing.T) {
	for name, c := range map[string]struct {
		hex  string
		kind string
		err  bool
	}{
		"tagged sign1":          {"d2 84 43 a10126 a0 f6 40", KindCOSESign1, false},
		"untagged mac0":         {"84 43 a10105 a0 f6 40", KindCOSEMac0, false},
		"tagged mac0":           {"d1 84 43 a10105 a0 f6 40", KindCOSEMac0, false},
		"session status":        {"a1 66 737461747573 14", KindSessionData, false},
		"message data":          {"a1 75 646576696365456e676167656d656e744279746573 d818 41 a0", KindMessageData, false},
		"ed25519 key":           {"a3 01 01 20 06 21 42 0102", KindCOSEKey, false},
		"key bad curve":         {"a3 01 02 20 1863 21 42 0102", KindCOSEKey, true},
		"generic map":           {"a1 61 61 01", KindCBOR, false},
		"generic tag24":         {"d818 41 01", KindEncodedCBOR, false},
		"response sans version": {"a1 66 737461747573 00", KindSessionData, false},
		"empty map":             {"a0", KindCBOR, false},
		"response bad status":   {"a2 67 76657273696f6e 63 312e30 66 737461747573 61 30", KindDeviceResponse, true},
	} {
		kind, v, err := Describe(hexBytes(t, c.hex))
		if kind != c.kind || (err != nil) != c.err {
			t.Errorf("%s: kind %q err %v", name, kind, err)
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || v == nil {
				t.Errorf("%s: %T %v (tree %v)", name, err, err, v)
			}
		}
	}
}

func TestDescribeRejects(t *testing.T) {
	deep := strings.Repeat("81", MaxNesting+1) + "01"
	// tag-24 chain deeper than the describe limit, each level a valid encoded item
	chain := []byte{0x01}
	for range maxDescribeDepth + 2 {
		chain = NewEncodedCBOR(chain).Raw()
	}
	for name, data := range map[string][]byte{
		"empty":             nil,
		"truncated":         hexBytes(t, "82 01"),
		"trailing":          hexBytes(t, "01 02"),
		"dup keys":          hexBytes(t, "a2 61 61 01 61 61 02"),
		"dup int keys":      hexBytes(t, "a2 01 01 18 01 02"),
		"bad utf8":          hexBytes(t, "62 c328"),
		"bad utf8 key":      hexBytes(t, "a1 62 c328 01"),
		"deep":              hexBytes(t, deep),
		"tag24 not bstr":    hexBytes(t, "d818 01"),
		"tag24 garbage":     hexBytes(t, "d818 42 8201"),
		"tag24 indef bstr":  hexBytes(t, "d818 5f 41 01 ff"),
		"tag24 chain":       chain,
		"huge bstr":         hexBytes(t, "5b 7fffffffffffffff"),
		"huge array":        hexBytes(t, "9b ffffffffffffffff"),
		"too large":         make([]byte, MaxMessageSize+1),
		"stray break":       hexBytes(t, "ff"),
		"reserved ai":       hexBytes(t, "1c"),
		"indefinite tag ai": hexBytes(t, "df 01"),
	} {
		kind, v, err := Describe(data)
		if err == nil || v != nil {
			t.Errorf("%s: accepted as %q", name, kind)
		}
	}
	if _, _, err := Describe(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
}
