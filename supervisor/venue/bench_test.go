package venue_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testvenue"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/venue"
)

// benchGates is a 3-server cluster in this process with a gate connected to each
// server (each gate's decisions go through its own server, as an embedding gate's do).
func benchGates(b *testing.B) []*venue.Venue {
	b.Cleanup(supervisor.TuneGC()) // what the CLI (serve) runs a gate with
	c := testvenue.Start(b, 3)
	var gates []*venue.Venue
	for i, u := range c.URLs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := venue.Connect(ctx, venue.Options{Name: "bench", URLs: []string{u}, Gate: fmt.Sprintf("gate-%d", i)})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(v.Close)
		gates = append(gates, v)
	}
	return gates
}

var benchRun atomic.Int64

// BenchmarkDecide: anti-passback decisions across a 3-gate venue, C at once (each
// gate's share of the concurrency decides through its own server). "first" admits a
// fresh credential each time (the replicated create); "second" presents credentials
// already admitted (the create refused, the holder read back).
func BenchmarkDecide(b *testing.B) {
	gates := benchGates(b)
	for _, tc := range []struct {
		kind        string
		concurrency int
	}{{"first", 128}, {"first", 512}, {"second", 128}, {"second", 512}} {
		kind, concurrency := tc.kind, tc.concurrency
		b.Run(fmt.Sprintf("%s/c=%d", kind, concurrency), func(b *testing.B) {
			run := benchRun.Add(1)
			if kind == "second" {
				for i := 0; i < 64; i++ {
					gates[0].Decide(context.Background(), key(fmt.Sprintf("seen-%d-%d", run, i)), "x")
				}
			}
			var n, bad atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := 0; w < concurrency; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g := gates[w%3]
					for {
						i := n.Add(1)
						if i > int64(b.N) {
							return
						}
						k := key(fmt.Sprintf("%s-%d-%d", kind, run, i))
						if kind == "second" {
							k = key(fmt.Sprintf("seen-%d-%d", run, i%64))
						}
						d := g.Decide(context.Background(), k, fmt.Sprint(i))
						if d.Admit != (kind == "first") || d.Err != nil {
							bad.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			if bad.Load() > 0 {
				b.Fatalf("%d wrong decisions", bad.Load())
			}
		})
	}
}

// BenchmarkDecideAt1000: decisions paced at 1,000 per second across the three gates
// (fresh credentials); reports the decisions' p50, p99 and max latency.
func BenchmarkDecideAt1000(b *testing.B) {
	gates := benchGates(b)
	run := benchRun.Add(1)
	lat := make([]time.Duration, b.N)
	start := time.Now()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			d := gates[i%3].Decide(context.Background(), key(fmt.Sprintf("paced-%d-%d", run, i)), "x")
			lat[i] = time.Since(t0)
			if !d.Admit {
				b.Errorf("decision %d: %+v", i, d)
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99_ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max_ms")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
}
