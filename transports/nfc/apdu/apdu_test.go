package apdu

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCommandCases(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 300)
	cases := []struct {
		c    Command
		want []byte
	}{
		{Command{INS: 1}, []byte{0, 1, 0, 0}},
		{Command{INS: 1, Ne: 256}, []byte{0, 1, 0, 0, 0}},
		{Command{INS: 1, Ne: 10}, []byte{0, 1, 0, 0, 10}},
		{Command{INS: 1, Data: []byte{9}}, []byte{0, 1, 0, 0, 1, 9}},
		{Command{INS: 1, Data: []byte{9}, Ne: 256}, []byte{0, 1, 0, 0, 1, 9, 0}},
		{Command{INS: 1, Ne: 65536}, []byte{0, 1, 0, 0, 0, 0, 0}},
		{Command{INS: 1, Ne: 300}, []byte{0, 1, 0, 0, 0, 1, 0x2c}},
		{Command{INS: 1, Data: []byte{9}, Ne: 65536, Extended: true}, []byte{0, 1, 0, 0, 0, 0, 1, 9, 0, 0}},
		{Command{INS: 1, Data: []byte{9}, Extended: true}, []byte{0, 1, 0, 0, 0, 0, 1, 9}},
	}
	for _, tc := range cases {
		b, err := tc.c.Encode()
		if err != nil || !bytes.Equal(b, tc.want) {
			t.Fatalf("%+v: %x (%v), want %x", tc.c, b, err, tc.want)
		}
		got, err := ParseCommand(b)
		if err != nil || got.Ne != tc.c.Ne || !bytes.Equal(got.Data, tc.c.Data) {
			t.Fatalf("parse %x: %+v %v", b, got, err)
		}
		again, _ := got.Encode()
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encode %x != %x", again, b)
		}
	}
	c := Command{INS: 1, Data: big, Ne: 1000}
	b, _ := c.Encode()
	got, err := ParseCommand(b)
	if err != nil || !got.Extended || len(got.Data) != 300 || got.Ne != 1000 {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range [][]byte{{0, 1, 0}, {0, 1, 0, 0, 5, 1}, {0, 1, 0, 0, 1, 1, 2, 3}, {0, 1, 0, 0, 0, 0, 5, 1},
		{0, 1, 0, 0, 0, 0, 0, 1}, {0, 1, 0, 0, 0, 1, 2, 3}} {
		if _, err := ParseCommand(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", bad, err)
		}
	}
	if _, err := (&Command{Data: make([]byte, 70000)}).Encode(); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
}

func TestDO53(t *testing.T) {
	for _, n := range []int{1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000} {
		msg := bytes.Repeat([]byte{1}, n)
		enc := EncodeDO53(msg)
		got, err := DecodeDO53(enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d: %v", n, err)
		}
		if _, err := DecodeDO53(enc[:len(enc)-1]); err == nil {
			t.Fatalf("%d: short accepted", n)
		}
	}
	for _, bad := range [][]byte{{0x54, 0}, {0x53, 0x80}, {0x53, 0x84, 0, 0, 0, 1, 1}, {0x53, 2, 1}} {
		if _, err := DecodeDO53(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
}

// loop is a Transceiver onto an Applet whose mdoc echoes each message reversed, or
// answers with reply when set.
type loop struct {
	a       *Applet
	reply   []byte
	cmds    int
	maxCmd  int
	maxResp int
	last    []byte
}

func (l *loop) Transmit(_ context.Context, b []byte) ([]byte, error) {
	l.cmds++
	l.maxCmd = max(l.maxCmd, len(b))
	c, err := ParseCommand(b)
	if err != nil {
		return Response{SW: SWWrongLength}.Encode(), nil
	}
	st := l.a.Command(c)
	r := st.Response
	if st.Await {
		l.last = st.Message
		out := l.reply
		if out == nil {
			out = bytes.Clone(st.Message)
		}
		r = l.a.Answer(out, st.Ne)
	}
	l.maxResp = max(l.maxResp, len(r.Data))
	return r.Encode(), nil
}

func TestReaderAppletSizes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		cmd, resp      int
		msg, reply     int
		wantMaxCmdAPDU int
	}{
		{"short", 255, 256, 1000, 5000, 4 + 1 + 255 + 1},
		{"short fallback", 200, 65536, 1000, 5000, 4 + 1 + 200 + 1},
		{"extended", 65535, 65536, 100000, 61440, 4 + 3 + 65535 + 2},
		{"tiny", 16, 16, 300, 300, 4 + 1 + 16 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := bytes.Repeat([]byte{0xab}, tc.reply)
			l := &loop{a: &Applet{MaxCommand: tc.cmd}, reply: reply}
			r := &Reader{T: l, MaxCommand: tc.cmd, MaxResponse: tc.resp, MaxMessage: 1 << 20}
			if err := r.SelectMdoc(context.Background()); err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte{0x5a}, tc.msg)
			got, err := r.Send(context.Background(), msg)
			if err != nil || !bytes.Equal(got, reply) || !bytes.Equal(l.last, msg) {
				t.Fatalf("%v got %d bytes", err, len(got))
			}
			if l.maxCmd > tc.wantMaxCmdAPDU {
				t.Fatalf("command APDU of %d bytes", l.maxCmd)
			}
			if !r.Extended() && l.maxResp > 256 {
				t.Fatalf("short mode response of %d bytes", l.maxResp)
			}
		})
	}
}

func TestAppletRejects(t *testing.T) {
	a := &Applet{MaxCommand: 100, MaxMessage: 1000}
	step := func(c Command) AppletStep { return a.Command(c) }
	if s := step(Command{INS: INSEnvelope}); s.Response.SW != SWConditions {
		t.Fatalf("envelope before select: %04x", s.Response.SW)
	}
	if s := step(SelectAID([]byte{1, 2, 3})); s.Response.SW != SWNotFound {
		t.Fatal("wrong AID")
	}
	step(SelectAID(MdocAID))
	for name, c := range map[string]Command{
		"oversized Lc":      {INS: INSEnvelope, Data: make([]byte, 101)},
		"bad DO":            {INS: INSEnvelope, Data: []byte{0x54, 1, 1}},
		"announces too big": {CLA: CLAChaining, INS: INSEnvelope, Data: []byte{0x53, 0x82, 0xff, 0xff}},
		"wrong DO length":   {INS: INSEnvelope, Data: []byte{0x53, 5, 1}},
		"past DO":           {INS: INSEnvelope, Data: []byte{0x53, 1, 1, 2}},
		"chained select":    {CLA: CLAChaining, INS: INSGetResp},
		"get resp no data":  {INS: INSGetResp, Ne: 10},
		"bad INS":           {INS: 0x12},
		"bad CLA":           {CLA: 0x80, INS: INSEnvelope},
		"bad P1":            {INS: INSEnvelope, P1: 1, Data: []byte{0x53, 1, 1}},
	} {
		if s := step(c); !s.Failed || s.Response.SW == SWOK {
			t.Errorf("%s: %+v", name, s)
		}
	}
}

// hostile is a Transceiver whose mdoc answers every command with the same response.
type hostile struct {
	resp  func(n int) []byte
	count int
}

func (h *hostile) Transmit(_ context.Context, b []byte) ([]byte, error) {
	h.count++
	return h.resp(h.count), nil
}

func TestReaderHostileMdoc(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		resp func(n int) []byte
		want error
	}{
		"endless 61XX": {func(n int) []byte {
			if n == 1 {
				return []byte{0x53, 0x83, 0xff, 0xff, 0xff, 0x61, 0x00}[:0:0]
			}
			return []byte{1, 2, 3, 0x61, 0x03}
		}, ErrChainTooLong},
		"endless 6100 big": {func(n int) []byte { return append(bytes.Repeat([]byte{0x53}, 1), 0x82, 0xff, 0xff, 0x61, 0x00) }, ErrTooLarge},
		"too much data":    {func(int) []byte { return append(make([]byte, 300), 0x90, 0x00) }, ErrMalformed},
		"one byte":         {func(int) []byte { return []byte{0x90} }, ErrMalformed},
		"bad DO":           {func(int) []byte { return []byte{0x54, 1, 1, 0x90, 0x00} }, ErrMalformed},
		"DO length lies":   {func(int) []byte { return []byte{0x53, 9, 1, 0x90, 0x00} }, ErrMalformed},
		"past DO":          {func(int) []byte { return []byte{0x53, 1, 1, 1, 0x61, 0x01} }, ErrMalformed},
		"error status":     {func(int) []byte { return []byte{0x6f, 0x00} }, &StatusError{}},
	}
	for name, tc := range cases {
		h := &hostile{resp: tc.resp}
		if name == "endless 61XX" {
			h.resp = func(n int) []byte { return []byte{0x61, 0x03} } // no data, more promised forever
		}
		r := &Reader{T: h, MaxCommand: 255, MaxResponse: 256, MaxMessage: 4096}
		_, err := r.Send(ctx, []byte{1, 2, 3})
		var se *StatusError
		if _, isStatus := tc.want.(*StatusError); isStatus {
			if !errors.As(err, &se) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if h.count > 100 {
			t.Errorf("%s: %d commands", name, h.count)
		}
	}
}

func TestNextResponse(t *testing.T) {
	rem := make([]byte, 600)
	c, rest, sw := NextResponse(rem, 256)
	if len(c) != 256 || len(rest) != 344 || sw != SWMoreData {
		t.Fatal(len(c), len(rest), sw)
	}
	c, rest, sw = NextResponse(rest, 256)
	if len(c) != 256 || sw != 0x6158 {
		t.Fatalf("%04x", sw)
	}
	c, rest, sw = NextResponse(rest, 0x58)
	if len(c) != 0x58 || rest != nil || sw != SWOK {
		t.Fatal(sw)
	}
}
