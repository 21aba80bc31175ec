package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// pushed records what a pushing Conn hands over.
type pushed struct {
	mu     sync.Mutex
	frames []string
	ends   []error
}

func (p *pushed) deliver(f []byte) {
	p.mu.Lock()
	p.frames = append(p.frames, string(f))
	p.mu.Unlock()
}
func (p *pushed) end(err error) { p.mu.Lock(); p.ends = append(p.ends, err); p.mu.Unlock() }

func (p *pushed) got() ([]string, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.frames...), append([]error(nil), p.ends...)
}

func push(t *testing.T, c transports.Conn) *pushed {
	t.Helper()
	p := &pushed{}
	if !c.(transports.Pusher).Push(p.deliver, p.end) {
		t.Fatal("Push declined")
	}
	return p
}

func sameFrames(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// Frames queued before Push come first, then each frame as it is written, in order;
// ReadFrame is refused; the peer's close ends the stream once with what ReadFrame would
// have returned.
func TestPushDeliversInOrderThenEnds(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{QueueLen: 4})
	mustWrite(t, ctx, r, []byte("queued 1"))
	mustWrite(t, ctx, r, []byte("queued 2"))
	p := push(t, h)
	if h.(transports.Pusher).Push(p.deliver, p.end) {
		t.Fatal("a second Push was accepted")
	}
	for i := 0; i < 20; i++ { // more than the queue holds: pushed frames free their slot
		mustWrite(t, ctx, r, []byte{byte('a' + i)})
	}
	frames, ends := p.got()
	want := []string{"queued 1", "queued 2"}
	for i := 0; i < 20; i++ {
		want = append(want, string(rune('a'+i)))
	}
	if !sameFrames(frames, want...) || len(ends) != 0 {
		t.Fatalf("frames %q, ends %v", frames, ends)
	}
	if _, err := h.ReadFrame(ctx); err == nil {
		t.Fatal("ReadFrame on a pushing Conn succeeded")
	}
	r.Close()
	r.Close()
	if _, ends := p.got(); len(ends) != 1 || !errors.Is(ends[0], transports.ErrClosed) {
		t.Fatalf("ends %v, want one ErrClosed", ends)
	}
	h.Close()
}

// Once closed on its own side, a pushing Conn hands over nothing, not even the end.
func TestPushStopsAtOwnClose(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{})
	p := push(t, h)
	mustWrite(t, ctx, r, []byte("before"))
	h.Close()
	if err := r.WriteFrame(ctx, []byte("after")); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("write to a closed peer: %v", err)
	}
	r.Close()
	if frames, ends := p.got(); !sameFrames(frames, "before") || len(ends) != 0 {
		t.Fatalf("frames %q, ends %v", frames, ends)
	}
}

// A refused arrival ends the holder's pushed stream with ErrBusy, whether the refusal
// comes before or after Push.
func TestPushBusy(t *testing.T) {
	ctx := ctxT(t)
	for _, early := range []bool{true, false} {
		l := memory.NewListener("push", 2)
		hc, a := engageAccepted(t, ctx, l)
		var p *pushed
		if !early {
			p = push(t, hc)
		}
		a.Reject(nil)
		if early {
			p = push(t, hc)
		}
		if _, ends := p.got(); len(ends) != 1 || !errors.Is(ends[0], transports.ErrBusy) {
			t.Fatalf("early %v: ends %v, want one ErrBusy", early, ends)
		}
		hc.Close()
		l.Close()
	}
}

// Faults apply as they do to read frames: a dropped frame never arrives, a corrupted one
// arrives changed, and the frame that breaks the link arrives before both ends are told.
func TestPushFaults(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Faults: memory.Faults{Drop: 1}})
	p := push(t, h)
	mustWrite(t, ctx, r, []byte("lost"))
	if frames, _ := p.got(); len(frames) != 0 || stats(r).Dropped != 1 {
		t.Fatalf("dropped frame delivered: %q", frames)
	}
	r.Close()
	h.Close()

	r, h = memory.Pipe(memory.LinkConfig{Faults: memory.Faults{Corrupt: 1, Seed: 7}})
	p = push(t, h)
	mustWrite(t, ctx, r, []byte("intact"))
	if frames, _ := p.got(); len(frames) != 1 || frames[0] == "intact" {
		t.Fatalf("corrupted frame %q", frames)
	}
	r.Close()
	h.Close()

	r, h = memory.Pipe(memory.LinkConfig{Faults: memory.Faults{DisconnectAfterFrames: 2}})
	pr, ph := push(t, r), push(t, h)
	mustWrite(t, ctx, r, []byte("one"))
	mustWrite(t, ctx, h, []byte("two"))
	if err := r.WriteFrame(ctx, []byte("three")); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("write after the break: %v", err)
	}
	fr, er := pr.got()
	fh, eh := ph.got()
	if !sameFrames(fh, "one") || !sameFrames(fr, "two") || len(er) != 1 || len(eh) != 1 ||
		!errors.Is(er[0], transports.ErrClosed) || !errors.Is(eh[0], transports.ErrClosed) {
		t.Fatalf("reader side %q %v, holder side %q %v", fr, er, fh, eh)
	}
	r.Close()
	h.Close()
}

// In real time frames wait for their due time, which only ReadFrame can do.
func TestPushDeclinedInRealTime(t *testing.T) {
	r, h := memory.Pipe(memory.LinkConfig{RealTime: true})
	defer r.Close()
	defer h.Close()
	if h.(transports.Pusher).Push(func([]byte) {}, func(error) {}) {
		t.Fatal("Push accepted in real-time mode")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.ReadFrame(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFrame after a declined Push: %v", err)
	}
}
