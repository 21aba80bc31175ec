package load

import (
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// MaxPoints bounds a run's series: when a run outlasts MaxPoints intervals, neighbouring
// points are merged and the interval doubles.
const MaxPoints = 1024

// Point is one interval of a run.
type Point struct {
	// At is the end of the interval from the run's start; Seconds its length (the last
	// point of a series may be partial).
	At      time.Duration `json:"at_ns"`
	Seconds float64       `json:"seconds"`
	// Sessions that ended in the interval, by outcome.
	Sessions int64 `json:"sessions"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	Errors   int64 `json:"errors"`
	Timeouts int64 `json:"timeouts"`
	// PerSecond is Sessions per second of the interval.
	PerSecond float64 `json:"per_second"`
	// MeanMs and MaxMs summarise the latencies of the interval's sessions (0 without).
	MeanMs float64 `json:"mean_ms"`
	MaxMs  float64 `json:"max_ms"`
	// RSSBytes and Goroutines are the interval's last sample of whoever the run measures
	// (Report.ResourcesOf); Sampled says there was one.
	RSSBytes   int64 `json:"rss_bytes,omitempty"`
	Goroutines int   `json:"goroutines,omitempty"`
	Sampled    bool  `json:"sampled,omitempty"`

	sumMs float64
}

// Without an interval of its own, a series starts at autoInterval and ends with at most
// autoPoints points: the interval suits the run's length (10 ms for a run of half a
// second, about 40 s for a soak of half an hour).
const (
	autoInterval = 10 * time.Millisecond
	autoPoints   = 80
)

// series buckets a run into fixed intervals from its start. The builder serialises its use.
type series struct {
	start    time.Time
	interval time.Duration
	auto     bool
	points   []Point
}

// newSeries starts a series at start with the given interval (at least 1 ms; 0 means one
// that suits the run's length).
func newSeries(start time.Time, interval time.Duration) *series {
	if interval <= 0 {
		return &series{start: start, interval: autoInterval, auto: true}
	}
	return &series{start: start, interval: max(interval, time.Millisecond)}
}

// session records a session that ended at ended.
func (s *series) session(ended time.Time, o readersession.Outcome, latency time.Duration) {
	p := s.point(ended)
	p.Sessions++
	switch o {
	case readersession.Accepted:
		p.Accepted++
	case readersession.Rejected:
		p.Rejected++
	case readersession.Error:
		p.Errors++
	case readersession.Timeout:
		p.Timeouts++
	}
	v := ms(max(latency, 0))
	p.sumMs += v
	p.MaxMs = max(p.MaxMs, v)
}

// sample records memory and goroutines seen at t.
func (s *series) sample(t time.Time, rssBytes int64, goroutines int) {
	p := s.point(t)
	p.RSSBytes, p.Goroutines, p.Sampled = rssBytes, goroutines, true
}

// until returns the points from the start to end, empty intervals included.
func (s *series) until(end time.Time) []Point {
	s.point(end) // extend to the end
	for s.auto && len(s.points) > autoPoints {
		s.compact()
	}
	elapsed := end.Sub(s.start)
	out := make([]Point, len(s.points))
	for i, p := range s.points {
		at := time.Duration(i+1) * s.interval
		secs := s.interval.Seconds()
		if at > elapsed {
			secs = max((elapsed - time.Duration(i)*s.interval).Seconds(), 1e-3)
			at = elapsed
		}
		p.At, p.Seconds = at, secs
		p.PerSecond = round3(float64(p.Sessions) / secs)
		if p.Sessions > 0 {
			p.MeanMs = round3(p.sumMs / float64(p.Sessions))
		}
		p.MaxMs = round3(p.MaxMs)
		out[i] = p
	}
	return out
}

// point returns the point holding time t, growing (and if needed compacting) the series.
func (s *series) point(t time.Time) *Point {
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
func (s *series) compact() {
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

// merge is a then b as one point: counts summed, the later sample kept.
func merge(a, b Point) Point {
	a.Sessions += b.Sessions
	a.Accepted += b.Accepted
	a.Rejected += b.Rejected
	a.Errors += b.Errors
	a.Timeouts += b.Timeouts
	a.sumMs += b.sumMs
	a.MaxMs = max(a.MaxMs, b.MaxMs)
	if b.Sampled {
		a.RSSBytes, a.Goroutines, a.Sampled = b.RSSBytes, b.Goroutines, true
	}
	return a
}
