// Package supervisor assembles the actor tree of one mdocgate process: a root guardian
// with the lanes under it (each lane supervising its sessions, each session its link),
// and the crypto pool under its own supervisor. It owns the actor system, the results
// stream and the engine-wide counters, and shuts everything down in order.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
)

// Config sizes an engine.
type Config struct {
	// Workers is the crypto pool size; 0 means one per CPU.
	Workers int
	// CryptoQueuePerLane bounds each lane's verification jobs waiting for a worker; 0
	// means actors.DefaultCryptoQueuePerLane.
	CryptoQueuePerLane int
	// MaxInFlight bounds concurrent sessions across all lanes; 0 means 100,000.
	MaxInFlight int
	// Log receives the engine's and protoactor's logs; nil means no logging.
	Log *zap.Logger
	// ChaosPanic is the probability of an injected crypto worker panic per job.
	ChaosPanic float64
	// MailboxWorkers is the number of long-lived goroutines that run the actors'
	// mailboxes (actors.WorkerDispatcher); 0 means four per CPU, negative means
	// protoactor's default of a new goroutine per mailbox run.
	MailboxWorkers int
}

// Engine is a running actor tree.
type Engine struct {
	system *actor.ActorSystem
	env    *actors.Env
	pool   *actor.PID
	lanes  *actor.PID
	// dispatcher runs the mailboxes; nil with protoactor's default
	dispatcher *actors.WorkerDispatcher
	mu         sync.Mutex
	stopped    bool
}

// Start builds the tree: the crypto pool first, then an empty lanes supervisor.
func Start(cfg Config) *Engine {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 100_000
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(NewZapHandler(log.Named("protoactor"), slog.LevelWarn))
	}))
	var dispatcher *actors.WorkerDispatcher
	if cfg.MailboxWorkers >= 0 {
		dispatcher = actors.NewWorkerDispatcher(cfg.MailboxWorkers, 0)
	}
	env := &actors.Env{
		Results:    actors.NewResults(),
		Counters:   &actors.Counters{},
		Log:        log,
		Admission:  actors.NewAdmission(cfg.MaxInFlight),
		Goroutines: &sync.WaitGroup{},
		ChaosPanic: cfg.ChaosPanic,
	}
	if dispatcher != nil {
		env.Dispatcher = dispatcher
	}
	e := &Engine{system: system, env: env, dispatcher: dispatcher}
	e.pool, _ = system.Root.SpawnNamed(actors.CryptoPoolProps(env, actors.PoolConfig{Workers: cfg.Workers, QueuePerLane: cfg.CryptoQueuePerLane}), "crypto")
	env.Pool = e.pool
	e.lanes, _ = system.Root.SpawnNamed(env.Props(func() actor.Actor { return &lanesSupervisor{env: env} }), "lanes")
	return e
}

// Env returns the shared environment (results, counters) of the engine.
func (e *Engine) Env() *actors.Env { return e.env }

// Results is the verdict stream.
func (e *Engine) Results() *actors.Results { return e.env.Results }

// Counters are the engine-wide counts.
func (e *Engine) Counters() *actors.Counters { return e.env.Counters }

// System returns the actor system, for spawning simulated holders.
func (e *Engine) System() *actor.ActorSystem { return e.system }

// addLane asks the lanes supervisor to start a lane.
type addLane struct{ cfg *actors.LaneConfig }

// AddLane starts a lane. It returns once the lane actor exists.
func (e *Engine) AddLane(cfg *actors.LaneConfig) error {
	if cfg.Name == "" || cfg.Listener == nil {
		return errors.New("supervisor: a lane needs a name and a listener")
	}
	res, err := e.system.Root.RequestFuture(e.lanes, addLane{cfg: cfg}, 5*time.Second).Result()
	if err != nil {
		return err
	}
	if err, ok := res.(error); ok {
		return err
	}
	return nil
}

// SpawnHolder starts a simulated holder actor at the top level.
func (e *Engine) SpawnHolder(cfg *actors.HolderConfig) *actor.PID {
	return e.system.Root.Spawn(actors.HolderProps(e.env, cfg))
}

// Drain waits until no session is in flight, and no arrival a lane has taken from its
// listener waits for admission, or ctx ends.
func (e *Engine) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for e.env.Counters.InFlight.Load() > 0 || e.env.Counters.Arriving.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("supervisor: %d sessions still in flight, %d arrivals waiting for admission: %w",
				e.env.Counters.InFlight.Load(), e.env.Counters.Arriving.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Shutdown stops accepting, gives in-flight sessions until ctx ends to finish (those
// still running then end with an error verdict), stops the pool and the actor system,
// and waits for every I/O goroutine.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	e.mu.Unlock()
	drainErr := e.Drain(ctx)
	_ = e.system.Root.StopFuture(e.lanes).Wait()
	_ = e.system.Root.StopFuture(e.pool).Wait()
	done := make(chan struct{})
	go func() { e.env.Goroutines.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		if e.dispatcher != nil {
			go e.dispatcher.Stop() // its workers finish once the actors they run return
		}
		return errors.New("supervisor: I/O goroutines did not stop")
	}
	e.system.Shutdown()
	if e.dispatcher != nil {
		e.dispatcher.Stop()
	}
	return drainErr
}

// lanesSupervisor is the parent of every lane.
type lanesSupervisor struct{ env *actors.Env }

func (s *lanesSupervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case addLane:
		pid, err := ctx.SpawnNamed(actors.LaneProps(s.env, m.cfg), "lane-"+m.cfg.Name)
		if err != nil {
			ctx.Respond(fmt.Errorf("supervisor: lane %s: %w", m.cfg.Name, err))
			return
		}
		ctx.Respond(pid)
	}
}
