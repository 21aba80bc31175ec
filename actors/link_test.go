package actors

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// countingConn counts how a link writes: frames taken at once (TryWriteFrame) and
// frames written by a writer goroutine (WriteFrame).
type countingConn struct {
	transports.Conn
	tw            transports.TryWriter
	tries, writes atomic.Int32
}

func (c *countingConn) WriteFrame(ctx context.Context, f []byte) error {
	c.writes.Add(1)
	return c.Conn.WriteFrame(ctx, f)
}

func (c *countingConn) TryWriteFrame(f []byte) (bool, error) {
	c.tries.Add(1)
	return c.tw.TryWriteFrame(f)
}

// linkParent spawns a link over conn and hands its PID out.
type linkParent struct {
	env   *Env
	conn  transports.Conn
	limit int
	pids  chan *actor.PID
}

func (p *linkParent) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		p.pids <- ctx.Spawn(LinkProps(p.env, p.conn, transports.ChunkFramer{}, p.limit))
	}
}

func startLink(t *testing.T, conn transports.Conn) (*actor.PID, *Env, *actor.ActorSystem) {
	t.Helper()
	env, system := testEnv(t)
	pids := make(chan *actor.PID, 1)
	system.Root.Spawn(env.Props(func() actor.Actor { return &linkParent{env: env, conn: conn, pids: pids} }))
	return <-pids, env, system
}

// readMessages reads whole messages off conn until it fails, and returns them with the
// error that ended the reading.
func readMessages(conn transports.Conn) ([][]byte, error) {
	r := transports.ChunkFramer{}.NewReassembler(messages.MaxMessageSize)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out [][]byte
	for {
		f, err := conn.ReadFrame(ctx)
		if err != nil {
			return out, err
		}
		msg, err := r.Feed(f)
		if err != nil {
			return out, err
		}
		if msg != nil {
			out = append(out, msg)
		}
	}
}

// TestLinkWritesWhatTheConnTakesAtOnce: over a Conn that can take frames without
// waiting, a link sends them from the actor and leaves only what the Conn could not take
// to a writer goroutine; messages arrive whole and in order, and the connection closes
// after the last one (closeAfter) either way.
func TestLinkWritesWhatTheConnTakesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		queue      int
		sizes      []int
		goroutines bool // some frames must wait for the reader
	}{
		{"all at once", 16, []int{20, 7, 3}, false},
		{"queue full", 2, []int{40, 20, 5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			readerSide, holderSide := memory.Pipe(memory.LinkConfig{MaxFrame: 8, QueueLen: tc.queue})
			conn := &countingConn{Conn: readerSide, tw: readerSide.(transports.TryWriter)}
			link, env, system := startLink(t, conn)
			var want [][]byte
			for i, n := range tc.sizes {
				msg := bytes.Repeat([]byte{byte('a' + i)}, n)
				want = append(want, msg)
				system.Root.Send(link, sendMessage{msg: msg, closeAfter: i == len(tc.sizes)-1})
			}
			if tc.goroutines {
				// nobody reads yet: the Conn takes two frames at once, then a writer
				// goroutine must wait for room
				deadline := time.Now().Add(5 * time.Second)
				for conn.writes.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if n := conn.tries.Load(); n != 3 {
					t.Fatalf("%d frames offered at once, want 2 taken and 1 refused", n)
				}
			}
			got, err := readMessages(holderSide)
			if !errors.Is(err, transports.ErrClosed) {
				t.Fatalf("reading ended with %v, want the link closed after the last message", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("message %d: % x, want % x", i, got[i], want[i])
				}
			}
			system.Root.Stop(link)
			env.Goroutines.Wait()
			tries, writes := conn.tries.Load(), conn.writes.Load()
			if tries == 0 {
				t.Fatal("the link never offered a frame to TryWriteFrame")
			}
			if tc.goroutines != (writes > 0) {
				t.Fatalf("%d frames taken at once, %d written by a goroutine; want goroutine writes %v", tries, writes, tc.goroutines)
			}
		})
	}
}

// A Conn that cannot say whether it would block gets every frame from a writer goroutine.
func TestLinkWithoutTryWriterUsesItsGoroutine(t *testing.T) {
	readerSide, holderSide := memory.Pipe(memory.LinkConfig{MaxFrame: 8})
	conn := &countingConn{Conn: readerSide}
	plain := struct{ transports.Conn }{conn} // hides TryWriteFrame
	link, env, system := startLink(t, plain)
	system.Root.Send(link, sendMessage{msg: bytes.Repeat([]byte{1}, 30), closeAfter: true})
	got, err := readMessages(holderSide)
	if !errors.Is(err, transports.ErrClosed) || len(got) != 1 || len(got[0]) != 30 {
		t.Fatalf("got %d messages, err %v", len(got), err)
	}
	system.Root.Stop(link)
	env.Goroutines.Wait()
	if conn.writes.Load() != 5 || conn.tries.Load() != 0 {
		t.Fatalf("writes %d, tries %d; want 5 frames by the goroutine", conn.writes.Load(), conn.tries.Load())
	}
}
