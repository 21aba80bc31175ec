package actors

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports"
)

// SessionSettings configure the reader sessions of one lane.
type SessionSettings struct {
	Reader *readersession.Config
	// ReaderFunc, when set, gives each new session its reader configuration (it is
	// read once, at the session's start): a lane can then change trust anchors without
	// touching sessions under way. Otherwise Reader is used.
	ReaderFunc func() *readersession.Config
	// EngagementTimeout bounds the time from arrival to the holder's first answer.
	EngagementTimeout time.Duration
	// InactivityTimeout bounds the silence between two messages after that.
	InactivityTimeout time.Duration
	Framer            transports.Framer
	// MaxMessageSize bounds one message from the holder, checked as its frames arrive,
	// before anything is decrypted or decoded (≤ 0: messages.MaxMessageSize). A lane
	// sets what its request can need (a response with the elements it asks for); a
	// larger message ends the session (ReasonMessageTooLarge).
	MaxMessageSize int
	// MaxMessageFunc, when set, gives each new session its message limit in place of
	// MaxMessageSize (read once, at its start): for a lane whose request can change.
	MaxMessageFunc func() int
}

// Default timeouts. 18013-5 asks for no less than 300 s of inactivity before giving up on
// a holder; a gate lane wants a verdict much sooner, so lanes set their own.
const (
	DefaultEngagementTimeout = 30 * time.Second
	DefaultInactivityTimeout = 300 * time.Second
)

// newSessionID returns a random 16-hex-digit session id.
func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sessionProps(env *Env, lane string, settings *SessionSettings, a *transports.Arrival, id string, started time.Time) *actor.Props {
	return env.Props(func() actor.Actor {
		return &sessionActor{env: env, lane: lane, settings: settings, arrival: a, id: id, started: started}
	}, actor.WithSupervisor(stopCounting(env)))
}

type sessionActor struct {
	env      *Env
	lane     string
	settings *SessionSettings
	arrival  *transports.Arrival
	id       string
	started  time.Time

	rs       *readersession.Session
	link     *actor.PID
	timer    *time.Timer
	timerGen uint64
	jobSeq   uint64
	jobEnded *atomic.Bool // of the last verification job asked for
	ended    bool
}

func (s *sessionActor) Receive(ctx actor.Context) {
	contained(s.env.Counters, func() { s.receive(ctx) }, func(desc string) {
		if s.rs == nil {
			s.rs = readersession.New(s.settings.reader())
		}
		s.apply(ctx, s.rs.Fail(readersession.Error, readersession.ReasonInternal, "session actor panic: "+desc))
	})
}

func (s *sessionActor) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.rs = readersession.New(s.settings.reader())
		if s.startWhole(ctx) {
			return
		}
		s.link = ctx.Spawn(LinkProps(s.env, s.arrival.Conn, s.settings.Framer, s.settings.maxMessage()))
		s.arm(ctx, s.settings.EngagementTimeout, "engagement_timeout")
		if a := s.arrival; a.ReaderKey != nil {
			s.apply(ctx, s.rs.StartReverse(a.ReaderKey, a.ReaderEngagement, a.DeviceEngagement))
		} else {
			s.apply(ctx, s.rs.Start(a.DeviceEngagement, a.Handover))
		}
	case linkMessage:
		if s.ended { // read after the verdict: nothing to do, no timer to arm
			return
		}
		s.arm(ctx, s.settings.InactivityTimeout, "inactivity_timeout")
		s.apply(ctx, s.rs.Receive(m.msg))
	case linkDown:
		detail := "link closed"
		if m.err != nil {
			detail = m.err.Error()
		}
		s.apply(ctx, s.rs.Fail(readersession.Error, linkReason(m.err), detail))
	case verifyResponse:
		if m.seq != s.jobSeq {
			return
		}
		switch {
		case m.busy:
			s.apply(ctx, s.rs.Fail(readersession.Error, ReasonCryptoBusy, "the lane's verification queue is full"))
		case m.failed != "":
			s.apply(ctx, s.rs.Fail(readersession.Error, "crypto_worker", "verification crashed: "+m.failed))
		default:
			m.result.Session = s.id // the decision names it (an operator's audit record)
			s.apply(ctx, s.rs.Verified(m.result))
		}
	case decideResponse:
		if m.seq != s.jobSeq {
			return
		}
		if m.failed != "" {
			s.apply(ctx, s.rs.Fail(readersession.Error, "decision", "decision crashed: "+m.failed))
			return
		}
		s.apply(ctx, s.rs.Decided(m.decision))
	case sessionTimeout:
		if m.gen != s.timerGen {
			return
		}
		s.apply(ctx, s.rs.Fail(readersession.Timeout, m.reason, "no answer from the holder in time"))
	case *actor.Terminated:
		if s.ended && m.Who.Equal(s.link) {
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopping:
		s.disarm()
		if !s.ended { // stopped from outside (lane shutting down) before a verdict
			s.apply(ctx, s.rs.Fail(readersession.Error, "shutdown", "session stopped before its verdict"))
		}
	}
}

// apply carries out a step of the state machine.
func (s *sessionActor) apply(ctx actor.Context, step readersession.Step) {
	if step.Send != nil && s.link != nil {
		ctx.Send(s.link, sendMessage{msg: step.Send, closeAfter: step.Done})
	}
	if step.Verify != nil {
		s.jobSeq++
		s.disarm() // verification is ours to finish; the holder is not being waited for
		s.jobEnded = &atomic.Bool{}
		ctx.Request(s.env.Pool, verifyRequest{job: step.Verify, seq: s.jobSeq, lane: s.lane, ended: s.jobEnded})
	}
	if step.Decide != nil {
		s.jobSeq++
		s.decide(ctx, step.Decide, s.jobSeq)
	}
	if step.Done && !s.ended {
		s.ended = true
		s.disarm()
		if s.jobEnded != nil {
			s.jobEnded.Store(true) // a verification still queued is dropped unrun
		}
		v, _ := s.rs.Verdict()
		sv := sessionVerdict(s.id, s.lane, s.arrival, s.started)
		sv.Outcome, sv.Reason, sv.Detail, sv.Result, sv.Note = v.Outcome, v.Reason, v.Detail, v.Result, v.Note
		sv.EngagementDigest = sha256.Sum256(s.arrival.DeviceEngagement)
		ctx.Request(ctx.Parent(), sessionEnded{verdict: sv}) // Request: the lane needs the sender
		stopAfterLink(ctx, s.link)
	}
}

// decide runs a decision that may wait (an operator looking at a portrait) on its own
// goroutine, so that it holds up neither this actor's worker nor any other session, and
// sends the outcome back as a decideResponse. The decision bounds its own wait (the
// gate's match timeout); a panic in it becomes an error verdict.
func (s *sessionActor) decide(ctx actor.Context, job *readersession.DecideJob, seq uint64) {
	self, system := ctx.Self(), ctx.ActorSystem()
	s.env.Goroutines.Add(1)
	go func() {
		defer s.env.Goroutines.Done()
		var resp decideResponse
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.env.Counters.Panics.Add(1)
					resp = decideResponse{seq: seq, failed: fmt.Sprint(r)}
				}
			}()
			resp = decideResponse{seq: seq, decision: job.Run()}
		}()
		system.Root.Send(self, resp)
	}()
}

func (s *sessionActor) arm(ctx actor.Context, d time.Duration, reason string) {
	s.disarm()
	if d <= 0 {
		return
	}
	s.timerGen++
	gen, self, system := s.timerGen, ctx.Self(), ctx.ActorSystem()
	s.timer = time.AfterFunc(d, func() { system.Root.Send(self, sessionTimeout{gen: gen, reason: reason}) })
}

func (s *sessionActor) disarm() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.timerGen++
}

// Verdict reasons of sessions that ended on their link.
const (
	// ReasonLinkClosed: the holder went away (closed or dropped the connection).
	ReasonLinkClosed = "link_closed"
	// ReasonLink: the link failed otherwise (a bearer fault, a peer that does not read).
	ReasonLink = "link"
	// ReasonLinkFraming: frames that do not make a message.
	ReasonLinkFraming = "link_framing"
	// ReasonMessageTooLarge: a message over the lane's size limit (SessionSettings
	// MaxMessageSize), refused before it was decrypted or decoded.
	ReasonMessageTooLarge = "message_too_large"
)

// linkReason is the verdict reason of a session whose link went down with err.
func linkReason(err error) string {
	switch {
	case errors.Is(err, transports.ErrMessageLimit):
		return ReasonMessageTooLarge
	case errors.Is(err, transports.ErrBadFrame):
		return ReasonLinkFraming
	case err == nil || errors.Is(err, transports.ErrClosed):
		return ReasonLinkClosed
	}
	return ReasonLink
}

func zapReason(reason any) zap.Field { return zap.String("reason", fmt.Sprint(reason)) }

// stopAfterLink lets the link write what it was last given before anything stops: a
// poison pill queues behind that message, whereas stopping the parent would stop the
// link at once (system messages overtake user messages) and lose the final status. The
// parent stops itself when the link's Terminated arrives.
func stopAfterLink(ctx actor.Context, link *actor.PID) {
	if link == nil {
		ctx.Stop(ctx.Self())
		return
	}
	ctx.Poison(link)
}

func (s *SessionSettings) maxMessage() int {
	if s.MaxMessageFunc != nil {
		return s.MaxMessageFunc()
	}
	return s.MaxMessageSize
}

func (s *SessionSettings) reader() *readersession.Config {
	if s.ReaderFunc != nil {
		return s.ReaderFunc()
	}
	return s.Reader
}
