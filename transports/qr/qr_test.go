package qr

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

func TestAnnexDPNGRoundTrip(t *testing.T) {
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	for _, size := range []int{0, 256, 1000} {
		pngBytes, err := PNG(uri, size)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(pngBytes))
		if err != nil {
			t.Fatal(err)
		}
		if size > 0 && (cfg.Width > size || cfg.Height != cfg.Width) {
			t.Errorf("size %d: image is %d×%d", size, cfg.Width, cfg.Height)
		}
		got, err := DecodePNG(bytes.NewReader(pngBytes))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got != uri {
			t.Fatalf("size %d: decoded %q, want %q", size, got, uri)
		}
		e, raw, err := ParseDeviceEngagementQR(got)
		if err != nil {
			t.Fatal(err)
		}
		if want := testvectors.AnnexD(t, "device_engagement_qr"); !bytes.Equal(raw, want) {
			t.Fatalf("engagement bytes %x, want %x", raw, want)
		}
		if e.Version != "1.0" || len(e.DeviceRetrievalMethods) != 1 {
			t.Fatalf("engagement %+v", e)
		}
	}
	if DeviceEngagementQR(testvectors.AnnexD(t, "device_engagement_qr")) != uri {
		t.Fatal("DeviceEngagementQR does not reproduce the Annex D URI")
	}
}

func TestLevelsAndJPEG(t *testing.T) {
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	prev := 0
	for _, l := range []Level{LevelL, LevelM, LevelQ, LevelH} {
		c, err := Encode(uri, l)
		if err != nil {
			t.Fatal(err)
		}
		if c.Level() != l || c.Text() != uri || c.Size() != 17+4*c.Version() {
			t.Fatalf("%v: level %v version %d size %d", l, c.Level(), c.Version(), c.Size())
		}
		if c.Version() < prev {
			t.Errorf("%v: version %d below the lower level's %d", l, c.Version(), prev)
		}
		prev = c.Version()
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, c.Image(6), &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		got, err := DecodePNG(&buf)
		if err != nil || got != uri {
			t.Fatalf("%v JPEG: %q, %v", l, got, err)
		}
	}
	if _, err := Encode(uri, Level(9)); err == nil {
		t.Fatal("unknown level accepted")
	}
	if _, err := Encode(strings.Repeat("x", 3000), LevelM); !errors.Is(err, ErrTooLong) {
		t.Fatalf("oversized text: %v", err)
	}
	if _, err := PNG(uri, MaxImageSide+1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized PNG: %v", err)
	}
}

// TestEncoderTexts checks the encoder against the decoder on texts that exercise every
// segment mode the encoder may pick.
func TestEncoderTexts(t *testing.T) {
	texts := []string{
		"mdoc:0123456789012345678901234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ-_abc",
		"MDOC:ABCDEFGHIJKLMNOP0123456789",
		"mdoc:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xff, 0x00, 0x7e}, 300)),
		"https://example.org/engage?x=1",
	}
	for _, text := range texts {
		c, err := Encode(text, LevelM)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeImage(c.Image(3))
		if err != nil || got != text {
			t.Fatalf("%q: decoded %q, %v", text, got, err)
		}
	}
}

// terminalImage turns a Terminal rendering back into pixels, a painted half cell
// becoming black when paintedDark, white otherwise, with the background the other colour.
func terminalImage(t *testing.T, s string, paintedDark bool) image.Image {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	const px = 4
	w := utf8.RuneCountInString(lines[0])
	img := image.NewGray(image.Rect(0, 0, (w+8)*px, (2*len(lines)+8)*px))
	paint, bg := color.Gray{0}, color.Gray{255}
	if !paintedDark {
		paint, bg = bg, paint
	}
	for i := range img.Pix {
		img.Pix[i] = bg.Y
	}
	for row, line := range lines {
		for col, r := range []rune(line) {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for half, on := range []bool{top, bottom} {
				if !on {
					continue
				}
				for dy := 0; dy < px; dy++ {
					for dx := 0; dx < px; dx++ {
						img.SetGray((col+4)*px+dx, ((2*row+half)+4)*px+dy, paint)
					}
				}
			}
		}
	}
	return img
}

func TestTerminal(t *testing.T) {
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	c, err := Encode(uri, LevelM)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Size() + 2*QuietZone
	s, err := Terminal(uri)
	if err != nil {
		t.Fatal(err)
	}
	if s != c.Terminal(true) {
		t.Fatal("Terminal differs from (*Code).Terminal(true)")
	}
	for _, lightOnDark := range []bool{true, false} {
		s := c.Terminal(lightOnDark)
		if !strings.HasSuffix(s, "\n") {
			t.Fatal("no final newline")
		}
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if len(lines) != (n+1)/2 {
			t.Fatalf("%d lines, want %d", len(lines), (n+1)/2)
		}
		quiet := " "
		if lightOnDark {
			quiet = "█"
		}
		for i, line := range lines {
			if utf8.RuneCountInString(line) != n {
				t.Fatalf("line %d has %d cells, want %d", i, utf8.RuneCountInString(line), n)
			}
			if strings.Trim(line, "█▀▄ ") != "" {
				t.Fatalf("line %d has other characters: %q", i, line)
			}
			r := []rune(line)
			// The quiet zone is 4 columns on each side and 2 full lines at the top...
			for _, x := range []int{0, 1, 2, 3, n - 4, n - 3, n - 2, n - 1} {
				if string(r[x]) != quiet {
					t.Fatalf("line %d column %d is %q, not quiet zone", i, x, r[x])
				}
			}
			if i < QuietZone/2 && line != strings.Repeat(quiet, n) {
				t.Fatalf("line %d is not quiet zone: %q", i, line)
			}
		}
		// ... and at the bottom, 4 module rows and the padding row after an odd count:
		// the last two lines, the first of them with the symbol's last row on top.
		if last := lines[len(lines)-1]; last != strings.Repeat(quiet, n) {
			t.Fatalf("last line is not quiet zone: %q", last)
		}
		if last := lines[len(lines)-2]; last != strings.Repeat(quiet, n) {
			t.Fatalf("second last line is not quiet zone: %q", last)
		}
		// The rendering scans: painted cells are light on a dark terminal.
		got, err := DecodeImage(terminalImage(t, s, !lightOnDark))
		if err != nil || got != uri {
			t.Fatalf("lightOnDark=%v: rendering decodes to %q, %v", lightOnDark, got, err)
		}
	}
}

func newReaderEngagement(t testing.TB) *messages.Engagement {
	t.Helper()
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	re, err := messages.NewEngagement(k.COSEKey(), messages.NewHTTPMethod("https://reader.example/mdoc/session/7"))
	if err != nil {
		t.Fatal(err)
	}
	re.Version = "1.1"
	re.OriginInfos = []messages.OriginInfo{messages.NewWebsiteOriginInfo(messages.OriginCatDelivery, "https://reader.example")}
	return re
}

func TestReaderEngagementRoundTrip(t *testing.T) {
	re := newReaderEngagement(t)
	want, err := re.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	text, err := ReaderEngagementQR(re)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "mdoc:") || strings.HasPrefix(text, "mdoc://") {
		t.Fatalf("QR text %q", text)
	}
	pngBytes, err := PNG(text, 0)
	if err != nil {
		t.Fatal(err)
	}
	scanned, err := DecodePNG(bytes.NewReader(pngBytes))
	if err != nil || scanned != text {
		t.Fatalf("scanned %q, %v", scanned, err)
	}
	got, raw, err := ParseReaderEngagementQR(scanned)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Fatalf("bytes %x, want %x", raw, want)
	}
	if got.Version != "1.1" || len(got.OriginInfos) != 1 {
		t.Fatalf("engagement %+v", got)
	}
	if d, ok := got.OriginInfos[0].Domain(); !ok || d != "https://reader.example" {
		t.Fatalf("origin %q", d)
	}
	h, err := got.DeviceRetrievalMethods[0].HTTP()
	if err != nil || h.URI != "https://reader.example/mdoc/session/7" {
		t.Fatalf("HTTP method %+v, %v", h, err)
	}
	if _, err := got.Security.Key(); err != nil || !bytes.Equal(got.Security.KeyBytes.Raw(), re.Security.KeyBytes.Raw()) {
		t.Fatalf("EReaderKey differs: %v", err)
	}

	// The handover is tag 24 over the bytes as shown.
	handover := ReaderEngagementHandover(raw)
	head := []byte{0xd8, 0x18, 0x58, byte(len(want))}
	if len(want) >= 256 {
		head = []byte{0xd8, 0x18, 0x59, byte(len(want) >> 8), byte(len(want))}
	}
	if wantHandover := append(head, want...); !bytes.Equal(handover, wantHandover) {
		t.Fatalf("handover %x, want %x", []byte(handover), wantHandover)
	}

	// The website form and liberal spellings parse to the same bytes.
	web, err := ReaderEngagementWebsiteURI(re)
	if err != nil || !strings.HasPrefix(web, "mdoc://") {
		t.Fatalf("website URI %q, %v", web, err)
	}
	b64 := strings.TrimPrefix(text, "mdoc:")
	padded := base64.URLEncoding.EncodeToString(want)
	for _, s := range []string{web, "MDOC://" + b64, " mdoc:" + b64 + "\n", "mdoc://" + padded, "Mdoc:" + base64.StdEncoding.EncodeToString(want)} {
		_, raw, scheme, err := ParseText(s)
		if err != nil || !bytes.Equal(raw, want) {
			t.Fatalf("%q: %x, %v", s, raw, err)
		}
		if wantScheme := SchemeQR; strings.Contains(strings.ToLower(s), "://") != (scheme == SchemeWebsite) {
			t.Fatalf("%q: scheme %q (QR is %q)", s, scheme, wantScheme)
		}
	}
	if _, _, err := ParseDeviceEngagementQR(web); err == nil {
		t.Fatal("ParseDeviceEngagementQR accepted the website form")
	}
}

// crcChunk builds one PNG chunk.
func crcChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

func TestHostileImages(t *testing.T) {
	// A PNG header claiming 100000×100000 pixels, with no pixel data.
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit greyscale
	huge := append([]byte("\x89PNG\r\n\x1a\n"), crcChunk("IHDR", ihdr)...)
	huge = append(huge, crcChunk("IDAT", []byte{0x78, 0x9c})...)

	blank := image.NewGray(image.Rect(0, 0, 300, 300))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	var blankPNG bytes.Buffer
	png.Encode(&blankPNG, blank)

	noise := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range noise.Pix {
		noise.Pix[i] = byte(i * 7919 % 251)
	}
	var noisePNG bytes.Buffer
	png.Encode(&noisePNG, noise)

	validPNG, err := PNG(testvectors.AnnexDText(t, "device_engagement_qr_uri.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrImage},
		{"not an image", []byte("mdoc:owBjMS4w"), ErrImage},
		{"truncated PNG", validPNG[:len(validPNG)/2], ErrImage},
		{"huge dimensions", huge, ErrTooLarge},
		{"over 8 MB", bytes.Repeat([]byte{0}, MaxImageBytes+1), ErrTooLarge},
		{"blank PNG", blankPNG.Bytes(), ErrNoCode},
		{"noise PNG", noisePNG.Bytes(), ErrNoCode},
	}
	for _, c := range cases {
		text, err := DecodePNG(bytes.NewReader(c.data))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %q, %v; want %v", c.name, text, err, c.want)
		}
	}

	// A readable QR code whose text is no engagement.
	for _, text := range []string{"https://example.org/", "mdoc:", "mdoc:!!!", "mdoc:" + base64.RawURLEncoding.EncodeToString([]byte{0xa0}), "mdoc-openid4vp://?request_uri=x"} {
		pngBytes, err := PNG(text, 0)
		if err != nil {
			t.Fatal(err)
		}
		scanned, err := DecodePNG(bytes.NewReader(pngBytes))
		if err != nil || scanned != text {
			t.Fatalf("%q: scanned %q, %v", text, scanned, err)
		}
		if _, _, err := ParseDeviceEngagementQR(scanned); !errors.Is(err, ErrNotMdocURI) {
			t.Errorf("%q: device engagement error %v", text, err)
		}
		if _, _, err := ParseReaderEngagementQR(scanned); !errors.Is(err, ErrNotMdocURI) {
			t.Errorf("%q: reader engagement error %v", text, err)
		}
	}
	if _, _, _, err := ParseText("mdoc:" + strings.Repeat("A", messages.MaxEngagementURILength)); !errors.Is(err, ErrNotMdocURI) {
		t.Errorf("over-long text: %v", err)
	}
	if _, err := DecodeImage(image.NewGray(image.Rect(0, 0, 0, 0))); !errors.Is(err, ErrNoCode) {
		t.Errorf("empty image: %v", err)
	}
}

func FuzzParseQRText(f *testing.F) {
	f.Add(testvectors.AnnexDText(f, "device_engagement_qr_uri.txt"))
	f.Add("mdoc://" + strings.TrimPrefix(testvectors.AnnexDText(f, "device_engagement_qr_uri.txt"), "mdoc:"))
	f.Add(" MDOC:" + base64.StdEncoding.EncodeToString(testvectors.AnnexD(f, "device_engagement_qr")))
	f.Add("mdoc:")
	f.Add("mdoc://")
	f.Fuzz(func(t *testing.T, text string) {
		e, raw, scheme, err := ParseText(text)
		if err != nil {
			if !errors.Is(err, ErrNotMdocURI) {
				t.Fatalf("error %v does not wrap ErrNotMdocURI", err)
			}
			return
		}
		if scheme != SchemeQR && scheme != SchemeWebsite {
			t.Fatalf("scheme %q", scheme)
		}
		// What parses re-encodes to a canonical text that parses to the same bytes.
		canon := DeviceEngagementQR(raw)
		e2, raw2, err := ParseDeviceEngagementQR(canon)
		if err != nil || !bytes.Equal(raw, raw2) || e2.Version != e.Version {
			t.Fatalf("canonical %q: %x, %v", canon, raw2, err)
		}
		if _, _, err := ParseReaderEngagementQR(text); err != nil {
			t.Fatalf("ParseReaderEngagementQR refused what ParseText accepted: %v", err)
		}
		if scheme == SchemeQR {
			if _, _, err := ParseDeviceEngagementQR(text); err != nil {
				t.Fatalf("ParseDeviceEngagementQR refused an mdoc: text ParseText accepted: %v", err)
			}
		}
	})
}

func FuzzDecodePNG(f *testing.F) {
	small, err := Encode("mdoc:owBjMS4w", LevelL)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, small.Image(1)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := DecodePNG(bytes.NewReader(data))
		if err != nil && text != "" {
			t.Fatalf("text %q with error %v", text, err)
		}
		if err != nil && !errors.Is(err, ErrImage) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNoCode) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// Texts whose renderings the detector alone misreads (it takes data modules for a finder
// pattern), though they are valid codes (zbarimg reads all three): DecodePNG must read
// them, as a pure barcode.
func TestDecodeWhatTheDetectorMisses(t *testing.T) {
	for _, text := range []string{
		"mdoc:7UivCcYDAc9k66AHc5-r1Vs0eekZAhnh1IsrZMI4W0_FYuuBFg1qNUap7nPIgcvx3zag5sKFrluy9dB8GzzrG5iQckp8pcamFIpmbHvMkJxqEQXPsFarOkMuAq7YGWVRQxrtAkI-E6k9k1ewIw",
		"mdoc:Ig57L2HwHdXych3FUEcHTfkR0sFvx2S_wlYr90PNeHZ4GkIvOLrOnx94JvBO4YyYz8lIN_fQmd3wmxFgafotKc21kXltttImO0JQccI0mhc2foktfkLegWDgMZZBWoIxSw80uF04Pf1cXBOUZyodnJ3cUO_Wbw",
		"mdoc:y2lYLp-n442w3E5yNWvgFY5twVxqyKLLFVfKZP0UwW-AlHNA9xj8BnoVMi61924Hi8zylKJuDDCDXsYnURDtNELjP_W45ZMmDJMaGCfj34ZwtvDRfHcUa-9C2AHuz2QS2Cl2NMUkTsDNWEmG5njIqwSIbjUNOpQWXkDaaE0rtMUKaim5LdkqIGegKdCNuDQIv580N_k",
	} {
		img, err := PNG(text, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodePNG(bytes.NewReader(img)); err != nil || got != text {
			t.Errorf("%.30s…: %q, %v", text, got, err)
		}
	}
}
