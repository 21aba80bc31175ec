package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// runEngage shows an engagement QR code (--qr: qr.EngageOptions, the "mdoc:" URI on the
// first line and the terminal rendering of its code after it) or reads one from an
// image (--read: qr.ReadImageFile, printed as JSON).
func runEngage(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("engage", stderr)
	var o qr.EngageOptions
	show := fs.Bool("qr", false, "generate an engagement and show its QR code")
	read := fs.String("read", "", "read the QR code in a PNG or JPEG `file` and print the engagement as JSON")
	fs.StringVar(&o.PNGOut, "png", "", "with --qr: also write the QR code as a PNG `file`")
	fs.IntVar(&o.PNGSize, "size", 0, "with --png: image width in pixels (0: 8 pixels per module)")
	fs.StringVar(&o.Level, "level", "M", "with --qr: error-correction level L, M, Q or H")
	fs.StringVar(&o.Curve, "curve", "P-256", "with --qr: curve of the ephemeral key (P-256, P-384, P-521, X25519, X448, brainpool...)")
	bleUUID := fs.String("ble-uuid", "", "with --qr: BLE service UUID (32 hex digits, dashes allowed; default random)")
	bleMode := fs.String("ble-mode", "central", "with --qr: BLE mode offered: central, peripheral or both")
	fs.BoolVar(&o.Reverse, "reverse", false, "with --qr: make a ReaderEngagement (QR reverse engagement) instead")
	fs.StringVar(&o.URL, "url", "", "with --reverse: the HTTP retrieval method's URL (required)")
	fs.StringVar(&o.Origin, "origin", "", "with --reverse: add a website OriginInfo (delivery) with this domain")
	fs.StringVar(&o.KeyOut, "key-out", "", "with --qr: write the ephemeral private key to `file` (PKCS#8 PEM; COSE_Key CBOR for curves PKCS#8 lacks)")
	fs.StringVar(&o.Terminal, "terminal", "dark", "with --qr: terminal background the QR rendering is drawn for: dark or light")
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
		scanned, err := qr.ReadImageFile(*read)
		if err != nil {
			return fail(stderr, "engage", err)
		}
		return writeJSON(stdout, stderr, "engage", scanned)
	case !*show:
		fs.Usage()
		return exitUsage
	}

	err := o.Check()
	switch {
	case err != nil:
	case o.Reverse:
		err = misplaced("does not apply to --reverse (the reader offers HTTP)", "ble-uuid", "ble-mode")
	default:
		if err = misplaced("needs --reverse", "url", "origin"); err == nil {
			o.Method, err = ble.OfferMethod(*bleMode, *bleUUID)
		}
	}
	if err != nil {
		return fail(stderr, "engage", err)
	}
	shown, err := o.Show()
	if err != nil {
		return fail(stderr, "engage", err)
	}
	fmt.Fprintln(stdout, shown.Text)
	fmt.Fprint(stdout, shown.Code.Terminal(o.Terminal == "dark"))
	return exitOK
}
