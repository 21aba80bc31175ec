package web

import (
	"fmt"

	"github.com/mdocgate/mdocgate/transports"
)

// WholeMessage is the framer of bearers that carry whole messages (an HTTP body, a
// WebSocket message): one frame is one message. Fragment fails for an empty message or
// one larger than maxFrame; the reassembler returns every non-empty frame of at most
// limit bytes as a message and never buffers.
type WholeMessage struct{}

var _ transports.Framer = WholeMessage{}

// Fragment returns msg as the single frame.
func (WholeMessage) Fragment(msg []byte, maxFrame int) ([][]byte, error) {
	if len(msg) == 0 {
		return nil, fmt.Errorf("%w: empty message", transports.ErrBadFrame)
	}
	if len(msg) > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", transports.ErrFrameTooBig, len(msg), maxFrame)
	}
	return [][]byte{msg}, nil
}

// NewReassembler returns a reassembler bounded to limit bytes per message.
func (WholeMessage) NewReassembler(limit int) transports.Reassembler { return wholeReassembler{limit} }

type wholeReassembler struct{ limit int }

func (r wholeReassembler) Feed(frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: empty message", transports.ErrBadFrame)
	}
	if len(frame) > r.limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", transports.ErrMessageLimit, len(frame), r.limit)
	}
	return frame, nil
}
