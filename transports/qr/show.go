package qr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// ParseLevel reads an error-correction level by its letter: L, M, Q or H, in either case.
func ParseLevel(s string) (Level, error) {
	for _, l := range []Level{LevelL, LevelM, LevelQ, LevelH} {
		if strings.EqualFold(s, l.String()) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("qr: error-correction level %q: want L, M, Q or H", s)
}

// ShowOptions describe an engagement to show as a QR code.
type ShowOptions struct {
	// Curve is the key agreement curve of the ephemeral key; default P-256.
	Curve int64
	// Method is the retrieval method offered: BLE in a DeviceEngagement, HTTP in a
	// ReaderEngagement.
	Method messages.RetrievalMethod
	// Reverse makes a ReaderEngagement for QR reverse engagement: version "1.1" with
	// OriginInfos, empty unless Origin is set.
	Reverse bool
	// Origin, with Reverse, adds a website OriginInfo (delivery) for this domain.
	Origin string
	// Level is the code's error-correction level.
	Level Level
}

// Shown is an engagement made to be shown as a QR code (mdocgate engage --qr).
type Shown struct {
	Engagement *messages.Engagement
	// Key is the ephemeral private key (EDeviceKey or EReaderKey) whose public part the
	// engagement carries.
	Key *keys.PrivateKey
	// Text is the code's text: "mdoc:" + base64url of the engagement's bytes.
	Text string
	Code *Code
}

// Show makes an engagement with a fresh ephemeral key and encodes it as a QR code.
func Show(o ShowOptions) (*Shown, error) {
	if o.Curve == 0 {
		o.Curve = messages.CurveP256
	}
	if info, ok := messages.LookupCurve(o.Curve); !ok || !info.Agreement {
		return nil, fmt.Errorf("qr: curve %d is not a key agreement curve", o.Curve)
	}
	if o.Origin != "" && !o.Reverse {
		return nil, errors.New("qr: an OriginInfo belongs in a ReaderEngagement (Reverse)")
	}
	key, err := keys.Generate(o.Curve, nil)
	if err != nil {
		return nil, err
	}
	e, err := messages.NewEngagement(key.COSEKey(), o.Method)
	if err != nil {
		return nil, err
	}
	if o.Reverse {
		e.Version = "1.1"
		e.OriginInfos = []messages.OriginInfo{}
		if o.Origin != "" {
			e.OriginInfos = append(e.OriginInfos, messages.NewWebsiteOriginInfo(messages.OriginCatDelivery, o.Origin))
		}
	}
	raw, err := e.Bytes()
	if err != nil {
		return nil, err
	}
	text := DeviceEngagementQR(raw) // the same "mdoc:" form for a ReaderEngagement
	code, err := Encode(text, o.Level)
	if err != nil {
		return nil, err
	}
	return &Shown{Engagement: e, Key: key, Text: text, Code: code}, nil
}

// ReadablePNG renders the code as PNG does and reads the image back before anyone has
// to scan it; when DecodePNG cannot read it, the text is encoded again at a higher
// error-correction level (Q, then H).
func (c *Code) ReadablePNG(size int) ([]byte, error) {
	for _, lvl := range []Level{c.level, LevelQ, LevelH} {
		code := c
		if lvl != c.level {
			var err error
			if code, err = Encode(c.text, lvl); err != nil {
				return nil, err
			}
		}
		b, err := code.PNG(size)
		if err != nil {
			return nil, err
		}
		if got, err := DecodePNG(bytes.NewReader(b)); err == nil && got == c.text {
			return b, nil
		}
	}
	return nil, errors.New("qr: the QR image could not be read back at any error-correction level")
}

// ReadImage reads the engagement in the QR code of a PNG or JPEG image: DecodePNG, then
// ParseText. It returns the text as scanned, the engagement's bytes as scanned and the
// text's form.
func ReadImage(r io.Reader) (text string, raw []byte, scheme Scheme, err error) {
	if text, err = DecodePNG(r); err != nil {
		return "", nil, "", err
	}
	if _, raw, scheme, err = ParseText(text); err != nil {
		return "", nil, "", err
	}
	return text, raw, scheme, nil
}
