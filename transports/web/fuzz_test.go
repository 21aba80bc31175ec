package web

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

func FuzzWholeMessage(f *testing.F) {
	f.Add([]byte{0xa1, 0x66}, 16)
	f.Add([]byte{}, 1)
	f.Add(bytes.Repeat([]byte{1}, 300), 100)
	f.Fuzz(func(t *testing.T, msg []byte, maxFrame int) {
		frames, err := WholeMessage{}.Fragment(msg, maxFrame)
		if err != nil {
			if len(msg) != 0 && len(msg) <= maxFrame {
				t.Fatalf("refused %d bytes with frame size %d: %v", len(msg), maxFrame, err)
			}
			return
		}
		if len(frames) != 1 || !bytes.Equal(frames[0], msg) {
			t.Fatal("not one frame")
		}
		r := WholeMessage{}.NewReassembler(256)
		got, err := r.Feed(frames[0])
		switch {
		case len(msg) > 256:
			if !errors.Is(err, transports.ErrMessageLimit) {
				t.Fatalf("over the limit: %v", err)
			}
		case err != nil || !bytes.Equal(got, msg):
			t.Fatalf("round trip: %v", err)
		}
	})
}

func fuzzServer(f *testing.F) *Server {
	s, err := NewServer(Config{Origin: "https://gate.example"})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzFirstMessage feeds arbitrary bytes to the decoding of the holder's first message,
// over HTTP and WebSocket alike: never a panic, and what passes is a MessageData whose
// DeviceEngagement decodes and whose OriginInfos do not name another origin.
func FuzzFirstMessage(f *testing.F) {
	s := fuzzServer(f)
	k, _ := keys.Generate(messages.CurveP256, nil)
	de, _ := messages.NewEngagement(k.COSEKey())
	de.Version = "1.1"
	de.OriginInfos = []messages.OriginInfo{messages.NewWebsiteOriginInfo(1, "https://gate.example")}
	deb, _ := messages.Marshal(de)
	good, _ := messages.Marshal(messages.MessageData{DeviceEngagementBytes: messages.NewEncodedCBOR(deb)})
	f.Add(good)
	f.Add([]byte{0xa1, 0x75})
	f.Add([]byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x41, 0})
	f.Add(bytes.Replace(good, []byte("gate"), []byte("evil"), 1))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, isMD, code, err := s.firstMessage(body)
		if err != nil {
			if code < 400 || code > 499 {
				t.Fatalf("error with status %d", code)
			}
			return
		}
		if !isMD {
			t.Fatal("accepted but not a MessageData")
		}
		e, err := messages.DecodeEngagement(got)
		if err != nil {
			t.Fatalf("accepted engagement does not decode: %v", err)
		}
		if CheckOrigin(e, "https://gate.example", false) != nil {
			t.Fatal("origin check disagrees")
		}
		_ = statusOf(body)
	})
}

func FuzzParseLink(f *testing.F) {
	s := fuzzServer(f)
	e, err := s.NewEngagement()
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Add(e.MdocURI)
	f.Add(e.UniversalLink)
	f.Add("mdoc:")
	f.Add("https://x/engage?re=%zz")
	f.Fuzz(func(t *testing.T, link string) {
		re, u, err := ParseLink(link)
		if err != nil {
			return
		}
		if _, err := messages.DecodeEngagement(re); err != nil || u == "" {
			t.Fatalf("accepted %q: %v", link, err)
		}
	})
}

func TestCheckOriginSpellings(t *testing.T) {
	k, _ := keys.Generate(messages.CurveP256, nil)
	mk := func(typ uint64, detailsKey, field, value string) *messages.Engagement {
		var d messages.Map[string, cbor.RawMessage]
		v, _ := cbor.Marshal(value)
		d.Set(field, v)
		de, _ := messages.NewEngagement(k.COSEKey())
		de.Version = "1.1"
		de.OriginInfos = []messages.OriginInfo{{Cat: 1, Type: typ, Details: d, DetailsKey: detailsKey}}
		b, err := messages.Marshal(de)
		if err != nil {
			t.Fatal(err)
		}
		e, err := messages.DecodeEngagement(b)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	const origin = "https://gate.example"
	for _, tc := range []struct {
		typ             uint64
		key, field, val string
		ok              bool
	}{
		{1, "details", "domain", "https://gate.example", true},
		{1, "Details", "baseUrl", "https://GATE.example:443/", true},
		{100, "Details", "baseUrl", "https://gate.example", true},
		{1, "Details", "ReferrerUrl", "https://gate.example/page", true},
		{1, "details", "domain", "gate.example", true},
		{1, "details", "domain", "http://gate.example", false},
		{1, "details", "domain", "https://gate.example:8443", false},
		{1, "details", "domain", "https://evil.example", false},
		{7, "details", "domain", "https://evil.example", true}, // not a website OriginInfo
	} {
		err := CheckOrigin(mk(tc.typ, tc.key, tc.field, tc.val), origin, false)
		if (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc, err)
		}
		if !tc.ok && !errors.Is(err, ErrOriginMismatch) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	de, _ := messages.NewEngagement(k.COSEKey())
	if err := CheckOrigin(de, origin, true); !errors.Is(err, ErrNoOrigin) {
		t.Fatalf("required origin: %v", err)
	}
	if err := CheckOrigin(de, origin, false); err != nil {
		t.Fatal(err)
	}
}
