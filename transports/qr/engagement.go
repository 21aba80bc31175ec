package qr

import (
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/mdocgate/mdocgate/messages"
)

// WebsiteEngagementPrefix is the 18013-7 "website" form of a ReaderEngagement URI:
// "mdoc://" + base64url(ReaderEngagement).
const WebsiteEngagementPrefix = "mdoc://"

// Scheme tells which form an engagement text had.
type Scheme string

// Engagement text forms.
const (
	SchemeQR      Scheme = messages.EngagementURIPrefix // "mdoc:" + base64url (18013-5 QR, 23220-4 reverse QR)
	SchemeWebsite Scheme = WebsiteEngagementPrefix      // "mdoc://" + base64url (18013-7 website ReaderEngagement)
)

// DeviceEngagementQR returns the QR text for DeviceEngagementBytes (the untagged CBOR
// of the DeviceEngagement): "mdoc:" + base64url without padding. Its SessionTranscript
// Handover is messages.QRHandover().
func DeviceEngagementQR(deviceEngagementBytes []byte) string {
	return messages.EngagementURI(deviceEngagementBytes)
}

// ParseDeviceEngagementQR decodes the text of a holder's engagement QR code. It accepts
// what messages.ParseEngagementURI accepts (case-insensitive "mdoc:", padding, the
// standard base64 alphabet, surrounding white space) and refuses the "mdoc://" website
// form, which carries a ReaderEngagement. The engagement's key must decode as a
// COSE_Key. raw is DeviceEngagementBytes exactly as scanned, for the SessionTranscript.
func ParseDeviceEngagementQR(text string) (e *messages.Engagement, raw []byte, err error) {
	e, err = messages.ParseEngagementURI(text)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotMdocURI, err)
	}
	if _, err := e.Security.Key(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotMdocURI, err)
	}
	return e, e.Raw(), nil
}

// ReaderEngagementQR returns the QR text a reader shows for QR reverse engagement:
// "mdoc:" + base64url-no-pad of re.Bytes() (the received bytes for a decoded engagement,
// the encoding for a built one). The engagement is not altered: the caller sets Version
// "1.1", the EReaderKey, the retrieval methods the reader listens on and any OriginInfos
// (messages.NewEngagement leaves the version at "1.0"). The SessionTranscript Handover
// is ReaderEngagementHandover over the same bytes.
func ReaderEngagementQR(re *messages.Engagement) (string, error) {
	b, err := re.Bytes()
	if err != nil {
		return "", err
	}
	return messages.EngagementURI(b), nil
}

// ReaderEngagementWebsiteURI returns the 18013-7 website form of a ReaderEngagement:
// "mdoc://" + base64url-no-pad of re.Bytes().
func ReaderEngagementWebsiteURI(re *messages.Engagement) (string, error) {
	s, err := ReaderEngagementQR(re)
	if err != nil {
		return "", err
	}
	return WebsiteEngagementPrefix + s[len(messages.EngagementURIPrefix):], nil
}

// ParseReaderEngagementQR decodes the text of a reader's engagement QR code or website
// URI: "mdoc:" or "mdoc://" followed by base64url (both prefixes case-insensitive, with
// the tolerance of messages.ParseEngagementURI). The version is not checked (a
// ReaderEngagement should be "1.1"); the key must decode as a COSE_Key. raw is
// ReaderEngagementBytes exactly as scanned; the Handover is ReaderEngagementHandover(raw).
func ParseReaderEngagementQR(text string) (re *messages.Engagement, raw []byte, err error) {
	re, raw, _, err = ParseText(text)
	return re, raw, err
}

// ParseText decodes any engagement text ("mdoc:" or "mdoc://" + base64url) and reports
// its form. It cannot tell a DeviceEngagement from a ReaderEngagement: both share one
// layout, and the website form is only used for ReaderEngagements. Errors wrap
// ErrNotMdocURI.
func ParseText(text string) (e *messages.Engagement, raw []byte, scheme Scheme, err error) {
	if len(text) > messages.MaxEngagementURILength {
		return nil, nil, "", fmt.Errorf("%w: text longer than %d bytes", ErrNotMdocURI, messages.MaxEngagementURILength)
	}
	s := strings.TrimSpace(text)
	scheme = SchemeQR
	if len(s) >= len(WebsiteEngagementPrefix) && strings.EqualFold(s[:len(WebsiteEngagementPrefix)], WebsiteEngagementPrefix) {
		scheme = SchemeWebsite
		s = messages.EngagementURIPrefix + s[len(WebsiteEngagementPrefix):]
	}
	e, raw, err = ParseDeviceEngagementQR(s)
	if err != nil {
		return nil, nil, "", err
	}
	return e, raw, scheme, nil
}

// ReaderEngagementHandover returns the SessionTranscript Handover of QR reverse
// engagement: ReaderEngagementBytes, #6.24 over the ReaderEngagement bytes as shown
// (raw from ParseReaderEngagementQR, or re.Bytes() on the reader's side).
func ReaderEngagementHandover(readerEngagementBytes []byte) cbor.RawMessage {
	return messages.ReaderEngagementHandover(messages.NewEncodedCBOR(readerEngagementBytes))
}
