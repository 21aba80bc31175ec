// Package report writes a self-contained HTML report of a load run: the summary
// tables of a supervisor.Report, a latency histogram and throughput over time, drawn
// as inline SVG. The document loads nothing: no scripts, styles, fonts or images from
// anywhere.
//
// The time series comes from a Sampler, fed either with verdicts (Observe, subscribed
// to an engine's results: outcomes and latencies per interval) or with the progress
// callback of supervisor.LoadConfig (Progress: completions only).
package report

import (
	"math"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

// LatencyBoundsMs are the upper bounds (milliseconds) of Point.Latency's buckets; a
// last bucket, one past these, counts everything slower.
var LatencyBoundsMs = []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000}

// MaxPoints bounds a Sampler's memory: when a run outlasts MaxPoints intervals,
// neighbouring points are merged and the interval doubles.
const MaxPoints = 1024

// Point is one interval of a run.
type Point struct {
	// At is the end of the interval, from the sampler's start; Seconds its length (the
	// last point of a series may be partial).
	At      time.Duration `json:"at_ns"`
	Seconds float64       `json:"seconds"`
	// Verdicts observed in the interval, by outcome.
	Sessions int64 `json:"sessions"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	Errors   int64 `json:"errors"`
	Timeouts int64 `json:"timeouts"`
	// Completed counts progress callbacks (holders done, busy ones included).
	Completed int64 `json:"completed"`
	// PerSecond is Sessions per second, or Completed per second when the sampler saw no
	// verdict at all.
	PerSecond float64 `json:"per_second"`
	// MeanMs and MaxMs summarise the interval's latencies (0 without verdicts).
	MeanMs float64 `json:"mean_ms"`
	MaxMs  float64 `json:"max_ms"`
	// Latency counts the interval's verdicts by LatencyBoundsMs bucket; nil without verdicts.
	Latency []uint64 `json:"latency,omitempty"`

	sumMs float64
}

// Sampler buckets a run into fixed intervals. It is safe for concurrent use and its
// methods never block for long (a mutex around O(1) work), so Observe can subscribe
// to an engine's results directly.
type Sampler struct {
	mu       sync.Mutex
	start    time.Time
	interval time.Duration
	points   []Point
	lastDone int64
	verdicts bool
	now      func() time.Time
}

// NewSampler starts a sampler now with the given interval (at least 1 ms; 0 means 1 s).
func NewSampler(interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = time.Second
	}
	interval = max(interval, time.Millisecond)
	return &Sampler{start: time.Now(), interval: interval, now: time.Now}
}

// Observe records a verdict in the interval of its end time.
func (s *Sampler) Observe(v *actors.SessionVerdict) {
	ended := v.Ended
	if ended.IsZero() {
		ended = s.now()
	}
	ms := float64(max(v.Latency(), 0)) / float64(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verdicts = true
	p := s.point(ended)
	p.Sessions++
	switch v.Outcome {
	case readersession.Accepted:
		p.Accepted++
	case readersession.Rejected:
		p.Rejected++
	case readersession.Error:
		p.Errors++
	case readersession.Timeout:
		p.Timeouts++
	}
	p.sumMs += ms
	p.MaxMs = max(p.MaxMs, ms)
	if p.Latency == nil {
		p.Latency = make([]uint64, len(LatencyBoundsMs)+1)
	}
	p.Latency[latencyBucket(ms)]++
}

// Progress records completions; its signature fits supervisor.LoadConfig.Progress
// (done is cumulative).
func (s *Sampler) Progress(done, _ int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if done <= s.lastDone {
		return // callbacks from concurrent holders may arrive out of order
	}
	s.point(s.now()).Completed += done - s.lastDone
	s.lastDone = done
}

// Interval is the current interval (it doubles when a run outlasts MaxPoints).
func (s *Sampler) Interval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interval
}

// Series returns the points from the start to now, empty intervals included.
func (s *Sampler) Series() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.point(s.now()) // extend to now
	elapsed := s.now().Sub(s.start)
	out := make([]Point, len(s.points))
	for i, p := range s.points {
		end := time.Duration(i+1) * s.interval
		secs := s.interval.Seconds()
		if end > elapsed {
			secs = max((elapsed - time.Duration(i)*s.interval).Seconds(), 1e-3)
			end = elapsed
		}
		p.At, p.Seconds = end, secs
		n := p.Sessions
		if !s.verdicts {
			n = p.Completed
		}
		p.PerSecond = round3(float64(n) / secs)
		if p.Sessions > 0 {
			p.MeanMs = round3(p.sumMs / float64(p.Sessions))
		}
		p.MaxMs = round3(p.MaxMs)
		if p.Latency != nil {
			p.Latency = append([]uint64(nil), p.Latency...)
		}
		out[i] = p
	}
	return out
}

// point returns the point holding time t, growing (and if needed compacting) the series.
func (s *Sampler) point(t time.Time) *Point {
	i := int(max(t.Sub(s.start), 0) / s.interval)
	for i >= MaxPoints {
		s.compact()
		i = int(max(t.Sub(s.start), 0) / s.interval)
	}
	for len(s.points) <= i {
		s.points = append(s.points, Point{})
	}
	return &s.points[i]
}

// compact merges neighbouring points and doubles the interval.
func (s *Sampler) compact() {
	n := (len(s.points) + 1) / 2
	for i := 0; i < n; i++ {
		a := s.points[2*i]
		if 2*i+1 < len(s.points) {
			a = merge(a, s.points[2*i+1])
		}
		s.points[i] = a
	}
	clear(s.points[n:])
	s.points = s.points[:n]
	s.interval *= 2
}

func merge(a, b Point) Point {
	a.Sessions += b.Sessions
	a.Accepted += b.Accepted
	a.Rejected += b.Rejected
	a.Errors += b.Errors
	a.Timeouts += b.Timeouts
	a.Completed += b.Completed
	a.sumMs += b.sumMs
	a.MaxMs = max(a.MaxMs, b.MaxMs)
	if b.Latency != nil {
		if a.Latency == nil {
			a.Latency = make([]uint64, len(LatencyBoundsMs)+1)
		}
		for i, c := range b.Latency {
			a.Latency[i] += c
		}
	}
	return a
}

func latencyBucket(ms float64) int {
	for i, b := range LatencyBoundsMs {
		if ms <= b {
			return i
		}
	}
	return len(LatencyBoundsMs)
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
