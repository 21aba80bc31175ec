package messages

import (
	"encoding/hex"
	"sort"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// annexDCBOR lists the Annex D vectors that are CBOR items (the others are certificates,
// raw keys, NDEF messages or the portrait), with the kind Describe must report.
var annexDCBOR = map[string]string{
	"device_auth":                     KindDeviceAuth,
	"device_authentication_bytes":     KindDeviceAuthenticationBytes,
	"device_engagement_nfc":           KindEngagement,
	"device_engagement_qr":            KindEngagement,
	"device_mac_structure":            KindMACStructure,
	"device_request":                  KindDeviceRequest,
	"device_response":                 KindDeviceResponse,
	"device_signed":                   KindDeviceSigned,
	"edevice_key_bytes":               KindCOSEKeyBytes,
	"edevice_key_cose":                KindCOSEKey,
	"ereader_key_bytes":               KindCOSEKeyBytes,
	"ereader_key_cose":                KindCOSEKey,
	"issuer_auth":                     KindCOSESign1,
	"issuer_auth_sig_structure":       KindSigStructure,
	"issuer_signed":                   KindIssuerSigned,
	"items_request":                   KindItemsRequest,
	"items_request_bytes":             KindItemsRequestBytes,
	"mobile_security_object":          KindMSO,
	"mobile_security_object_bytes":    KindMSOBytes,
	"oid4vp_dcapi_handover":           KindHandover,
	"oid4vp_dcapi_handover_info":      KindCBOR,
	"oid4vp_dcapi_session_transcript": KindSessionTranscript,
	"oid4vp_handover":                 KindHandover,
	"oid4vp_handover_info":            KindCBOR,
	"oid4vp_session_transcript":       KindSessionTranscript,
	"reader_auth":                     KindCOSESign1,
	"reader_auth_sig_structure":       KindSigStructure,
	"reader_authentication_bytes":     KindReaderAuthenticationBytes,
	"sdevice_key_cose":                KindCOSEKey,
	"session_data_response":           KindSessionData,
	"session_establishment":           KindSessionEstablishment,
	"session_handover_nfc":            KindCBOR,
	"session_termination":             KindSessionData,
	"session_transcript":              KindSessionTranscript,
	"session_transcript_bytes":        KindSessionTranscriptBytes,
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func bdrIssuerSigned(t testing.TB) []byte {
	return testvectors.Hex(t, "wallets", "mdoc-ts-bdr-issuer-signed", "issuer_signed.hex")
}

// allVectors returns every CBOR vector (Annex D and wallets), for seeding.
func allVectors(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range sortedKeys(annexDCBOR) {
		out = append(out, testvectors.AnnexD(t, name))
	}
	w := testvectors.WalletResponses(t)
	for _, name := range sortedKeys(w) {
		out = append(out, w[name])
	}
	return append(out, bdrIssuerSigned(t))
}

// hexBytes decodes hex with optional spaces.
func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return b
}
