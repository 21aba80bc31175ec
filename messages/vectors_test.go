package messages

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

func roundTrip[T any](t *testing.T, name string, data []byte, v *T) {
	t.Helper()
	if err := Unmarshal(data, v); err != nil {
		t.Fatalf("%s: decode: %v", name, err)
	}
	again, err := Marshal(v)
	if err != nil {
		t.Fatalf("%s: encode: %v", name, err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("%s: re-encoding differs\n got %x\nwant %x", name, again, data)
	}
}

func TestAnnexDRoundTrips(t *testing.T) {
	roundTrip(t, "device_engagement_qr", testvectors.AnnexD(t, "device_engagement_qr"), &Engagement{})
	roundTrip(t, "device_engagement_nfc", testvectors.AnnexD(t, "device_engagement_nfc"), &Engagement{})
	roundTrip(t, "session_establishment", testvectors.AnnexD(t, "session_establishment"), &SessionEstablishment{})
	roundTrip(t, "session_data_response", testvectors.AnnexD(t, "session_data_response"), &SessionData{})
	roundTrip(t, "session_termination", testvectors.AnnexD(t, "session_termination"), &SessionData{})
	roundTrip(t, "session_transcript", testvectors.AnnexD(t, "session_transcript"), &SessionTranscript{})
	roundTrip(t, "device_request", testvectors.AnnexD(t, "device_request"), &DeviceRequest{})
	roundTrip(t, "items_request", testvectors.AnnexD(t, "items_request"), &ItemsRequest{})
	roundTrip(t, "device_response", testvectors.AnnexD(t, "device_response"), &DeviceResponse{})
	roundTrip(t, "issuer_signed", testvectors.AnnexD(t, "issuer_signed"), &IssuerSigned{})
	roundTrip(t, "device_signed", testvectors.AnnexD(t, "device_signed"), &DeviceSigned{})
	roundTrip(t, "device_auth", testvectors.AnnexD(t, "device_auth"), &DeviceAuth{})
	roundTrip(t, "issuer_auth", testvectors.AnnexD(t, "issuer_auth"), &CoseSign1{})
	roundTrip(t, "reader_auth", testvectors.AnnexD(t, "reader_auth"), &CoseSign1{})
	roundTrip(t, "mobile_security_object", testvectors.AnnexD(t, "mobile_security_object"), &MobileSecurityObject{})
	roundTrip(t, "edevice_key_cose", testvectors.AnnexD(t, "edevice_key_cose"), &COSEKey{})
	roundTrip(t, "ereader_key_cose", testvectors.AnnexD(t, "ereader_key_cose"), &COSEKey{})
	roundTrip(t, "sdevice_key_cose", testvectors.AnnexD(t, "sdevice_key_cose"), &COSEKey{})
	roundTrip(t, "edevice_key_bytes", testvectors.AnnexD(t, "edevice_key_bytes"), &EncodedCBOR{})
	roundTrip(t, "items_request_bytes", testvectors.AnnexD(t, "items_request_bytes"), &EncodedCBOR{})
	roundTrip(t, "oid4vp_session_transcript", testvectors.AnnexD(t, "oid4vp_session_transcript"), &SessionTranscript{})
}

func TestAnnexDEngagement(t *testing.T) {
	de, err := DecodeEngagement(testvectors.AnnexD(t, "device_engagement_qr"))
	if err != nil {
		t.Fatal(err)
	}
	if de.Version != "1.0" || de.Security.CipherSuite != 1 {
		t.Fatalf("version %q suite %d", de.Version, de.Security.CipherSuite)
	}
	if !bytes.Equal(de.Security.KeyBytes.Raw(), testvectors.AnnexD(t, "edevice_key_bytes")) {
		t.Fatal("EDeviceKeyBytes differ from the vector")
	}
	key, err := de.Security.Key()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key.X, testvectors.AnnexD(t, "edevice_key_x")) || !bytes.Equal(key.Y, testvectors.AnnexD(t, "edevice_key_y")) {
		t.Fatal("EDeviceKey coordinates differ")
	}
	if len(de.DeviceRetrievalMethods) != 1 {
		t.Fatalf("methods: %d", len(de.DeviceRetrievalMethods))
	}
	ble, err := de.DeviceRetrievalMethods[0].BLE()
	if err != nil {
		t.Fatal(err)
	}
	if ble.PeripheralServerMode || !ble.CentralClientMode ||
		hex.EncodeToString(ble.CentralClientUUID) != "45efef742b2c4837a9a3b0e1d05a6917" {
		t.Fatalf("BLE options %+v", ble)
	}
	if !bytes.Equal(de.Raw(), testvectors.AnnexD(t, "device_engagement_qr")) {
		t.Fatal("Raw() is not the received bytes")
	}
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	if !strings.HasPrefix(uri, "mdoc:") {
		t.Fatal("uri vector")
	}
}

func TestAnnexDTranscript(t *testing.T) {
	st, err := DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript_bytes"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Raw(), testvectors.AnnexD(t, "session_transcript_bytes")) {
		t.Fatal("SessionTranscriptBytes differ")
	}
	de := NewEncodedCBOR(testvectors.AnnexD(t, "device_engagement_nfc"))
	rk, err := ParseEncodedCBOR(testvectors.AnnexD(t, "ereader_key_bytes"))
	if err != nil {
		t.Fatal(err)
	}
	built := NewProximityTranscript(de, rk, NFCHandover(testvectors.AnnexD(t, "nfc_handover_select"), testvectors.AnnexD(t, "nfc_handover_request")))
	enc, err := Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, testvectors.AnnexD(t, "session_transcript")) {
		t.Fatalf("built NFC transcript differs\n got %x\nwant %x", enc, testvectors.AnnexD(t, "session_transcript"))
	}
	if !bytes.Equal(built.Handover, testvectors.AnnexD(t, "session_handover_nfc")) {
		t.Fatal("NFC handover differs")
	}
}

func TestOpenID4VPHandovers(t *testing.T) {
	// Inputs from the OpenID4VP 1.0 examples; the info vectors hold them.
	var info []any
	if err := Unmarshal(testvectors.AnnexD(t, "oid4vp_handover_info"), &info); err != nil {
		t.Fatal(err)
	}
	clientID, nonce, thumb, responseURI := info[0].(string), info[1].(string), info[2].([]byte), info[3].(string)
	if !bytes.Equal(thumb, testvectors.AnnexD(t, "oid4vp_jwk_thumbprint")) {
		t.Fatal("thumbprint in info differs")
	}
	if got := OpenID4VPHandoverInfo(clientID, nonce, thumb, responseURI); !bytes.Equal(got, testvectors.AnnexD(t, "oid4vp_handover_info")) {
		t.Fatal("handover info differs")
	}
	h := OpenID4VPHandover(clientID, nonce, thumb, responseURI)
	if !bytes.Equal(h, testvectors.AnnexD(t, "oid4vp_handover")) {
		t.Fatalf("OpenID4VPHandover differs: %x", []byte(h))
	}
	st, _ := Marshal(SessionTranscript{Handover: h})
	if !bytes.Equal(st, testvectors.AnnexD(t, "oid4vp_session_transcript")) {
		t.Fatal("OpenID4VP transcript differs")
	}
	var dinfo []any
	if err := Unmarshal(testvectors.AnnexD(t, "oid4vp_dcapi_handover_info"), &dinfo); err != nil {
		t.Fatal(err)
	}
	origin, dnonce := dinfo[0].(string), dinfo[1].(string)
	dh := OpenID4VPDCAPIHandover(origin, dnonce, dinfo[2].([]byte))
	if !bytes.Equal(dh, testvectors.AnnexD(t, "oid4vp_dcapi_handover")) {
		t.Fatal("DC API handover differs")
	}
	dst, _ := Marshal(SessionTranscript{Handover: dh})
	if !bytes.Equal(dst, testvectors.AnnexD(t, "oid4vp_dcapi_session_transcript")) {
		t.Fatal("DC API transcript differs")
	}
}

// The 18013-7:2024 Annex B handover rebuilds the transcript of a wallet sample that used
// it (mdoc-ts-ubique; inputs in its handover.json).
func TestISO18013_7AnnexBHandover(t *testing.T) {
	var in struct {
		Handover           string `json:"handover"`
		ClientID           string `json:"client_id"`
		ResponseURI        string `json:"response_uri"`
		Nonce              string `json:"nonce"`
		MdocGeneratedNonce string `json:"mdoc_generated_nonce"`
	}
	if err := json.Unmarshal(testvectors.File(t, "wallets", "mdoc-ts-ubique", "handover.json"), &in); err != nil {
		t.Fatal(err)
	}
	if in.Handover != "ISO18013-7-2024-AnnexB-OID4VPHandover" {
		t.Fatalf("sample handover kind %q", in.Handover)
	}
	h := ISO18013_7AnnexBHandover(in.ClientID, in.ResponseURI, in.Nonce, in.MdocGeneratedNonce)
	st, err := Marshal(SessionTranscript{Handover: h})
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.Hex(t, "wallets", "mdoc-ts-ubique", "session_transcript.hex"); !bytes.Equal(st, want) {
		t.Fatalf("transcript\n got %x\nwant %x", st, want)
	}
}

func TestAnnexDResponseStructure(t *testing.T) {
	dr, err := DecodeDeviceResponse(testvectors.AnnexD(t, "device_response"))
	if err != nil {
		t.Fatal(err)
	}
	if dr.Version != "1.0" || dr.Status != 0 || len(dr.Documents) != 1 {
		t.Fatalf("%+v", dr)
	}
	doc := dr.Documents[0]
	if doc.DocType != "org.iso.18013.5.1.mDL" {
		t.Fatal(doc.DocType)
	}
	if !bytes.Equal(doc.IssuerSigned.IssuerAuth.Payload, testvectors.AnnexD(t, "mobile_security_object_bytes")) {
		t.Fatal("issuerAuth payload differs from MobileSecurityObjectBytes")
	}
	mso, err := DecodeMSO(doc.IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if mso.DigestAlgorithm != "SHA-256" || mso.DocType != doc.DocType || mso.NotTagged {
		t.Fatalf("%+v", mso)
	}
	if mso.ValidityInfo.ValidFrom.UTC().Format("2006-01-02T15:04:05Z") != "2020-10-01T13:30:02Z" {
		t.Fatal(mso.ValidityInfo.ValidFrom)
	}
	certs, asArray, inProtected, err := doc.IssuerSigned.IssuerAuth.X5Chain()
	if err != nil || asArray || inProtected || !bytes.Equal(certs[0], testvectors.AnnexD(t, "ds_cert")) {
		t.Fatalf("x5chain: %v %v %v", err, asArray, inProtected)
	}
	alg, inProt, err := doc.IssuerSigned.IssuerAuth.Alg()
	if err != nil || alg != AlgES256 || !inProt {
		t.Fatal(alg, inProt, err)
	}
	n := 0
	for ns, items := range doc.IssuerSigned.NameSpaces.All() {
		for _, b := range items {
			it, err := DecodeIssuerSignedItem(b)
			if err != nil {
				t.Fatal(err)
			}
			digests, _ := mso.ValueDigests.Get(ns)
			if _, ok := digests.Get(it.DigestID); !ok {
				t.Fatalf("no digest for %s/%d", ns, it.DigestID)
			}
			n++
		}
	}
	if n != 6 {
		t.Fatalf("%d items", n)
	}
	if doc.DeviceSigned == nil || doc.DeviceSigned.DeviceAuth.DeviceMac == nil {
		t.Fatal("deviceMac expected")
	}
	if !bytes.Equal(doc.DeviceSigned.NameSpaces.Raw(), []byte{0xd8, 0x18, 0x41, 0xa0}) {
		t.Fatal("DeviceNameSpacesBytes")
	}
}
