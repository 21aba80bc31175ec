package actors

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// Env is what every actor of one engine shares: read-only settings, atomic counters and
// the results stream. Actors never share any other state.
type Env struct {
	Results  *Results
	Counters *Counters
	Log      *zap.Logger
	// Pool is the crypto pool dispatcher; set before any lane starts.
	Pool *actor.PID
	// Admission bounds in-flight sessions across all lanes.
	Admission *Admission
	// Goroutines tracks the I/O goroutines links and lanes start, so that shutdown can
	// wait for them.
	Goroutines *sync.WaitGroup
	// ChaosPanic is the probability that a crypto worker panics on a job (fault injection).
	ChaosPanic float64
	// Dispatcher, when set, runs every actor's mailbox (see WorkerDispatcher); nil keeps
	// protoactor's goroutine-per-run default.
	Dispatcher actor.Dispatcher
}

// Props returns the props of an actor of this engine: producer, the options given, and
// the engine's dispatcher.
func (e *Env) Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	if e.Dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(e.Dispatcher))
	}
	return actor.PropsFromProducer(producer, opts...)
}

// Admission is a global bound on in-flight sessions.
type Admission struct {
	max int64
	cur atomic.Int64
}

// NewAdmission returns a bound of max sessions (0 means unbounded).
func NewAdmission(max int) *Admission { return &Admission{max: int64(max)} }

// TryAcquire takes a slot if one is free.
func (a *Admission) TryAcquire() bool {
	for {
		c := a.cur.Load()
		if a.max > 0 && c >= a.max {
			return false
		}
		if a.cur.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// Release returns a slot.
func (a *Admission) Release() { a.cur.Add(-1) }

// InUse returns the slots taken.
func (a *Admission) InUse() int64 { return a.cur.Load() }

func (e *Env) chaos() bool {
	return e.ChaosPanic > 0 && rand.Float64() < e.ChaosPanic
}
