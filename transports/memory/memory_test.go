package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustWrite(t *testing.T, ctx context.Context, c transports.Conn, p []byte) {
	t.Helper()
	if err := c.WriteFrame(ctx, p); err != nil {
		t.Fatalf("WriteFrame: %v", err)
	}
}

func mustRead(t *testing.T, ctx context.Context, c transports.Conn) []byte {
	t.Helper()
	p, err := c.ReadFrame(ctx)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	return p
}

func stats(c transports.Conn) memory.Stats { return c.(*memory.Conn).Stats() }

func airTime(t *testing.T, c transports.Conn) time.Duration {
	t.Helper()
	at, ok := c.(transports.AirTimer)
	if !ok {
		t.Fatal("memory.Conn does not implement transports.AirTimer")
	}
	return at.AirTime()
}

func TestOrderingBothDirections(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{QueueLen: 4})
	defer r.Close()
	defer h.Close()
	const n = 100
	var wg sync.WaitGroup
	wg.Add(2)
	for _, p := range []struct{ from, to transports.Conn }{{r, h}, {h, r}} {
		go func() {
			defer wg.Done()
			for i := range n {
				if err := p.from.WriteFrame(ctx, []byte(fmt.Sprintf("frame %d", i))); err != nil {
					t.Errorf("write %d: %v", i, err)
					return
				}
			}
		}()
	}
	for _, c := range []transports.Conn{h, r} {
		for i := range n {
			got, err := c.ReadFrame(ctx)
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			if want := fmt.Sprintf("frame %d", i); string(got) != want {
				t.Fatalf("read %d: got %q, want %q", i, got, want)
			}
		}
	}
	wg.Wait()
}

func TestFrameSizeLimit(t *testing.T) {
	ctx := ctxT(t)
	for _, max := range []int{0, 20, 512} {
		r, h := memory.Pipe(memory.LinkConfig{MaxFrame: max})
		want := max
		if want == 0 {
			want = memory.DefaultMaxFrame
		}
		if r.MaxFrameSize() != want || h.MaxFrameSize() != want {
			t.Fatalf("MaxFrame %d: MaxFrameSize = %d/%d, want %d", max, r.MaxFrameSize(), h.MaxFrameSize(), want)
		}
		mustWrite(t, ctx, r, make([]byte, want))
		if err := r.WriteFrame(ctx, make([]byte, want+1)); !errors.Is(err, transports.ErrFrameTooBig) {
			t.Fatalf("MaxFrame %d: oversized write: %v, want ErrFrameTooBig", max, err)
		}
		if got := mustRead(t, ctx, h); len(got) != want {
			t.Fatalf("read %d bytes, want %d", len(got), want)
		}
		if s := stats(r); s.Sent != 1 {
			t.Fatalf("oversized frame counted: %+v", s)
		}
		r.Close()
		h.Close()
	}
}

func TestNoAliasing(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{})
	defer r.Close()
	buf := []byte("hello")
	mustWrite(t, ctx, r, buf)
	buf[0] = 'J'
	got := mustRead(t, ctx, h)
	if string(got) != "hello" {
		t.Fatalf("frame aliased the writer's buffer: %q", got)
	}
	mustWrite(t, ctx, r, []byte{})
	if got := mustRead(t, ctx, h); len(got) != 0 {
		t.Fatalf("empty frame read as %q", got)
	}
}

func TestAirTimeAccounting(t *testing.T) {
	ctx := ctxT(t)
	cfg := memory.LinkConfig{Latency: 7 * time.Millisecond, Bandwidth: 1000, MaxFrame: 300}
	r, h := memory.Pipe(cfg)
	defer r.Close()
	start := time.Now()
	sizes := []int{0, 1, 100, 300, 3}
	var want time.Duration
	for _, n := range sizes {
		mustWrite(t, ctx, r, make([]byte, n))
		mustRead(t, ctx, h)
		// n bytes at 1000 B/s is n ms.
		want += 7*time.Millisecond + time.Duration(n)*time.Millisecond
	}
	if got := airTime(t, r); got != want {
		t.Fatalf("reader AirTime = %v, want %v", got, want)
	}
	if got := airTime(t, h); got != 0 {
		t.Fatalf("holder sent nothing but AirTime = %v", got)
	}
	mustWrite(t, ctx, h, make([]byte, 250))
	mustRead(t, ctx, r)
	if got := airTime(t, h); got != 257*time.Millisecond {
		t.Fatalf("holder AirTime = %v, want 257ms", got)
	}
	// Not real time: nowhere near the 0.7 s modelled.
	if el := time.Since(start); el > want/2 {
		t.Logf("non-realtime exchange took %v (modelled %v): delays seem to be slept", el, want)
	}
	// Sub-nanosecond remainders are truncated per frame: 1 byte at 3 B/s.
	r2, h2 := memory.Pipe(memory.LinkConfig{Bandwidth: 3})
	defer r2.Close()
	for range 3 {
		mustWrite(t, ctx, r2, []byte{1})
		mustRead(t, ctx, h2)
	}
	if got, want := airTime(t, r2), 3*(time.Second/3); got != want {
		t.Fatalf("AirTime = %v, want %v", got, want)
	}
}

func TestNonRealTimeDoesNotSleep(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Latency: time.Hour, Faults: memory.Faults{Stall: 1, StallFor: time.Hour}})
	defer r.Close()
	mustWrite(t, ctx, r, []byte("x"))
	if got := mustRead(t, ctx, h); string(got) != "x" {
		t.Fatalf("got %q", got)
	}
	if got := airTime(t, r); got != 2*time.Hour {
		t.Fatalf("AirTime = %v, want 2h (latency + stall)", got)
	}
}

func TestRealTimeDelays(t *testing.T) {
	ctx := ctxT(t)
	const lat = 30 * time.Millisecond
	// 100 bytes at 10 kB/s is 10 ms on the air.
	r, h := memory.Pipe(memory.LinkConfig{Latency: lat, Bandwidth: 10000, RealTime: true})
	defer r.Close()
	start := time.Now()
	for range 3 {
		mustWrite(t, ctx, r, make([]byte, 100))
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("writes blocked for %v", el)
	}
	for i := range 3 {
		mustRead(t, ctx, h)
		// Frame i leaves after (i+1) transmissions and arrives lat later.
		if min := lat + time.Duration(i+1)*10*time.Millisecond; time.Since(start) < min {
			t.Fatalf("frame %d delivered after %v, before its due time %v", i, time.Since(start), min)
		}
	}
	if got := airTime(t, r); got != 3*(lat+10*time.Millisecond) {
		t.Fatalf("AirTime = %v", got)
	}
}

func TestRealTimeReadHonoursContext(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Latency: 200 * time.Millisecond, RealTime: true})
	defer r.Close()
	mustWrite(t, ctx, r, []byte("late"))
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := h.ReadFrame(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read before due time: %v, want DeadlineExceeded", err)
	}
	// The frame is not lost: the next read returns it.
	if got := mustRead(t, ctx, h); string(got) != "late" {
		t.Fatalf("got %q", got)
	}
}

func TestStallRealTime(t *testing.T) {
	ctx := ctxT(t)
	const stall = 80 * time.Millisecond
	r, h := memory.Pipe(memory.LinkConfig{RealTime: true, Faults: memory.Faults{Stall: 1, StallFor: stall, Seed: 1}})
	defer r.Close()
	start := time.Now()
	mustWrite(t, ctx, r, []byte("a"))
	mustWrite(t, ctx, r, []byte("b"))
	if string(mustRead(t, ctx, h)) != "a" || string(mustRead(t, ctx, h)) != "b" {
		t.Fatal("stalled frames out of order")
	}
	// Both stalled, and the second waits behind the first.
	if el := time.Since(start); el < 2*stall {
		t.Fatalf("two stalled frames delivered after %v, want at least %v", el, 2*stall)
	}
	if s := stats(r); s.Stalled != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// faultRun writes n numbered frames through a link with the given faults and returns
// what arrived and the sender's stats.
func faultRun(t *testing.T, f memory.Faults, n int) ([][]byte, memory.Stats) {
	t.Helper()
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Faults: f, QueueLen: n})
	defer r.Close()
	for i := range n {
		mustWrite(t, ctx, r, bytes.Repeat([]byte{byte(i)}, 16))
	}
	st := stats(r)
	var got [][]byte
	for range st.Sent - st.Dropped {
		got = append(got, mustRead(t, ctx, h))
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	if p, err := h.ReadFrame(short); err == nil {
		t.Fatalf("more frames delivered than sent minus dropped: %x", p)
	}
	return got, st
}

func TestDropDeterministic(t *testing.T) {
	f := memory.Faults{Drop: 0.3, Seed: 42}
	got1, st1 := faultRun(t, f, 200)
	got2, st2 := faultRun(t, f, 200)
	if st1 != st2 || len(got1) != len(got2) {
		t.Fatalf("same seed, different runs: %+v vs %+v", st1, st2)
	}
	for i := range got1 {
		if !bytes.Equal(got1[i], got2[i]) {
			t.Fatalf("same seed, frame %d differs", i)
		}
	}
	if st1.Dropped < 30 || st1.Dropped > 90 {
		t.Fatalf("dropped %d of 200 at p=0.3", st1.Dropped)
	}
	// Survivors are intact and in order.
	last := -1
	for _, p := range got1 {
		if int(p[0]) <= last || !bytes.Equal(p, bytes.Repeat(p[:1], 16)) {
			t.Fatalf("bad survivor %x after %d", p, last)
		}
		last = int(p[0])
	}
	_, st3 := faultRun(t, memory.Faults{Drop: 0.3, Seed: 43}, 200)
	_, st4 := faultRun(t, memory.Faults{Drop: 1}, 10)
	if st4.Dropped != 10 {
		t.Fatalf("Drop=1 dropped %d of 10", st4.Dropped)
	}
	t.Logf("seed 42 dropped %d, seed 43 dropped %d", st1.Dropped, st3.Dropped)
	// A caller-supplied generator works too and is deterministic.
	_, st5 := faultRun(t, memory.Faults{Drop: 0.5, Rand: rand.New(rand.NewPCG(1, 2))}, 100)
	_, st6 := faultRun(t, memory.Faults{Drop: 0.5, Rand: rand.New(rand.NewPCG(1, 2))}, 100)
	if st5 != st6 {
		t.Fatalf("same Rand, different runs: %+v vs %+v", st5, st6)
	}
}

func TestCorrupt(t *testing.T) {
	got, st := faultRun(t, memory.Faults{Corrupt: 1, Seed: 7}, 50)
	if st.Corrupted != 50 || len(got) != 50 {
		t.Fatalf("stats %+v, %d delivered", st, len(got))
	}
	for i, p := range got {
		want := bytes.Repeat([]byte{byte(i)}, 16)
		diff := 0
		for j := range p {
			if p[j] != want[j] {
				diff++
			}
		}
		if len(p) != len(want) || diff != 1 {
			t.Fatalf("frame %d: %d bytes differ (len %d), want exactly 1", i, diff, len(p))
		}
	}
	again, _ := faultRun(t, memory.Faults{Corrupt: 1, Seed: 7}, 50)
	for i := range got {
		if !bytes.Equal(got[i], again[i]) {
			t.Fatalf("same seed, frame %d corrupted differently", i)
		}
	}
}

func TestDisconnectAfterFrames(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Faults: memory.Faults{DisconnectAfterFrames: 3}})
	defer r.Close()
	defer h.Close()
	mustWrite(t, ctx, r, []byte("1"))
	mustWrite(t, ctx, h, []byte("2"))
	mustWrite(t, ctx, r, []byte("3")) // the third frame breaks the link, but is carried
	for _, c := range []transports.Conn{r, h} {
		if err := c.WriteFrame(ctx, []byte("x")); !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("write after disconnect: %v", err)
		}
	}
	if string(mustRead(t, ctx, h)) != "1" || string(mustRead(t, ctx, h)) != "3" {
		t.Fatal("frames written before the break were not delivered")
	}
	if string(mustRead(t, ctx, r)) != "2" {
		t.Fatal("frame written before the break was not delivered")
	}
	for _, c := range []transports.Conn{r, h} {
		if _, err := c.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("read after disconnect: %v", err)
		}
	}
}

func TestDisconnectWakesBlockedReader(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Faults: memory.Faults{DisconnectAfterFrames: 1, Drop: 1}})
	defer r.Close()
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := r.ReadFrame(ctx) // nothing will ever come from the holder
		errc <- err
	}()
	mustWrite(t, ctx, r, []byte("lost")) // dropped, and breaks the link
	if err := <-errc; !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("blocked read: %v", err)
	}
	if _, err := h.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("peer read: %v", err)
	}
}

func TestCloseSemantics(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{})
	mustWrite(t, ctx, r, []byte("a"))
	mustWrite(t, ctx, r, []byte("b"))
	mustWrite(t, ctx, h, []byte("to reader"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The closer: everything fails at once, even with a frame queued towards it.
	if _, err := r.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("closer read: %v", err)
	}
	if err := r.WriteFrame(ctx, []byte("c")); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("closer write: %v", err)
	}
	// The peer: writes fail, reads drain what was queued, then fail.
	if err := h.WriteFrame(ctx, []byte("c")); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("peer write: %v", err)
	}
	if string(mustRead(t, ctx, h)) != "a" || string(mustRead(t, ctx, h)) != "b" {
		t.Fatal("peer lost queued frames")
	}
	for range 2 {
		if _, err := h.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("peer read after drain: %v", err)
		}
	}
	h.Close()
}

func TestCloseWakesPendingCalls(t *testing.T) {
	ctx := ctxT(t)
	for _, closeSide := range []string{"self", "peer"} {
		t.Run(closeSide, func(t *testing.T) {
			r, h := memory.Pipe(memory.LinkConfig{QueueLen: 1})
			defer r.Close()
			defer h.Close()
			mustWrite(t, ctx, r, []byte("fills the queue"))
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Add(2)
			go func() { defer wg.Done(); errs <- r.WriteFrame(ctx, []byte("blocked")) }()
			go func() { defer wg.Done(); _, err := r.ReadFrame(ctx); errs <- err }()
			time.Sleep(20 * time.Millisecond) // let both block (not needed for correctness)
			if closeSide == "self" {
				r.Close()
			} else {
				h.Close()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, transports.ErrClosed) {
					t.Fatalf("pending call: %v, want ErrClosed", err)
				}
			}
		})
	}
}

func TestCloseWhileWaitingForDueTime(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{Latency: time.Hour, RealTime: true})
	defer r.Close()
	mustWrite(t, ctx, r, []byte("never due"))
	errc := make(chan error, 1)
	go func() { _, err := h.ReadFrame(ctx); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	h.Close()
	if err := <-errc; !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("read waiting for due time, own side closed: %v", err)
	}
}

func TestBackPressure(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{QueueLen: 2})
	defer r.Close()
	mustWrite(t, ctx, r, []byte("1"))
	mustWrite(t, ctx, r, []byte("2"))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.WriteFrame(short, []byte("3")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write to a full queue: %v, want DeadlineExceeded", err)
	}
	// The refused frame was not sent and not accounted.
	if s := stats(r); s.Sent != 2 {
		t.Fatalf("stats %+v", s)
	}
	done := make(chan error, 1)
	go func() { done <- r.WriteFrame(ctx, []byte("3")) }()
	if string(mustRead(t, ctx, h)) != "1" {
		t.Fatal("order")
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked write after a read: %v", err)
	}
	if string(mustRead(t, ctx, h)) != "2" || string(mustRead(t, ctx, h)) != "3" {
		t.Fatal("order")
	}
	cancelled, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := r.WriteFrame(cancelled, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with a cancelled context: %v", err)
	}
	if _, err := h.ReadFrame(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: %v", err)
	}
}

// TryWriteFrame sends while the peer's queue has room and refuses, sending nothing,
// once it is full; it fails as WriteFrame does on a closed link or an oversized frame.
func TestTryWriteFrame(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{QueueLen: 2, MaxFrame: 4})
	tw := r.(transports.TryWriter)
	for _, f := range []string{"1", "2"} {
		if sent, err := tw.TryWriteFrame([]byte(f)); !sent || err != nil {
			t.Fatalf("frame %s with room: sent %v, %v", f, sent, err)
		}
	}
	if sent, err := tw.TryWriteFrame([]byte("3")); sent || err != nil {
		t.Fatalf("frame to a full queue: sent %v, %v; want refused without error", sent, err)
	}
	if s := stats(r); s.Sent != 2 {
		t.Fatalf("the refused frame was accounted: %+v", s)
	}
	if string(mustRead(t, ctx, h)) != "1" {
		t.Fatal("order")
	}
	if sent, err := tw.TryWriteFrame([]byte("3")); !sent || err != nil {
		t.Fatalf("frame after a read made room: sent %v, %v", sent, err)
	}
	if string(mustRead(t, ctx, h)) != "2" || string(mustRead(t, ctx, h)) != "3" {
		t.Fatal("order")
	}
	if _, err := tw.TryWriteFrame([]byte("12345")); !errors.Is(err, transports.ErrFrameTooBig) {
		t.Fatalf("oversized frame: %v", err)
	}
	h.Close()
	if sent, err := tw.TryWriteFrame([]byte("x")); sent || !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("frame to a closed peer: sent %v, %v", sent, err)
	}
	r.Close()
}

func TestConcurrentReadWrite(t *testing.T) {
	ctx := ctxT(t)
	r, h := memory.Pipe(memory.LinkConfig{QueueLen: 3, MaxFrame: 64})
	defer r.Close()
	defer h.Close()
	const n = 2000
	var wg sync.WaitGroup
	// Each side echoes what it reads on one goroutine while another writes.
	for _, c := range []transports.Conn{r, h} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := c.WriteFrame(ctx, []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
				_ = c.(transports.AirTimer).AirTime()
			}
		}()
		go func() {
			defer wg.Done()
			for i := range n {
				p, err := c.ReadFrame(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if string(p) != fmt.Sprint(i) {
					t.Errorf("got %q want %d", p, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestListenerAcceptAndEngage(t *testing.T) {
	ctx := ctxT(t)
	l := memory.NewListener("gate 1", 2)
	defer l.Close()
	if l.Bearer() != "memory" || l.Name() != "gate 1" {
		t.Fatalf("Bearer %q Name %q", l.Bearer(), l.Name())
	}
	de, ho := []byte{0xa1, 0x00, 0x01}, []byte{0xf6}
	hc, err := l.Engage(ctx, de, ho, memory.LinkConfig{MaxFrame: 100})
	if err != nil {
		t.Fatal(err)
	}
	de[0] = 0 // the arrival holds a copy
	a, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.DeviceEngagement, []byte{0xa1, 0x00, 0x01}) || !bytes.Equal(a.Handover, ho) || a.Bearer != "memory" || a.Reject == nil {
		t.Fatalf("arrival %+v", a)
	}
	if a.Conn.MaxFrameSize() != 100 {
		t.Fatalf("link config not applied: %d", a.Conn.MaxFrameSize())
	}
	mustWrite(t, ctx, a.Conn, []byte("SessionEstablishment"))
	if string(mustRead(t, ctx, hc)) != "SessionEstablishment" {
		t.Fatal("conn not connected")
	}
	mustWrite(t, ctx, hc, []byte("SessionData"))
	if string(mustRead(t, ctx, a.Conn)) != "SessionData" {
		t.Fatal("conn not connected")
	}
	a.Conn.Close()
	hc.Close()

	// Accept blocks until an arrival.
	got := make(chan *transports.Arrival, 1)
	go func() {
		a, err := l.Accept(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	time.Sleep(10 * time.Millisecond)
	hc2, err := l.Engage(ctx, de, nil, memory.LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a2 := <-got
	a2.Conn.Close()
	hc2.Close()

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := l.Accept(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept with nothing to accept: %v", err)
	}
}

func TestListenerBusyBacklog(t *testing.T) {
	ctx := ctxT(t)
	l := memory.NewListener("busy", 2)
	defer l.Close()
	var conns []transports.Conn
	for range 2 {
		c, err := l.Engage(ctx, []byte{1}, nil, memory.LinkConfig{})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	start := time.Now()
	if _, err := l.Engage(ctx, []byte{1}, nil, memory.LinkConfig{}); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("Engage with a full backlog: %v, want ErrBusy", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Engage waited on a full backlog")
	}
	a, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Conn.Close()
	c, err := l.Engage(ctx, []byte{1}, nil, memory.LinkConfig{})
	if err != nil {
		t.Fatalf("Engage after a slot freed: %v", err)
	}
	conns = append(conns, c)
	// Closing the listener closes the holders still waiting in the backlog.
	l.Close()
	for i, c := range conns {
		if _, err := c.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("holder %d after listener close: %v", i, err)
		}
	}
}

// engageAccepted engages a holder with l and accepts its arrival: the holder's end and
// the reader's arrival.
func engageAccepted(t *testing.T, ctx context.Context, l *memory.Listener) (transports.Conn, *transports.Arrival) {
	t.Helper()
	hc, err := l.Engage(ctx, []byte{1}, nil, memory.LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return hc, a
}

func TestListenerReject(t *testing.T) {
	ctx := ctxT(t)
	l := memory.NewListener("reject", 4)
	defer l.Close()
	for _, reason := range []error{nil, transports.ErrBusy, errors.New("lane full")} {
		hc, a := engageAccepted(t, ctx, l)
		// The holder is already waiting for the SessionEstablishment.
		errc := make(chan error, 1)
		go func() { _, err := hc.ReadFrame(ctx); errc <- err }()
		a.Reject(reason)
		a.Reject(reason) // idempotent
		readErr := <-errc
		if !errors.Is(readErr, transports.ErrBusy) {
			t.Fatalf("holder read after Reject(%v): %v, want ErrBusy", reason, readErr)
		}
		if reason != nil && !errors.Is(readErr, reason) {
			t.Fatalf("reason %v lost: %v", reason, readErr)
		}
		if err := hc.WriteFrame(ctx, []byte{1}); !errors.Is(err, transports.ErrBusy) {
			t.Fatalf("holder write after Reject: %v", err)
		}
		if _, err := a.Conn.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("reader side after Reject: %v", err)
		}
		hc.Close()
	}
}

func TestListenerClose(t *testing.T) {
	ctx := ctxT(t)
	l := memory.NewListener("close", 1)
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(ctx); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("pending Accept: %v", err)
	}
	if _, err := l.Accept(ctx); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := l.Engage(ctx, nil, nil, memory.LinkConfig{}); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("Engage after Close: %v", err)
	}
}

func TestNetwork(t *testing.T) {
	ctx := ctxT(t)
	var n memory.Network
	l, err := n.Listen("lane", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Listen("lane", 1); err == nil {
		t.Fatal("name taken twice")
	}
	if _, err := n.Engage(ctx, "nobody", nil, nil, memory.LinkConfig{}); !errors.Is(err, memory.ErrNoListener) {
		t.Fatalf("Engage unknown name: %v", err)
	}
	hc, err := n.Engage(ctx, "lane", []byte{1}, nil, memory.LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if got, ok := n.Lookup("lane"); !ok || got != l {
		t.Fatal("Lookup")
	}
	l.Close()
	if _, ok := n.Lookup("lane"); ok {
		t.Fatal("closed listener still registered")
	}
	if l2, err := n.Listen("lane", 1); err != nil {
		t.Fatalf("name not freed: %v", err)
	} else {
		l2.Close()
	}
}

func BenchmarkPipe(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run(fmt.Sprintf("frame-%d", size), func(b *testing.B) {
			ctx := context.Background()
			r, h := memory.Pipe(memory.LinkConfig{MaxFrame: size, Latency: time.Millisecond, Bandwidth: 1 << 20})
			defer r.Close()
			frame := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			done := make(chan error, 1)
			go func() {
				for range b.N {
					if _, err := h.ReadFrame(ctx); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.ResetTimer()
			for range b.N {
				if err := r.WriteFrame(ctx, frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(r.(transports.AirTimer).AirTime())/float64(b.N)/1e6, "modelled-ms/frame")
		})
	}
}
