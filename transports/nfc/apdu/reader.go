package apdu

import (
	"context"
	"errors"
	"fmt"
)

// ErrEmptyResponse is an mdoc that answered the last ENVELOPE of a message with no data:
// 18013-5 has the mdoc withhold that response until its message is ready, so an empty
// final response is a protocol violation, never "nothing yet".
var ErrEmptyResponse = errors.New("apdu: the mdoc answered the last ENVELOPE with no data")

// Transceiver sends one command APDU and returns the response APDU (an ISO-DEP link, a
// PC/SC card handle).
type Transceiver interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
}

// Reader is the mdoc reader's side of 18013-5 NFC data retrieval over a Transceiver.
// It is not safe for concurrent use.
type Reader struct {
	T Transceiver
	// MaxCommand and MaxResponse are the data sizes both sides support (the minimum of
	// the reader's own and the mdoc's NFC carrier values). When either is at most 255
	// (256 for responses) the reader uses short APDUs only.
	MaxCommand, MaxResponse int
	// Short makes the reader use short APDUs whatever the sizes (a reader that cannot
	// carry extended-length APDUs): chaining and GET RESPONSE do the rest.
	Short bool
	// MaxMessage bounds a message reassembled from responses.
	MaxMessage int
	// MaxGetResponse bounds the GET RESPONSE commands for one message (0: enough for
	// MaxMessage at MaxResponse per response, plus 16).
	MaxGetResponse int
}

// Extended reports whether the reader uses extended-length APDUs.
func (r *Reader) Extended() bool {
	return !r.Short && r.MaxCommand > MaxShortData && r.MaxResponse > MaxShortNe
}

func (r *Reader) sizes() (cmd, resp int) {
	cmd, resp = r.MaxCommand, r.MaxResponse
	if !r.Extended() {
		cmd, resp = min(cmd, MaxShortData), min(resp, MaxShortNe)
	}
	return max(cmd, 1), max(resp, 1)
}

func (r *Reader) transmit(ctx context.Context, step string, c Command) (Response, error) {
	b, err := c.Encode()
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", step, err)
	}
	out, err := r.T.Transmit(ctx, b)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", step, err)
	}
	resp, err := ParseResponse(out)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", step, err)
	}
	return resp, nil
}

// SelectMdoc selects the mdoc application (short form, no Le, as Multipaz sends it).
func (r *Reader) SelectMdoc(ctx context.Context) error {
	resp, err := r.transmit(ctx, "SELECT mdoc AID", SelectAID(MdocAID))
	if err != nil {
		return err
	}
	if resp.SW != SWOK {
		return &StatusError{"SELECT mdoc AID", resp.SW}
	}
	return nil
}

// ProbeExtended selects the mdoc application with an extended-length SELECT (Lc 00 00 07):
// whether the reader, the field and the mdoc all carry extended-length APDUs. It
// returns false with a nil error when the mdoc refused the form (6700, 6D00, 6E00 and
// the like; the application is then not selected) and the Transceiver's error when the
// reader could not send it.
func (r *Reader) ProbeExtended(ctx context.Context) (bool, error) {
	c := SelectAID(MdocAID)
	c.Extended = true
	resp, err := r.transmit(ctx, "SELECT mdoc AID (extended length)", c)
	if err != nil {
		return false, err
	}
	return resp.SW == SWOK, nil
}

// Send carries one session message to the mdoc in ENVELOPE commands (chained when it is
// longer than MaxCommand) and returns the mdoc's message: the response to the last
// ENVELOPE, which the mdoc withholds until its message is ready, followed with GET
// RESPONSE while the status is 61XX. An empty final response is ErrEmptyResponse.
func (r *Reader) Send(ctx context.Context, msg []byte) ([]byte, error) {
	if len(msg) == 0 {
		return nil, fmt.Errorf("ENVELOPE: %w: no message to send", ErrMalformed)
	}
	cmdSize, respSize := r.sizes()
	data := EncodeDO53(msg)
	ext := r.Extended()
	for {
		n := min(len(data), cmdSize)
		c := Command{CLA: 0x00, INS: INSEnvelope, Data: data[:n], Extended: ext}
		last := n == len(data)
		if !last {
			c.CLA |= CLAChaining
		} else {
			c.Ne = respSize
		}
		step := "ENVELOPE"
		if !last {
			step = "ENVELOPE (chained)"
		}
		resp, err := r.transmit(ctx, step, c)
		if err != nil {
			return nil, err
		}
		data = data[n:]
		if !last {
			if resp.SW != SWOK || len(resp.Data) != 0 {
				return nil, &StatusError{step, resp.SW}
			}
			continue
		}
		return r.collect(ctx, resp)
	}
}

// collect gathers the mdoc's message from the response to the last ENVELOPE and the
// GET RESPONSE commands its 61XX status asks for.
func (r *Reader) collect(ctx context.Context, resp Response) ([]byte, error) {
	_, respSize := r.sizes()
	limit := r.MaxMessage
	if limit <= 0 {
		limit = 1 << 20
	}
	maxGets := r.MaxGetResponse
	if maxGets <= 0 {
		maxGets = (limit+5)/respSize + 16
	}
	var buf []byte
	for gets := 0; ; gets++ {
		if len(resp.Data) > respSize {
			return nil, fmt.Errorf("%w: response of %d data bytes, Le was %d", ErrMalformed, len(resp.Data), respSize)
		}
		if len(buf)+len(resp.Data) > limit+5 {
			return nil, fmt.Errorf("GET RESPONSE: %w (%d bytes)", ErrTooLarge, len(buf)+len(resp.Data))
		}
		buf = append(buf, resp.Data...)
		// An early look at the DO'53' header bounds the message before it is all read.
		if hdr, n, ok, err := DO53Length(buf); err != nil {
			return nil, err
		} else if ok && n > limit {
			return nil, fmt.Errorf("mdoc message: %w: DO'53' announces %d bytes", ErrTooLarge, n)
		} else if ok && len(buf) > hdr+n {
			return nil, fmt.Errorf("%w: mdoc sent %d bytes past its DO'53'", ErrMalformed, len(buf)-hdr-n)
		}
		switch {
		case resp.SW == SWOK:
			if len(buf) == 0 {
				return nil, fmt.Errorf("mdoc response: %w", ErrEmptyResponse)
			}
			return DecodeDO53(buf)
		case resp.SW&0xff00 == SWMoreData:
		default:
			return nil, &StatusError{"mdoc response", resp.SW}
		}
		if gets >= maxGets {
			return nil, fmt.Errorf("GET RESPONSE: %w (%d)", ErrChainTooLong, gets)
		}
		ne := respSize
		if xx := int(resp.SW & 0xff); xx != 0 {
			ne = min(xx, respSize)
		}
		var err error
		resp, err = r.transmit(ctx, "GET RESPONSE", Command{CLA: 0x00, INS: INSGetResp, Ne: ne, Extended: r.Extended()})
		if err != nil {
			return nil, err
		}
	}
}
