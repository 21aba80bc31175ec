package messages_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/mdocgate/mdocgate/messages"
)

// Decode the DeviceResponse of ISO/IEC 18013-5 Annex D and read what it holds. Decoding
// checks structure only; package verify checks signatures, digests and validity.
func ExampleDecodeDeviceResponse() {
	text, err := os.ReadFile("../testdata/iso18013-5/device_response.hex")
	if err != nil {
		panic(err)
	}
	data, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		panic(err)
	}
	resp, err := messages.DecodeDeviceResponse(data)
	if err != nil {
		fmt.Println("not a DeviceResponse:", err)
		return
	}
	fmt.Println("version", resp.Version, "status", resp.Status)
	for _, doc := range resp.Documents {
		fmt.Println("document", doc.DocType)
		for ns, items := range doc.IssuerSigned.NameSpaces.All() {
			for _, b := range items {
				item, err := messages.DecodeIssuerSignedItem(b)
				if err != nil {
					fmt.Println("  bad item:", err)
					continue
				}
				// ElementValue is the CBOR as received; text values read as a string
				var text string
				if messages.Unmarshal(item.ElementValue, &text) == nil {
					fmt.Printf("  %s/%s = %q\n", ns, item.ElementIdentifier, text)
				} else {
					fmt.Printf("  %s/%s (%d bytes of CBOR)\n", ns, item.ElementIdentifier, len(item.ElementValue))
				}
			}
		}
		mso, err := messages.DecodeMSO(doc.IssuerSigned.IssuerAuth.Payload)
		if err != nil {
			fmt.Println("  bad MSO:", err)
			continue
		}
		fmt.Println("  MSO valid until", mso.ValidityInfo.ValidUntil.Format("2006-01-02"))
		if doc.DeviceSigned != nil && doc.DeviceSigned.DeviceAuth.DeviceMac != nil {
			fmt.Println("  mdoc authentication by deviceMac")
		}
	}
	// Output:
	// version 1.0 status 0
	// document org.iso.18013.5.1.mDL
	//   org.iso.18013.5.1/family_name = "Doe"
	//   org.iso.18013.5.1/issue_date = "2019-10-20"
	//   org.iso.18013.5.1/expiry_date = "2024-10-20"
	//   org.iso.18013.5.1/document_number = "123456789"
	//   org.iso.18013.5.1/portrait (1045 bytes of CBOR)
	//   org.iso.18013.5.1/driving_privileges (153 bytes of CBOR)
	//   MSO valid until 2021-10-01
	//   mdoc authentication by deviceMac
}
