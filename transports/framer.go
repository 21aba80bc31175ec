package transports

import (
	"errors"
	"fmt"
)

// Framer cuts a session message into frames and reassembles frames into messages.
// Reassemblers bound the message size; they never buffer more than the limit.
type Framer interface {
	Fragment(msg []byte, maxFrame int) ([][]byte, error)
	NewReassembler(limit int) Reassembler
}

// Reassembler turns frames back into whole messages.
type Reassembler interface {
	// Feed takes one frame; it returns a message when the frame completed one.
	Feed(frame []byte) (msg []byte, err error)
}

// ChunkFramer is the 18013-5 BLE style framing: each frame is a 1-byte header
// (0x01: more frames follow, 0x00: last frame) followed by a chunk of the message.
type ChunkFramer struct{}

// Chunk headers.
const (
	chunkMore = 0x01
	chunkLast = 0x00
)

// Fragment splits msg into frames of at most maxFrame bytes including the header.
func (ChunkFramer) Fragment(msg []byte, maxFrame int) ([][]byte, error) {
	if maxFrame < 2 {
		return nil, errors.New("transports: frame size too small for chunking")
	}
	if len(msg) == 0 {
		return nil, errors.New("transports: empty message") // session messages are never empty
	}
	per := maxFrame - 1
	n := (len(msg) + per - 1) / per
	if n == 0 {
		n = 1
	}
	frames := make([][]byte, 0, n)
	backing := make([]byte, 0, len(msg)+n) // one allocation for every frame
	for i := 0; i < n; i++ {
		start := i * per
		end := min(start+per, len(msg))
		hdr := byte(chunkMore)
		if i == n-1 {
			hdr = chunkLast
		}
		at := len(backing)
		backing = append(append(backing, hdr), msg[start:end]...)
		frames = append(frames, backing[at:len(backing):len(backing)])
	}
	return frames, nil
}

// NewReassembler returns a reassembler bounded to limit bytes per message.
func (ChunkFramer) NewReassembler(limit int) Reassembler { return &chunkReassembler{limit: limit} }

// reassemblyStart is the least a chunk reassembler reserves for a message in several chunks.
const reassemblyStart = 4096

type chunkReassembler struct {
	buf   []byte
	limit int
}

func (r *chunkReassembler) Feed(frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return nil, ErrBadFrame
	}
	if len(r.buf)+len(frame)-1 > r.limit {
		r.buf = nil
		return nil, ErrMessageLimit
	}
	switch frame[0] {
	case chunkMore:
		if r.buf == nil {
			// a message in several chunks: reserve for a few at once rather than
			// growing (and copying) chunk by chunk
			r.buf = make([]byte, 0, min(r.limit, max(reassemblyStart, 8*len(frame))))
		}
		r.buf = append(r.buf, frame[1:]...)
		return nil, nil
	case chunkLast:
		msg := append(r.buf, frame[1:]...)
		r.buf = nil
		if len(msg) == 0 {
			return nil, ErrBadFrame
		}
		return msg, nil
	default:
		r.buf = nil
		return nil, ErrBadFrame
	}
}

// WholeMessageFramer is the framing of bearers that carry whole session messages (an
// HTTP body, a WebSocket message, an L2CAP SDU, an APDU chain): one frame is one
// message. Fragment fails for an empty message or one larger than maxFrame; the
// reassembler returns every non-empty frame of at most limit bytes and never buffers.
type WholeMessageFramer struct{}

var _ Framer = WholeMessageFramer{}

// Fragment returns msg as the single frame.
func (WholeMessageFramer) Fragment(msg []byte, maxFrame int) ([][]byte, error) {
	if len(msg) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrBadFrame)
	}
	if len(msg) > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooBig, len(msg), maxFrame)
	}
	return [][]byte{msg}, nil
}

// NewReassembler returns a reassembler bounded to limit bytes per message.
func (WholeMessageFramer) NewReassembler(limit int) Reassembler { return wholeReassembler{limit} }

type wholeReassembler struct{ limit int }

func (r wholeReassembler) Feed(frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return nil, ErrBadFrame
	}
	if len(frame) > r.limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageLimit, len(frame), r.limit)
	}
	return frame, nil
}
