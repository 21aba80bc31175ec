package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/supervisor"
)

// WriteText prints the report's summary and tables, per bearer (when several), lane,
// holder behaviour (when several) and reason, under a title ("loadtest", "demo", ...).
func (r *Report) WriteText(w io.Writer, title string) {
	fmt.Fprintf(w, "%s: %d sessions in %.2fs (%.0f/s), latency p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms\n",
		title, r.Sessions, r.Seconds, r.SessionsPerSecond, r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max)
	if r.FloorSessionsPerSecond > 0 {
		fmt.Fprintf(w, "floor (the session's unavoidable crypto on every CPU) %.0f/s: the run reached %.0f%% of it\n",
			r.FloorSessionsPerSecond, 100*r.FloorRatio)
	}
	if r.AirTimeSeconds > 0 {
		fmt.Fprintf(w, "modelled air time %.2fs (%.1f ms per session) next to wall time %.2fs\n",
			r.AirTimeSeconds, 1000*r.AirTimeSeconds/float64(max(r.Sessions, 1)), r.Seconds)
	}
	fmt.Fprintf(w, "accepted %d  rejected %d  errors %d  timeouts %d  lost %d  mismatched %d  busy %d  restarts %d\n\n",
		r.Accepted, r.Rejected, r.Errors, r.Timeouts, r.Lost, r.Mismatched, r.Busy, r.Restarts)
	table := func(name string, m map[string]*Counts) {
		fmt.Fprintf(w, "%-18s %9s %9s %9s %9s %9s %6s %10s\n", name, "sessions", "accepted", "rejected", "errors", "timeouts", "lost", "mismatched")
		for _, k := range slices.Sorted(maps.Keys(m)) {
			c := m[k]
			fmt.Fprintf(w, "%-18s %9d %9d %9d %9d %9d %6d %10d\n", k, c.Sessions, c.Accepted, c.Rejected, c.Errors, c.Timeouts, c.Lost, c.Mismatched)
		}
		fmt.Fprintln(w)
	}
	if len(r.ByTransport) > 1 {
		table("bearer", r.ByTransport)
	}
	if len(r.Timing) > 0 {
		fmt.Fprintf(w, "%-18s %9s %26s %16s\n", "bearer", "sessions", "engagement-to-verdict ms", "air ms/session")
		fmt.Fprintf(w, "%-18s %9s %26s %16s\n", "", "", "p50 / p90 / p99", "(modelled)")
		for _, k := range slices.Sorted(maps.Keys(r.Timing)) {
			t := r.Timing[k]
			air := "not modelled"
			if t.AirModelled {
				air = fmt.Sprintf("%.2f", t.AirTimeMsPerSession)
			}
			fmt.Fprintf(w, "%-18s %9d %26s %16s\n", k, t.Sessions,
				fmt.Sprintf("%.1f / %.1f / %.1f", t.EngagementToVerdictMs.P50, t.EngagementToVerdictMs.P90, t.EngagementToVerdictMs.P99), air)
		}
		fmt.Fprintln(w)
	}
	table("lane", r.ByLane)
	if len(r.ByBehaviour) > 1 {
		table("holder", r.ByBehaviour)
	}
	if len(r.Reasons) > 0 {
		fmt.Fprintln(w, "reasons:")
		for _, k := range slices.Sorted(maps.Keys(r.Reasons)) {
			fmt.Fprintf(w, "  %-40s %d\n", k, r.Reasons[k])
		}
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "mismatch: %s\n", m)
	}
}

// WriteText prints the load report and the growth seen after warm-up.
func (r *SoakReport) WriteText(w io.Writer) {
	r.Load.WriteText(w, "soak")
	fmt.Fprintf(w, "\nafter warm-up: RSS %d → %d bytes (%+.2f %%), goroutines %d → %d (%+d), %d samples\n",
		r.RSSStartBytes, r.RSSEndBytes, r.RSSGrowthPct, r.GoroutinesStart, r.GoroutinesEnd, r.GoroutineGrowth, len(r.Samples))
}

// ProgressBar draws a run's progress on a terminal, at most ten times a second: a bar
// and the holders done of a known total, or the count alone.
type ProgressBar struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
}

// NewProgressBar starts a progress bar on w when w is a terminal; on anything else it
// returns nil, a bar that draws nothing.
func NewProgressBar(w io.Writer) *ProgressBar {
	if !supervisor.IsTerminal(w) {
		return nil
	}
	return &ProgressBar{w: w, start: time.Now()}
}

// Progress returns Update as a Config.Progress: nil for a nil bar.
func (p *ProgressBar) Progress() func(done, total int64) {
	if p == nil {
		return nil
	}
	return p.Update
}

// Update draws the progress; its signature fits Config.Progress.
func (p *ProgressBar) Update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = now
	rate := float64(done) / now.Sub(p.start).Seconds()
	if total > 0 {
		const width = 30
		n := int(float64(width) * float64(done) / float64(total))
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d holders  %.0f/s ", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total, rate)
	} else {
		fmt.Fprintf(p.w, "\r%d holders  %.0f/s ", done, rate)
	}
}

// Finish ends the bar's line; a nil bar has none.
func (p *ProgressBar) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w)
}
