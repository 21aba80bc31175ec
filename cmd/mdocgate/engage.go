package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// runEngage shows an engagement QR code (--qr) or reads one from an image (--read).
//
// With --qr it generates an ephemeral key and a DeviceEngagement offering BLE (mdoc
// central client mode with a random UUID unless told otherwise), or with --reverse a
// ReaderEngagement v1.1 offering the HTTP method at --url; it prints the "mdoc:" URI on
// the first line and the terminal rendering of its QR code after it.
//
// With --read it prints {"uri", "scheme", "kind", "engagement"} as JSON, the engagement
// being the messages.Describe tree of the bytes as scanned.
func runEngage(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("engage", stderr)
	show := fs.Bool("qr", false, "generate an engagement and show its QR code")
	read := fs.String("read", "", "read the QR code in a PNG or JPEG `file` and print the engagement as JSON")
	pngOut := fs.String("png", "", "with --qr: also write the QR code as a PNG `file`")
	size := fs.Int("size", 0, "with --png: image width in pixels (0: 8 pixels per module)")
	level := fs.String("level", "M", "with --qr: error-correction level L, M, Q or H")
	curve := fs.String("curve", "P-256", "with --qr: curve of the ephemeral key (P-256, P-384, P-521, X25519, X448, brainpool...)")
	bleUUID := fs.String("ble-uuid", "", "with --qr: BLE service UUID (32 hex digits, dashes allowed; default random)")
	bleMode := fs.String("ble-mode", "central", "with --qr: BLE mode offered: central, peripheral or both")
	reverse := fs.Bool("reverse", false, "with --qr: make a ReaderEngagement (QR reverse engagement) instead")
	httpURL := fs.String("url", "", "with --reverse: the HTTP retrieval method's URL (required)")
	origin := fs.String("origin", "", "with --reverse: add a website OriginInfo (delivery) with this domain")
	keyOut := fs.String("key-out", "", "with --qr: write the ephemeral private key to `file` (PKCS#8 PEM; COSE_Key CBOR for curves PKCS#8 lacks)")
	terminal := fs.String("terminal", "dark", "with --qr: terminal background the QR rendering is drawn for: dark or light")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mdocgate engage --qr [--png F] [--curve C] [--ble-uuid HEX | --ble-mode M] [--key-out F]")
		fmt.Fprintln(stderr, "       mdocgate engage --qr --reverse --url URL [--origin DOMAIN] [--png F] [--key-out F]")
		fmt.Fprintln(stderr, "       mdocgate engage --read F.png")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return fail(stderr, "engage", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *show && *read != "":
		return fail(stderr, "engage", errors.New("--qr and --read exclude each other"))
	case *read != "":
		for _, name := range []string{"png", "size", "level", "curve", "ble-uuid", "ble-mode", "reverse", "url", "origin", "key-out", "terminal"} {
			if set[name] {
				return fail(stderr, "engage", fmt.Errorf("--%s needs --qr", name))
			}
		}
		return engageRead(*read, stdout, stderr)
	case !*show:
		fs.Usage()
		return exitUsage
	}

	lvl, ok := map[string]qr.Level{"L": qr.LevelL, "M": qr.LevelM, "Q": qr.LevelQ, "H": qr.LevelH}[strings.ToUpper(*level)]
	if !ok {
		return fail(stderr, "engage", fmt.Errorf("--level %q: want L, M, Q or H", *level))
	}
	if *terminal != "dark" && *terminal != "light" {
		return fail(stderr, "engage", fmt.Errorf("--terminal %q: want dark or light", *terminal))
	}
	c, ok := messages.CurveByName(*curve)
	if !ok || !c.Agreement {
		return fail(stderr, "engage", fmt.Errorf("--curve %q: not a key agreement curve (want P-256, P-384, P-521, X25519, X448 or brainpoolP256r1..P512r1)", *curve))
	}
	var method messages.RetrievalMethod
	if *reverse {
		for _, name := range []string{"ble-uuid", "ble-mode"} {
			if set[name] {
				return fail(stderr, "engage", fmt.Errorf("--%s does not apply to --reverse (the reader offers HTTP)", name))
			}
		}
		u, err := url.Parse(*httpURL)
		if *httpURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail(stderr, "engage", fmt.Errorf("--reverse needs --url with an http or https URL, got %q", *httpURL))
		}
		method = messages.NewHTTPMethod(*httpURL)
	} else {
		for _, name := range []string{"url", "origin"} {
			if set[name] {
				return fail(stderr, "engage", fmt.Errorf("--%s needs --reverse", name))
			}
		}
		m, err := bleMethod(*bleUUID, *bleMode)
		if err != nil {
			return fail(stderr, "engage", err)
		}
		method = m
	}

	key, err := keys.Generate(c.ID, nil)
	if err != nil {
		return fail(stderr, "engage", err)
	}
	e, err := messages.NewEngagement(key.COSEKey(), method)
	if err != nil {
		return fail(stderr, "engage", err)
	}
	if *reverse {
		e.Version = "1.1"
		e.OriginInfos = []messages.OriginInfo{}
		if *origin != "" {
			e.OriginInfos = append(e.OriginInfos, messages.NewWebsiteOriginInfo(messages.OriginCatDelivery, *origin))
		}
	}
	raw, err := e.Bytes()
	if err != nil {
		return fail(stderr, "engage", err)
	}
	uri := qr.DeviceEngagementQR(raw) // the same "mdoc:" form for a ReaderEngagement
	code, err := qr.Encode(uri, lvl)
	if err != nil {
		return fail(stderr, "engage", err)
	}
	if *keyOut != "" {
		if err := writeEphemeralKey(*keyOut, key); err != nil {
			return fail(stderr, "engage", err)
		}
	}
	if *pngOut != "" {
		b, err := readablePNG(code, uri, *size)
		if err != nil {
			return fail(stderr, "engage", err)
		}
		if err := os.WriteFile(*pngOut, b, 0o644); err != nil {
			return fail(stderr, "engage", err)
		}
	}
	fmt.Fprintln(stdout, uri)
	fmt.Fprint(stdout, code.Terminal(*terminal == "dark"))
	return exitOK
}

// bleMethod builds the BLE retrieval method for --ble-uuid and --ble-mode.
func bleMethod(uuidText, mode string) (messages.RetrievalMethod, error) {
	uuid := make([]byte, 16)
	if uuidText != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(uuidText, "-", ""))
		if err != nil || len(b) != 16 {
			return messages.RetrievalMethod{}, fmt.Errorf("--ble-uuid %q: want 16 bytes as 32 hex digits", uuidText)
		}
		uuid = b
	} else {
		if _, err := rand.Read(uuid); err != nil {
			return messages.RetrievalMethod{}, err
		}
		uuid[6] = uuid[6]&0x0f | 0x40 // version 4
		uuid[8] = uuid[8]&0x3f | 0x80 // RFC 4122 variant
	}
	var o messages.BLEOptions
	switch mode {
	case "central":
		o.CentralClientMode, o.CentralClientUUID = true, uuid
	case "peripheral":
		o.PeripheralServerMode, o.PeripheralServerUUID = true, uuid
	case "both":
		o.CentralClientMode, o.CentralClientUUID = true, uuid
		o.PeripheralServerMode, o.PeripheralServerUUID = true, uuid
	default:
		return messages.RetrievalMethod{}, fmt.Errorf("--ble-mode %q: want central, peripheral or both", mode)
	}
	return messages.NewBLEMethod(o), nil
}

// writeEphemeralKey writes key as PKCS#8 PEM, or as a COSE_Key in CBOR (with d) for the
// curves crypto/x509 cannot write; keys.ParsePrivateKey reads both.
func writeEphemeralKey(path string, key *keys.PrivateKey) error {
	b, err := keys.MarshalPrivateKeyPEM(key)
	if errors.Is(err, keys.ErrUnsupportedCurve) {
		var enc messages.EncodedCBOR
		if enc, err = messages.EncodeToCBOR(key.COSEKeyWithPrivate()); err == nil {
			b = enc.Content()
		}
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// engageRead decodes the QR code in an image file and prints the engagement it carries.
func engageRead(path string, stdout, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		return fail(stderr, "engage", err)
	}
	text, err := qr.DecodePNG(f)
	f.Close()
	if err != nil {
		return fail(stderr, "engage", fmt.Errorf("%s: %w", path, err))
	}
	_, raw, scheme, err := qr.ParseText(text)
	if err != nil {
		return fail(stderr, "engage", fmt.Errorf("%s: %w", path, err))
	}
	kind, tree, err := messages.Describe(raw)
	if err != nil {
		return fail(stderr, "engage", fmt.Errorf("%s: %w", path, err))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"uri": text, "scheme": string(scheme), "kind": kind, "engagement": tree}); err != nil {
		return fail(stderr, "engage", err)
	}
	return exitOK
}

// readablePNG renders code and reads the image back before anyone has to scan it; if the
// decoder cannot read it, the text is encoded again at a higher error-correction level.
func readablePNG(code *qr.Code, text string, size int) ([]byte, error) {
	for _, lvl := range []qr.Level{code.Level(), qr.LevelQ, qr.LevelH} {
		c := code
		if lvl != code.Level() {
			var err error
			if c, err = qr.Encode(text, lvl); err != nil {
				return nil, err
			}
		}
		b, err := c.PNG(size)
		if err != nil {
			return nil, err
		}
		if got, err := qr.DecodePNG(bytes.NewReader(b)); err == nil && got == text {
			return b, nil
		}
	}
	return nil, errors.New("the QR image could not be read back at any error-correction level")
}
