package actors

import (
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// PoolConfig sizes the crypto pool.
type PoolConfig struct {
	// Workers is the number of crypto workers; ≤ 0 means one per CPU.
	Workers int
	// QueuePerLane bounds the jobs of one lane waiting for a worker (≤ 0 means
	// DefaultCryptoQueuePerLane). A job arriving at a full queue is answered busy at
	// once: its session ends with an error verdict (ReasonCryptoBusy) instead of
	// queueing work, and memory, without bound.
	QueuePerLane int
}

// DefaultCryptoQueuePerLane is the default bound of a lane's crypto queue: at about half
// a millisecond per ordinary verification, a few hundred milliseconds of work per lane.
const DefaultCryptoQueuePerLane = 512

// ReasonCryptoBusy is the verdict reason of a session whose verification found its
// lane's crypto queue full.
const ReasonCryptoBusy = "crypto_busy"

// CryptoPoolProps returns the props of the crypto pool: a dispatcher that supervises
// workers and hands each a job when it is idle, so a slow job never holds up the
// others' queue. Jobs wait in one bounded queue per lane, served round robin, so one
// lane's burst cannot starve another lane. A job whose session has ended (its holder
// hung up, it timed out) is dropped before it runs and counted (Counters.CryptoDropped);
// a job refused for a full queue is answered busy and counted (Counters.CryptoBusy).
// A worker that panics answers its job with a failure, is restarted, and the restart is
// counted.
func CryptoPoolProps(env *Env, cfg PoolConfig) *actor.Props {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.QueuePerLane <= 0 {
		cfg.QueuePerLane = DefaultCryptoQueuePerLane
	}
	return env.Props(func() actor.Actor {
		return &cryptoDispatcher{env: env, cfg: cfg, queues: map[string]*laneQueue{}}
	}, actor.WithSupervisor(restartCounting(env)))
}

type pendingJob struct {
	req     verifyRequest
	replyTo *actor.PID
}

// laneQueue is the FIFO of one lane's jobs waiting for a worker.
type laneQueue struct {
	jobs []pendingJob
	head int
}

func (q *laneQueue) len() int { return len(q.jobs) - q.head }

func (q *laneQueue) push(j pendingJob) {
	if q.head > 0 && q.head == len(q.jobs) {
		q.jobs, q.head = q.jobs[:0], 0
	}
	q.jobs = append(q.jobs, j)
}

func (q *laneQueue) pop() pendingJob {
	j := q.jobs[q.head]
	q.jobs[q.head] = pendingJob{}
	q.head++
	if q.head == len(q.jobs) {
		q.jobs, q.head = q.jobs[:0], 0
	}
	return j
}

type cryptoDispatcher struct {
	env    *Env
	cfg    PoolConfig
	idle   []*actor.PID
	queues map[string]*laneQueue
	// ring is the lanes with queued jobs, in the order they are served; next is the
	// ring position served next.
	ring []string
	next int
}

// workerJob is a job handed to one worker.
type workerJob struct {
	pendingJob
}

func (d *cryptoDispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		props := d.env.Props(func() actor.Actor { return &cryptoWorker{env: d.env} })
		for i := 0; i < d.cfg.Workers; i++ {
			ctx.Spawn(props)
		}
	case verifyRequest:
		d.submit(ctx, pendingJob{req: m, replyTo: ctx.Sender()})
	case workerIdle:
		if job, ok := d.take(); ok {
			ctx.Send(ctx.Sender(), workerJob{job})
			return
		}
		d.idle = append(d.idle, ctx.Sender())
	case *actor.Terminated:
		for i, w := range d.idle {
			if w.Equal(m.Who) {
				d.idle = append(d.idle[:i], d.idle[i+1:]...)
				break
			}
		}
	}
}

// submit hands a job to an idle worker, queues it, or answers busy when its lane's
// queue is full.
func (d *cryptoDispatcher) submit(ctx actor.Context, job pendingJob) {
	if job.req.gone() {
		d.env.Counters.CryptoDropped.Add(1)
		return
	}
	if n := len(d.idle); n > 0 {
		w := d.idle[n-1]
		d.idle = d.idle[:n-1]
		ctx.Send(w, workerJob{job})
		return
	}
	q := d.queues[job.req.lane]
	if q == nil {
		q = &laneQueue{}
		d.queues[job.req.lane] = q
	}
	if q.len() >= d.cfg.QueuePerLane {
		d.env.Counters.CryptoBusy.Add(1)
		ctx.Send(job.replyTo, verifyResponse{seq: job.req.seq, busy: true})
		return
	}
	if q.len() == 0 {
		d.ring = append(d.ring, job.req.lane)
	}
	q.push(job)
	d.env.Counters.CryptoQueue.Add(1)
}

// take returns the next job to run: the lanes with queued jobs take turns. Jobs of
// sessions that ended while they waited are dropped on the way.
func (d *cryptoDispatcher) take() (pendingJob, bool) {
	for len(d.ring) > 0 {
		if d.next >= len(d.ring) {
			d.next = 0
		}
		lane := d.ring[d.next]
		q := d.queues[lane]
		job := q.pop()
		d.env.Counters.CryptoQueue.Add(-1)
		if q.len() == 0 {
			// the lane leaves the ring; the lane after it takes its position
			d.ring = append(d.ring[:d.next], d.ring[d.next+1:]...)
			delete(d.queues, lane)
		} else {
			d.next++
		}
		if job.req.gone() {
			d.env.Counters.CryptoDropped.Add(1)
			continue
		}
		return job, true
	}
	return pendingJob{}, false
}

type cryptoWorker struct {
	env *Env
}

func (w *cryptoWorker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(ctx.Parent(), workerIdle{}) // also after a restart
	case workerJob:
		if m.req.gone() { // the session ended on the way from the dispatcher
			w.env.Counters.CryptoDropped.Add(1)
			ctx.Request(ctx.Parent(), workerIdle{})
			return
		}
		replied := false
		contained(w.env.Counters, func() {
			if w.env.chaos() {
				panic("chaos: injected crypto worker panic")
			}
			res := runJob(m.req)
			ctx.Send(m.replyTo, verifyResponse{seq: m.req.seq, result: res})
			replied = true
		}, func(desc string) {
			if !replied {
				ctx.Send(m.replyTo, verifyResponse{seq: m.req.seq, failed: desc})
			}
		})
		ctx.Request(ctx.Parent(), workerIdle{})
	}
}

// gone reports whether the job's session ended: nobody waits for its answer.
func (r verifyRequest) gone() bool { return r.ended != nil && r.ended.Load() }

func runJob(req verifyRequest) readersession.Verification {
	if req.job.Options.Now.IsZero() {
		req.job.Options.Now = time.Now()
	}
	return req.job.Run()
}
