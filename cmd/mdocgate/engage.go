package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/ble"
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
	// misplaced returns the first of names that was set, with why it does not apply
	misplaced := func(why string, names ...string) error {
		for _, name := range names {
			if set[name] {
				return fmt.Errorf("--%s %s", name, why)
			}
		}
		return nil
	}
	switch {
	case *show && *read != "":
		return fail(stderr, "engage", errors.New("--qr and --read exclude each other"))
	case *read != "":
		if err := misplaced("needs --qr", "png", "size", "level", "curve", "ble-uuid", "ble-mode", "reverse", "url", "origin", "key-out", "terminal"); err != nil {
			return fail(stderr, "engage", err)
		}
		return engageRead(*read, stdout, stderr)
	case !*show:
		fs.Usage()
		return exitUsage
	}

	opts := qr.ShowOptions{Reverse: *reverse, Origin: *origin}
	var err error
	if opts.Level, err = qr.ParseLevel(*level); err != nil {
		return fail(stderr, "engage", fmt.Errorf("--level: %w", err))
	}
	if *terminal != "dark" && *terminal != "light" {
		return fail(stderr, "engage", fmt.Errorf("--terminal %q: want dark or light", *terminal))
	}
	c, ok := messages.CurveByName(*curve)
	if !ok || !c.Agreement {
		return fail(stderr, "engage", fmt.Errorf("--curve %q: not a key agreement curve (want P-256, P-384, P-521, X25519, X448 or brainpoolP256r1..P512r1)", *curve))
	}
	opts.Curve = c.ID
	if *reverse {
		if err := misplaced("does not apply to --reverse (the reader offers HTTP)", "ble-uuid", "ble-mode"); err != nil {
			return fail(stderr, "engage", err)
		}
		u, err := url.Parse(*httpURL)
		if *httpURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail(stderr, "engage", fmt.Errorf("--reverse needs --url with an http or https URL, got %q", *httpURL))
		}
		opts.Method = messages.NewHTTPMethod(*httpURL)
	} else {
		if err := misplaced("needs --reverse", "url", "origin"); err != nil {
			return fail(stderr, "engage", err)
		}
		uuid := ble.NewUUID()
		if *bleUUID != "" {
			if uuid, err = ble.ParseUUID(*bleUUID); err != nil {
				return fail(stderr, "engage", fmt.Errorf("--ble-uuid: %w", err))
			}
		}
		o, err := ble.Offer(*bleMode, uuid)
		if err != nil {
			return fail(stderr, "engage", fmt.Errorf("--ble-mode: %w", err))
		}
		opts.Method = messages.NewBLEMethod(o)
	}

	shown, err := qr.Show(opts)
	if err != nil {
		return fail(stderr, "engage", err)
	}
	if *keyOut != "" {
		b, err := keys.MarshalPrivateKey(shown.Key)
		if err == nil {
			err = os.WriteFile(*keyOut, b, 0o600)
		}
		if err != nil {
			return fail(stderr, "engage", err)
		}
	}
	if *pngOut != "" {
		b, err := shown.Code.ReadablePNG(*size)
		if err == nil {
			err = os.WriteFile(*pngOut, b, 0o644)
		}
		if err != nil {
			return fail(stderr, "engage", err)
		}
	}
	fmt.Fprintln(stdout, shown.Text)
	fmt.Fprint(stdout, shown.Code.Terminal(*terminal == "dark"))
	return exitOK
}

// engageRead decodes the QR code in an image file and prints the engagement it carries.
func engageRead(path string, stdout, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		return fail(stderr, "engage", err)
	}
	text, raw, scheme, err := qr.ReadImage(f)
	f.Close()
	var kind string
	var tree any
	if err == nil {
		kind, tree, err = messages.Describe(raw)
	}
	if err != nil {
		return fail(stderr, "engage", fmt.Errorf("%s: %w", path, err))
	}
	return writeJSON(stdout, stderr, "engage", map[string]any{"uri": text, "scheme": string(scheme), "kind": kind, "engagement": tree})
}
