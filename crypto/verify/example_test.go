package verify_test

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// annexD reads an ISO/IEC 18013-5 Annex D vector (one line of hex).
func annexD(name string) []byte {
	text, err := os.ReadFile("../../testdata/iso18013-5/" + name + ".hex")
	if err != nil {
		panic(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		panic(err)
	}
	return b
}

// Verify the Annex D DeviceResponse as its reader would: trusting the Annex D IACA, with
// the session's transcript and the reader's ephemeral key (the response authenticates
// the device with deviceMac, which needs it), at a time within every validity period.
func ExampleVerifyDeviceResponse() {
	iaca, err := x509.ParseCertificate(annexD("iaca_cert"))
	if err != nil {
		panic(err)
	}
	transcript, err := messages.DecodeSessionTranscript(annexD("session_transcript"))
	if err != nil {
		panic(err)
	}
	ck, err := messages.DecodeCOSEKey(annexD("ereader_key_cose"))
	if err != nil {
		panic(err)
	}
	ck.D = annexD("ereader_key_d")
	readerKey, err := keys.PrivateKeyFromCOSE(ck)
	if err != nil {
		panic(err)
	}

	res := verify.VerifyDeviceResponse(annexD("device_response"), verify.Options{
		Trust:      verify.NewTrustStore(iaca),
		Transcript: transcript,
		ReaderKey:  readerKey,
		Now:        time.Date(2021, 1, 5, 14, 1, 0, 0, time.UTC),
	})
	fmt.Println("valid:", res.Valid)
	for _, d := range res.Documents {
		fmt.Println(d.DocType, "valid:", d.Valid)
		for _, c := range d.Checks {
			if c.OK {
				fmt.Println("  ok  ", c.Name)
			} else {
				fmt.Println("  FAIL", c.Name+":", c.Reason)
			}
		}
		fmt.Println("  family_name:", d.Elements["org.iso.18013.5.1"]["family_name"])
	}
	// Output:
	// valid: true
	// org.iso.18013.5.1.mDL valid: true
	//   ok   issuer_auth.alg
	//   ok   issuer_auth.x5chain
	//   ok   issuer_auth.chain
	//   ok   issuer_auth.doc_type_scope
	//   ok   issuer_auth.certificate_purpose
	//   ok   issuer_auth.country
	//   ok   issuer_auth.iaca_profile
	//   ok   issuer_auth.certificate_profile
	//   ok   issuer_auth.signature
	//   ok   mso.decode
	//   ok   mso.digest_algorithm
	//   ok   mso.doc_type
	//   ok   mso.validity
	//   ok   mso.signed_within_certificate
	//   ok   mso.value_digests
	//   ok   device_auth.present
	//   ok   device_auth.mac
	//   family_name: Doe
}
