// Package qr renders and reads the QR codes of mdoc engagement: the "mdoc:" URI of a
// DeviceEngagement (18013-5 §8.2.2.3) that a holder shows, and the ReaderEngagement a
// reader shows for QR reverse engagement (23220-4; the 18013-7 website form "mdoc://" is
// accepted on input).
//
// Encoding uses github.com/skip2/go-qrcode, decoding github.com/makiuchi-d/gozxing.
// Decoding bounds its input (MaxImageBytes, MaxImageSide) and never panics.
package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // DecodePNG also reads JPEG photographs of a code
	"image/png"
	"io"
	"strings"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
)

// Limits on what DecodePNG reads.
const (
	// MaxImageBytes bounds the encoded image read from the reader.
	MaxImageBytes = 8 << 20
	// MaxImageSide bounds the width and the height of the image, checked from the image
	// header before the pixels are decoded. PNG also refuses to render larger.
	MaxImageSide = 4096
)

// QuietZone is the light border, in modules, around every rendering (ISO/IEC 18004
// requires 4).
const QuietZone = 4

// DefaultModulePixels is the module size PNG uses when given no image size.
const DefaultModulePixels = 8

// Errors returned by this package; wrapped with detail.
var (
	ErrTooLong    = errors.New("qr: text too long for a QR code")
	ErrImage      = errors.New("qr: unreadable image")
	ErrTooLarge   = errors.New("qr: image too large")
	ErrNoCode     = errors.New("qr: no readable QR code in the image")
	ErrNotMdocURI = errors.New("qr: not an mdoc engagement")
)

// Level is an error-correction level. The zero value is LevelM, the default.
type Level int

// Error-correction levels: the share of codewords that may be lost (about 7, 15, 25
// and 30 %).
const (
	LevelM Level = iota
	LevelL
	LevelQ
	LevelH
)

func (l Level) String() string {
	switch l {
	case LevelM:
		return "M"
	case LevelL:
		return "L"
	case LevelQ:
		return "Q"
	case LevelH:
		return "H"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

func (l Level) recovery() (qrcode.RecoveryLevel, error) {
	switch l {
	case LevelL:
		return qrcode.Low, nil
	case LevelM:
		return qrcode.Medium, nil
	case LevelQ:
		return qrcode.High, nil
	case LevelH:
		return qrcode.Highest, nil
	}
	return 0, fmt.Errorf("qr: unknown error-correction level %d", int(l))
}

// Code is an encoded QR symbol. It is immutable and safe for concurrent use.
type Code struct {
	text    string
	level   Level
	version int
	// modules[y][x] is true for a dark module; the quiet zone is not included.
	modules [][]bool
}

// Encode encodes text as a QR code at the given error-correction level, choosing the
// smallest version that holds it. The encoder picks the segment modes; the base64url
// text of an engagement URI is encoded in byte mode, apart from runs of digits or
// capitals long enough to be cheaper in numeric or alphanumeric mode (decoders return
// the same text either way). It fails with ErrTooLong past the capacity of version 40.
func Encode(text string, level Level) (*Code, error) {
	rl, err := level.recovery()
	if err != nil {
		return nil, err
	}
	q, err := qrcode.New(text, rl)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTooLong, err)
	}
	q.DisableBorder = true
	return &Code{text: text, level: level, version: q.VersionNumber, modules: q.Bitmap()}, nil
}

// Text returns the encoded text.
func (c *Code) Text() string { return c.text }

// Level returns the error-correction level.
func (c *Code) Level() Level { return c.level }

// Version returns the QR version (1..40).
func (c *Code) Version() int { return c.version }

// Size returns the number of modules on a side, without the quiet zone (17 + 4×version).
func (c *Code) Size() int { return len(c.modules) }

// Dark reports whether the module at column x, row y is dark. Coordinates outside the
// symbol (the quiet zone and beyond) are light.
func (c *Code) Dark(x, y int) bool {
	if y < 0 || y >= len(c.modules) || x < 0 || x >= len(c.modules[y]) {
		return false
	}
	return c.modules[y][x]
}

// Image renders the code black on white with a QuietZone border, modulePixels pixels per
// module (at least 1).
func (c *Code) Image(modulePixels int) *image.Paletted {
	modulePixels = max(modulePixels, 1)
	side := (c.Size() + 2*QuietZone) * modulePixels
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := 0; y < c.Size(); y++ {
		for x := 0; x < c.Size(); x++ {
			if !c.modules[y][x] {
				continue
			}
			x0, y0 := (x+QuietZone)*modulePixels, (y+QuietZone)*modulePixels
			for dy := 0; dy < modulePixels; dy++ {
				row := img.Pix[(y0+dy)*img.Stride+x0:]
				for dx := 0; dx < modulePixels; dx++ {
					row[dx] = 1
				}
			}
		}
	}
	return img
}

// PNG renders the code as a PNG image at most size pixels wide and high (and at least
// one pixel per module, so a size smaller than the symbol with its quiet zone is
// exceeded): modules are whole pixels, so the image is the largest multiple of the
// symbol's width that fits. size <= 0 means DefaultModulePixels per module. A size
// above MaxImageSide is refused, so that DecodePNG reads everything PNG writes.
func (c *Code) PNG(size int) ([]byte, error) {
	if size > MaxImageSide {
		return nil, fmt.Errorf("%w: %d pixels (limit %d)", ErrTooLarge, size, MaxImageSide)
	}
	modulePixels := DefaultModulePixels
	if size > 0 {
		modulePixels = size / (c.Size() + 2*QuietZone)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, c.Image(modulePixels)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PNG encodes text at LevelM and renders it as (*Code).PNG does.
func PNG(text string, size int) ([]byte, error) {
	c, err := Encode(text, LevelM)
	if err != nil {
		return nil, err
	}
	return c.PNG(size)
}

// Terminal renders the code for a terminal with plain Unicode (no escape sequences):
// each character cell holds two modules stacked vertically, drawn with '▀', '▄', '█'
// and ' ', and every line (including the last) ends in '\n'. The rendering has
// Size()+2×QuietZone columns and (Size()+2×QuietZone+1)/2 lines; the odd last module
// row is padded with quiet zone.
//
// lightOnDark selects the polarity. With lightOnDark true (for terminals that draw light
// text on a dark background, the usual default) the light modules and the quiet zone are
// drawn with block characters and the dark modules are left blank, so the code shows
// dark on light as a scanner expects. With false (for dark text on a light background)
// the dark modules are drawn. Either rendering on the other kind of terminal shows an
// inverted code, which only some scanners read.
func (c *Code) Terminal(lightOnDark bool) string {
	n := c.Size() + 2*QuietZone
	painted := func(x, y int) bool {
		return c.Dark(x-QuietZone, y-QuietZone) != lightOnDark
	}
	var b strings.Builder
	b.Grow((n + 1) / 2 * (3*n + 1))
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			top := painted(x, y)
			bottom := y+1 < n && painted(x, y+1) || y+1 >= n && lightOnDark
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Terminal encodes text at LevelM and renders it for a terminal with light text on a
// dark background (see (*Code).Terminal).
func Terminal(text string) (string, error) {
	c, err := Encode(text, LevelM)
	if err != nil {
		return "", err
	}
	return c.Terminal(true), nil
}

// DecodePNG reads one QR code from a PNG (or JPEG) image and returns its text. It reads
// at most MaxImageBytes, refuses images wider or higher than MaxImageSide before decoding
// their pixels, and tries the inverted image when the code is not found as is. Errors
// wrap ErrTooLarge, ErrImage or ErrNoCode.
func DecodePNG(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrImage, err)
	}
	if len(data) > MaxImageBytes {
		return "", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxImageBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", fmt.Errorf("%w: empty image", ErrImage)
	}
	if cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return "", fmt.Errorf("%w: %d×%d pixels (limit %d×%d)", ErrTooLarge, cfg.Width, cfg.Height, MaxImageSide, MaxImageSide)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrImage, err)
	}
	return DecodeImage(img)
}

// DecodeImage reads one QR code from an image and returns its text, trying the inverted
// image when the code is not found as is, then both as a pure (clean, upright) barcode. Images wider or higher than MaxImageSide are
// refused; the caller bounds the memory spent decoding the image itself (DecodePNG
// checks the header first). Errors wrap ErrTooLarge or ErrNoCode.
func DecodeImage(img image.Image) (text string, err error) {
	b := img.Bounds()
	if b.Dx() > MaxImageSide || b.Dy() > MaxImageSide {
		return "", fmt.Errorf("%w: %d×%d pixels (limit %d×%d)", ErrTooLarge, b.Dx(), b.Dy(), MaxImageSide, MaxImageSide)
	}
	if b.Empty() {
		return "", fmt.Errorf("%w: empty image", ErrNoCode)
	}
	defer func() {
		if r := recover(); r != nil { // gozxing is a port of Java code; never let it crash the caller
			text, err = "", fmt.Errorf("%w: decoder failure: %v", ErrNoCode, r)
		}
	}()
	src := gozxing.NewLuminanceSourceFromImage(img)
	var firstErr error
	// The detector locates the code by its finder patterns; in about 3 % of clean
	// renderings it takes data modules for one and misses (zbar reads them), so an image
	// it cannot read is tried once more as a pure barcode (upright, unrotated, on a
	// plain border: our own renderings and screenshots of them).
	for _, hint := range []gozxing.DecodeHintType{gozxing.DecodeHintType_TRY_HARDER, gozxing.DecodeHintType_PURE_BARCODE} {
		hints := map[gozxing.DecodeHintType]any{hint: true, gozxing.DecodeHintType_CHARACTER_SET: "UTF-8"}
		for _, s := range []gozxing.LuminanceSource{src, gozxing.NewInvertedLuminanceSource(src)} {
			bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(s))
			if err != nil {
				return "", fmt.Errorf("%w: %v", ErrNoCode, err)
			}
			res, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
			if err == nil {
				return res.GetText(), nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return "", fmt.Errorf("%w: %v", ErrNoCode, firstErr)
}
