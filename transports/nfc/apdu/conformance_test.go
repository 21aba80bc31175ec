package apdu

// Conformance of NFC data retrieval with ISO/IEC 18013-5 8.3.3.1.2 (as digested in
// shared/spec/04-proximity-transports.md §1), checked on the wire bytes: the mdoc's side
// (Applet) against scripted reader commands, the reader's side (Reader) against a
// scripted mdoc. Each case names the rule it checks.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// exchange sends one command APDU (hex) to the applet and returns the step.
func exchange(t *testing.T, a *Applet, cmd string) AppletStep {
	t.Helper()
	c, err := ParseCommand(unhex(t, cmd))
	if err != nil {
		t.Fatalf("command %s: %v", cmd, err)
	}
	return a.Command(c)
}

func selected(t *testing.T, a *Applet) *Applet {
	t.Helper()
	if st := exchange(t, a, "00A4040007 A0000002480400"); st.Response.SW != SWOK {
		t.Fatalf("SELECT: %04X", st.Response.SW)
	}
	return a
}

// The mdoc's side: status words and what each command does.
func TestConformanceMdocStatusWords(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		setup  func(*Applet)
		cmd    string
		sw     uint16
		failed bool
	}{
		{"SELECT by DF name of the mdoc AID (P2 00, no Le) is 9000", nil, "00A4040007A0000002480400", SWOK, false},
		{"SELECT with P2 0C is accepted too", nil, "00A4040C07A0000002480400", SWOK, false},
		{"SELECT of another AID is 6A82", nil, "00A4040007D2760000850101", SWNotFound, false},
		{"ENVELOPE before SELECT is refused (6985)", nil, "00C30000035301AA00", SWConditions, true},
		{"an unknown instruction is 6D00", selectIt, "00CA000000", SWINSNotSupported, true},
		{"an unknown class is 6E00", selectIt, "80C30000035301AA00", SWCLANotSupported, true},
		{"ENVELOPE P1-P2 other than 00 00 is 6B00", selectIt, "00C30100035301AA00", SWWrongP1P2, true},
		{"an ENVELOPE without data is refused: there is no polling (6700)", selectIt, "00C3000000", SWWrongLength, true},
		{"a chained ENVELOPE without data is refused (6700)", selectIt, "10C30000", SWWrongLength, true},
		{"the last ENVELOPE must carry Le (6700 without)", selectIt, "00C30000035301AA", SWWrongLength, true},
		{"command data over the mdoc's max command length is 6700", func(a *Applet) { a.MaxCommand = 2; selectIt(a) }, "00C30000035301AA00", SWWrongLength, true},
		{"a DO other than '53' is 6700", selectIt, "00C30000035401AA00", SWWrongLength, true},
		{"a DO'53' whose length is not the data's is 6700", selectIt, "00C30000035302AA00", SWWrongLength, true},
		{"DO'53' length form 80 (indefinite) is 6700", selectIt, "00C3000003538001 00", SWWrongLength, true},
		{"a DO'53' announcing more than the message limit is 6700", func(a *Applet) { a.MaxMessage = 16; selectIt(a) }, "10C30000045381FF01", SWWrongLength, true},
		{"chaining of another instruction is 6884", selectIt, "10C0000000", SWChainNotAllowed, true},
		{"GET RESPONSE with nothing pending is 6985", selectIt, "00C0000000", SWConditions, true},
		{"GET RESPONSE P1-P2 other than 00 00 is 6B00", selectIt, "00C0000100", SWWrongP1P2, true},
		{"an extended-length APDU to an mdoc that cannot take one is 6700", func(a *Applet) { a.ShortOnly = true }, "00A404000000 07A0000002480400", SWWrongLength, true},
		{"a chained ENVELOPE is taken with 9000 and no data", selectIt, "10C30000035305AA", SWOK, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			a := &Applet{}
			if tc.setup != nil {
				tc.setup(a)
			}
			st := exchange(t, a, tc.cmd)
			if st.Await || st.Response.SW != tc.sw || st.Failed != tc.failed || len(st.Response.Data) != 0 {
				t.Fatalf("%s: step %+v, want SW %04X failed %v", tc.cmd, st, tc.sw, tc.failed)
			}
		})
	}
}

func selectIt(a *Applet) { a.Command(SelectAID(MdocAID)) }

// The response to the last ENVELOPE is withheld (Await) until the mdoc's message is
// there; its Le and then each GET RESPONSE's Le bound every response, and the status
// says what remains: 9000 all sent, 61XX XX more bytes (Le < remaining ≤ Le+255), 6100
// (remaining > Le+255).
func TestConformanceMdocResponseChain(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		mdoc  Applet
		last  string // the last ENVELOPE, carrying DO'53' 53 01 AA
		msg   int    // the mdoc's message length (DO'53' adds 4 bytes from 256 on)
		gets  []string
		wants []string // per response: data length and SW, "len/SW"
	}{
		{"Le ≥ available: everything with 9000 (short Le 00 = 256)", Applet{}, "00C30000035301AA00", 100,
			nil, []string{"102/9000"}},
		{"Le < available ≤ Le+255: Le bytes and 61XX, then GET RESPONSE Le=XX", Applet{}, "00C30000035301AA00", 400,
			[]string{"00C0000094"}, []string{"256/6194", "148/9000"}},
		{"available > Le+255: Le bytes and 6100, GET RESPONSE with the max Le", Applet{}, "00C30000035301AA00", 1000,
			[]string{"00C0000000", "00C0000000", "00C00000EC"}, []string{"256/6100", "256/6100", "256/61EC", "236/9000"}},
		{"every Le is honoured: 16 bytes when the reader asks for 16", Applet{}, "00C30000035301AA10", 40,
			[]string{"00C0000010", "00C000000A"}, []string{"16/611A", "16/610A", "10/9000"}},
		{"extended Le (00 00 = 65536) takes a 60 KB answer at once", Applet{}, "00C3000000 0003 5301AA 0000", 60000,
			nil, []string{"60004/9000"}},
		{"extended Le below the answer: 6100, then GET RESPONSE extended", Applet{}, "00C3000000 0003 5301AA 0400", 3000,
			[]string{"00C00000 000400", "00C00000 000400"}, []string{"1024/6100", "1024/6100", "956/9000"}},
		{"the mdoc's own max response length caps Le", Applet{MaxResponse: 100}, "00C30000035301AA00", 250,
			[]string{"00C0000099", "00C0000035"}, []string{"100/6199", "100/6135", "53/9000"}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			a := selected(t, &tc.mdoc)
			st := exchange(t, a, tc.last)
			if !st.Await || !bytes.Equal(st.Message, []byte{0xaa}) || st.Failed {
				t.Fatalf("last ENVELOPE: %+v, want the response withheld with message AA", st)
			}
			msg := bytes.Repeat([]byte{0x5a}, tc.msg)
			got := []Response{a.Answer(msg, st.Ne)}
			for _, g := range tc.gets {
				s := exchange(t, a, g)
				if s.Await || s.Failed {
					t.Fatalf("GET RESPONSE %s: %+v", g, s)
				}
				got = append(got, s.Response)
			}
			var all []byte
			for i, r := range got {
				if i >= len(tc.wants) || fmt.Sprintf("%d/%04X", len(r.Data), r.SW) != tc.wants[i] {
					t.Fatalf("response %d: %d bytes %04X, want %v", i, len(r.Data), r.SW, tc.wants)
				}
				all = append(all, r.Data...)
			}
			if m, err := DecodeDO53(all); err != nil || !bytes.Equal(m, msg) {
				t.Fatalf("reassembled %d bytes: %v", len(all), err)
			}
			if a.Pending() {
				t.Fatal("bytes still pending after 9000")
			}
		})
	}
}

// Chaining on the mdoc's side: chunks of the encapsulated message in CLA 10 ENVELOPEs,
// the last in CLA 00; the message is delivered once, at the last, DO'53' removed.
func TestConformanceMdocChaining(t *testing.T) {
	a := selected(t, &Applet{MaxCommand: 255})
	msg := bytes.Repeat([]byte{7}, 600)
	enc := EncodeDO53(msg)
	for off := 0; off < len(enc); off += 255 {
		end := min(off+255, len(enc))
		c := Command{CLA: CLAChaining, INS: INSEnvelope, Data: enc[off:end]}
		if end == len(enc) {
			c.CLA, c.Ne = 0, 256
		}
		st := a.Command(c)
		if end < len(enc) {
			if st.Await || st.Message != nil || st.Response.SW != SWOK || len(st.Response.Data) != 0 {
				t.Fatalf("chained ENVELOPE at %d: %+v", off, st)
			}
			continue
		}
		if !st.Await || !bytes.Equal(st.Message, msg) || st.Ne != 256 {
			t.Fatalf("last ENVELOPE: await %v, %d bytes, Ne %d", st.Await, len(st.Message), st.Ne)
		}
	}
	// a new SELECT drops a half-received chain
	a.Command(Command{CLA: CLAChaining, INS: INSEnvelope, Data: enc[:10]})
	selected(t, a)
	if st := a.Command(Command{INS: INSEnvelope, Data: []byte{0x53, 1, 9}, Ne: 256}); !st.Await || !bytes.Equal(st.Message, []byte{9}) {
		t.Fatalf("after re-SELECT: %+v", st)
	}
	// an mdoc whose holder ended without a message answers 6F00, not an empty 9000
	if r := a.Answer(nil, 256); r.SW != SWUnknown || len(r.Data) != 0 {
		t.Fatalf("no message: %+v", r)
	}
}

// scripted is an mdoc that expects exact command APDUs and gives scripted responses;
// "hold" in place of a response blocks until ctx ends (a withheld response).
type scripted struct {
	t     *testing.T
	steps [][2]string
	i     int
}

func (s *scripted) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.steps) {
		s.t.Fatalf("unexpected command %X after the script", cmd)
	}
	want, resp := s.steps[s.i][0], s.steps[s.i][1]
	s.i++
	if got := strings.ToUpper(hex.EncodeToString(cmd)); got != strings.ToUpper(strings.ReplaceAll(want, " ", "")) {
		s.t.Fatalf("command %d: %s, want %s", s.i, got, want)
	}
	if resp == "hold" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return unhex(s.t, resp), nil
}

func (s *scripted) done() {
	s.t.Helper()
	if s.i != len(s.steps) {
		s.t.Fatalf("%d of %d scripted commands sent", s.i, len(s.steps))
	}
}

// The reader's side on the wire: SELECT, chaining, Le, GET RESPONSE, the withheld
// response, and the answers it must refuse.
func TestConformanceReader(t *testing.T) {
	m3 := "5303" + "010203" // DO'53' of 01 02 03
	for _, tc := range []struct {
		rule      string
		r         Reader
		msg       []byte
		steps     [][2]string
		want      []byte
		wantErr   error
		selectFor bool
	}{
		{rule: "SELECT by DF name, P2 00, no Le", selectFor: true, r: Reader{MaxCommand: 255, MaxResponse: 256},
			steps: [][2]string{{"00A4040007A0000002480400", "9000"}}},
		{rule: "one short ENVELOPE with Le 00 (256) when the message fits", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "5301AA9000"}}, want: []byte{0xaa}},
		{rule: "the last ENVELOPE's Le is the smaller response size of both sides", r: Reader{MaxCommand: 255, MaxResponse: 100},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "64", "5301AA9000"}}, want: []byte{0xaa}},
		{rule: "chaining: CLA 10 without Le for all but the last, chunks of the max command length", r: Reader{MaxCommand: 2, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"10C30000025303", "9000"}, {"10C30000020102", "9000"}, {"00C300000103 00", "5301AA9000"}},
			want: []byte{0xaa}},
		{rule: "61XX: GET RESPONSE with Le = XX, until 9000", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "5302AA6101"}, {"00C0000001", "BB9000"}},
			want: []byte{0xaa, 0xbb}},
		{rule: "6100: GET RESPONSE with the max Le", r: Reader{MaxCommand: 255, MaxResponse: 4},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "04", "53050102 6100"}, {"00C0000004", "030405 9000"}},
			want: []byte{1, 2, 3, 4, 5}},
		{rule: "extended form: Lc 00 hi lo and a 2-byte Le (00 00 = 65536)", r: Reader{MaxCommand: 65535, MaxResponse: 65536},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C30000000005" + m3 + "0000", "5301AA9000"}}, want: []byte{0xaa}},
		{rule: "extended GET RESPONSE: Le 00 hi lo", r: Reader{MaxCommand: 65535, MaxResponse: 300},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C30000000005" + m3 + "012C", "5302AA6101"}, {"00C00000000001", "BB9000"}},
			want: []byte{0xaa, 0xbb}},
		{rule: "Short forces short APDUs whatever the sizes", r: Reader{MaxCommand: 65535, MaxResponse: 65536, Short: true},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "5301AA9000"}}, want: []byte{0xaa}},
		{rule: "an empty final response is an error, not a cue to poll", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "9000"}}, wantErr: ErrEmptyResponse},
		{rule: "a chained ENVELOPE answered with anything but 9000 fails", r: Reader{MaxCommand: 2, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"10C30000025303", "6700"}}, wantErr: &StatusError{}},
		{rule: "an error status on the last ENVELOPE fails (6F00)", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "6F00"}}, wantErr: &StatusError{}},
		{rule: "a response longer than Le is malformed", r: Reader{MaxCommand: 255, MaxResponse: 2},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "02", "5301AA9000"}}, wantErr: ErrMalformed},
		{rule: "an answer that is not a DO'53' is malformed", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "5401AA9000"}}, wantErr: ErrMalformed},
		{rule: "bytes past the DO'53' are malformed", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "5301AABB9000"}}, wantErr: ErrMalformed},
		{rule: "a DO'53' over the message limit is refused before it is read", r: Reader{MaxCommand: 255, MaxResponse: 256, MaxMessage: 100},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "5381FF6100"}}, wantErr: ErrTooLarge},
		{rule: "the reader waits for a withheld response and sends nothing meanwhile", r: Reader{MaxCommand: 255, MaxResponse: 256},
			msg: []byte{1, 2, 3}, steps: [][2]string{{"00C3000005" + m3 + "00", "hold"}}, wantErr: context.DeadlineExceeded},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			s := &scripted{t: t, steps: tc.steps}
			r := tc.r
			r.T = s
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if tc.selectFor {
				if err := r.SelectMdoc(ctx); err != nil {
					t.Fatal(err)
				}
				s.done()
				return
			}
			got, err := r.Send(ctx, tc.msg)
			var se *StatusError
			switch {
			case tc.wantErr == nil && (err != nil || !bytes.Equal(got, tc.want)):
				t.Fatalf("got %X, %v; want %X", got, err, tc.want)
			case tc.wantErr != nil && errors.As(tc.wantErr, &se):
				if !errors.As(err, &se) {
					t.Fatalf("err %v, want a status error", err)
				}
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			s.done()
		})
	}
}

// The reader never sends an ENVELOPE without data, and the extended-length probe is a
// SELECT of the mdoc AID with Lc 00 00 07: 9000 says yes, a refusal says short APDUs.
func TestConformanceReaderProbeAndNoPoll(t *testing.T) {
	r := &Reader{T: &scripted{t: t}, MaxCommand: 255, MaxResponse: 256}
	if _, err := r.Send(context.Background(), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty message: %v", err)
	}
	for sw, want := range map[string]bool{"9000": true, "6700": false, "6D00": false} {
		s := &scripted{t: t, steps: [][2]string{{"00A40400000007A0000002480400", sw}}}
		ok, err := (&Reader{T: s}).ProbeExtended(context.Background())
		if err != nil || ok != want {
			t.Fatalf("probe answered %s: %v %v", sw, ok, err)
		}
		s.done()
	}
	// the probe against an applet that cannot take extended APDUs
	a := &Applet{ShortOnly: true}
	l := &loop{a: a}
	if ok, err := (&Reader{T: l}).ProbeExtended(context.Background()); ok || err != nil || a.Selected() {
		t.Fatalf("short-only mdoc: %v %v selected %v", ok, err, a.Selected())
	}
}
