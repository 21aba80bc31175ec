package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// linkWriteQueue bounds the frames waiting to be written on one link.
const linkWriteQueue = 1024

// linkFlushTimeout bounds how long a stopping link keeps writing queued frames.
const linkFlushTimeout = 2 * time.Second

// errWriteQueueFull is reported when a peer does not drain the link fast enough.
var errWriteQueueFull = errors.New("link write queue full")

// LinkProps returns the props of a link actor over conn. Its parent receives whole session
// messages (linkMessage) and one linkDown when the connection ends.
func LinkProps(env *Env, conn transports.Conn, framer transports.Framer) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &linkActor{env: env, conn: conn, framer: framer}
	})
}

type linkActor struct {
	env    *Env
	conn   transports.Conn
	framer transports.Framer
	reasm  transports.Reassembler
	out    chan []byte
	cancel context.CancelFunc
	down   bool
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
	case linkFrame:
		if l.down {
			return
		}
		msg, err := l.reasm.Feed(m.frame)
		if err != nil {
			l.reportDown(ctx, err)
			return
		}
		if msg != nil {
			ctx.Send(ctx.Parent(), linkMessage{msg: msg})
		}
	case linkReadFailed:
		l.reportDown(ctx, m.err)
	case sendMessage:
		if l.down && !m.closeAfter {
			return
		}
		frames, err := l.framer.Fragment(m.msg, l.conn.MaxFrameSize())
		if err != nil {
			l.reportDown(ctx, err)
			return
		}
		for _, f := range frames {
			select {
			case l.out <- f:
			default:
				l.reportDown(ctx, errWriteQueueFull)
				return
			}
		}
		if m.closeAfter {
			select {
			case l.out <- nil: // the writer closes the connection after the queued frames
			default:
			}
		}
	case *actor.Stopping:
		l.stop()
	}
}

func (l *linkActor) start(ctx actor.Context) {
	l.reasm = l.framer.NewReassembler(messages.MaxMessageSize)
	l.out = make(chan []byte, linkWriteQueue)
	readCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	self, system := ctx.Self(), ctx.ActorSystem()
	conn, out := l.conn, l.out
	wg := l.env.Goroutines
	wg.Add(2)
	go func() { // reader: frames to the actor
		defer wg.Done()
		for {
			f, err := conn.ReadFrame(readCtx)
			if err != nil {
				if readCtx.Err() == nil {
					system.Root.Send(self, linkReadFailed{err: err})
				}
				return
			}
			system.Root.Send(self, linkFrame{frame: f})
		}
	}()
	go func() { // writer: queued frames to the bearer, then close
		defer wg.Done()
		defer conn.Close()
		defer cancel()
		writeCtx, stopWrites := context.WithCancel(context.Background())
		defer stopWrites()
		for f := range out {
			if f == nil {
				return
			}
			if err := conn.WriteFrame(writeCtx, f); err != nil {
				system.Root.Send(self, linkReadFailed{err: fmt.Errorf("write: %w", err)})
				return
			}
		}
	}()
}

// stop ends reading at once and lets the writer flush what is queued, within a bound.
func (l *linkActor) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	close(l.out)
	conn := l.conn
	timer := time.AfterFunc(linkFlushTimeout, func() { conn.Close() })
	_ = timer
}

func (l *linkActor) reportDown(ctx actor.Context, err error) {
	if l.down {
		return
	}
	l.down = true
	ctx.Send(ctx.Parent(), linkDown{err: err})
}
