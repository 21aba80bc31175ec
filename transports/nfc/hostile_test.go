package nfc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/nfc/apdu"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
)

// hostileCard answers every data retrieval command with the same response.
type hostileCard struct{ resp []byte }

func (h *hostileCard) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	if cmd[0]&0x10 != 0 { // chained ENVELOPE: accepted
		return []byte{0x90, 0x00}, nil
	}
	return h.resp, nil
}

// TestHostileMdocStreams: wrong lengths, endless 61XX chains and oversized messages from
// the mdoc end the reader's session with one error verdict and a classified link error.
func TestHostileMdocStreams(t *testing.T) {
	f := newFixture(t, 0)
	hs := f.holder(t)
	e := &Engagement{DeviceEngagement: hs.DeviceEngagement(), NFC: ndef.NFCCarrier{MaxCommand: 255, MaxResponse: 256, HasSizes: true}}
	for name, tc := range map[string]struct {
		resp []byte
		want error
	}{
		"endless 61XX":     {[]byte{0x61, 0x10}, transports.ErrBadFrame},
		"oversized DO'53'": {[]byte{0x53, 0x83, 0xff, 0xff, 0xff, 0x61, 0x00}, transports.ErrMessageLimit},
		"wrong length":     {[]byte{0x53, 0x05, 1, 0x90, 0x00}, transports.ErrBadFrame},
		"truncated":        {[]byte{0x90}, transports.ErrBadFrame},
		"error status":     {[]byte{0x6f, 0x00}, transports.ErrBadFrame},
		// 18013-5: the mdoc withholds its response; an empty final one is no "not yet"
		"empty final response": {[]byte{0x90, 0x00}, apdu.ErrEmptyResponse},
	} {
		t.Run(name, func(t *testing.T) {
			conn := NewReaderConn(&hostileCard{resp: tc.resp}, e, ReaderOptions{MaxMessage: 1 << 16}, nil, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			v := runReader(ctx, f.reader, &transports.Arrival{DeviceEngagement: e.DeviceEngagement, Handover: []byte{0xf6}, Conn: conn})
			if v.Outcome != readersession.Error {
				t.Fatalf("verdict %+v", v)
			}
			if errors.Is(tc.want, apdu.ErrEmptyResponse) && !strings.Contains(v.Detail, "answered the last ENVELOPE with no data") {
				t.Fatalf("the verdict does not say why: %+v", v)
			}
			_, err := conn.ReadFrame(ctx)
			var le *LinkError
			if !errors.As(err, &le) && !errors.Is(err, transports.ErrClosed) {
				t.Fatalf("read after failure: %v", err)
			}
			if le != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%v is not %v", err, tc.want)
			}
		})
	}
}
