package request

import (
	"strings"

	"github.com/mdocgate/mdocgate/messages"
)

// Allowances of MaxResponseSize.
const (
	// documentAllowance covers what every document carries besides its elements: the
	// MSO with a digest of every element the credential holds, the issuer's
	// certificate chain, the signatures and the device-signed part.
	documentAllowance = 32 << 10
	// elementAllowance covers one ordinary element: its IssuerSignedItem with salt,
	// digest id and value.
	elementAllowance = 1 << 10
	// imageAllowance covers an image, a template or the driving privileges (a JPEG
	// portrait is typically 10-50 KB).
	imageAllowance = 128 << 10
	// envelopeAllowance covers the DeviceResponse's own fields and SessionData's.
	envelopeAllowance = 4 << 10
)

// largeElements are the elements given imageAllowance (and those whose identifier
// starts with biometric_template).
var largeElements = map[string]bool{"portrait": true, "enrolment_portrait_image": true, "signature_usual_mark": true,
	"driving_privileges": true}

// MaxResponseSize is the largest session message a holder answering docs can need: the
// envelope, and for each requested document its allowance and every requested element
// at its own (an mDL with its portrait and ten other elements: 178,176 bytes). A reader
// refuses anything larger before decrypting it; the decoders' limit,
// messages.MaxMessageSize (4 MiB), is far above what any request needs.
func MaxResponseSize(docs []Doc) int {
	n := envelopeAllowance
	for _, d := range docs {
		n += documentAllowance
		for _, ns := range d.NameSpaces {
			for _, el := range ns.Elements {
				if largeElements[el] || strings.HasPrefix(el, "biometric_template") {
					n += imageAllowance
				} else {
					n += elementAllowance
				}
			}
		}
	}
	return min(n, messages.MaxMessageSize)
}
