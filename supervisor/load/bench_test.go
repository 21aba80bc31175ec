package load

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// BenchmarkSessionFloor is the unavoidable crypto of one session of the load runs'
// default shape, both sides (floorSession says what that is), on every CPU as
// MeasureFloor runs it for loadtest --floor: the floor the engine is measured against.
func BenchmarkSessionFloor(b *testing.B) {
	w, err := newWorld()
	if err != nil {
		b.Fatal(err)
	}
	f, err := newFloorSession(w)
	if err != nil {
		b.Fatal(err)
	}
	onEveryCPU(b, func(i int) error { return f.run(i%2 == 0) })
}

// onEveryCPU runs session(i) b.N times in all on every CPU, with the CLI's GC settings,
// and reports the CPU time (getrusage) per session and the sessions per second.
func onEveryCPU(b *testing.B, session func(i int) error) {
	defer supervisor.TuneGC()() // as the CLI runs
	b.ReportAllocs()
	cpu0, start := processCPUNanos(), time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := session(i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/session")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sessions/s")
}

// BenchmarkStateMachines runs whole sessions through the reader and holder state
// machines directly (CBOR, certificate parsing and verification included; no actors,
// no links), on every CPU, deviceMac and deviceSignature mixed as the load runs mix
// them: the most any engine built on these state machines could reach.
func BenchmarkStateMachines(b *testing.B) {
	w, err := newWorld()
	if err != nil {
		b.Fatal(err)
	}
	rcfg := defaultReaderConfig(w)
	onEveryCPU(b, func(i int) error {
		h, err := holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{w.valid[0]}, UseMAC: i%2 == 0,
			ReaderTrust: w.readerRoot, ReaderTrustCache: w.holderCache, Index: w.holderIndex})
		if err != nil {
			return err
		}
		r := readersession.New(rcfg)
		step := r.Start(h.DeviceEngagement(), messages.QRHandover())
		for !step.Done {
			switch {
			case step.Verify != nil:
				step = r.Verified(step.Verify.Run())
			case step.Send != nil:
				hs := h.Receive(step.Send)
				step = r.Receive(hs.Send)
			}
		}
		if v, _ := r.Verdict(); v.Outcome != readersession.Accepted {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
}

// BenchmarkEngine runs b.N valid holders through the whole engine on the memory bearer,
// with every CPU busy; compare its ns/op with BenchmarkSessionFloor's.
func BenchmarkEngine(b *testing.B) {
	n := b.N
	if n < 200 {
		n = 200
	}
	defer supervisor.TuneGC()() // as the CLI runs
	b.ResetTimer()
	cpu0 := processCPUNanos()
	rep, err := Run(context.Background(), Config{Lanes: 2, Holders: n, Concurrency: 256, Timeout: 10 * time.Second})
	cpu := processCPUNanos() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/session")
	if err != nil || rep.Lost != 0 || rep.Accepted != int64(n) {
		b.Fatalf("%v lost=%d accepted=%d", err, rep.Lost, rep.Accepted)
	}
	b.ReportMetric(float64(rep.Seconds)*1e9/float64(n), "ns/session")
	b.ReportMetric(rep.SessionsPerSecond, "sessions/s")
}

// BenchmarkIdleSessions opens 100,000 sessions whose holders engage and then stay silent,
// and reports the memory each costs the process (heap in use and goroutine stacks, both
// sides of the in-memory link included).
func BenchmarkIdleSessions(b *testing.B) {
	const sessions = 100_000
	for b.Loop() {
		w, err := newWorld()
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		eng := supervisor.Start(supervisor.Config{MaxInFlight: sessions + 10})
		l := memory.NewListener("idle", 1024)
		if err := eng.AddLane(&actors.LaneConfig{Name: "idle", Listener: l, MaxInFlight: sessions + 10,
			Sessions: actors.SessionSettings{Reader: defaultReaderConfig(w), EngagementTimeout: time.Hour, InactivityTimeout: time.Hour}}); err != nil {
			b.Fatal(err)
		}
		var holderConns []interface{ Close() error }
		var mu sync.Mutex
		for i := 0; i < sessions; i++ {
			h, err := holdersession.New(&holdersession.Config{Credentials: w.valid[:1]})
			if err != nil {
				b.Fatal(err)
			}
			for {
				c, err := l.Engage(context.Background(), h.DeviceEngagement(), []byte{0xf6}, memory.LinkConfig{QueueLen: 2})
				if err == nil {
					mu.Lock()
					holderConns = append(holderConns, c)
					mu.Unlock()
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		for eng.Counters().Started.Load() < sessions {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/sessions, "bytes/session")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		fmt.Printf("idle sessions: %d, heap+stacks %d MiB, %.0f bytes/session, %d goroutines\n",
			eng.Counters().InFlight.Load(), used>>20, float64(used)/sessions, runtime.NumGoroutine())
		for _, c := range holderConns {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		eng.Shutdown(ctx)
		cancel()
	}
}

// processCPUNanos is the process's user+system CPU time in nanoseconds: a measure of work that a
// busy machine does not inflate the way wall time is inflated.
func processCPUNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
