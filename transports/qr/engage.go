package qr

import (
	"fmt"
	"net/url"
	"os"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// EngageOptions describe an engagement to show, its settings named as on the command
// line (`mdocgate engage --qr`); errors name them as that command's flags do.
type EngageOptions struct {
	// Level is the error-correction level (L, M, Q or H), Terminal the background the
	// terminal rendering is drawn for (dark or light), Curve the key agreement curve of
	// the ephemeral key by name (P-256, X25519, brainpoolP256r1...).
	Level, Terminal, Curve string
	// Reverse makes a ReaderEngagement (QR reverse engagement) offering HTTP at URL,
	// with a website OriginInfo (delivery) for the domain Origin when set. Otherwise the
	// DeviceEngagement offers Method (BLE: ble.OfferMethod).
	Reverse     bool
	URL, Origin string
	Method      messages.RetrievalMethod
	// KeyOut, when set, is a file to write the ephemeral private key to (PKCS#8 PEM;
	// COSE_Key CBOR for curves PKCS#8 lacks); PNGOut a file to write the code to as a
	// PNG image PNGSize pixels wide (0: 8 pixels per module), read back before it is
	// written (ReadablePNG).
	KeyOut, PNGOut string
	PNGSize        int
}

// Check checks the level, the terminal and the curve.
func (o EngageOptions) Check() error {
	_, err := o.showOptions()
	return err
}

// showOptions are the ShowOptions of the level, the curve, Reverse and Origin.
func (o EngageOptions) showOptions() (ShowOptions, error) {
	so := ShowOptions{Reverse: o.Reverse, Origin: o.Origin}
	var err error
	if so.Level, err = ParseLevel(o.Level); err != nil {
		return so, fmt.Errorf("--level: %w", err)
	}
	if o.Terminal != "dark" && o.Terminal != "light" {
		return so, fmt.Errorf("--terminal %q: want dark or light", o.Terminal)
	}
	c, ok := messages.CurveByName(o.Curve)
	if !ok || !c.Agreement {
		return so, fmt.Errorf("--curve %q: not a key agreement curve (want P-256, P-384, P-521, X25519, X448 or brainpoolP256r1..P512r1)", o.Curve)
	}
	so.Curve = c.ID
	return so, nil
}

// Show makes the engagement with a fresh ephemeral key (Show) and writes KeyOut and
// PNGOut.
func (o EngageOptions) Show() (*Shown, error) {
	so, err := o.showOptions()
	if err != nil {
		return nil, err
	}
	so.Method = o.Method
	if o.Reverse {
		u, err := url.Parse(o.URL)
		if o.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--reverse needs --url with an http or https URL, got %q", o.URL)
		}
		so.Method = messages.NewHTTPMethod(o.URL)
	}
	shown, err := Show(so)
	if err != nil {
		return nil, err
	}
	if o.KeyOut != "" {
		b, err := keys.MarshalPrivateKey(shown.Key)
		if err == nil {
			err = os.WriteFile(o.KeyOut, b, 0o600)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.PNGOut != "" {
		b, err := shown.Code.ReadablePNG(o.PNGSize)
		if err == nil {
			err = os.WriteFile(o.PNGOut, b, 0o644)
		}
		if err != nil {
			return nil, err
		}
	}
	return shown, nil
}

// ImageEngagement is the engagement in a QR code image (`mdocgate engage --read`), its fields
// in the order that command prints them.
type ImageEngagement struct {
	// Engagement is the messages.Describe tree of the engagement's bytes as scanned, Kind
	// what Describe took them for.
	Engagement any    `json:"engagement"`
	Kind       string `json:"kind"`
	// Scheme is the text's form, URI the text as scanned.
	Scheme Scheme `json:"scheme"`
	URI    string `json:"uri"`
}

// ReadImageFile reads the engagement in the QR code of a PNG or JPEG file (ReadImage)
// and describes it.
func ReadImageFile(path string) (*ImageEngagement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	text, raw, scheme, err := ReadImage(f)
	f.Close()
	var s *ImageEngagement
	if err == nil {
		s = &ImageEngagement{URI: text, Scheme: scheme}
		s.Kind, s.Engagement, err = messages.Describe(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
