package actors

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// WorkerDispatcher runs actor mailboxes on long-lived goroutines instead of a new
// goroutine per mailbox run (protoactor's default). A session's actors run deep crypto
// code; on a fresh goroutine every run pays for stack growth (copystack) and goroutine
// creation, which the engine benchmark showed as ~8 % of all CPU. Workers keep their
// grown stacks.
//
// A run is handed to an idle worker or, when none is idle, to a new goroutine: nothing
// ever waits in a queue behind a busy worker, so an actor that blocks (a bearer whose
// engagement is a network call) slows only itself, and no mailbox can be stranded.
type WorkerDispatcher struct {
	mu      sync.RWMutex // held shared by Schedule, exclusively by Stop
	stopped bool
	work    chan func() // unbuffered: a send succeeds only into an idle worker's hands
	done    sync.WaitGroup
	through int
}

var _ actor.Dispatcher = (*WorkerDispatcher)(nil)

// NewWorkerDispatcher starts workers goroutines (≤ 0: sixteen per CPU); throughput is the
// messages a mailbox processes before yielding (≤ 0: 300, protoactor's default).
func NewWorkerDispatcher(workers, throughput int) *WorkerDispatcher {
	if workers <= 0 {
		workers = 16 * runtime.GOMAXPROCS(0)
	}
	if throughput <= 0 {
		throughput = 300
	}
	d := &WorkerDispatcher{work: make(chan func()), through: throughput}
	d.done.Add(workers)
	for i := 0; i < workers; i++ {
		go func() {
			defer d.done.Done()
			for fn := range d.work {
				fn()
			}
		}()
	}
	return d
}

// Schedule runs fn on an idle worker, or on a new goroutine when every worker is busy or
// the dispatcher is stopped. It never blocks.
func (d *WorkerDispatcher) Schedule(fn func()) {
	d.mu.RLock()
	if !d.stopped {
		select {
		case d.work <- fn:
			d.mu.RUnlock()
			return
		default:
		}
	}
	d.mu.RUnlock()
	go fn()
}

// Throughput is the number of messages a mailbox run processes before it yields.
func (d *WorkerDispatcher) Throughput() int { return d.through }

// Stop waits for the workers to finish their runs and exit. Later Schedule calls run on
// their own goroutines.
func (d *WorkerDispatcher) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	close(d.work)
	d.mu.Unlock()
	d.done.Wait()
}
