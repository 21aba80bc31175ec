package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

func runPresent(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("present", stderr)
	credDir := fs.String("credential", "", "directory written by 'mdocgate issue'")
	transcript := fs.String("transcript", "", "SessionTranscript or SessionTranscriptBytes file (CBOR or hex)")
	request := fs.String("request", "", "DeviceRequest file (CBOR or hex); default: disclose every element")
	macReaderKey := fs.String("mac-reader-key", "", "reader ephemeral public key for deviceMac: COSE_Key (CBOR/hex), JWK, or a private key file")
	out := fs.String("out", "", "file to write the DeviceResponse CBOR to")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *credDir == "" || *transcript == "" || *out == "" {
		return fail(stderr, "present", fmt.Errorf("--credential, --transcript and --out are required"))
	}
	cred, deviceKey, err := issuer.LoadDir(*credDir)
	if err != nil {
		return fail(stderr, "present", err)
	}
	cred.DevicePrivateKey = deviceKey
	tb, err := readInput(*transcript)
	if err != nil {
		return fail(stderr, "present", err)
	}
	st, err := messages.DecodeSessionTranscript(tb)
	if err != nil {
		return fail(stderr, "present", fmt.Errorf("--transcript: %w", err))
	}
	var req *messages.DeviceRequest
	if *request != "" {
		rb, err := readInput(*request)
		if err != nil {
			return fail(stderr, "present", err)
		}
		if req, err = messages.DecodeDeviceRequest(rb); err != nil {
			return fail(stderr, "present", fmt.Errorf("--request: %w", err))
		}
	}
	var opts holder.PresentOptions
	if *macReaderKey != "" {
		if opts.MACReaderKey, err = readPublicKey(*macReaderKey); err != nil {
			return fail(stderr, "present", fmt.Errorf("--mac-reader-key: %w", err))
		}
	}
	p := holder.Presenter{Credentials: []*issuer.Credential{cred}}
	resp, err := p.BuildResponse(req, *st, opts)
	if err != nil {
		return fail(stderr, "present", err)
	}
	b, err := messages.Marshal(resp)
	if err != nil {
		return fail(stderr, "present", err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fail(stderr, "present", err)
	}
	auth := "deviceSignature"
	if opts.MACReaderKey != nil {
		auth = "deviceMac"
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes, %d document(s), %s\n", *out, len(b), len(resp.Documents), auth)
	return exitOK
}

// readPublicKey reads a public key as a COSE_Key (CBOR or hex), a JWK, or takes the
// public part of a private key file.
func readPublicKey(path string) (*messages.COSEKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if k, err := keys.ParsePublicKeyJWK(raw); err == nil {
		return k, nil
	}
	if k, err := keys.ParsePrivateKey(raw); err == nil {
		return k.COSEKey(), nil
	}
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 2 && data[0] == 0xd8 && data[1] == 0x18 { // EReaderKeyBytes
		e, err := messages.ParseEncodedCBOR(data)
		if err != nil {
			return nil, err
		}
		data = e.Content()
	}
	return messages.DecodeCOSEKey(data)
}
