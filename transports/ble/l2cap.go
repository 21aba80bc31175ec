package ble

import (
	"encoding/binary"
	"fmt"

	"github.com/mdocgate/mdocgate/transports"
)

// l2capPrefix is the length prefix of a message on an L2CAP channel.
const l2capPrefix = 4

// AppendL2CAPMessage appends msg to dst framed for an L2CAP channel: a 4-byte big-endian
// length, then the message.
func AppendL2CAPMessage(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// L2CAPParser splits the byte stream of an L2CAP channel into length-prefixed messages.
// It never buffers more than the limit plus one prefix: a declared length over the limit
// is refused (transports.ErrMessageLimit) before its bytes arrive, and so is a zero
// length (transports.ErrBadFrame; session messages are never empty). After an error the
// parser is broken: the stream cannot be resynchronised.
type L2CAPParser struct {
	limit int
	buf   []byte
	want  int // length of the message being read, -1 while reading a prefix
	msgs  [][]byte
	err   error
}

// NewL2CAPParser returns a parser accepting messages of at most limit bytes.
func NewL2CAPParser(limit int) *L2CAPParser { return &L2CAPParser{limit: limit, want: -1} }

// Feed takes the next bytes of the stream (any segmentation).
func (p *L2CAPParser) Feed(b []byte) error {
	if p.err != nil {
		return p.err
	}
	for len(b) > 0 {
		if p.want < 0 {
			n := min(l2capPrefix-len(p.buf), len(b))
			p.buf, b = append(p.buf, b[:n]...), b[n:]
			if len(p.buf) < l2capPrefix {
				return nil
			}
			size := binary.BigEndian.Uint32(p.buf)
			p.buf = p.buf[:0]
			switch {
			case size == 0:
				p.err = fmt.Errorf("%w: L2CAP message of length 0", transports.ErrBadFrame)
			case uint64(size) > uint64(p.limit):
				p.err = fmt.Errorf("%w: L2CAP message of %d bytes, limit %d", transports.ErrMessageLimit, size, p.limit)
			}
			if p.err != nil {
				return p.err
			}
			p.want = int(size)
			p.buf = make([]byte, 0, min(p.want, 64<<10))
			continue
		}
		n := min(p.want-len(p.buf), len(b))
		p.buf, b = append(p.buf, b[:n]...), b[n:]
		if len(p.buf) == p.want {
			p.msgs = append(p.msgs, p.buf)
			p.buf, p.want = nil, -1
		}
	}
	return nil
}

// Next returns the oldest complete message not yet returned.
func (p *L2CAPParser) Next() ([]byte, bool) {
	if len(p.msgs) == 0 {
		return nil, false
	}
	m := p.msgs[0]
	p.msgs[0] = nil
	p.msgs = p.msgs[1:]
	return m, true
}

// Pending reports whether a message has started but not completed.
func (p *L2CAPParser) Pending() bool { return p.want >= 0 || len(p.buf) > 0 }

// MessageFramer is the framing of L2CAP connections: one frame is one whole session
// message (the channel does its own length framing).
type MessageFramer = transports.WholeMessageFramer
