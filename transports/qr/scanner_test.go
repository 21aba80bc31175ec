package qr

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// A scanner's stream: engagements between garbage, every line ending, an overlong line
// dropped up to its end, nothing lost after it.
func TestReadEngagements(t *testing.T) {
	uri := strings.TrimSpace(testvectors.AnnexDText(t, "device_engagement_qr_uri.txt"))
	de := testvectors.AnnexD(t, "device_engagement_qr.hex")
	in := "garbage\r\n" + uri + "\r\n\n\n" + strings.Repeat("x", 300) + "\n" + uri + "\r" + "mdoc:@@@\n" + uri
	var got []Scanned
	if err := ReadEngagements(strings.NewReader(in), 200, func(s Scanned) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	want := []error{ErrNotMdocURI, nil, ErrLineTooLong, nil, ErrNotMdocURI, nil}
	if len(got) != len(want) {
		t.Fatalf("%d lines: %+v", len(got), got)
	}
	for i, w := range want {
		switch {
		case w == nil && (got[i].Err != nil || !bytes.Equal(got[i].DeviceEngagement, de)):
			t.Errorf("line %d: %+v", i, got[i])
		case w != nil && !errors.Is(got[i].Err, w):
			t.Errorf("line %d: %v, want %v", i, got[i].Err, w)
		}
	}
	if len(got[2].Line) > 70 {
		t.Errorf("the log keeps %d bytes of a long line", len(got[2].Line))
	}
}

// FuzzReadEngagements: whatever a scanner sends, each line ends in an engagement or an
// error, none longer than the limit is kept.
func FuzzReadEngagements(f *testing.F) {
	f.Add([]byte("mdoc:owBjMS4wAYIB2BhYS6QBAiABIVggWsR3\r\nhello\n"))
	f.Add(bytes.Repeat([]byte{'m'}, 600))
	f.Add([]byte{0xff, 0, '\r', '\r', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ReadEngagements(bytes.NewReader(b), 256, func(s Scanned) {
			if (s.Err == nil) == (s.DeviceEngagement == nil) || len(s.DeviceEngagement) > 256 || len(s.Line) > 70*4 {
				t.Fatalf("scan %+v", s)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
