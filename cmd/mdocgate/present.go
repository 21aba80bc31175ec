package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mdocgate/mdocgate/crypto/holder"
)

func runPresent(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("present", stderr)
	var f holder.Files
	fs.StringVar(&f.Credential, "credential", "", "directory written by 'mdocgate issue'")
	fs.StringVar(&f.Transcript, "transcript", "", "SessionTranscript or SessionTranscriptBytes file (CBOR or hex)")
	fs.StringVar(&f.Request, "request", "", "DeviceRequest file (CBOR or hex); default: disclose every element")
	fs.StringVar(&f.MACReaderKey, "mac-reader-key", "", "reader ephemeral public key for deviceMac: COSE_Key (CBOR/hex), JWK, or a private key file")
	out := fs.String("out", "", "file to write the DeviceResponse CBOR to")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if f.Credential == "" || f.Transcript == "" || *out == "" {
		return fail(stderr, "present", fmt.Errorf("--credential, --transcript and --out are required"))
	}
	resp, b, err := f.Present()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		return fail(stderr, "present", err)
	}
	auth := "deviceSignature"
	if f.MACReaderKey != "" {
		auth = "deviceMac"
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes, %d document(s), %s\n", *out, len(b), len(resp.Documents), auth)
	return exitOK
}
