package holder

import (
	"fmt"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Files are the inputs of a presentation read from files (`mdocgate present`). Errors
// name the input as that command's flags do (--transcript, --request, --mac-reader-key).
type Files struct {
	// Credential is a folder issuer.WriteDir wrote (`mdocgate issue --out`).
	Credential string
	// Transcript is a SessionTranscript or SessionTranscriptBytes file (CBOR or hex; "-"
	// standard input).
	Transcript string
	// Request, optional, is a DeviceRequest file (CBOR or hex); without it every element
	// is disclosed.
	Request string
	// MACReaderKey, optional, is the reader's ephemeral public key file (COSE_Key as CBOR
	// or hex, JWK, or a private key file): the documents are then authenticated with
	// deviceMac instead of a deviceSignature.
	MACReaderKey string
}

// Present builds the DeviceResponse of the credential to the request and returns it
// with its encoding.
func (f Files) Present() (*messages.DeviceResponse, []byte, error) {
	cred, _, err := issuer.LoadDir(f.Credential)
	if err != nil {
		return nil, nil, err
	}
	st, err := messages.DecodeInputFile(f.Transcript, "--transcript", messages.DecodeSessionTranscript)
	if err != nil {
		return nil, nil, err
	}
	var req *messages.DeviceRequest
	if f.Request != "" {
		if req, err = messages.DecodeInputFile(f.Request, "--request", messages.DecodeDeviceRequest); err != nil {
			return nil, nil, err
		}
	}
	var opts PresentOptions
	if f.MACReaderKey != "" {
		raw, err := messages.ReadFileLimited(f.MACReaderKey, keys.MaxKeyFileSize)
		if err == nil {
			opts.MACReaderKey, err = keys.ParsePublicKey(raw)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("--mac-reader-key: %w", err)
		}
	}
	p := Presenter{Credentials: []*issuer.Credential{cred}}
	resp, err := p.BuildResponse(req, *st, opts)
	if err != nil {
		return nil, nil, err
	}
	b, err := messages.Marshal(resp)
	if err != nil {
		return nil, nil, err
	}
	return resp, b, nil
}
