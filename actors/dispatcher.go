package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// WorkerDispatcher runs actor mailboxes on long-lived goroutines instead of a new
// goroutine per mailbox run (protoactor's default). A session's actors run deep crypto
// code; on a fresh goroutine every run pays for stack growth (copystack) and goroutine
// creation, which the engine benchmark showed as ~8 % of all CPU. Workers keep their
// grown stacks.
//
// Runs wait in a bounded queue; when it is full a run gets a goroutine of its own, so
// Schedule never blocks. Actors here never block in Receive, but if one did and every
// worker were stuck, a watchdog that sees queued runs and no progress for a tick adds a
// temporary worker, so no mailbox is stranded.
type WorkerDispatcher struct {
	mu      sync.RWMutex // held shared by Schedule, exclusively by Stop
	stopped bool
	work    chan func()
	runs    atomic.Uint64 // completed runs, the watchdog's measure of progress
	rescues atomic.Int64  // temporary workers the watchdog added
	quit    chan struct{}
	done    sync.WaitGroup
	through int
}

var _ actor.Dispatcher = (*WorkerDispatcher)(nil)

// Dispatcher sizing.
const (
	dispatcherQueue = 4096
	// watchdogTick is how long queued runs may see no progress before a temporary
	// worker is added.
	watchdogTick = 20 * time.Millisecond
)

// NewWorkerDispatcher starts workers goroutines (≤ 0: four per CPU); throughput is the
// messages a mailbox processes before yielding (≤ 0: 300, protoactor's default).
func NewWorkerDispatcher(workers, throughput int) *WorkerDispatcher {
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	if throughput <= 0 {
		throughput = 300
	}
	d := &WorkerDispatcher{work: make(chan func(), dispatcherQueue), quit: make(chan struct{}), through: throughput}
	d.done.Add(workers + 1)
	for i := 0; i < workers; i++ {
		go d.worker(false)
	}
	go d.watchdog()
	return d
}

// worker runs queued mailboxes until the queue closes, or, for a temporary worker,
// until the queue is empty.
func (d *WorkerDispatcher) worker(temporary bool) {
	defer d.done.Done()
	for {
		var fn func()
		var ok bool
		if temporary {
			select {
			case fn, ok = <-d.work:
			default:
				return
			}
		} else {
			fn, ok = <-d.work
		}
		if !ok {
			return
		}
		fn()
		d.runs.Add(1)
	}
}

func (d *WorkerDispatcher) watchdog() {
	defer d.done.Done()
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	last := d.runs.Load()
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
		now := d.runs.Load()
		if now == last && len(d.work) > 0 {
			d.rescues.Add(1)
			d.done.Add(1)
			go d.worker(true)
		}
		last = now
	}
}

// Schedule queues fn for a worker, or runs it on a new goroutine when the queue is full
// or the dispatcher is stopped. It never blocks.
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

// Rescues counts the temporary workers added because every worker was stuck: a sign
// that some actor blocks in Receive.
func (d *WorkerDispatcher) Rescues() int64 { return d.rescues.Load() }

// Throughput is the number of messages a mailbox run processes before it yields.
func (d *WorkerDispatcher) Throughput() int { return d.through }

// Stop lets the workers run what is queued and waits for them to exit. Later Schedule
// calls run on their own goroutines.
func (d *WorkerDispatcher) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	close(d.work)
	close(d.quit)
	d.mu.Unlock()
	d.done.Wait()
}
