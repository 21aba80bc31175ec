package load

import (
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// Sessions land in the interval of their end, from the run's first second; empty
// intervals stay in the series and the last point is partial. The latencies go to the
// run's histogram buckets.
func TestSeriesBucketsSessions(t *testing.T) {
	t0 := time.Now()
	b := newBuilder(t0, time.Second)
	b.session("memory", "l", readersession.Accepted, "", 3*time.Millisecond, t0.Add(100*time.Millisecond))
	b.session("memory", "l", readersession.Rejected, "x", 40*time.Millisecond, t0.Add(900*time.Millisecond))
	b.session("memory", "l", readersession.Timeout, "y", 45*time.Second, t0.Add(2500*time.Millisecond))
	rep := b.finish(t0.Add(3500 * time.Millisecond))
	got := rep.Series
	if len(got) != 4 || rep.Interval != time.Second {
		t.Fatalf("%d points of %v: %+v", len(got), rep.Interval, got)
	}
	p := got[0]
	if p.Sessions != 2 || p.Accepted != 1 || p.Rejected != 1 || p.PerSecond != 2 || p.MaxMs != 40 || p.MeanMs != 21.5 || p.At != time.Second {
		t.Errorf("first point %+v", p)
	}
	if rep.Histogram[shownBucket(3)] != 1 || rep.Histogram[shownBucket(40)] != 1 || shownBucket(3) != 5 || shownBucket(40) != 8 {
		t.Errorf("latency buckets %v", rep.Histogram)
	}
	if got[1].Sessions != 0 || got[1].PerSecond != 0 {
		t.Errorf("empty interval %+v", got[1])
	}
	if got[2].Timeouts != 1 || rep.Histogram[len(LatencyBoundsMs)] != 1 {
		t.Errorf("slow timeout not in the last bucket: %+v %v", got[2], rep.Histogram)
	}
	if last := got[3]; last.At != 3500*time.Millisecond || last.Seconds != 0.5 {
		t.Errorf("partial last point %+v", last)
	}
	var n uint64
	for _, c := range rep.Histogram {
		n += c
	}
	if n != 3 || rep.Sessions != 3 {
		t.Errorf("histogram holds %d sessions, report %d", n, rep.Sessions)
	}
}

// A run longer than MaxPoints intervals keeps at most MaxPoints points: neighbours are
// merged, the interval doubles, nothing is lost, and samples keep the latest.
func TestSeriesCompaction(t *testing.T) {
	t0 := time.Now()
	b := newBuilder(t0, 10*time.Millisecond)
	at := t0
	var n int64
	for i := 0; i < 3*MaxPoints; i++ {
		at = at.Add(10 * time.Millisecond)
		for range 2 {
			b.session("memory", "l", readersession.Accepted, "", time.Millisecond, at.Add(-time.Millisecond))
			n++
		}
		b.sample(at.Add(-time.Millisecond), int64(i), i)
	}
	rep := b.finish(at)
	if len(rep.Series) > MaxPoints || rep.Interval != 40*time.Millisecond {
		t.Fatalf("%d points, interval %v", len(rep.Series), rep.Interval)
	}
	var total int64
	for _, p := range rep.Series {
		total += p.Sessions
	}
	if total != n || rep.Sessions != n {
		t.Fatalf("series counts %d sessions, want %d", total, n)
	}
	mid := rep.Series[len(rep.Series)/2]
	if mid.PerSecond != 200 {
		t.Errorf("rate %v, want 200/s", mid.PerSecond)
	}
	// each 40 ms point holds four 10 ms samples; the latest wins
	if !mid.Sampled || mid.Goroutines%4 != 3 || mid.RSSBytes != int64(mid.Goroutines) {
		t.Errorf("merged sample %+v", mid)
	}
}

// Without an interval of its own, a series suits the run's length: 10 ms points for a
// short run, merged to at most autoPoints for a longer one.
func TestSeriesAutoInterval(t *testing.T) {
	for _, tc := range []struct {
		run      time.Duration
		interval time.Duration
	}{{500 * time.Millisecond, 10 * time.Millisecond}, {8 * time.Second, 160 * time.Millisecond}, {30 * time.Minute, 40960 * time.Millisecond}} {
		t0 := time.Now()
		b := newBuilder(t0, 0)
		for at := time.Duration(0); at < tc.run; at += tc.run / 1000 {
			b.session("memory", "l", readersession.Accepted, "", time.Millisecond, t0.Add(at))
		}
		rep := b.finish(t0.Add(tc.run))
		if rep.Interval != tc.interval || len(rep.Series) > autoPoints || rep.Sessions != 1000 {
			t.Errorf("%v run: %d points of %v, want %v; %d sessions", tc.run, len(rep.Series), rep.Interval, tc.interval, rep.Sessions)
		}
	}
}
