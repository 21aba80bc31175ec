package actors

import (
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// CryptoPoolProps returns the props of the crypto pool: a dispatcher that supervises
// workers (workers ≤ 0 means one per CPU) and hands each a job when it is idle, so a
// slow job never holds up the others' queue. A worker that panics answers its job with a
// failure, is restarted, and the restart is counted.
func CryptoPoolProps(env *Env, workers int) *actor.Props {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return env.Props(func() actor.Actor {
		return &cryptoDispatcher{env: env, workers: workers}
	}, actor.WithSupervisor(restartCounting(env)))
}

type pendingJob struct {
	req     verifyRequest
	replyTo *actor.PID
}

type cryptoDispatcher struct {
	env     *Env
	workers int
	idle    []*actor.PID
	queue   []pendingJob
}

// workerJob is a job handed to one worker.
type workerJob struct {
	pendingJob
}

func (d *cryptoDispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		props := d.env.Props(func() actor.Actor { return &cryptoWorker{env: d.env} })
		for i := 0; i < d.workers; i++ {
			ctx.Spawn(props)
		}
	case verifyRequest:
		job := pendingJob{req: m, replyTo: ctx.Sender()}
		if n := len(d.idle); n > 0 {
			w := d.idle[n-1]
			d.idle = d.idle[:n-1]
			ctx.Send(w, workerJob{job})
			return
		}
		d.queue = append(d.queue, job)
		d.env.Counters.CryptoQueue.Add(1)
	case workerIdle:
		if len(d.queue) > 0 {
			job := d.queue[0]
			d.queue[0] = pendingJob{}
			d.queue = d.queue[1:]
			d.env.Counters.CryptoQueue.Add(-1)
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

type cryptoWorker struct {
	env *Env
}

func (w *cryptoWorker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(ctx.Parent(), workerIdle{}) // also after a restart
	case workerJob:
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

func runJob(req verifyRequest) readersession.Verification {
	if req.job.Options.Now.IsZero() {
		req.job.Options.Now = time.Now()
	}
	return req.job.Run()
}
