package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// inlineDispatcher runs a mailbox on the goroutine that schedules it: a session a lane
// spawns then starts, and writes its first message, before Spawn returns. That is the
// worst case of a busy machine, where the lane's goroutine is preempted right after
// the spawn.
type inlineDispatcher struct{}

func (inlineDispatcher) Schedule(fn func()) { fn() }
func (inlineDispatcher) Throughput() int    { return 300 }

// laneEnv is an engine environment for a lane of its own, its mailboxes run by d.
func laneEnv(d actor.Dispatcher) *Env {
	return &Env{Results: NewResults(), Counters: &Counters{}, Goroutines: &sync.WaitGroup{}, Log: zap.NewNop(),
		Admission: NewAdmission(0), Dispatcher: d}
}

// arrivals is a Listener fed by the test.
type arrivals struct {
	ch     chan *transports.Arrival
	closed chan struct{}
	once   sync.Once
}

func (l *arrivals) Accept(ctx context.Context) (*transports.Arrival, error) {
	select {
	case a := <-l.ch:
		return a, nil
	case <-l.closed:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *arrivals) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *arrivals) Bearer() string { return memory.Bearer }

// inFlightAtWrite records how many sessions the engine counted in flight when the
// reader's first frame went out.
type inFlightAtWrite struct {
	transports.Conn
	counters *Counters
	seen     atomic.Int64
	written  chan struct{}
	once     sync.Once
}

func (c *inFlightAtWrite) record() {
	c.once.Do(func() { c.seen.Store(c.counters.InFlight.Load()); close(c.written) })
}

func (c *inFlightAtWrite) WriteFrame(ctx context.Context, f []byte) error {
	c.record()
	return c.Conn.WriteFrame(ctx, f)
}

func (c *inFlightAtWrite) TryWriteFrame(f []byte) (bool, error) {
	c.record()
	return c.Conn.(transports.TryWriter).TryWriteFrame(f)
}

// A session counts as in flight before it can say anything to its holder: a shutdown
// that waits for no session in flight (Drain) must never miss one whose holder has
// already heard from the reader.
func TestSessionInFlightBeforeItsFirstMessage(t *testing.T) {
	cred, _, system := holderFixture(t)
	env := laneEnv(inlineDispatcher{})
	hs, err := holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}})
	if err != nil {
		t.Fatal(err)
	}
	readerSide, holderSide := memory.Pipe(memory.LinkConfig{})
	defer holderSide.Close()
	conn := &inFlightAtWrite{Conn: readerSide, counters: env.Counters, written: make(chan struct{})}
	l := &arrivals{ch: make(chan *transports.Arrival, 1), closed: make(chan struct{})}
	reader := &readersession.Config{Request: testpki.MDLRequest("family_name")}
	lane := system.Root.Spawn(LaneProps(env, &LaneConfig{Name: "inline", Listener: l,
		Sessions: SessionSettings{Reader: reader, EngagementTimeout: time.Minute, InactivityTimeout: time.Minute}}))
	defer func() { _ = system.Root.StopFuture(lane).Wait() }()

	l.ch <- &transports.Arrival{DeviceEngagement: hs.DeviceEngagement(), Handover: []byte{0xf6}, Conn: conn, Bearer: memory.Bearer}
	select {
	case <-conn.written:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader never wrote its first message")
	}
	if n := conn.seen.Load(); n != 1 {
		t.Fatalf("%d sessions in flight when the reader's first message went out, want 1", n)
	}
}

// heldDispatcher runs mailboxes on new goroutines, except while held: then it keeps
// them until released.
type heldDispatcher struct {
	mu        sync.Mutex
	hold      bool
	held      []func()
	running   sync.WaitGroup
	scheduled chan struct{}
}

func (d *heldDispatcher) Schedule(fn func()) {
	d.mu.Lock()
	if d.hold {
		d.held = append(d.held, fn)
		d.mu.Unlock()
		d.scheduled <- struct{}{}
		return
	}
	d.mu.Unlock()
	d.run(fn)
}

func (d *heldDispatcher) run(fn func()) {
	d.running.Add(1)
	go func() { defer d.running.Done(); fn() }()
}

func (d *heldDispatcher) Throughput() int { return 300 }

// holdWhenIdle holds what is scheduled from now on, once no mailbox runs: a message
// posted next then waits in its mailbox.
func (d *heldDispatcher) holdWhenIdle() {
	d.running.Wait()
	d.mu.Lock()
	d.hold = true
	d.mu.Unlock()
}

func (d *heldDispatcher) release() {
	d.mu.Lock()
	d.hold = false
	held := d.held
	d.held = nil
	d.mu.Unlock()
	for _, fn := range held {
		d.run(fn)
	}
}

// An arrival the lane has taken from its listener counts (Arriving) until the lane has
// admitted it: a drain in that moment waits for it instead of dropping its holder.
func TestArrivalCountedUntilAdmitted(t *testing.T) {
	_, system := testEnv(t)
	d := &heldDispatcher{scheduled: make(chan struct{}, 16)}
	env := laneEnv(d)
	verdicts := make(chan *SessionVerdict, 1)
	env.Results.Subscribe(func(v *SessionVerdict) { verdicts <- v })
	l := &arrivals{ch: make(chan *transports.Arrival, 1), closed: make(chan struct{})}
	lane := system.Root.Spawn(LaneProps(env, &LaneConfig{Name: "held", Listener: l,
		Sessions: SessionSettings{Reader: &readersession.Config{}, EngagementTimeout: time.Minute}}))
	defer func() { _ = system.Root.StopFuture(lane).Wait() }()
	d.holdWhenIdle()  // the lane has started; what it is sent next waits in its mailbox
	defer d.release() // before the lane stops, should the test end while holding

	readerSide, holderSide := memory.Pipe(memory.LinkConfig{})
	defer holderSide.Close()
	l.ch <- &transports.Arrival{DeviceEngagement: []byte{0xa0}, Handover: []byte{0xf6}, Conn: readerSide, Bearer: memory.Bearer}
	select {
	case <-d.scheduled:
	case <-time.After(10 * time.Second):
		t.Fatal("the arrival never reached the lane's mailbox")
	}
	if a, f := env.Counters.Arriving.Load(), env.Counters.InFlight.Load(); a != 1 || f != 0 {
		t.Fatalf("waiting in the lane's mailbox: arriving %d, in flight %d; want 1, 0", a, f)
	}
	d.release()
	select {
	case v := <-verdicts:
		if v.Outcome != readersession.Error {
			t.Fatalf("a malformed engagement got %+v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict")
	}
	deadline := time.Now().Add(10 * time.Second)
	for env.Counters.Arriving.Load() != 0 || env.Counters.InFlight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the verdict: arriving %d, in flight %d", env.Counters.Arriving.Load(), env.Counters.InFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}
