package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testpki"
)

// verifyJob runs a reader and a holder session up to the reader's verification job;
// the job runs hook (in place of the verification) when a worker takes it.
func verifyJob(t *testing.T, cred *issuer.Credential, hook func(*readersession.VerifyJob) readersession.Verification) *readersession.VerifyJob {
	t.Helper()
	hs, err := holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}})
	if err != nil {
		t.Fatal(err)
	}
	rs := readersession.New(&readersession.Config{Request: testpki.MDLRequest("family_name"), Verify: hook})
	st := rs.Start(hs.DeviceEngagement(), []byte{0xf6})
	if st.Send == nil {
		t.Fatalf("reader did not start: %+v", st)
	}
	hst := hs.Receive(st.Send)
	st = rs.Receive(hst.Send)
	if st.Verify == nil {
		v, _ := rs.Verdict()
		t.Fatalf("no verification job: %+v", v)
	}
	return st.Verify
}

// poolProbe is an actor that sends the pool verification requests and collects the
// answers.
type poolProbe struct {
	pool    *actor.PID
	answers chan verifyResponse
}

func (p *poolProbe) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case verifyRequest:
		ctx.Request(p.pool, m)
	case verifyResponse:
		p.answers <- m
	}
}

// poolRig is a crypto pool with one worker that the test can hold on a job.
type poolRig struct {
	env     *Env
	probe   *actor.PID
	system  *actor.ActorSystem
	answers chan verifyResponse
	started chan string   // the lane of each job a worker starts, in order
	release chan struct{} // closed: held jobs finish
	hold    atomic.Bool
	job     func(lane string) *readersession.VerifyJob
}

func newPoolRig(t *testing.T, queuePerLane int) *poolRig {
	t.Helper()
	cred := testpki.New(t, testpki.Options{}).Issue(t, issuer.IssueRequest{})
	env, system := testEnv(t)
	r := &poolRig{env: env, system: system, answers: make(chan verifyResponse, 1000), started: make(chan string, 1000),
		release: make(chan struct{})}
	pool := system.Root.Spawn(CryptoPoolProps(env, PoolConfig{Workers: 1, QueuePerLane: queuePerLane}))
	r.probe = system.Root.Spawn(env.Props(func() actor.Actor { return &poolProbe{pool: pool, answers: r.answers} }))
	var mu sync.Mutex
	jobs := map[string]*readersession.VerifyJob{}
	r.job = func(lane string) *readersession.VerifyJob {
		mu.Lock()
		defer mu.Unlock()
		if j := jobs[lane]; j != nil {
			return j
		}
		// one job per lane, reused: the hook says which lane ran
		j := verifyJob(t, cred, func(*readersession.VerifyJob) readersession.Verification {
			r.started <- lane
			if r.hold.Load() {
				<-r.release
			}
			return readersession.Verification{}
		})
		jobs[lane] = j
		return j
	}
	return r
}

func (r *poolRig) submit(lane string, seq uint64, ended *atomic.Bool) {
	r.system.Root.Send(r.probe, verifyRequest{job: r.job(lane), seq: seq, lane: lane, ended: ended})
}

func (r *poolRig) nextStarted(t *testing.T) string {
	t.Helper()
	select {
	case l := <-r.started:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no job started")
		return ""
	}
}

func (r *poolRig) answer(t *testing.T) verifyResponse {
	t.Helper()
	select {
	case a := <-r.answers:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		return verifyResponse{}
	}
}

// waitQueued waits until n jobs wait in the pool.
func (r *poolRig) waitQueued(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.env.Counters.CryptoQueue.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", r.env.Counters.CryptoQueue.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A lane's queue holds at most QueuePerLane jobs: the next one is answered busy at once
// and counted, and another lane's queue is not affected.
func TestCryptoQueueBounded(t *testing.T) {
	r := newPoolRig(t, 3)
	r.job("a") // build the jobs before holding the worker
	r.job("b")
	r.hold.Store(true)
	r.submit("a", 1, nil)
	if l := r.nextStarted(t); l != "a" {
		t.Fatalf("started %s", l)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		r.submit("a", seq, nil)
	}
	r.waitQueued(t, 3)
	r.submit("a", 5, nil) // the queue is full
	if a := r.answer(t); !a.busy || a.seq != 5 {
		t.Fatalf("over the bound: %+v, want busy for job 5", a)
	}
	if n := r.env.Counters.CryptoBusy.Load(); n != 1 {
		t.Fatalf("CryptoBusy %d", n)
	}
	r.submit("b", 6, nil) // another lane still queues
	r.waitQueued(t, 4)
	r.hold.Store(false)
	close(r.release)
	got := map[uint64]bool{}
	for i := 0; i < 5; i++ {
		a := r.answer(t)
		if a.busy || a.failed != "" {
			t.Fatalf("queued job answered %+v", a)
		}
		got[a.seq] = true
	}
	for _, seq := range []uint64{1, 2, 3, 4, 6} {
		if !got[seq] {
			t.Fatalf("job %d not run: %v", seq, got)
		}
	}
}

// Lanes take turns: a lane that queued many jobs does not make another lane's job wait
// behind all of them.
func TestCryptoQueueFairAcrossLanes(t *testing.T) {
	r := newPoolRig(t, 100)
	r.job("flood")
	r.job("quiet")
	r.hold.Store(true)
	r.submit("flood", 0, nil)
	r.nextStarted(t)
	for seq := uint64(1); seq <= 20; seq++ {
		r.submit("flood", seq, nil)
	}
	r.waitQueued(t, 20)
	r.submit("quiet", 100, nil)
	r.waitQueued(t, 21)
	r.hold.Store(false)
	close(r.release)
	order := []string{}
	for i := 0; i < 21; i++ {
		order = append(order, r.nextStarted(t))
	}
	at := -1
	for i, l := range order {
		if l == "quiet" {
			at = i
		}
	}
	if at < 0 || at > 1 {
		t.Fatalf("the quiet lane's job ran at position %d of %v, want among the first two", at, order)
	}
}

// A job whose session ended while it waited is dropped unrun and counted.
func TestCryptoJobOfEndedSessionDropped(t *testing.T) {
	r := newPoolRig(t, 10)
	r.job("a")
	r.hold.Store(true)
	r.submit("a", 1, nil)
	r.nextStarted(t)
	ended := make([]*atomic.Bool, 5)
	for i := range ended {
		ended[i] = &atomic.Bool{}
		r.submit("a", uint64(10+i), ended[i])
	}
	r.waitQueued(t, 5)
	for i := 0; i < 4; i++ { // four of the five hang up
		ended[i].Store(true)
	}
	already := &atomic.Bool{}
	already.Store(true)
	r.submit("a", 99, already) // over before it reached the pool
	r.hold.Store(false)
	close(r.release)
	if a := r.answer(t); a.seq != 1 {
		t.Fatalf("first answer %+v", a)
	}
	if a := r.answer(t); a.seq != 14 || a.busy {
		t.Fatalf("the live job: %+v", a)
	}
	r.nextStarted(t) // the live job's start
	select {
	case l := <-r.started:
		t.Fatalf("a dropped job ran (%s)", l)
	case a := <-r.answers:
		t.Fatalf("a dropped job was answered: %+v", a)
	case <-time.After(200 * time.Millisecond):
	}
	if n := r.env.Counters.CryptoDropped.Load(); n != 5 {
		t.Fatalf("CryptoDropped %d, want 5", n)
	}
	if n := r.env.Counters.CryptoQueue.Load(); n != 0 {
		t.Fatalf("queue depth %d after the drops", n)
	}
}
