// Package dashboard serves a live operations page for an engine: lanes, throughput,
// outcome mix, latency percentiles and the most recent verdicts, pushed to browsers
// over Server-Sent Events about once a second.
//
// The page is one self-contained HTML document (embedded; vanilla JavaScript, no
// external assets). A Dashboard is an http.Handler answering, relative to where it is
// mounted:
//
//	GET .../              the page (also .../index.html; other paths are 404)
//	GET .../events        text/event-stream of "snapshot" events (JSON Snapshot)
//	GET .../snapshot.json the latest Snapshot
//
// Mount it at a path ending in "/" with http.StripPrefix, e.g.
// mux.Handle("/dashboard/", http.StripPrefix("/dashboard", d)).
//
// With Options.Fleet (a gate in a venue) the page adds the venue's fleet: every gate's
// counts per lane and zone, and the venue's total.
//
// Authentication is the server's to add around it. Behind a bearer token the page
// (static, holding no data) reads the token from "#token=…" in its address, dropping it
// from there, or asks for it with a sign-in form when the stream answers 401, keeps it
// for the tab (sessionStorage) and sends it with its event stream (read with fetch,
// Authorization header). With a client certificate, or no authentication, it asks for
// nothing.
//
// Privacy: snapshots carry counts, latencies, lane and bearer names, session ids,
// outcomes and machine-readable reasons only. Verdict details and verification
// results (which may hold element values) are never read.
//
// Memory is bounded whatever the traffic: at most MaxLanes lanes are tracked (later
// ones are folded into "other"), latency percentiles come from the last
// LatencySamples sessions of each lane, throughput from fixed per-second rings, and the
// recent list keeps Options.Recent verdicts.
package dashboard

import (
	_ "embed"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

//go:embed page.html
var page []byte

// Source is what the dashboard reads: a verdict stream and the engine-wide counters.
// FromEngine adapts a *supervisor.Engine; tests can fake it.
type Source interface {
	// Subscribe registers f for every verdict published from now on and returns a
	// function that removes it. f is called from the publisher's goroutine.
	Subscribe(f func(*actors.SessionVerdict)) (unsubscribe func())
	Counters() *actors.Counters
}

// Engine is the part of *supervisor.Engine that FromEngine needs.
type Engine interface {
	Results() *actors.Results
	Counters() *actors.Counters
}

// FromEngine adapts a running engine (a *supervisor.Engine) to a Source.
func FromEngine(e Engine) Source { return engineSource{e} }

type engineSource struct{ e Engine }

func (s engineSource) Subscribe(f func(*actors.SessionVerdict)) func() {
	return s.e.Results().Subscribe(f)
}
func (s engineSource) Counters() *actors.Counters { return s.e.Counters() }

// Bounds of the aggregation.
const (
	MaxLanes       = 64   // lanes tracked by name; later ones are shown as "other"
	LatencySamples = 1024 // latencies kept per lane (and overall) for percentiles
	historySeconds = 120  // per-second throughput kept
)

// Options tune a dashboard; zero values mean the defaults.
type Options struct {
	Title      string        // page title; default "mdocgate"
	Interval   time.Duration // snapshot period; default 1 s
	Window     time.Duration // throughput window; default 10 s, at most 120 s
	Recent     int           // recent verdicts shown; default 20, at most 200
	MaxClients int           // concurrent event streams; default 256, more get 503
	// Fleet, when set, is called for every snapshot and its JSON shown as the venue's
	// fleet: a gate in a venue passes supervisor/venue's Fleet (fields venue, gates
	// [{gate, age_s, lanes, total}], zones, total; counts as in venue.LaneCounts).
	Fleet func() any
}

// Snapshot is what the page shows; it is sent as JSON.
type Snapshot struct {
	Title  string      `json:"title"`
	Time   time.Time   `json:"time"`
	Uptime float64     `json:"uptime_s"`
	Window float64     `json:"window_s"`
	Totals LaneStats   `json:"totals"`
	Lanes  []LaneStats `json:"lanes"` // by name
	Engine EngineStats `json:"engine"`
	// Throughput is sessions ended per second over the last minute, oldest first.
	Throughput []int64  `json:"throughput"`
	Recent     []Recent `json:"recent"` // newest first
	Clients    int      `json:"clients"`
	// Fleet is Options.Fleet's answer: the whole venue, per gate and in total.
	Fleet any `json:"fleet,omitempty"`
}

// LaneStats are one lane's counts since start, with throughput over the window and
// latency percentiles over its last LatencySamples sessions (milliseconds).
type LaneStats struct {
	Lane      string  `json:"lane"`
	Bearer    string  `json:"bearer"`
	Sessions  int64   `json:"sessions"`
	Accepted  int64   `json:"accepted"`
	Rejected  int64   `json:"rejected"`
	Errors    int64   `json:"errors"`
	Timeouts  int64   `json:"timeouts"`
	PerSecond float64 `json:"per_second"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
}

// EngineStats are the engine-wide counters at snapshot time.
type EngineStats struct {
	Started     int64 `json:"started"`
	Ended       int64 `json:"ended"`
	InFlight    int64 `json:"in_flight"`
	Busy        int64 `json:"busy"`
	Restarts    int64 `json:"restarts"`
	Panics      int64 `json:"panics"`
	CryptoQueue int64 `json:"crypto_queue"`
}

// Recent is one verdict as the dashboard shows it: no detail, no element values.
type Recent struct {
	SessionID string    `json:"session_id"`
	Lane      string    `json:"lane"`
	Bearer    string    `json:"bearer"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	LatencyMs float64   `json:"latency_ms"`
	Ended     time.Time `json:"ended"`
}

// Dashboard aggregates verdicts and serves the page and its event stream.
type Dashboard struct {
	src   Source
	opts  Options
	start time.Time
	unsub func()

	mu      sync.Mutex
	total   *agg
	lanes   map[string]*agg
	recent  []Recent // ring
	recentN int

	latest atomic.Pointer[[]byte]

	cmu     sync.Mutex
	clients map[chan []byte]struct{}

	done      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
}

// New subscribes to src and starts the one goroutine that builds a snapshot every
// Interval and hands it to the connected streams. Close stops it.
//
// The verdict subscriber never blocks: it takes a short mutex and updates fixed-size
// counters and rings.
func New(src Source, opts Options) *Dashboard {
	if opts.Title == "" {
		opts.Title = "mdocgate"
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Second
	}
	opts.Window = min(opts.Window, historySeconds*time.Second)
	if opts.Recent <= 0 {
		opts.Recent = 20
	}
	opts.Recent = min(opts.Recent, 200)
	if opts.MaxClients <= 0 {
		opts.MaxClients = 256
	}
	d := &Dashboard{src: src, opts: opts, start: time.Now(), total: &agg{}, lanes: map[string]*agg{},
		recent: make([]Recent, opts.Recent), clients: map[chan []byte]struct{}{},
		done: make(chan struct{}), loopDone: make(chan struct{})}
	d.publish()
	d.unsub = src.Subscribe(d.observe)
	go d.loop()
	return d
}

// Close unsubscribes, stops the snapshot goroutine and ends every event stream. It
// waits for the goroutine; it is safe to call more than once.
func (d *Dashboard) Close() {
	d.closeOnce.Do(func() {
		d.unsub()
		close(d.done)
		<-d.loopDone
	})
}

// Snapshot builds the current snapshot.
func (d *Dashboard) Snapshot() Snapshot { return d.snapshot(time.Now()) }

func (d *Dashboard) loop() {
	defer close(d.loopDone)
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-t.C:
			d.publish()
		}
	}
}

// publish builds a snapshot and offers it to every stream; a stream that has not
// taken the previous one gets the newest instead (slow clients skip frames, never
// queue them).
func (d *Dashboard) publish() {
	b, err := json.Marshal(d.snapshot(time.Now()))
	if err != nil {
		return
	}
	d.latest.Store(&b)
	d.cmu.Lock()
	defer d.cmu.Unlock()
	for ch := range d.clients {
		select {
		case ch <- b:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- b:
			default:
			}
		}
	}
}

// ServeHTTP serves the page, the event stream and the JSON snapshot.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/events") || r.URL.Path == "events":
		d.serveEvents(w, r)
	case strings.HasSuffix(r.URL.Path, "/snapshot.json") || r.URL.Path == "snapshot.json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(*d.latest.Load())
	case r.URL.Path == "" || r.URL.Path == "/" || strings.HasSuffix(r.URL.Path, "/index.html"):
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(page)
	default:
		http.NotFound(w, r)
	}
}

func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch := make(chan []byte, 1)
	d.cmu.Lock()
	if len(d.clients) >= d.opts.MaxClients {
		d.cmu.Unlock()
		http.Error(w, "too many dashboard clients", http.StatusServiceUnavailable)
		return
	}
	d.clients[ch] = struct{}{}
	d.cmu.Unlock()
	defer func() {
		d.cmu.Lock()
		delete(d.clients, ch)
		d.cmu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write([]byte("retry: 2000\nevent: snapshot\ndata: ")); err != nil {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		if _, err := w.Write([]byte("\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(*d.latest.Load()) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case b := <-ch:
			if !send(b) {
				return
			}
		}
	}
}

// clientCount is the number of open event streams.
func (d *Dashboard) clientCount() int {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	return len(d.clients)
}

// observe is the verdict subscriber.
func (d *Dashboard) observe(v *actors.SessionVerdict) {
	lat := v.Latency()
	if lat < 0 {
		lat = 0
	}
	ms := float64(lat) / float64(time.Millisecond)
	sec := v.Ended.Unix()
	if v.Ended.IsZero() {
		sec = time.Now().Unix()
	}
	rec := Recent{SessionID: clean(v.SessionID, 32), Lane: clean(v.Lane, 64), Bearer: clean(v.Bearer, 32),
		Outcome: clean(string(v.Outcome), 16), Reason: clean(v.Reason, 64), LatencyMs: round3(ms), Ended: v.Ended}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.lanes[rec.Lane]
	if !ok {
		if len(d.lanes) >= MaxLanes {
			rec.Lane = "other"
			a = d.lanes["other"]
		}
		if a == nil {
			a = &agg{}
			d.lanes[rec.Lane] = a
		}
	}
	a.add(v.Outcome, rec.Bearer, ms, sec)
	d.total.add(v.Outcome, "", ms, sec)
	d.recent[d.recentN%len(d.recent)] = rec
	d.recentN++
}

// clean keeps identifiers printable and short: [A-Za-z0-9_.:-] up to n bytes, others
// replaced by '_'.
func clean(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == ':', r == '-':
			return r
		}
		return '_'
	}, s)
}

func (d *Dashboard) snapshot(now time.Time) Snapshot {
	type laneCopy struct {
		name string
		agg  agg
	}
	d.mu.Lock()
	total := *d.total
	lanes := make([]laneCopy, 0, len(d.lanes))
	for name, a := range d.lanes {
		lanes = append(lanes, laneCopy{name, *a})
	}
	n := min(d.recentN, len(d.recent))
	recent := make([]Recent, 0, n)
	for i := 0; i < n; i++ {
		recent = append(recent, d.recent[(d.recentN-1-i)%len(d.recent)])
	}
	d.mu.Unlock()

	sort.Slice(lanes, func(i, j int) bool { return lanes[i].name < lanes[j].name })
	window := d.opts.Window
	if up := now.Sub(d.start); up < window {
		window = max(up, time.Second)
	}
	s := Snapshot{Title: d.opts.Title, Time: now, Uptime: round3(now.Sub(d.start).Seconds()), Window: window.Seconds(),
		Totals: total.stats("all", now, window), Recent: recent, Clients: d.clientCount(),
		Lanes: make([]LaneStats, 0, len(lanes))}
	for _, l := range lanes {
		s.Lanes = append(s.Lanes, l.agg.stats(l.name, now, window))
	}
	sec := now.Unix()
	for i := int64(59); i >= 0; i-- {
		s.Throughput = append(s.Throughput, total.at(sec-1-i))
	}
	if d.opts.Fleet != nil {
		s.Fleet = d.opts.Fleet()
	}
	c := d.src.Counters()
	s.Engine = EngineStats{Started: c.Started.Load(), Ended: c.Ended.Load(), InFlight: c.InFlight.Load(),
		Busy: c.Busy.Load(), Restarts: c.Restarts.Load(), Panics: c.Panics.Load(), CryptoQueue: c.CryptoQueue.Load()}
	return s
}

// agg is a fixed-size aggregate: counts, a per-second ring and a latency ring.
type agg struct {
	bearer                                        string
	sessions, accepted, rejected, errors, timeout int64
	secs                                          [historySeconds]struct{ sec, n int64 }
	lat                                           [LatencySamples]float64
	latN                                          int
}

func (a *agg) add(o readersession.Outcome, bearer string, ms float64, sec int64) {
	if bearer != "" && a.bearer != bearer {
		if a.bearer == "" {
			a.bearer = bearer
		} else if !strings.Contains(a.bearer, bearer) && len(a.bearer) < 64 {
			a.bearer += "," + bearer
		}
	}
	a.sessions++
	switch o {
	case readersession.Accepted:
		a.accepted++
	case readersession.Rejected:
		a.rejected++
	case readersession.Error:
		a.errors++
	case readersession.Timeout:
		a.timeout++
	}
	b := &a.secs[uint64(sec)%historySeconds]
	if b.sec != sec {
		b.sec, b.n = sec, 0
	}
	b.n++
	a.lat[a.latN%LatencySamples] = ms
	a.latN++
}

// at is the count of second sec, 0 when it has left the ring.
func (a *agg) at(sec int64) int64 {
	b := a.secs[uint64(sec)%historySeconds]
	if b.sec != sec {
		return 0
	}
	return b.n
}

func (a *agg) stats(name string, now time.Time, window time.Duration) LaneStats {
	s := LaneStats{Lane: name, Bearer: a.bearer, Sessions: a.sessions, Accepted: a.accepted, Rejected: a.rejected,
		Errors: a.errors, Timeouts: a.timeout}
	// the window ends with the current (partial) second
	secs := min(int64(math.Ceil(window.Seconds())), historySeconds)
	var n int64
	for i := int64(0); i < secs; i++ {
		n += a.at(now.Unix() - i)
	}
	s.PerSecond = round3(float64(n) / window.Seconds())
	k := min(a.latN, LatencySamples)
	if k > 0 {
		l := make([]float64, k)
		copy(l, a.lat[:k])
		sort.Float64s(l)
		q := func(p float64) float64 {
			i := int(p*float64(k)+0.999999) - 1
			return round3(l[max(0, min(i, k-1))])
		}
		s.P50, s.P90, s.P99 = q(0.50), q(0.90), q(0.99)
	}
	return s
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
