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
	cred, _, err := issuer.LoadDir(*credDir)
	if err != nil {
		return fail(stderr, "present", err)
	}
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
	auth := "deviceSignature"
	if *macReaderKey != "" {
		raw, err := os.ReadFile(*macReaderKey)
		if err == nil {
			opts.MACReaderKey, err = keys.ParsePublicKey(raw)
		}
		if err != nil {
			return fail(stderr, "present", fmt.Errorf("--mac-reader-key: %w", err))
		}
		auth = "deviceMac"
	}
	p := holder.Presenter{Credentials: []*issuer.Credential{cred}}
	resp, err := p.BuildResponse(req, *st, opts)
	if err != nil {
		return fail(stderr, "present", err)
	}
	b, err := messages.Marshal(resp)
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		return fail(stderr, "present", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes, %d document(s), %s\n", *out, len(b), len(resp.Documents), auth)
	return exitOK
}
