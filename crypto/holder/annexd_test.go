package holder_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

func annexD(t testing.TB, name string) []byte {
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

// TestAnnexDResponse answers the Annex D DeviceRequest with the Annex D IssuerSigned and
// static device key: deviceMac is deterministic, so the DeviceResponse must equal the
// Annex D one byte for byte.
func TestAnnexDResponse(t *testing.T) {
	is, err := messages.DecodeIssuerSigned(annexD(t, "issuer_signed"))
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := messages.DecodeCOSEKey(annexD(t, "sdevice_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	sdk.D = annexD(t, "sdevice_key_d")
	priv, err := keys.PrivateKeyFromCOSE(sdk)
	if err != nil {
		t.Fatal(err)
	}
	readerKey, err := messages.DecodeCOSEKey(annexD(t, "ereader_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	transcript, err := messages.DecodeSessionTranscript(annexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := messages.DecodeDeviceRequest(annexD(t, "device_request"))
	if err != nil {
		t.Fatal(err)
	}
	cred := &issuer.Credential{DocType: issuer.DocTypeMDL, IssuerSigned: *is, DeviceKey: sdk.Public(), DevicePrivateKey: priv}
	p := holder.Presenter{Credentials: []*issuer.Credential{cred}}
	want := annexD(t, "device_response")
	for name, r := range map[string]*messages.DeviceRequest{"request": req, "nil request": nil} {
		resp, err := p.BuildResponse(r, *transcript, holder.PresentOptions{MACReaderKey: readerKey})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := messages.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: DeviceResponse differs from Annex D\n got %x\nwant %x", name, got, want)
		}
	}
}
