package messages

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

func TestEngagementURIAnnexD(t *testing.T) {
	want := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	de := testvectors.AnnexD(t, "device_engagement_qr")
	if got := EngagementURI(de); got != want {
		t.Fatalf("EngagementURI\n got %s\nwant %s", got, want)
	}
	e, err := ParseEngagementURI(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Raw(), de) {
		t.Fatal("ParseEngagementURI: Raw differs from the vector")
	}
	if b, _ := e.Bytes(); !bytes.Equal(b, de) {
		t.Fatal("Bytes differ")
	}
}

func TestParseEngagementURILenient(t *testing.T) {
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	de := testvectors.AnnexD(t, "device_engagement_qr")
	payload := strings.TrimPrefix(uri, "mdoc:")
	std := strings.NewReplacer("-", "+", "_", "/").Replace(payload)
	if std == payload {
		t.Fatal("vector has no URL-safe characters; the test would prove nothing")
	}
	pad := strings.Repeat("=", (4-len(payload)%4)%4)
	for _, in := range []string{
		"mdoc:" + payload + pad,
		"mdoc:" + std,
		"mdoc:" + std + pad,
		"MDOC:" + payload,
		"  mdoc:" + payload + "\n",
	} {
		e, err := ParseEngagementURI(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !bytes.Equal(e.Raw(), de) {
			t.Fatalf("%q: bytes differ", in)
		}
	}
}

func TestParseEngagementURIRejects(t *testing.T) {
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	payload := strings.TrimPrefix(uri, "mdoc:")
	for name, in := range map[string]string{
		"no prefix":     payload,
		"other scheme":  "openid4vp:" + payload,
		"website form":  "mdoc://example.com/x",
		"empty":         "mdoc:",
		"bad base64":    "mdoc:!!!!",
		"truncated":     "mdoc:" + payload[:len(payload)/2],
		"not an engmt":  "mdoc:" + EngagementURI([]byte{0xa0})[5:],
		"trailing data": "mdoc:" + EngagementURI(append(testvectors.AnnexD(t, "device_engagement_qr"), 0x00))[5:],
		"too long":      "mdoc:" + strings.Repeat("A", MaxEngagementURILength),
	} {
		_, err := ParseEngagementURI(in)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: %T is not a *DecodeError", name, err)
		}
		if name == "too long" && !errors.Is(err, ErrTooLarge) {
			t.Errorf("too long: %v", err)
		}
	}
}

func TestEngagementURIRoundTripBuilt(t *testing.T) {
	e := builtEngagement(t)
	b, err := e.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEngagementURI(EngagementURI(b))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw(), b) {
		t.Fatal("round trip differs")
	}
}
