package apdu

import (
	"context"
	"fmt"
)

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
	// MaxMessage bounds a message reassembled from responses.
	MaxMessage int
	// MaxGetResponse bounds the GET RESPONSE commands for one message (0: enough for
	// MaxMessage at MaxResponse per response, plus 16).
	MaxGetResponse int
}

// Extended reports whether the reader uses extended-length APDUs.
func (r *Reader) Extended() bool { return r.MaxCommand > MaxShortData && r.MaxResponse > MaxShortNe }

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

// SelectMdoc selects the mdoc application.
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

// Send carries one session message to the mdoc in ENVELOPE commands (chained when it is
// longer than MaxCommand) and returns the mdoc's message if the response to the last
// ENVELOPE started one (following 61XX with GET RESPONSE), or nil if the mdoc had
// nothing to say yet. An empty msg sends an ENVELOPE without data: a poll.
func (r *Reader) Send(ctx context.Context, msg []byte) ([]byte, error) {
	cmdSize, respSize := r.sizes()
	data := msg
	if len(msg) > 0 {
		data = EncodeDO53(msg)
	}
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
				return nil, nil // nothing yet
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
