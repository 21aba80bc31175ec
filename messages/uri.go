package messages

import (
	"encoding/base64"
	"errors"
	"strings"
)

// EngagementURIPrefix is the scheme prefix of a QR engagement ("mdoc:" + base64url).
const EngagementURIPrefix = "mdoc:"

// MaxEngagementURILength bounds the text ParseEngagementURI accepts.
const MaxEngagementURILength = 16 << 10

// EngagementURI returns the QR engagement text for DeviceEngagementBytes:
// "mdoc:" + base64url without padding (18013-5 §8.2.2.3).
func EngagementURI(deviceEngagementBytes []byte) string {
	return EngagementURIPrefix + base64.RawURLEncoding.EncodeToString(deviceEngagementBytes)
}

// ParseEngagementURI decodes an "mdoc:" engagement URI into the engagement it carries.
// The prefix is matched case-insensitively; padding and the standard base64 alphabet are
// tolerated on input, as is surrounding white space. The engagement keeps the decoded
// bytes (Raw) for the SessionTranscript.
func ParseEngagementURI(s string) (*Engagement, error) {
	if len(s) > MaxEngagementURILength {
		return nil, &DecodeError{"EngagementURI", ErrTooLarge}
	}
	s = strings.TrimSpace(s)
	if len(s) < len(EngagementURIPrefix) || !strings.EqualFold(s[:len(EngagementURIPrefix)], EngagementURIPrefix) {
		return nil, &DecodeError{"EngagementURI", errors.New(`missing "mdoc:" prefix`)}
	}
	payload := strings.TrimRight(s[len(EngagementURIPrefix):], "=")
	if strings.HasPrefix(payload, "//") {
		return nil, &DecodeError{"EngagementURI", errors.New(`"mdoc://" is a website reader engagement, not a QR device engagement`)}
	}
	if payload == "" {
		return nil, &DecodeError{"EngagementURI", errors.New("empty engagement")}
	}
	// Map the standard alphabet onto the URL-safe one; the two only differ in 62 and 63.
	payload = strings.NewReplacer("+", "-", "/", "_").Replace(payload)
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, &DecodeError{"EngagementURI", err}
	}
	return DecodeEngagement(b)
}
