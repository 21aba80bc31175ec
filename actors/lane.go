package actors

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports"
)

// LaneConfig describes one gate lane.
type LaneConfig struct {
	Name     string
	Listener transports.Listener
	Sessions SessionSettings
	// MaxInFlight bounds the lane's concurrent sessions (0 means 256).
	MaxInFlight int
	// InFlight, when set, is kept equal to the lane's sessions in flight, for whoever
	// answers busy ahead of the lane (a web server before its upgrade).
	InFlight *atomic.Int64
	// Busy, when set, counts the arrivals this lane refused for lack of capacity (the
	// engine-wide Counters.Busy counts them too).
	Busy *atomic.Int64
}

// LaneProps returns the props of a lane actor. The lane owns its listener and closes it
// when it stops.
func LaneProps(env *Env, cfg *LaneConfig) *actor.Props {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Sessions.Framer == nil {
		cfg.Sessions.Framer = transports.ChunkFramer{}
	}
	return env.Props(func() actor.Actor {
		return &laneActor{env: env, cfg: cfg, open: map[string]*openSession{}}
	}, actor.WithSupervisor(stopCounting(env)))
}

type openSession struct {
	id      string
	started time.Time
	arrival *transports.Arrival
}

// sessionGone is queued behind any verdict a stopped session sent, so that a verdict
// already on its way is never mistaken for a lost session.
type sessionGone struct{ pid *actor.PID }

type laneActor struct {
	env    *Env
	cfg    *LaneConfig
	open   map[string]*openSession // by session actor id
	cancel context.CancelFunc
}

func (l *laneActor) Receive(ctx actor.Context) {
	defer func() {
		// A lane must outlive anything its sessions or listener do: contain, count, go on.
		if r := recover(); r != nil {
			l.env.Counters.Panics.Add(1)
			l.env.Log.Error("lane recovered from a panic", zap.String("lane", l.cfg.Name), zap.Any("panic", r))
		}
	}()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.startAccepting(ctx)
	case arrival:
		l.admit(ctx, m.a)
	case sessionEnded:
		l.ended(ctx, m.verdict)
	case *actor.Terminated:
		ctx.Send(ctx.Self(), sessionGone{pid: m.Who})
	case sessionGone:
		if o, ok := l.open[m.pid.Id]; ok {
			// The session actor vanished without a verdict: give it one, never silently.
			delete(l.open, m.pid.Id)
			v := sessionVerdict(o.id, l.cfg.Name, o.arrival, o.started)
			v.Outcome, v.Reason, v.Detail = readersession.Error, "session_lost", "session actor stopped without a verdict"
			l.ended(ctx, v)
		}
	case acceptFailed:
		if !errors.Is(m.err, transports.ErrClosed) && !errors.Is(m.err, context.Canceled) {
			l.env.Log.Error("lane listener failed", zap.String("lane", l.cfg.Name), zap.Error(m.err))
		}
	case *actor.Stopping:
		if l.cancel != nil {
			l.cancel()
		}
		l.cfg.Listener.Close()
		// The lane will not read its mailbox again: the sessions it is stopping get their
		// verdict here, so that none ends silently.
		for pid, o := range l.open {
			delete(l.open, pid)
			v := sessionVerdict(o.id, l.cfg.Name, o.arrival, o.started)
			v.Outcome, v.Reason, v.Detail = readersession.Error, "shutdown", "engine stopped before the session's verdict"
			l.ended(ctx, v)
		}
	}
}

func (l *laneActor) startAccepting(ctx actor.Context) {
	acceptCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	self, system, listener := ctx.Self(), ctx.ActorSystem(), l.cfg.Listener
	l.env.Goroutines.Add(1)
	go func() {
		defer l.env.Goroutines.Done()
		for {
			a, err := listener.Accept(acceptCtx)
			if err != nil {
				system.Root.Send(self, acceptFailed{err: err})
				return
			}
			// counted until admit has counted it in flight or refused it, so that a
			// drain does not end with a holder waiting in the lane's mailbox
			l.env.Counters.Arriving.Add(1)
			system.Root.Send(self, arrival{a: a})
		}
	}()
}

// admit starts a session for an arrival, or refuses it at once when the lane or the
// engine is full: a clear busy answer instead of an unbounded queue.
func (l *laneActor) admit(ctx actor.Context, a *transports.Arrival) {
	defer l.env.Counters.Arriving.Add(-1)
	if len(l.open) >= l.cfg.MaxInFlight || !l.env.Admission.TryAcquire() {
		l.env.Counters.Busy.Add(1)
		if l.cfg.Busy != nil {
			l.cfg.Busy.Add(1)
		}
		if a.Reject != nil {
			a.Reject(transports.ErrBusy)
		} else {
			a.Conn.Close()
		}
		return
	}
	id, now := a.ID, time.Now()
	if id == "" {
		id = newSessionID()
	}
	// counted before the spawn: the session may write to its holder before Spawn
	// returns, and a shutdown waiting for no session in flight must not miss it
	l.env.Counters.Started.Add(1)
	l.env.Counters.InFlight.Add(1)
	pid := ctx.Spawn(sessionProps(l.env, l.cfg.Name, &l.cfg.Sessions, a, id, now))
	l.open[pid.Id] = &openSession{id: id, started: now, arrival: a}
	l.count()
}

// count publishes the lane's sessions in flight (LaneConfig.InFlight).
func (l *laneActor) count() {
	if l.cfg.InFlight != nil {
		l.cfg.InFlight.Store(int64(len(l.open)))
	}
}

// ended publishes a verdict. A session's own verdict counts only while the lane still
// holds it open; the lane's verdicts for lost or stopped sessions are given after
// removing them.
func (l *laneActor) ended(ctx actor.Context, v *SessionVerdict) {
	if _, fromSession := ctx.Message().(sessionEnded); fromSession {
		sender := ctx.Sender()
		if sender == nil {
			return
		}
		if _, ok := l.open[sender.Id]; !ok {
			return // its verdict was already given
		}
		delete(l.open, sender.Id)
	}
	l.count()
	// published while the session still counts as in flight: whoever waits for no
	// session in flight (Drain) has then seen every verdict
	l.env.Results.publish(v)
	l.env.Admission.Release()
	l.env.Counters.InFlight.Add(-1)
	l.env.Counters.Ended.Add(1)
	fields := []zap.Field{zap.String("session", v.SessionID), zap.String("lane", v.Lane), zap.String("bearer", v.Bearer),
		zap.String("outcome", string(v.Outcome)), zap.Duration("latency", v.Latency())}
	if v.Reason != "" {
		fields = append(fields, zap.String("reason", v.Reason), zap.String("detail", v.Detail))
	}
	if v.Outcome == readersession.Accepted {
		l.env.Log.Debug("session verdict", fields...)
	} else {
		l.env.Log.Info("session verdict", fields...)
	}
}
