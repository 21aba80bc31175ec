package actors

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/transports"
)

// EngageFunc connects a simulated holder to a reader: it hands over the engagement and
// returns the holder's side of the connection, or transports.ErrBusy.
type EngageFunc func(ctx context.Context, deviceEngagement, handover []byte) (transports.Conn, error)

// HolderSession is the state machine a simulated holder actor drives
// (holdersession.Session is one). The actor package names only this, so that a gate,
// which runs no simulated holders, links no holder code and no test issuing authority.
type HolderSession interface {
	DeviceEngagement() []byte
	// SetHandover sets the handover of a bearer whose engagement has its own (NFC).
	SetHandover(handover cbor.RawMessage)
	// BindReverse binds the session to the ReaderEngagement its bearer answered.
	BindReverse(readerEngagement []byte) error
	// Answer handles one message from the reader: what to send back, whether the
	// session is over for the holder, and why it ended if not normally.
	Answer(msg []byte) (send []byte, done bool, err error)
}

// HolderConfig describes one simulated holder.
type HolderConfig struct {
	// NewSession starts the holder's state machine when its actor starts.
	NewSession func() (HolderSession, error)
	Engage     EngageFunc
	// EngageAtOnce says Engage never waits (transports.Capabilities.EngagesAtOnce): the
	// actor calls it itself instead of on a goroutine of its own.
	EngageAtOnce bool
	Framer       transports.Framer
	// Think is the holder's delay before each answer (a person confirming on a phone).
	Think time.Duration
	// Retries is how often a busy reader is tried again, after RetryAfter each time.
	Retries    int
	RetryAfter time.Duration
	// Done is called once with the holder's own view of how the session went.
	Done func(HolderReport)
}

// HolderReport is a simulated holder's view of its session.
type HolderReport struct {
	EngagementDigest [32]byte
	Engaged          bool  // a reader took the engagement
	Busy             bool  // every attempt met a busy reader
	Err              error // why the holder ended abnormally, if it did
	Attempts         int
}

// HolderProps returns the props of a simulated holder actor.
func HolderProps(env *Env, cfg *HolderConfig) *actor.Props {
	if cfg.Framer == nil {
		cfg.Framer = transports.ChunkFramer{}
	}
	return env.Props(func() actor.Actor { return &holderActor{env: env, cfg: cfg} },
		actor.WithSupervisor(stopCounting(env)))
}

type holderActor struct {
	env      *Env
	cfg      *HolderConfig
	hs       HolderSession
	link     *actor.PID
	report   HolderReport
	reported bool
	timer    *time.Timer
	pending  *pendingEngagement // the engagement under way, if any
}

// pendingEngagement is an engagement running on its own goroutine (over the Internet it
// is a network call, and Receive never blocks). Whoever comes second of the actor giving
// up and the connection arriving closes the connection.
type pendingEngagement struct {
	mu        sync.Mutex
	abandoned bool
	conn      transports.Conn // arrived and not yet taken by the actor
}

// holderEngaged carries the outcome of an engagement to the holder actor.
type holderEngaged struct {
	p    *pendingEngagement
	conn transports.Conn
	err  error
}

// holderRetry asks the holder to try engaging again.
type holderRetry struct{}

func (h *holderActor) Receive(ctx actor.Context) {
	contained(h.env.Counters, func() { h.receive(ctx) }, func(desc string) {
		h.finish(ctx, errors.New("holder actor panic: "+desc))
	})
}

func (h *holderActor) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		hs, err := h.cfg.NewSession()
		if err != nil {
			h.finish(ctx, err)
			return
		}
		h.hs = hs
		h.engage(ctx)
	case holderRetry:
		h.engage(ctx)
	case holderEngaged:
		h.engaged(ctx, m)
	case linkMessage:
		if h.reported { // a message read after the holder's end
			return
		}
		if h.cfg.Think > 0 {
			self, system := ctx.Self(), ctx.ActorSystem()
			msg := m.msg
			h.timer = time.AfterFunc(h.cfg.Think, func() { system.Root.Send(self, holderThink{msg: msg}) })
			return
		}
		h.answer(ctx, m.msg)
	case holderThink:
		h.answer(ctx, m.msg)
	case linkDown:
		if errors.Is(m.err, transports.ErrBusy) {
			h.report.Busy = true
		}
		h.finish(ctx, m.err)
	case *actor.Terminated:
		if h.reported && m.Who.Equal(h.link) {
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopping:
		if h.timer != nil {
			h.timer.Stop()
		}
		h.abandonEngagement()
		h.finish(ctx, errors.New("holder stopped"))
	}
}

func (h *holderActor) engage(ctx actor.Context) {
	h.report.Attempts++
	h.report.EngagementDigest = digest(h.hs.DeviceEngagement())
	p := &pendingEngagement{}
	h.pending = p
	self, system, engage, de := ctx.Self(), ctx.ActorSystem(), h.cfg.Engage, h.hs.DeviceEngagement()
	if h.cfg.EngageAtOnce {
		conn, err := engage(context.Background(), de, []byte{0xf6})
		p.conn = conn
		h.engaged(ctx, holderEngaged{p: p, conn: conn, err: err})
		return
	}
	h.env.Goroutines.Add(1)
	go func() {
		defer h.env.Goroutines.Done()
		engageCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := engage(engageCtx, de, []byte{0xf6})
		cancel()
		p.mu.Lock()
		if p.abandoned {
			p.mu.Unlock()
			if conn != nil {
				conn.Close()
			}
			return
		}
		p.conn = conn
		p.mu.Unlock()
		system.Root.Send(self, holderEngaged{p: p, conn: conn, err: err})
	}()
}

// engaged continues once the engagement has an outcome.
func (h *holderActor) engaged(ctx actor.Context, m holderEngaged) {
	if m.p != h.pending || !m.p.take() {
		return
	}
	h.pending = nil
	conn, err := m.conn, m.err
	if h.reported {
		if conn != nil {
			conn.Close()
		}
		return
	}
	if errors.Is(err, transports.ErrBusy) && h.report.Attempts <= h.cfg.Retries {
		self, system := ctx.Self(), ctx.ActorSystem()
		h.timer = time.AfterFunc(h.cfg.RetryAfter, func() { system.Root.Send(self, holderRetry{}) })
		return
	}
	if err != nil {
		h.report.Busy = errors.Is(err, transports.ErrBusy)
		h.finish(ctx, err)
		return
	}
	h.report.Engaged = true
	// Bearers whose engagement has its own handover (NFC: the Hs and Hr messages), or
	// that engaged by reverse engagement (the web), tell the holder, so that both sides
	// build the same SessionTranscript.
	switch c := conn.(type) {
	case transports.HandoverConn:
		h.hs.SetHandover(c.Handover())
	case transports.ReverseEngagedConn:
		if err := h.hs.BindReverse(c.ReaderEngagement()); err != nil {
			conn.Close() // the reader sees the link end: an error verdict
			h.finish(ctx, err)
			return
		}
	}
	h.link = ctx.Spawn(LinkProps(h.env, conn, h.cfg.Framer, 0))
}

// take claims the arrived connection for the actor; false once abandoned.
func (p *pendingEngagement) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.abandoned {
		return false
	}
	p.abandoned = true // from now on nobody else closes the connection
	p.conn = nil
	return true
}

// abandonEngagement gives up an engagement under way: its connection, arrived or still
// to come, is closed.
func (h *holderActor) abandonEngagement() {
	p := h.pending
	if p == nil {
		return
	}
	h.pending = nil
	p.mu.Lock()
	p.abandoned = true
	conn := p.conn
	p.conn = nil
	p.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

func (h *holderActor) answer(ctx actor.Context, msg []byte) {
	send, done, err := h.hs.Answer(msg)
	if send != nil {
		ctx.Send(h.link, sendMessage{msg: send, closeAfter: done})
	}
	if done {
		h.finish(ctx, err)
	}
}

func (h *holderActor) finish(ctx actor.Context, err error) {
	if h.reported {
		return
	}
	h.reported = true
	h.report.Err = err
	if h.cfg.Done != nil {
		h.cfg.Done(h.report)
	}
	stopAfterLink(ctx, h.link)
}
