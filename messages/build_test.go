package messages

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/mdocgate/mdocgate/internal/testvectors"
)

func annexDKey(t testing.TB) *COSEKey {
	t.Helper()
	k, err := DecodeCOSEKey(testvectors.AnnexD(t, "edevice_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func u64(v uint64) *uint64 { return &v }

var (
	testBLE = BLEOptions{
		PeripheralServerMode: true,
		CentralClientMode:    true,
		PeripheralServerUUID: bytes.Repeat([]byte{0x11}, 16),
		CentralClientUUID:    bytes.Repeat([]byte{0x22}, 16),
		PeripheralAddress:    []byte{1, 2, 3, 4, 5, 6},
		L2CAPPSM:             u64(0x80),
	}
	testNFC  = NFCOptions{MaxCommandDataLength: 255, MaxResponseDataLength: 65536}
	testWiFi = WiFiAwareOptions{Passphrase: "secret", OperatingClass: u64(81), ChannelNumber: u64(6), SupportedBands: []byte{0x14}}
	testHTTP = "https://mdoc.example.com/retrieve"
)

func builtEngagement(t testing.TB) *Engagement {
	t.Helper()
	e, err := NewEngagement(annexDKey(t), NewBLEMethod(testBLE), NewNFCMethod(testNFC),
		NewWiFiAwareMethod(testWiFi), NewHTTPMethod(testHTTP))
	if err != nil {
		t.Fatal(err)
	}
	e.Version = "1.1"
	e.OriginInfos = []OriginInfo{NewWebsiteOriginInfo(OriginCatReceive, "https://verifier.example")}
	e.Capabilities = &Capabilities{}
	e.Capabilities.SetBool(CapHandoverSessionEstablishmentSupport, true)
	e.Capabilities.SetBool(CapReaderAuthAllSupport, true)
	return e
}

func TestBuiltEngagementRoundTrip(t *testing.T) {
	e := builtEngagement(t)
	if e.Raw() != nil {
		t.Fatal("a built engagement has no Raw")
	}
	b, err := Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEngagement(b)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Marshal(got); err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	if got.Version != "1.1" || got.Security.CipherSuite != CipherSuite1 {
		t.Fatal(got.Version, got.Security.CipherSuite)
	}
	key, err := got.Security.Key()
	if err != nil || !key.Equal(annexDKey(t)) {
		t.Fatalf("key: %v", err)
	}
	if len(got.DeviceRetrievalMethods) != 4 {
		t.Fatalf("%d methods", len(got.DeviceRetrievalMethods))
	}
	ble, err := got.DeviceRetrievalMethods[0].BLE()
	if err != nil || !reflect.DeepEqual(ble, testBLE) {
		t.Fatalf("BLE %+v %v", ble, err)
	}
	nfc, err := got.DeviceRetrievalMethods[1].NFC()
	if err != nil || nfc != testNFC {
		t.Fatalf("NFC %+v %v", nfc, err)
	}
	wifi, err := got.DeviceRetrievalMethods[2].WiFiAware()
	if err != nil || !reflect.DeepEqual(wifi, testWiFi) {
		t.Fatalf("WiFi %+v %v", wifi, err)
	}
	h, err := got.DeviceRetrievalMethods[3].HTTP()
	if err != nil || h.URI != testHTTP {
		t.Fatalf("HTTP %+v %v", h, err)
	}
	if _, err := got.DeviceRetrievalMethods[3].BLE(); err == nil {
		t.Fatal("BLE() on an HTTP method")
	}
	if len(got.OriginInfos) != 1 {
		t.Fatal("origin infos")
	}
	oi := got.OriginInfos[0]
	if d, ok := oi.Domain(); !ok || d != "https://verifier.example" || oi.Cat != OriginCatReceive || oi.Type != OriginTypeWebsite || oi.DetailsKey != "details" {
		t.Fatalf("origin %+v", oi)
	}
	if !got.Capabilities.Bool(CapHandoverSessionEstablishmentSupport) || !got.Capabilities.Bool(CapReaderAuthAllSupport) ||
		got.Capabilities.Bool(CapExtendedRequestSupport) {
		t.Fatal("capabilities")
	}
	// Every single-method variant too.
	for _, m := range []RetrievalMethod{NewBLEMethod(BLEOptions{CentralClientMode: true, CentralClientUUID: testBLE.CentralClientUUID}),
		NewBLEMethod(BLEOptions{PeripheralServerMode: true, PeripheralServerUUID: testBLE.PeripheralServerUUID}),
		NewNFCMethod(testNFC), NewWiFiAwareMethod(WiFiAwareOptions{}), NewHTTPMethod(testHTTP)} {
		e, err := NewEngagement(annexDKey(t), m)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeEngagement(b)
		if err != nil || got.Version != "1.0" || len(got.DeviceRetrievalMethods) != 1 || got.OriginInfos != nil || got.Capabilities != nil {
			t.Fatalf("%d: %+v %v", m.Type, got, err)
		}
	}
}

func TestBLEConsistency(t *testing.T) {
	for name, o := range map[string]BLEOptions{
		"no mode":                {},
		"peripheral no uuid":     {PeripheralServerMode: true},
		"central short uuid":     {CentralClientMode: true, CentralClientUUID: []byte{1, 2}},
		"bad device address len": {CentralClientMode: true, CentralClientUUID: testBLE.CentralClientUUID, PeripheralAddress: []byte{1}},
	} {
		m := NewBLEMethod(o)
		if _, err := m.BLE(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEngagementUnknownKeysKept(t *testing.T) {
	de := testvectors.AnnexD(t, "device_engagement_qr")
	if de[0] != 0xa3 {
		t.Fatalf("vector head %x", de[0])
	}
	ext := append([]byte{0xa4}, de[1:]...)
	ext = append(ext, 0x18, 0x63, 0x63, 'a', 'b', 'c') // 99: "abc"
	e, err := DecodeEngagement(ext)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := e.Other.Get(99); !ok || !bytes.Equal(v, []byte{0x63, 'a', 'b', 'c'}) {
		t.Fatalf("key 99: %x %v", v, ok)
	}
	e.raw = nil // force a re-encoding
	b, err := Marshal(e)
	if err != nil || !bytes.Equal(b, ext) {
		t.Fatalf("re-encoding: %v\n got %x\nwant %x", err, b, ext)
	}
	// ProtocolInfo (4) and ServerRetrievalMethods (3) are carried too.
	e.ProtocolInfo = cbor.RawMessage{0x82, 0x01, 0x02}
	e.ServerRetrievalMethods = &ServerRetrievalMethods{WebAPI: &ServerRetrievalInfo{Version: 1, IssuerURL: "https://issuer.example", Token: "tok"}}
	b, err = Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEngagement(b)
	if err != nil || !bytes.Equal(got.ProtocolInfo, e.ProtocolInfo) || got.ServerRetrievalMethods == nil ||
		*got.ServerRetrievalMethods.WebAPI != *e.ServerRetrievalMethods.WebAPI || got.ServerRetrievalMethods.OIDC != nil {
		t.Fatalf("%+v %v", got, err)
	}
	if again, _ := Marshal(got); !bytes.Equal(again, b) {
		t.Fatal("re-encoding differs")
	}
}

func builtDeviceRequest(t testing.TB) ([]byte, *DeviceRequest) {
	t.Helper()
	annex, err := DecodeDeviceRequest(testvectors.AnnexD(t, "device_request"))
	if err != nil {
		t.Fatal(err)
	}
	var ra CoseSign1
	if err := Unmarshal(testvectors.AnnexD(t, "reader_auth"), &ra); err != nil {
		t.Fatal(err)
	}
	var purpose Map[string, cbor.RawMessage]
	purpose.Set("en", mustMarshal("age check"))
	var infoExt Map[string, cbor.RawMessage]
	infoExt.Set("x-info", mustMarshal(uint64(7)))
	info, err := EncodeToCBOR(DeviceRequestInfo{
		UseCases: []UseCase{{Mandatory: true, DocumentSets: [][]uint64{{0}, {0, 1}}, PurposeHints: mustMarshal(purpose)}},
		Other:    infoExt,
	})
	if err != nil {
		t.Fatal(err)
	}
	var other Map[string, cbor.RawMessage]
	other.Set("macKeys", mustMarshal([]any{[]byte{1, 2, 3}}))
	other.Set("x-vendor", mustMarshal(map[string]any{"a": true}))
	second := annex.DocRequests[0]
	second.ReaderAuth = nil
	second.Other.Set("x-doc", mustMarshal("ext"))
	r := &DeviceRequest{
		Version:           "1.1",
		DocRequests:       []DocRequest{annex.DocRequests[0], second},
		DeviceRequestInfo: &info,
		ReaderAuthAll:     []CoseSign1{ra},
		Other:             other,
	}
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}

func TestDeviceRequestExtendedRoundTrip(t *testing.T) {
	b, built := builtDeviceRequest(t)
	got, err := DecodeDeviceRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Marshal(got)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("not byte for byte: %v", err)
	}
	if got.Version != "1.1" || len(got.DocRequests) != 2 || len(got.ReaderAuthAll) != 1 || got.DeviceRequestInfo == nil {
		t.Fatalf("%+v", got)
	}
	if !got.DocRequests[0].ItemsRequest.Equal(built.DocRequests[0].ItemsRequest) || got.DocRequests[1].ReaderAuth != nil {
		t.Fatal("doc requests")
	}
	if v, ok := got.DocRequests[1].Other.Get("x-doc"); !ok || !bytes.Equal(v, mustMarshal("ext")) {
		t.Fatal("DocRequest extension lost")
	}
	if got.Other.Len() != 2 || got.Other.Keys()[0] != "macKeys" || got.Other.Keys()[1] != "x-vendor" {
		t.Fatalf("extensions %v", got.Other.Keys())
	}
	if !bytes.Equal(got.ReaderAuthAll[0].Signature, built.ReaderAuthAll[0].Signature) {
		t.Fatal("readerAuthAll")
	}
	var info DeviceRequestInfo
	if err := got.DeviceRequestInfo.Decode(&info); err != nil {
		t.Fatal(err)
	}
	if len(info.UseCases) != 1 || !info.UseCases[0].Mandatory || len(info.UseCases[0].DocumentSets) != 2 {
		t.Fatalf("%+v", info)
	}
	if v, ok := info.Other.Get("x-info"); !ok || !bytes.Equal(v, mustMarshal(uint64(7))) {
		t.Fatal("DeviceRequestInfo extension lost")
	}
	if err := info.Validate(len(got.DocRequests)); err != nil {
		t.Fatal(err)
	}
	if err := info.Validate(1); err == nil {
		t.Fatal("docRequest index 1 of 1 accepted")
	}
	items, err := got.DocRequests[0].Items()
	if err != nil || items.DocType != "org.iso.18013.5.1.mDL" {
		t.Fatal(err)
	}
	// ReaderAuthenticationAll over the received bytes.
	st, err := DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	ra, err := ReaderAuthenticationAllBytes(*st, []EncodedCBOR{got.DocRequests[0].ItemsRequest, got.DocRequests[1].ItemsRequest}, got.DeviceRequestInfo)
	if err != nil {
		t.Fatal(err)
	}
	kind, _, err := Describe(ra.Raw())
	if err != nil || kind != KindReaderAuthAllBytes {
		t.Fatal(kind, err)
	}
}

func TestDeviceRequestInfoValidate(t *testing.T) {
	for name, c := range map[string]struct {
		info DeviceRequestInfo
		n    int
		ok   bool
	}{
		"valid":          {DeviceRequestInfo{UseCases: []UseCase{{DocumentSets: [][]uint64{{0, 1}, {2}}}}}, 3, true},
		"no use cases":   {DeviceRequestInfo{}, 0, true},
		"out of range":   {DeviceRequestInfo{UseCases: []UseCase{{DocumentSets: [][]uint64{{0, 3}}}}}, 3, false},
		"huge index":     {DeviceRequestInfo{UseCases: []UseCase{{DocumentSets: [][]uint64{{1 << 63}}}}}, 3, false},
		"no sets":        {DeviceRequestInfo{UseCases: []UseCase{{}}}, 3, false},
		"empty set":      {DeviceRequestInfo{UseCases: []UseCase{{DocumentSets: [][]uint64{{}}}}}, 3, false},
		"zero docs":      {DeviceRequestInfo{UseCases: []UseCase{{DocumentSets: [][]uint64{{0}}}}}, 0, false},
		"second invalid": {DeviceRequestInfo{UseCases: []UseCase{{DocumentSets: [][]uint64{{0}}}, {DocumentSets: [][]uint64{{5}}}}}, 2, false},
	} {
		if err := c.info.Validate(c.n); (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
