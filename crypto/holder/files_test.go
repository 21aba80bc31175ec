package holder_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// Files presents a credential folder to the Annex D request and transcript, with
// deviceMac when given the reader's key, and names the input it could not read.
func TestFilesPresent(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	dir := pki.WriteCredential(t, pki.IssueOn(t, messages.CurveP256, issuer.IssueRequest{}))
	vec := func(name string) string { return filepath.Join(testvectors.Path("iso18013-5"), name+".hex") }
	readerKey := filepath.Join(t.TempDir(), "reader.pem")
	pemBytes, err := keys.MarshalPrivateKeyPEM(testpki.AnnexDKey(t, "ereader_key"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(readerKey, pemBytes, 0o600)

	f := holder.Files{Credential: dir, Transcript: vec("session_transcript_bytes")}
	resp, b, err := f.Present()
	if err != nil || len(resp.Documents) != 1 || resp.Documents[0].DeviceSigned.DeviceAuth.DeviceSignature == nil {
		t.Fatalf("everything, signed: %v %+v", err, resp)
	}
	if again, err := messages.DecodeDeviceResponse(b); err != nil || len(again.Documents) != 1 {
		t.Fatalf("the encoding does not decode: %v", err)
	}
	everything := items(resp.Documents[0])

	f.Request, f.MACReaderKey = vec("device_request"), readerKey
	resp, _, err = f.Present()
	if err != nil || resp.Documents[0].DeviceSigned.DeviceAuth.DeviceMac == nil {
		t.Fatalf("with the reader key: %v %+v", err, resp)
	}
	if n := items(resp.Documents[0]); n != 6 || everything <= n {
		t.Errorf("the Annex D request (6 elements) disclosed %d of %d", n, everything)
	}

	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte{0xa1, 0x61}, 0o644)
	for _, c := range []struct {
		f    holder.Files
		want string
	}{
		{holder.Files{Credential: t.TempDir(), Transcript: f.Transcript}, "issuer: "},
		{holder.Files{Credential: dir, Transcript: garbage}, "--transcript: "},
		{holder.Files{Credential: dir, Transcript: f.Transcript, Request: garbage}, "--request: "},
		{holder.Files{Credential: dir, Transcript: f.Transcript, MACReaderKey: garbage}, "--mac-reader-key: "},
		{holder.Files{Credential: dir, Transcript: filepath.Join(dir, "missing")}, "open "},
	} {
		if _, _, err := c.f.Present(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
}

// items counts the disclosed elements of doc.
func items(doc messages.Document) int {
	n := 0
	for _, ns := range doc.IssuerSigned.NameSpaces.Keys() {
		list, _ := doc.IssuerSigned.NameSpaces.Get(ns)
		n += len(list)
	}
	return n
}
