package apdu

import "bytes"

// Applet is the mdoc's side of 18013-5 NFC data retrieval as a pure state machine: it
// answers SELECT of the mdoc AID, reassembles chained ENVELOPE data into session
// messages (bounded by MaxMessage) and cuts the mdoc's messages into responses for the
// last ENVELOPE and the GET RESPONSE commands that follow. It blocks on nothing: when a
// final ENVELOPE arrives, the caller obtains the mdoc's next message (or none yet) and
// calls Answer. It is not safe for concurrent use.
type Applet struct {
	// MaxCommand is the largest command data the mdoc accepts (its NFC carrier value);
	// longer commands get 6700. 0 means MaxExtendedData.
	MaxCommand int
	// MaxMessage bounds a reassembled message; 0 means 1 MiB.
	MaxMessage int

	selected bool
	in       []byte
	out      []byte
}

// AppletStep is the outcome of one command.
type AppletStep struct {
	// Response is the answer to send, unless Await is set.
	Response Response
	// Message is a complete session message from the reader (DO'53' removed), or nil.
	Message []byte
	// Await is set for a final ENVELOPE (with or without a message): the caller must
	// call Answer with the mdoc's next message, or nil when there is none yet.
	Await bool
	// Ne is the response length the reader accepts for Await.
	Ne int
	// Failed is set when the reader broke the protocol (the response carries the status).
	Failed bool
}

func (a *Applet) maxMessage() int {
	if a.MaxMessage <= 0 {
		return 1 << 20
	}
	return a.MaxMessage
}

// Selected reports whether the mdoc application is selected.
func (a *Applet) Selected() bool { return a.selected }

// Command handles one command APDU.
func (a *Applet) Command(c Command) AppletStep {
	fail := func(sw uint16) AppletStep {
		a.in = nil
		return AppletStep{Response: Response{SW: sw}, Failed: true}
	}
	if c.CLA&^CLAChaining != 0 {
		return fail(SWCLANotSupported)
	}
	if c.INS == INSSelect {
		if c.P1 == 0x04 && bytes.Equal(c.Data, MdocAID) {
			a.selected, a.in, a.out = true, nil, nil
			return AppletStep{Response: Response{SW: SWOK}}
		}
		a.selected = false
		return AppletStep{Response: Response{SW: SWNotFound}}
	}
	if !a.selected {
		return fail(SWConditions)
	}
	if c.Chained() && c.INS != INSEnvelope {
		return fail(SWChainNotAllowed)
	}
	maxCmd := a.MaxCommand
	if maxCmd <= 0 {
		maxCmd = MaxExtendedData
	}
	switch c.INS {
	case INSEnvelope:
		if c.P1 != 0 || c.P2 != 0 {
			return fail(SWWrongP1P2)
		}
		if len(c.Data) > maxCmd {
			return fail(SWWrongLength)
		}
		if len(a.in)+len(c.Data) > a.maxMessage()+5 {
			return fail(SWWrongLength)
		}
		a.in = append(a.in, c.Data...)
		if hdr, n, ok, err := DO53Length(a.in); err != nil || (ok && (n > a.maxMessage() || len(a.in) > hdr+n)) {
			return fail(SWWrongLength)
		}
		if c.Chained() {
			return AppletStep{Response: Response{SW: SWOK}}
		}
		in := a.in
		a.in = nil
		a.out = nil
		if len(in) == 0 {
			return AppletStep{Await: true, Ne: c.Ne} // a poll
		}
		msg, err := DecodeDO53(in)
		if err != nil || len(msg) == 0 {
			return fail(SWWrongLength)
		}
		return AppletStep{Message: msg, Await: true, Ne: c.Ne}
	case INSGetResp:
		if len(a.out) == 0 {
			return fail(SWConditions)
		}
		var chunk []byte
		var sw uint16
		chunk, a.out, sw = NextResponse(a.out, c.Ne)
		return AppletStep{Response: Response{Data: chunk, SW: sw}}
	default:
		return fail(SWINSNotSupported)
	}
}

// Answer returns the response to an awaited ENVELOPE: the start of msg (wrapped in
// DO'53') with 61XX if more follows, or an empty 9000 when msg is nil.
func (a *Applet) Answer(msg []byte, ne int) Response {
	if msg == nil {
		return Response{SW: SWOK}
	}
	var chunk []byte
	var sw uint16
	chunk, a.out, sw = NextResponse(EncodeDO53(msg), ne)
	return Response{Data: chunk, SW: sw}
}

// Pending reports whether response bytes are waiting for GET RESPONSE.
func (a *Applet) Pending() bool { return len(a.out) > 0 }
