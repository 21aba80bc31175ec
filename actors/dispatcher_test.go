package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// dispatcherLeaks checks, when the test ends, that no goroutine the test started is
// left: goroutines of earlier tests in the package (a protoactor dead-letter throttle
// among them) are not this test's.
func dispatcherLeaks(t *testing.T) func() {
	ignore := goleak.IgnoreCurrent()
	return func() { goleak.VerifyNone(t, ignore) }
}

func TestWorkerDispatcherRunsEverything(t *testing.T) {
	defer dispatcherLeaks(t)()
	d := NewWorkerDispatcher(4, 0)
	var ran atomic.Int64
	var wg sync.WaitGroup
	const n = 10_000
	wg.Add(n)
	for i := 0; i < n; i++ {
		d.Schedule(func() { ran.Add(1); wg.Done() })
	}
	wg.Wait()
	if ran.Load() != n {
		t.Fatalf("ran %d of %d", ran.Load(), n)
	}
	if d.Rescues() != 0 {
		t.Errorf("%d rescues while nothing blocked", d.Rescues())
	}
	d.Stop()
	// after Stop, runs go to their own goroutines
	done := make(chan struct{})
	d.Schedule(func() { close(done) })
	<-done
	if d.Throughput() != 300 {
		t.Errorf("default throughput %d", d.Throughput())
	}
}

// Runs that block every worker do not strand a later run: the watchdog adds a worker.
func TestWorkerDispatcherNeverQueuesBehindBlockedWorkers(t *testing.T) {
	defer dispatcherLeaks(t)()
	d := NewWorkerDispatcher(2, 0)
	defer d.Stop()
	release := make(chan struct{})
	for i := 0; i < 5; i++ {
		d.Schedule(func() { <-release })
	}
	done := make(chan struct{})
	d.Schedule(func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a run waited behind blocked workers")
	}
	close(release)
	if d.Rescues() == 0 {
		t.Error("the watchdog's rescue was not counted")
	}
}
