package transports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
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

// A message in several chunks is gathered in a pooled scratch buffer and copied out at
// its final size: one allocation of exactly the message, instead of a reserve that
// grows (and is cleared and copied) as chunks arrive. The buffers are small (a holder
// that sends one chunk and goes quiet keeps one until its session times out), and those
// that grew past maxPooledReassembly are left to the collector.
const (
	reassemblyScratchSize = 4 << 10
	maxPooledReassembly   = 16 << 10
)

var reassemblyScratch = sync.Pool{New: func() any { b := make([]byte, 0, reassemblyScratchSize); return &b }}

type chunkReassembler struct {
	scratch *[]byte // the pooled buffer under buf, while a message is being gathered
	buf     []byte
	limit   int
}

// release returns the scratch buffer, if any, to the pool.
func (r *chunkReassembler) release() {
	if r.scratch != nil && cap(r.buf) <= maxPooledReassembly {
		*r.scratch = r.buf[:0]
		reassemblyScratch.Put(r.scratch)
	}
	r.scratch, r.buf = nil, nil
}

func (r *chunkReassembler) Feed(frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return nil, ErrBadFrame
	}
	if len(r.buf)+len(frame)-1 > r.limit {
		r.release()
		return nil, ErrMessageLimit
	}
	switch frame[0] {
	case chunkMore:
		if r.scratch == nil {
			r.scratch = reassemblyScratch.Get().(*[]byte)
			r.buf = (*r.scratch)[:0]
		}
		r.buf = append(r.buf, frame[1:]...)
		return nil, nil
	case chunkLast:
		var msg []byte
		if r.scratch == nil {
			msg = bytes.Clone(frame[1:]) // a message in one chunk
		} else {
			r.buf = append(r.buf, frame[1:]...)
			msg = bytes.Clone(r.buf)
			r.release()
		}
		if len(msg) == 0 {
			return nil, ErrBadFrame
		}
		return msg, nil
	default:
		r.release()
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

// WholeMessages returns c as a Conn whose frames are whole session messages of at most
// limit bytes: WriteFrame cuts a message into c's frames with f, ReadFrame gathers c's
// frames back into a message. Its AirTime is c's when c models air time (AirTimer), else
// 0. A bearer whose sessions may continue on another bearer's framing (an NFC engagement
// handed to BLE) gives its sessions one framing this way.
func WholeMessages(c Conn, f Framer, limit int) Conn {
	return &wholeConn{c: c, f: f, limit: limit, re: f.NewReassembler(limit)}
}

type wholeConn struct {
	c     Conn
	f     Framer
	limit int
	re    Reassembler // used by the one reader
}

func (w *wholeConn) ReadFrame(ctx context.Context) ([]byte, error) {
	for {
		frame, err := w.c.ReadFrame(ctx)
		if err != nil {
			return nil, err
		}
		msg, err := w.re.Feed(frame)
		if err != nil || msg != nil {
			return msg, err
		}
	}
}

func (w *wholeConn) WriteFrame(ctx context.Context, msg []byte) error {
	if len(msg) > w.limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooBig, len(msg), w.limit)
	}
	frames, err := w.f.Fragment(msg, w.c.MaxFrameSize())
	if err != nil {
		return err
	}
	for _, fr := range frames {
		if err := w.c.WriteFrame(ctx, fr); err != nil {
			return err
		}
	}
	return nil
}

func (w *wholeConn) MaxFrameSize() int { return w.limit }
func (w *wholeConn) Close() error      { return w.c.Close() }

func (w *wholeConn) AirTime() time.Duration {
	if a, ok := w.c.(AirTimer); ok {
		return a.AirTime()
	}
	return 0
}
