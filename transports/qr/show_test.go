package qr

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]Level{"L": LevelL, "m": LevelM, "Q": LevelQ, "h": LevelH} {
		if got, err := ParseLevel(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Z", "MM"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// A shown DeviceEngagement carries its key's public part and reads back from its PNG
// as the very bytes shown.
func TestShowDeviceEngagement(t *testing.T) {
	uuid := bytes.Repeat([]byte{7}, 16)
	s, err := Show(ShowOptions{Method: messages.NewBLEMethod(messages.BLEOptions{CentralClientMode: true, CentralClientUUID: uuid}),
		Level: LevelL})
	if err != nil {
		t.Fatal(err)
	}
	e, raw, err := ParseDeviceEngagementQR(s.Text)
	if err != nil || e.Version != "1.0" || s.Code.Level() != LevelL || s.Code.Text() != s.Text {
		t.Fatalf("%+v %v", e, err)
	}
	if pub, err := e.Security.Key(); err != nil || !pub.Equal(s.Key.COSEKey()) || pub.Crv != messages.CurveP256 {
		t.Fatalf("engagement key %+v (%v) is not the shown key", pub, err)
	}
	png, err := s.Code.ReadablePNG(0)
	if err != nil {
		t.Fatal(err)
	}
	text, rawRead, scheme, err := ReadImage(bytes.NewReader(png))
	if err != nil || text != s.Text || scheme != SchemeQR || !bytes.Equal(rawRead, raw) {
		t.Fatalf("read back %q %v %v", text, scheme, err)
	}
}

func TestShowReaderEngagement(t *testing.T) {
	for _, origin := range []string{"", "reader.example"} {
		s, err := Show(ShowOptions{Curve: messages.CurveP384, Method: messages.NewHTTPMethod("https://reader.example/mdoc"),
			Reverse: true, Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		re, _, err := ParseReaderEngagementQR(s.Text)
		if err != nil || re.Version != "1.1" || re.OriginInfos == nil || (len(re.OriginInfos) == 1) != (origin != "") {
			t.Fatalf("origin %q: %+v %v", origin, re, err)
		}
		if k, err := re.Security.Key(); err != nil || k.Crv != messages.CurveP384 {
			t.Fatalf("EReaderKey %+v %v", k, err)
		}
	}
}

func TestShowRefuses(t *testing.T) {
	m := messages.NewHTTPMethod("https://reader.example/mdoc")
	for name, o := range map[string]ShowOptions{
		"signing curve":          {Curve: messages.CurveEd25519, Method: m, Reverse: true},
		"unknown curve":          {Curve: 999, Method: m, Reverse: true},
		"origin without reverse": {Method: m, Origin: "reader.example"},
		"unknown level":          {Method: m, Reverse: true, Level: Level(9)},
	} {
		if _, err := Show(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReadImageRefuses(t *testing.T) {
	b, err := PNG("https://example.org/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ReadImage(bytes.NewReader(b)); !errors.Is(err, ErrNotMdocURI) {
		t.Fatalf("a web link: %v", err)
	}
	if _, _, _, err := ReadImage(bytes.NewReader([]byte("not an image"))); !errors.Is(err, ErrImage) {
		t.Fatalf("not an image: %v", err)
	}
	// the Annex D engagement reads as the vector's bytes
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	png, err := PNG(uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	if text, raw, _, err := ReadImage(bytes.NewReader(png)); err != nil || text != uri ||
		!bytes.Equal(raw, testvectors.AnnexD(t, "device_engagement_qr")) {
		t.Fatalf("Annex D: %q %v", text, err)
	}
}
