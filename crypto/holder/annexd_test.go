package holder_test

import (
	"bytes"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// TestAnnexDResponse answers the Annex D DeviceRequest with the Annex D IssuerSigned and
// static device key: deviceMac is deterministic, so the DeviceResponse must equal the
// Annex D one byte for byte.
func TestAnnexDResponse(t *testing.T) {
	is, err := messages.DecodeIssuerSigned(testvectors.AnnexD(t, "issuer_signed"))
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := messages.DecodeCOSEKey(testvectors.AnnexD(t, "sdevice_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	priv := testpki.AnnexDKey(t, "sdevice_key")
	readerKey, err := messages.DecodeCOSEKey(testvectors.AnnexD(t, "ereader_key_cose"))
	if err != nil {
		t.Fatal(err)
	}
	transcript, err := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := messages.DecodeDeviceRequest(testvectors.AnnexD(t, "device_request"))
	if err != nil {
		t.Fatal(err)
	}
	cred := &issuer.Credential{DocType: issuer.DocTypeMDL, IssuerSigned: *is, DeviceKey: sdk.Public(), DevicePrivateKey: priv}
	p := holder.Presenter{Credentials: []*issuer.Credential{cred}}
	want := testvectors.AnnexD(t, "device_response")
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
