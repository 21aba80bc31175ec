package supervisor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// engineWith starts an engine with one lane on a memory listener.
func engineWith(t *testing.T, lane *actors.LaneConfig) (*Engine, *memory.Listener, *world) {
	t.Helper()
	w := newWorld(t)
	l := memory.NewListener(lane.Name, 64)
	lane.Listener = l
	if lane.Sessions.Reader == nil {
		lane.Sessions.Reader = defaultReaderConfig(w)
	}
	eng := Start(Config{Workers: 2})
	if err := eng.AddLane(lane); err != nil {
		t.Fatal(err)
	}
	return eng, l, w
}

// collector gathers verdicts by session id and fails on a second verdict for one.
type collector struct {
	mu   sync.Mutex
	byID map[string]*actors.SessionVerdict
	dups int
	ch   chan *actors.SessionVerdict
}

func collect(eng *Engine) *collector {
	c := &collector{byID: map[string]*actors.SessionVerdict{}, ch: make(chan *actors.SessionVerdict, 1024)}
	eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		c.mu.Lock()
		if _, ok := c.byID[v.SessionID]; ok {
			c.dups++
		}
		c.byID[v.SessionID] = v
		c.mu.Unlock()
		c.ch <- v
	})
	return c
}

func (c *collector) next(t *testing.T) *actors.SessionVerdict {
	t.Helper()
	select {
	case v := <-c.ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict")
		return nil
	}
}

func spawnHolder(eng *Engine, l *memory.Listener, w *world, mis holdersession.Misbehaviour, done func(actors.HolderReport)) {
	eng.SpawnHolder(&actors.HolderConfig{
		NewSession: func() (actors.HolderSession, error) {
			return holdersession.New(&holdersession.Config{Credentials: w.valid[:1], Misbehave: mis})
		},
		Engage: func(ctx context.Context, de, h []byte) (transports.Conn, error) {
			return l.Engage(ctx, de, h, memory.LinkConfig{})
		},
		Done: done,
	})
}

func shutdown(t *testing.T, eng *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBackPressureAnswersBusy(t *testing.T) {
	eng, l, w := engineWith(t, &actors.LaneConfig{Name: "tight", MaxInFlight: 3,
		Sessions: actors.SessionSettings{EngagementTimeout: 2 * time.Second, InactivityTimeout: 2 * time.Second}})
	c := collect(eng)
	// three silent holders fill the lane
	for i := 0; i < 3; i++ {
		spawnHolder(eng, l, w, holdersession.Silent, nil)
	}
	for eng.Counters().InFlight.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	busy := make(chan actors.HolderReport, 1)
	start := time.Now()
	spawnHolder(eng, l, w, holdersession.Honest, func(r actors.HolderReport) { busy <- r })
	r := <-busy
	if !r.Busy || !errors.Is(r.Err, transports.ErrBusy) {
		t.Fatalf("fourth holder: %+v", r)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("busy answer took %v: queued instead of refused", waited)
	}
	if eng.Counters().Busy.Load() != 1 || eng.Counters().Started.Load() != 3 {
		t.Fatalf("busy %d started %d", eng.Counters().Busy.Load(), eng.Counters().Started.Load())
	}
	for i := 0; i < 3; i++ {
		if v := c.next(t); v.Outcome != readersession.Timeout || v.Reason != "engagement_timeout" {
			t.Fatalf("silent holder: %+v", v)
		}
	}
	shutdown(t, eng)
}

func TestTimeoutsEndSessions(t *testing.T) {
	eng, l, w := engineWith(t, &actors.LaneConfig{Name: "t",
		Sessions: actors.SessionSettings{EngagementTimeout: 150 * time.Millisecond, InactivityTimeout: 150 * time.Millisecond}})
	c := collect(eng)
	start := time.Now()
	spawnHolder(eng, l, w, holdersession.Silent, nil)
	v := c.next(t)
	if v.Outcome != readersession.Timeout {
		t.Fatalf("%+v", v)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("timed out before the timeout")
	}
	shutdown(t, eng)
	if c.dups != 0 {
		t.Fatalf("%d duplicate verdicts", c.dups)
	}
}

func TestPanicInSessionIsContained(t *testing.T) {
	w := newWorld(t)
	rc := *defaultReaderConfig(w)
	var calls sync.Mutex
	n := 0
	rc.Decide = func(v readersession.Verification) readersession.Decision {
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if first {
			panic("injected panic in the session's decision")
		}
		if v.Result.Valid {
			return readersession.Decision{Outcome: readersession.Accepted}
		}
		return readersession.Decision{Outcome: readersession.Rejected, Reason: "not_valid"}
	}
	eng, l, _ := engineWith(t, &actors.LaneConfig{Name: "p", Sessions: actors.SessionSettings{Reader: &rc}})
	c := collect(eng)
	spawnHolder(eng, l, w, holdersession.Honest, nil)
	v := c.next(t)
	if v.Outcome != readersession.Error || v.Reason != readersession.ReasonInternal {
		t.Fatalf("panicking session: %+v", v)
	}
	// the lane lives on
	spawnHolder(eng, l, w, holdersession.Honest, nil)
	if v := c.next(t); v.Outcome != readersession.Accepted {
		t.Fatalf("next session: %+v", v)
	}
	// supervision handles the failure asynchronously; give it a moment
	for i := 0; i < 200 && eng.Counters().Restarts.Load() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if eng.Counters().Panics.Load() == 0 || eng.Counters().Restarts.Load() == 0 {
		t.Fatalf("panic not counted: panics %d restarts %d", eng.Counters().Panics.Load(), eng.Counters().Restarts.Load())
	}
	shutdown(t, eng)
	if c.dups != 0 || eng.Counters().Started.Load() != eng.Counters().Ended.Load() {
		t.Fatalf("dups %d started %d ended %d", c.dups, eng.Counters().Started.Load(), eng.Counters().Ended.Load())
	}
}

func TestShutdownGivesInFlightSessionsAVerdict(t *testing.T) {
	eng, l, w := engineWith(t, &actors.LaneConfig{Name: "s",
		Sessions: actors.SessionSettings{EngagementTimeout: time.Hour, InactivityTimeout: time.Hour}})
	c := collect(eng)
	for i := 0; i < 5; i++ {
		spawnHolder(eng, l, w, holdersession.Silent, nil)
	}
	for eng.Counters().InFlight.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = eng.Shutdown(ctx) // the drain times out: the sessions are stopped
	if got := eng.Counters().Ended.Load(); got != 5 {
		t.Fatalf("%d of 5 in-flight sessions got a verdict at shutdown", got)
	}
	for _, v := range c.byID {
		if v.Outcome != readersession.Error || v.Reason != "shutdown" {
			t.Fatalf("%+v", v)
		}
	}
}

// The reader's final message (status 20) reaches the holder before the link closes: the
// holder ends its session normally rather than seeing the connection drop.
func TestHolderReceivesTerminationStatus(t *testing.T) {
	eng, l, w := engineWith(t, &actors.LaneConfig{Name: "term"})
	c := collect(eng)
	for i := 0; i < 20; i++ {
		done := make(chan actors.HolderReport, 1)
		spawnHolder(eng, l, w, holdersession.Honest, func(r actors.HolderReport) { done <- r })
		r := <-done
		if r.Err != nil {
			t.Fatalf("holder %d ended with %v, want the reader's status 20", i, r.Err)
		}
		if v := c.next(t); v.Outcome != readersession.Accepted {
			t.Fatalf("%+v", v)
		}
	}
	shutdown(t, eng)
}

// Decisions that wait (an operator looking at a portrait) hold up neither the engine's
// workers nor other sessions: with more sessions waiting than there are mailbox workers,
// a session on the same lane that needs no wait still gets its verdict, and the waiting
// ones get theirs once answered.
func TestWaitingDecisionsHoldUpNobody(t *testing.T) {
	w := newWorld(t)
	const waiting = 40 // more than the default mailbox workers (four per CPU)
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(waiting)
	var mu sync.Mutex
	held := 0
	cfg := defaultReaderConfig(w)
	cfg.DecideMayWait = true
	cfg.Decide = func(readersession.Verification) readersession.Decision {
		mu.Lock()
		wait := held < waiting
		held++
		mu.Unlock()
		if wait {
			entered.Done()
			<-release
			return readersession.Decision{Outcome: readersession.Rejected, Reason: "holder_verification.no_match"}
		}
		return readersession.Decision{Outcome: readersession.Accepted}
	}
	eng, l, _ := engineWith(t, &actors.LaneConfig{Name: "operator", MaxInFlight: 100,
		Sessions: actors.SessionSettings{Reader: cfg, EngagementTimeout: 30 * time.Second, InactivityTimeout: 30 * time.Second}})
	c := collect(eng)
	for i := 0; i < waiting; i++ {
		spawnHolder(eng, l, w, holdersession.Honest, nil)
	}
	entered.Wait() // every one of them is waiting for its operator
	rescued := eng.dispatcher.Rescues()
	spawnHolder(eng, l, w, holdersession.Honest, nil)
	if v := c.next(t); v.Outcome != readersession.Accepted {
		t.Fatalf("the session that needed no wait: %+v", v)
	}
	// had the waits held mailbox workers, this session's runs would have queued behind
	// them and the dispatcher's watchdog would have had to rescue them
	if n := eng.dispatcher.Rescues() - rescued; n != 0 {
		t.Fatalf("the waits blocked the mailbox workers (%d watchdog rescues)", n)
	}
	close(release)
	for i := 0; i < waiting; i++ {
		if v := c.next(t); v.Outcome != readersession.Rejected || v.Reason != "holder_verification.no_match" {
			t.Fatalf("a waiting session: %+v", v)
		}
	}
	shutdown(t, eng)
	if c.dups != 0 {
		t.Fatalf("%d second verdicts", c.dups)
	}
}

// A decision that panics on its own goroutine still ends its session with one error verdict.
func TestPanickingDecisionIsAnErrorVerdict(t *testing.T) {
	w := newWorld(t)
	cfg := defaultReaderConfig(w)
	cfg.DecideMayWait = true
	cfg.Decide = func(readersession.Verification) readersession.Decision { panic("matcher exploded") }
	eng, l, _ := engineWith(t, &actors.LaneConfig{Name: "panicky",
		Sessions: actors.SessionSettings{Reader: cfg, EngagementTimeout: 10 * time.Second, InactivityTimeout: 10 * time.Second}})
	c := collect(eng)
	spawnHolder(eng, l, w, holdersession.Honest, nil)
	if v := c.next(t); v.Outcome != readersession.Error || v.Reason != "decision" {
		t.Fatalf("verdict %+v", v)
	}
	shutdown(t, eng)
	if c.dups != 0 || eng.Counters().Panics.Load() != 1 {
		t.Fatalf("dups %d panics %d", c.dups, eng.Counters().Panics.Load())
	}
}

// A verdict is published while its session still counts as in flight, so that a run
// that waits for nothing in flight (Drain) has seen every verdict: publishing after the
// count went down let a load run tally a holder without its verdict (lost) now and then.
func TestVerdictsPublishedBeforeTheSessionLeavesFlight(t *testing.T) {
	eng, l, w := engineWith(t, &actors.LaneConfig{Name: "order"})
	var mu sync.Mutex
	var inFlight []int64
	eng.Results().Subscribe(func(*actors.SessionVerdict) {
		mu.Lock()
		inFlight = append(inFlight, eng.Counters().InFlight.Load())
		mu.Unlock()
	})
	const n = 20
	var done sync.WaitGroup
	done.Add(n)
	for i := 0; i < n; i++ {
		spawnHolder(eng, l, w, holdersession.Honest, func(actors.HolderReport) { done.Done() })
	}
	done.Wait()
	if err := eng.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	seen := append([]int64(nil), inFlight...)
	mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d verdicts seen once nothing was in flight, want %d", len(seen), n)
	}
	for i, f := range seen {
		if f < 1 {
			t.Fatalf("verdict %d published with %d sessions in flight: its own no longer counted", i, f)
		}
	}
	shutdown(t, eng)
}
