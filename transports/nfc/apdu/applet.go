package apdu

import "bytes"

// Applet is the mdoc's side of 18013-5 NFC data retrieval as a pure state machine: it
// answers SELECT of the mdoc AID, reassembles chained ENVELOPE data into session
// messages (bounded by MaxMessage) and cuts the mdoc's messages into responses for the
// last ENVELOPE and the GET RESPONSE commands that follow. It blocks on nothing: the
// last ENVELOPE of a message is answered only once the mdoc has its next message
// (18013-5 has the mdoc withhold that response until it is ready; ISO-DEP waiting-time
// extensions keep the reader waiting meanwhile), so Command hands the caller that
// ENVELOPE (Await) and the caller calls Answer when the message exists. There is no
// "nothing yet" answer: an ENVELOPE without data is refused (6700). It is not safe for
// concurrent use.
type Applet struct {
	// MaxCommand is the largest command data the mdoc accepts (its NFC carrier value);
	// longer commands get 6700. 0 means MaxExtendedData.
	MaxCommand int
	// MaxResponse is the largest response data the mdoc sends at once (its NFC carrier
	// value): a response carries min(Le, MaxResponse) bytes. 0 means MaxExtendedNe.
	MaxResponse int
	// ShortOnly refuses extended-length APDUs with 6700: an mdoc (or a reader front
	// end) that cannot carry them.
	ShortOnly bool
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
	// Await is set for the last ENVELOPE of a message: the caller must hold the
	// response until the mdoc has its next message and then call Answer.
	Await bool
	// Ne is the response length the reader accepts for Await (the ENVELOPE's Le).
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

func (a *Applet) maxResponse(ne int) int {
	if ne <= 0 {
		ne = MaxShortNe
	}
	if a.MaxResponse > 0 {
		ne = min(ne, a.MaxResponse)
	}
	return ne
}

// Selected reports whether the mdoc application is selected.
func (a *Applet) Selected() bool { return a.selected }

// Command handles one command APDU. Status words (18013-5 8.3.3.1.2 and ISO/IEC 7816-4):
// 9000 selected or chained data taken; 6A82 another AID; 6985 nothing selected or no
// response pending for GET RESPONSE; 6700 data over MaxCommand, an ENVELOPE without
// data, a last ENVELOPE without Le, a DO'53' that is malformed or over MaxMessage, or an
// extended APDU to a ShortOnly applet; 6B00 P1-P2 not 00 00; 6884 chaining of another
// instruction; 6D00 another instruction; 6E00 another class.
func (a *Applet) Command(c Command) AppletStep {
	fail := func(sw uint16) AppletStep {
		a.in = nil
		return AppletStep{Response: Response{SW: sw}, Failed: true}
	}
	if c.CLA&^CLAChaining != 0 {
		return fail(SWCLANotSupported)
	}
	if c.Extended && a.ShortOnly {
		return fail(SWWrongLength)
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
		switch {
		case c.P1 != 0 || c.P2 != 0:
			return fail(SWWrongP1P2)
		case len(c.Data) == 0, len(c.Data) > maxCmd:
			return fail(SWWrongLength)
		case len(a.in)+len(c.Data) > a.maxMessage()+5:
			return fail(SWWrongLength)
		}
		a.in = append(a.in, c.Data...)
		if hdr, n, ok, err := DO53Length(a.in); err != nil || (ok && (n > a.maxMessage() || len(a.in) > hdr+n)) {
			return fail(SWWrongLength)
		}
		if c.Chained() {
			return AppletStep{Response: Response{SW: SWOK}}
		}
		if c.Ne == 0 { // the last ENVELOPE must say how much of the answer fits
			return fail(SWWrongLength)
		}
		in := a.in
		a.in, a.out = nil, nil
		msg, err := DecodeDO53(in)
		if err != nil || len(msg) == 0 {
			return fail(SWWrongLength)
		}
		return AppletStep{Message: msg, Await: true, Ne: c.Ne}
	case INSGetResp:
		if c.P1 != 0 || c.P2 != 0 {
			return fail(SWWrongP1P2)
		}
		if len(a.out) == 0 {
			return fail(SWConditions)
		}
		var chunk []byte
		var sw uint16
		chunk, a.out, sw = NextResponse(a.out, a.maxResponse(c.Ne))
		return AppletStep{Response: Response{Data: chunk, SW: sw}}
	default:
		return fail(SWINSNotSupported)
	}
}

// Answer returns the response to an awaited ENVELOPE whose Le was ne: the start of msg
// wrapped in DO'53', with 61XX when more follows (what is left for GET RESPONSE). An
// mdoc with no message to give (its holder ended) answers 6F00.
func (a *Applet) Answer(msg []byte, ne int) Response {
	if len(msg) == 0 {
		a.out = nil
		return Response{SW: SWUnknown}
	}
	var chunk []byte
	var sw uint16
	chunk, a.out, sw = NextResponse(EncodeDO53(msg), a.maxResponse(ne))
	return Response{Data: chunk, SW: sw}
}

// Pending reports whether response bytes are waiting for GET RESPONSE.
func (a *Applet) Pending() bool { return len(a.out) > 0 }
