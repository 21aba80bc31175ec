package load

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// Report is the outcome of a run. Field names follow the CLI's JSON contract; the fields
// tagged "-" are for the HTML report (supervisor/report) and stay out of the JSON.
type Report struct {
	Transport         string             `json:"transport"`
	Sessions          int64              `json:"sessions"`
	Accepted          int64              `json:"accepted"`
	Rejected          int64              `json:"rejected"`
	Errors            int64              `json:"errors"`
	Timeouts          int64              `json:"timeouts"`
	Lost              int64              `json:"lost"`
	Mismatched        int64              `json:"mismatched"`
	Busy              int64              `json:"busy"`
	Seconds           float64            `json:"seconds"`
	SessionsPerSecond float64            `json:"sessions_per_second"`
	LatencyMs         Latency            `json:"latency_ms"`
	ByTransport       map[string]*Counts `json:"by_transport"`
	// Timing is, per bearer, the time from engagement to verdict next to the modelled
	// air time (in-process runs).
	Timing        map[string]*Timing `json:"timing_by_transport,omitempty"`
	ByLane        map[string]*Counts `json:"by_lane"`
	ByBehaviour   map[string]*Counts `json:"by_behaviour"`
	Reasons       map[string]int64   `json:"reasons"`
	Restarts      int64              `json:"restarts"`
	Panics        int64              `json:"panics"`
	PeakRSSBytes  int64              `json:"peak_rss_bytes"`
	GoroutinesEnd int                `json:"goroutines_end"`
	Mismatches    []string           `json:"mismatch_examples,omitempty"`
	// Losses says, for the first few lost sessions, what was left unmatched.
	Losses []string `json:"lost_examples,omitempty"`
	// AirTimeSeconds is the modelled air time of all sessions on the bearer (0 if not modelled).
	AirTimeSeconds float64 `json:"air_time_seconds,omitempty"`
	// FloorSessionsPerSecond is the floor's rate on this machine (loadtest --floor, see
	// MeasureFloor) and FloorRatio the run's sessions_per_second over it.
	FloorSessionsPerSecond float64 `json:"floor_sessions_per_second,omitempty"`
	FloorRatio             float64 `json:"floor_ratio,omitempty"`
	// VerdictsFrom says where a remote run (RunTarget) took its outcomes from:
	// "target_metrics" (the gate's own verdicts) or "holders" (what the simulated holders
	// could see: a completed session counts as accepted). Empty for in-process runs.
	VerdictsFrom string `json:"verdicts_from,omitempty"`
	// TargetCPUSeconds is the gate's CPU time over a RunTarget run with the gate's
	// /metrics (process_cpu_seconds_total before and after the run): over the sessions
	// it accepted, the gate's cost per session, whatever the holders cost this process.
	TargetCPUSeconds float64 `json:"target_cpu_seconds,omitempty"`
	// ByTarget (a run against several gates) counts each gate's holder sessions and,
	// with their /metrics, its verdicts by outcome and reason; TargetReasons sums those
	// reasons ("rejected:anti_passback"). Retries counts holders that tried another gate
	// after an error. ByWorker (a distributed run) counts each load worker's sessions
	// as its holders saw them.
	ByTarget      map[string]*TargetCounts `json:"by_target,omitempty"`
	TargetReasons map[string]int64         `json:"target_reasons,omitempty"`
	Retries       int64                    `json:"retries,omitempty"`
	ByWorker      map[string]*Counts       `json:"by_worker,omitempty"`

	// Histogram counts the sessions by latency: Histogram[i] those of at most
	// LatencyBoundsMs[i] milliseconds, the last one those slower.
	Histogram []uint64 `json:"-"`
	// Series is the run over time, one point per Interval from its start.
	Series   []Point       `json:"-"`
	Interval time.Duration `json:"-"`
	// ResourcesOf says whose memory and goroutines PeakRSSBytes, GoroutinesEnd and the
	// Series' samples describe: ResourcesThisProcess or ResourcesTarget.
	ResourcesOf string `json:"-"`
	// NotMeasured names, by JSON name, the fields this run could not measure (they read
	// 0 in the JSON) and says why.
	NotMeasured map[string]string `json:"-"`
}

// Values of Report.ResourcesOf.
const (
	ResourcesThisProcess = "this process"
	ResourcesTarget      = "the gate, from its /metrics"
)

// Counts are per-outcome counts.
type Counts struct {
	Sessions   int64 `json:"sessions"`
	Accepted   int64 `json:"accepted"`
	Rejected   int64 `json:"rejected"`
	Errors     int64 `json:"errors"`
	Timeouts   int64 `json:"timeouts"`
	Lost       int64 `json:"lost"`
	Mismatched int64 `json:"mismatched,omitempty"`
}

// addOutcomes adds o's sessions and outcomes (a worker's shard's counts to the run's).
func (c *Counts) addOutcomes(o Counts) {
	c.Sessions += o.Sessions
	c.Accepted += o.Accepted
	c.Rejected += o.Rejected
	c.Errors += o.Errors
	c.Timeouts += o.Timeouts
}

func (c *Counts) add(o readersession.Outcome) {
	c.Sessions++
	switch o {
	case readersession.Accepted:
		c.Accepted++
	case readersession.Rejected:
		c.Rejected++
	case readersession.Error:
		c.Errors++
	case readersession.Timeout:
		c.Timeouts++
	}
}

// Timing is a bearer's time from the engagement's start (a card tapped, a QR code shown)
// to the verdict, and its modelled air time per session, for the sessions on it.
type Timing struct {
	Sessions              int64   `json:"sessions"`
	EngagementToVerdictMs Latency `json:"engagement_to_verdict_ms"`
	// AirTimeMsPerSession is the modelled air time per session: 0 where the bearer
	// models none (AirModelled false).
	AirTimeMsPerSession float64 `json:"air_time_ms_per_session"`
	AirModelled         bool    `json:"air_modelled"`
}

// timingOf gathers a bearer's Timing.
type timingOf struct {
	hist latencyHist
	air  time.Duration
	n    int64
}

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// maxExamples bounds the mismatch and loss examples of a report.
const maxExamples = 5

// builder sums the sessions of a run into its Report: every kind of run reports through
// one. Its memory does not grow with the run (counts, a fixed histogram, a series of at
// most MaxPoints), so a soak of hours holds constant memory. It is safe for concurrent
// use.
type builder struct {
	mu     sync.Mutex
	start  time.Time
	rep    *Report
	hist   latencyHist
	series *series
	timing map[string]*timingOf
}

// newBuilder starts a report of a run that starts at start, with a series of points of
// interval (0: one that suits the run's length).
func newBuilder(start time.Time, interval time.Duration) *builder {
	return &builder{start: start, series: newSeries(start, interval), timing: map[string]*timingOf{},
		rep: &Report{ByTransport: map[string]*Counts{}, ByLane: map[string]*Counts{}, ByBehaviour: map[string]*Counts{},
			Reasons: map[string]int64{}, NotMeasured: map[string]string{}, ByTarget: map[string]*TargetCounts{}}}
}

// session records one session's end: its outcome and reason, on a bearer at a lane ("":
// none to name), its latency and when it ended.
func (b *builder) session(bearer, lane string, o readersession.Outcome, reason string, latency time.Duration, ended time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rep
	r.Sessions++
	switch o {
	case readersession.Accepted:
		r.Accepted++
	case readersession.Rejected:
		r.Rejected++
	case readersession.Error:
		r.Errors++
	case readersession.Timeout:
		r.Timeouts++
	}
	bucket(r.ByTransport, bearer).add(o)
	if lane != "" {
		bucket(r.ByLane, lane).add(o)
	}
	if reason != "" {
		r.Reasons[string(o)+":"+reason]++
	}
	b.hist.add(latency)
	b.series.session(ended, o, latency)
}

// timed records, for a session on bearer, the time from its engagement to its verdict and
// its modelled air time (0: not modelled).
func (b *builder) timed(bearer string, fromEngagement, air time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.timing[bearer]
	if t == nil {
		t = &timingOf{}
		b.timing[bearer] = t
	}
	t.n++
	t.hist.add(fromEngagement)
	t.air += air
}

// holder records the outcome a holder of behaviour beh got. With check, an outcome other
// than beh.Expected() is a mismatch; where (the lane), reason and detail describe it.
func (b *builder) holder(beh Behaviour, o readersession.Outcome, check bool, where, reason, detail string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bb := bucket(b.rep.ByBehaviour, string(beh))
	bb.add(o)
	if !check || o == beh.Expected() {
		return
	}
	b.rep.Mismatched++
	bb.Mismatched++
	if len(b.rep.Mismatches) < maxExamples {
		if detail != "" {
			reason += ": " + detail
		}
		b.rep.Mismatches = append(b.rep.Mismatches, fmt.Sprintf("%s holder on %s: %s (%s), expected %s",
			beh, where, o, reason, beh.Expected()))
	}
}

// target records a session's outcome, as its holder saw it, at a target gate.
func (b *builder) target(url string, o readersession.Outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tc := b.rep.ByTarget[url]
	if tc == nil {
		tc = &TargetCounts{}
		b.rep.ByTarget[url] = tc
	}
	tc.add(o)
}

// retry records a holder trying another gate after an error.
func (b *builder) retry() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Retries++
}

// Shard is a load worker's part of a distributed run (RunTargetShard), as it travels to
// the coordinator: its report's counts and the latencies' fine histogram, which the
// coordinator's builder merges (absorb) into one report.
type Shard struct {
	Worker string  `json:"worker"`
	Report *Report `json:"report"`
	// Latency is the fine latency histogram (latencyHist's buckets), Shown the report's,
	// MaxNs the slowest session.
	Latency []uint64 `json:"latency"`
	Shown   []uint64 `json:"shown"`
	MaxNs   int64    `json:"max_ns"`
}

// shard ends the builder's report at end as a worker's shard.
func (b *builder) shard(worker string, end time.Time) *Shard {
	rep := b.finish(end)
	b.mu.Lock()
	defer b.mu.Unlock()
	return &Shard{Worker: worker, Report: rep, Latency: append([]uint64(nil), b.hist.counts[:]...),
		Shown: append([]uint64(nil), b.hist.shown[:]...), MaxNs: int64(b.hist.max)}
}

// absorb merges a worker's shard into the report: its counts, by transport, target and
// reason, its latencies, and a by_worker entry.
func (b *builder) absorb(s *Shard) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, w := b.rep, s.Report
	if w == nil {
		return
	}
	r.Sessions += w.Sessions
	r.Accepted += w.Accepted
	r.Rejected += w.Rejected
	r.Errors += w.Errors
	r.Timeouts += w.Timeouts
	r.Busy += w.Busy
	r.Retries += w.Retries
	mergeCounts := func(dst map[string]*Counts, src map[string]*Counts) {
		for k, c := range src {
			bucket(dst, k).addOutcomes(*c)
		}
	}
	mergeCounts(r.ByTransport, w.ByTransport)
	mergeCounts(r.ByBehaviour, w.ByBehaviour)
	for k, tc := range w.ByTarget {
		d := r.ByTarget[k]
		if d == nil {
			d = &TargetCounts{}
			r.ByTarget[k] = d
		}
		d.addOutcomes(tc.Counts)
	}
	for k, n := range w.Reasons {
		r.Reasons[k] += n
	}
	if r.ByWorker == nil {
		r.ByWorker = map[string]*Counts{}
	}
	r.ByWorker[s.Worker] = &Counts{Sessions: w.Sessions, Accepted: w.Accepted, Rejected: w.Rejected, Errors: w.Errors, Timeouts: w.Timeouts}
	for i := 0; i < len(s.Latency) && i < len(b.hist.counts); i++ {
		b.hist.counts[i] += s.Latency[i]
		b.hist.n += s.Latency[i]
	}
	for i := 0; i < len(s.Shown) && i < len(b.hist.shown); i++ {
		b.hist.shown[i] += s.Shown[i]
	}
	b.hist.max = max(b.hist.max, time.Duration(s.MaxNs))
}

// busy records a holder that met only busy readers.
func (b *builder) busy(beh Behaviour) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Busy++
	bucket(b.rep.ByBehaviour, string(beh))
}

// lost records n lost sessions (of holders of behaviour beh, "" if none is known) and
// why, for the first few.
func (b *builder) lost(beh Behaviour, n int64, why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Lost += n
	if beh != "" {
		bucket(b.rep.ByBehaviour, string(beh)).Lost += n
	}
	if len(b.rep.Losses) < maxExamples {
		b.rep.Losses = append(b.rep.Losses, why)
	}
}

// sample records the memory and goroutines of whoever the run measures (ResourcesOf) at t.
func (b *builder) sample(t time.Time, rssBytes int64, goroutines int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.series.sample(t, rssBytes, goroutines)
}

// finish ends the report at end: duration, rate, latency percentiles and histogram, the
// series. The builder is not used afterwards.
func (b *builder) finish(end time.Time) *Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rep
	r.Seconds = end.Sub(b.start).Seconds()
	if r.Seconds > 0 {
		r.SessionsPerSecond = float64(r.Sessions) / r.Seconds
	}
	r.LatencyMs = b.hist.percentiles()
	r.Histogram = append([]uint64(nil), b.hist.shown[:]...)
	r.Series, r.Interval = b.series.until(end), b.series.interval
	if len(b.timing) > 0 {
		r.Timing = map[string]*Timing{}
		for name, t := range b.timing {
			r.Timing[name] = &Timing{Sessions: t.n, EngagementToVerdictMs: t.hist.percentiles(), AirModelled: t.air > 0,
				AirTimeMsPerSession: round3(ms(t.air) / float64(t.n))}
		}
	}
	return r
}

func bucket(m map[string]*Counts, k string) *Counts {
	c, ok := m[k]
	if !ok {
		c = &Counts{}
		m[k] = c
	}
	return c
}

// LatencyBoundsMs are the upper bounds (milliseconds) of Report.Histogram's buckets; a
// last bucket, one past these, counts everything slower.
var LatencyBoundsMs = [...]float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000}

// latencyHist keeps a run's latencies in fixed buckets: a log scale from 10 µs to ~3 h
// with 2 % resolution for the percentiles, and the LatencyBoundsMs buckets shown.
type latencyHist struct {
	counts [1024]uint64
	shown  [len(LatencyBoundsMs) + 1]uint64
	n      uint64
	max    time.Duration
}

const histBase = 10 * time.Microsecond

var histGrowth = math.Log(1.02)

func (h *latencyHist) add(d time.Duration) {
	d = max(d, 0)
	h.n++
	if d > h.max {
		h.max = d
	}
	i := 0
	if d > histBase {
		i = int(math.Log(float64(d)/float64(histBase))/histGrowth) + 1
	}
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.shown[shownBucket(ms(d))]++
}

// shownBucket is the LatencyBoundsMs bucket of a latency in milliseconds.
func shownBucket(v float64) int {
	for i, b := range LatencyBoundsMs {
		if v <= b {
			return i
		}
	}
	return len(LatencyBoundsMs)
}

// upper returns the upper bound of bucket i.
func (h *latencyHist) upper(i int) time.Duration {
	return time.Duration(float64(histBase) * math.Exp(float64(i)*histGrowth))
}

// merge adds o's latencies.
func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	for i, c := range o.shown {
		h.shown[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *latencyHist) percentiles() Latency {
	if h.n == 0 {
		return Latency{}
	}
	at := func(p float64) float64 {
		rank := uint64(math.Ceil(p * float64(h.n)))
		var seen uint64
		for i, c := range h.counts {
			seen += c
			if seen >= rank {
				return round3(ms(min(h.upper(i), h.max)))
			}
		}
		return round3(ms(h.max))
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: round3(ms(h.max))}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
