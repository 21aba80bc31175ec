package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// linkWriteQueue bounds the session messages waiting to be written on one link.
const linkWriteQueue = 16

// linkFlushTimeout bounds how long a stopping link keeps writing queued messages.
const linkFlushTimeout = 2 * time.Second

// errWriteQueueFull is reported when a peer does not drain the link fast enough.
var errWriteQueueFull = errors.New("link write queue full")

// LinkProps returns the props of a link actor over conn. Its parent receives whole session
// messages (linkMessage) and one linkDown when the connection ends.
//
// A link has one reader goroutine for its whole life (none over a Conn that pushes its
// frames, transports.Pusher) and a writer goroutine only while it has messages its Conn
// cannot take at once, so an idle session costs at most one goroutine.
//
// maxMessage bounds a message the peer sends (≤ 0 or above it: messages.MaxMessageSize);
// the reassembler refuses one larger as its frames arrive.
func LinkProps(env *Env, conn transports.Conn, framer transports.Framer, maxMessage int) *actor.Props {
	if maxMessage <= 0 || maxMessage > messages.MaxMessageSize {
		maxMessage = messages.MaxMessageSize
	}
	return env.Props(func() actor.Actor {
		return &linkActor{env: env, conn: conn, framer: framer, maxMessage: maxMessage}
	})
}

type linkActor struct {
	env        *Env
	conn       transports.Conn
	framer     transports.Framer
	maxMessage int
	cancel     context.CancelFunc
	down       bool
	w          *linkWriter
}

// linkWriter is the part of a link shared with its writer goroutine.
type linkWriter struct {
	mu      sync.Mutex
	partial [][]byte // frames of a message the Conn could not take at once, written first
	queue   [][]byte
	writing bool
	closing bool // close the connection once the queue is written
	failed  bool
}

func (l *linkActor) Receive(ctx actor.Context) {
	contained(l.env.Counters, func() { l.receive(ctx) }, func(desc string) {
		l.reportDown(ctx, fmt.Errorf("link crashed: %s", desc))
	})
}

func (l *linkActor) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.start(ctx)
	case linkReadFailed:
		l.reportDown(ctx, m.err)
	case sendMessage:
		if l.down && !m.closeAfter {
			return
		}
		if err := l.enqueue(ctx, m.msg, m.closeAfter); err != nil {
			l.reportDown(ctx, err)
		}
	case *actor.Stopping:
		l.stop()
	}
}

func (l *linkActor) start(ctx actor.Context) {
	l.w = &linkWriter{}
	readCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	self, parent, system, conn := ctx.Self(), ctx.Parent(), ctx.ActorSystem(), l.conn
	reasm := l.framer.NewReassembler(l.maxMessage)
	// feed hands a frame to the reassembler, and the link's parent a message it completes
	feed := func(f []byte) error {
		msg, err := reasm.Feed(f)
		if err == nil && msg != nil {
			system.Root.Send(parent, linkMessage{msg: msg})
		}
		return err
	}
	// fail ends the reading: the error goes through this actor, unless it is stopping
	fail := func(err error) {
		if readCtx.Err() == nil {
			system.Root.Send(self, linkReadFailed{err: err})
		}
	}
	if p, ok := conn.(transports.Pusher); ok {
		// frames arrive on the sender's goroutine, one at a time: no reader goroutine
		failed := false
		deliver := func(f []byte) {
			if failed {
				return
			}
			if err := feed(f); err != nil {
				failed = true
				fail(err)
			}
		}
		end := func(err error) {
			if !failed {
				fail(err)
			}
		}
		if p.Push(deliver, end) {
			return
		}
	}
	l.env.Goroutines.Add(1)
	// reader, for the link's whole life: it owns the reassembler and hands the link's
	// parent whole messages directly (a message in many frames costs one actor message,
	// and none passes through this actor); a read or framing error ends the reading and
	// goes through the actor, which reports the link down once. The parent sees that
	// after every message read before it: both were sent in that order, the error by way
	// of this actor.
	go func() {
		defer l.env.Goroutines.Done()
		for {
			f, err := conn.ReadFrame(readCtx)
			if err == nil {
				if err = feed(f); err == nil {
					continue
				}
			}
			fail(err)
			return
		}
	}()
}

// enqueue sends a message, or queues it and starts a writer goroutine if none is
// running. A Conn that can take frames without waiting (transports.TryWriter) gets them
// here, when nothing is queued before them; only what it could not take at once goes to
// a writer goroutine.
func (l *linkActor) enqueue(ctx actor.Context, msg []byte, closeAfter bool) error {
	w := l.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return nil
	}
	if len(w.queue) >= linkWriteQueue {
		return errWriteQueueFull
	}
	w.closing = w.closing || closeAfter
	if w.writing {
		w.queue = append(w.queue, msg)
		return nil
	}
	if tw, ok := l.conn.(transports.TryWriter); ok {
		rest, err := l.tryWrite(tw, msg)
		if err != nil {
			w.failed = true
			return fmt.Errorf("write: %w", err)
		}
		if len(rest) == 0 {
			if w.closing {
				l.conn.Close()
				l.cancel()
			}
			return nil
		}
		w.partial = rest
	} else {
		w.queue = append(w.queue, msg)
	}
	w.writing = true
	l.env.Goroutines.Add(1)
	go l.writeLoop(ctx.Self(), ctx.ActorSystem())
	return nil
}

// tryWrite sends the frames of msg that tw takes without waiting and returns the rest.
func (l *linkActor) tryWrite(tw transports.TryWriter, msg []byte) ([][]byte, error) {
	frames, err := l.framer.Fragment(msg, l.conn.MaxFrameSize())
	if err != nil {
		return nil, err
	}
	for i, f := range frames {
		sent, err := tw.TryWriteFrame(f)
		if err != nil {
			return nil, err
		}
		if !sent {
			return frames[i:], nil
		}
	}
	return nil, nil
}

// writeLoop writes what is left of a message and the queued messages frame by frame,
// and exits when the queue is empty, closing the connection if asked to.
func (l *linkActor) writeLoop(self *actor.PID, system *actor.ActorSystem) {
	defer l.env.Goroutines.Done()
	w, conn, cancelRead := l.w, l.conn, l.cancel
	for {
		w.mu.Lock()
		frames := w.partial
		w.partial = nil
		if w.failed || frames == nil && len(w.queue) == 0 {
			w.writing = false
			closing := w.closing
			w.mu.Unlock()
			if closing {
				conn.Close()
				cancelRead()
			}
			return
		}
		var err error
		if frames != nil {
			w.mu.Unlock()
			err = l.writeFrames(frames)
		} else {
			msg := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.mu.Unlock()
			err = l.writeMessage(msg)
		}
		if err != nil {
			w.mu.Lock()
			w.failed, w.queue = true, nil
			w.mu.Unlock()
			system.Root.Send(self, linkReadFailed{err: fmt.Errorf("write: %w", err)})
		}
	}
}

func (l *linkActor) writeMessage(msg []byte) error {
	frames, err := l.framer.Fragment(msg, l.conn.MaxFrameSize())
	if err != nil {
		return err
	}
	return l.writeFrames(frames)
}

func (l *linkActor) writeFrames(frames [][]byte) error {
	for _, f := range frames {
		if err := l.conn.WriteFrame(context.Background(), f); err != nil {
			return err
		}
	}
	return nil
}

// stop ends reading at once and lets a running writer flush what is queued, within a
// bound; with nothing to write the connection closes now.
func (l *linkActor) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	w := l.w
	w.mu.Lock()
	w.closing = true
	writing := w.writing
	w.mu.Unlock()
	if !writing {
		l.conn.Close()
		return
	}
	conn := l.conn
	time.AfterFunc(linkFlushTimeout, func() { conn.Close() }) // unblocks a stuck writer
}

func (l *linkActor) reportDown(ctx actor.Context, err error) {
	if l.down {
		return
	}
	l.down = true
	ctx.Send(ctx.Parent(), linkDown{err: err})
}
