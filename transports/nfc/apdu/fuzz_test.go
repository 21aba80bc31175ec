package apdu

import (
	"bytes"
	"context"
	"testing"
)

// FuzzParseCommand: a command that parses re-encodes to the same bytes; the applet
// answers any command without panicking.
func FuzzParseCommand(f *testing.F) {
	for _, c := range []Command{SelectAID(MdocAID), {INS: INSEnvelope, Data: EncodeDO53([]byte{0xa0}), Ne: 256},
		{CLA: CLAChaining, INS: INSEnvelope, Data: make([]byte, 300), Ne: 0}, {INS: INSGetResp, Ne: 65536}} {
		b, _ := c.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		again, err := c.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encode %x != %x (%v)", again, b, err)
		}
		a := &Applet{MaxCommand: 1000, MaxMessage: 4000}
		a.Command(SelectAID(MdocAID))
		for i := 0; i < 3; i++ {
			if st := a.Command(c); st.Await {
				a.Answer(st.Message, st.Ne)
			}
		}
	})
}

// FuzzReaderResponses: whatever an mdoc answers, the reader ends with a message or a
// typed error, within its bounds.
func FuzzReaderResponses(f *testing.F) {
	f.Add([]byte{0x53, 0x01, 0xaa, 0x90, 0x00}, uint8(0))
	f.Add([]byte{0x53, 0x82, 0x01, 0x00, 0x61, 0x00}, uint8(3))
	f.Add([]byte{0x61, 0x05}, uint8(200))
	f.Fuzz(func(t *testing.T, resp []byte, repeat uint8) {
		h := &hostile{resp: func(n int) []byte {
			if n <= int(repeat)+1 {
				return resp
			}
			return []byte{0x90, 0x00}
		}}
		r := &Reader{T: h, MaxCommand: 255, MaxResponse: 256, MaxMessage: 2048}
		msg, err := r.Send(context.Background(), []byte{1})
		if err == nil && len(msg) > 2048 {
			t.Fatalf("message of %d bytes", len(msg))
		}
		if h.count > 2048/256+16+2 {
			t.Fatalf("%d commands", h.count)
		}
	})
}
