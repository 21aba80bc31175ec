package load

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// SoakConfig describes a steady-rate run that watches the process for growth.
type SoakConfig struct {
	Load Config
	// SampleEvery is the sampling interval of RSS and goroutines (default 10 s).
	SampleEvery time.Duration
	// Warmup is left out of the growth figures: caches, pools and the heap settle first.
	// The default is 10 % of the duration, and at least SoakRSSSettle in a run long
	// enough to judge RSS (SoakMinJudged).
	Warmup time.Duration
}

// The process's RSS climbs for minutes under a steady load while the heap in use stays
// flat (the runtime keeps the memory of its peaks and returns it slowly): measured here,
// 30.5 MB after 10 s, 44.5 MB after 2 min, 47.4 MB after 4 min, a floor near 50 MB after
// half an hour. So RSS growth is judged only in runs of at least SoakMinJudged, from
// SoakRSSSettle on; shorter runs report it without a verdict.
const (
	SoakRSSSettle = 5 * time.Minute
	SoakMinJudged = 10 * time.Minute
)

// Sample is one observation of the process.
type Sample struct {
	Seconds    float64 `json:"t"`
	RSSBytes   int64   `json:"rss_bytes"`
	HeapBytes  uint64  `json:"heap_bytes"`
	Goroutines int     `json:"goroutines"`
	Sessions   int64   `json:"sessions"`
}

// SoakReport is the load report plus the growth seen after warm-up.
type SoakReport struct {
	Load            *Report  `json:"load"`
	Samples         []Sample `json:"samples"`
	RSSStartBytes   int64    `json:"rss_start_bytes"`
	RSSEndBytes     int64    `json:"rss_end_bytes"`
	RSSGrowthPct    float64  `json:"rss_growth_pct"`
	GoroutinesStart int      `json:"goroutines_start"`
	GoroutinesEnd   int      `json:"goroutines_end"`
	GoroutineGrowth int      `json:"goroutine_growth"`
	// RSSJudged says the run was long enough for its RSS growth to mean something
	// (SoakMinJudged); otherwise RSSGrowthPct is reported, not judged.
	RSSJudged bool `json:"rss_judged"`
}

// RunSoak runs the load at a steady rate for Load.Duration and samples the process.
// The start and end figures are the lower quartiles of the first and the second half of
// the samples after warm-up: a leak raises the floor the process returns to between
// bursts, while a burst of in-flight sessions (a slow moment of the machine) raises
// single samples and says nothing about leaks.
func RunSoak(ctx context.Context, cfg SoakConfig) (*SoakReport, error) {
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 10 * time.Second
	}
	var judged bool
	cfg.Warmup, judged = soakWindow(cfg.Load.Duration, cfg.Warmup)
	var mu sync.Mutex
	var samples []Sample
	var sessions int64
	cfg.Load.Progress = func(done, _ int64) {
		mu.Lock()
		sessions = done
		mu.Unlock()
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sampled)
		t := time.NewTicker(cfg.SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				mu.Lock()
				samples = append(samples, Sample{Seconds: time.Since(start).Seconds(), RSSBytes: currentRSS(),
					HeapBytes: ms.HeapInuse, Goroutines: runtime.NumGoroutine(), Sessions: sessions})
				mu.Unlock()
			}
		}
	}()
	rep, err := Run(ctx, cfg.Load)
	close(stop)
	<-sampled
	out := &SoakReport{Load: rep, Samples: samples}
	var steady []Sample
	for _, s := range samples {
		if s.Seconds >= cfg.Warmup.Seconds() {
			steady = append(steady, s)
		}
	}
	if len(steady) >= 2 {
		half := len(steady) / 2
		first, last := steady[:half], steady[half:]
		out.RSSStartBytes = quartileRSS(first)
		out.RSSEndBytes = quartileRSS(last)
		out.GoroutinesStart = quartileGoroutines(first)
		out.GoroutinesEnd = quartileGoroutines(last)
		if out.RSSStartBytes > 0 {
			out.RSSGrowthPct = round3(100 * float64(out.RSSEndBytes-out.RSSStartBytes) / float64(out.RSSStartBytes))
		}
		out.GoroutineGrowth = out.GoroutinesEnd - out.GoroutinesStart
		out.RSSJudged = judged
	}
	return out, err
}

// soakWindow returns the warm-up of a run of duration d (warmup when set) and whether
// its RSS growth can be judged.
func soakWindow(d, warmup time.Duration) (time.Duration, bool) {
	judged := d >= SoakMinJudged
	if warmup <= 0 {
		warmup = d / 10
		if judged {
			warmup = max(warmup, SoakRSSSettle)
		}
	}
	return warmup, judged
}

func quartileRSS(s []Sample) int64 {
	v := make([]int64, len(s))
	for i := range s {
		v[i] = s[i].RSSBytes
	}
	return lowerQuartile(v)
}

func quartileGoroutines(s []Sample) int {
	v := make([]int64, len(s))
	for i := range s {
		v[i] = int64(s[i].Goroutines)
	}
	return int(lowerQuartile(v))
}

func lowerQuartile(v []int64) int64 {
	slices.Sort(v)
	return v[len(v)/4]
}

// Soak limits: what a healthy run stays under after warm-up.
const (
	SoakMaxRSSGrowthPct    = 5.0
	SoakMaxGoroutineGrowth = 16
)

// WithinLimits says the run lost no session and stayed under the soak limits: RSS growth
// (when the run was long enough to judge it) and goroutine growth.
func (r *SoakReport) WithinLimits() bool {
	rssExceeded := r.RSSJudged && r.RSSGrowthPct >= SoakMaxRSSGrowthPct
	return r.Load.Lost == 0 && !rssExceeded && r.GoroutineGrowth <= SoakMaxGoroutineGrowth
}

// Notes say what the figures do not: that RSS growth was not judged (a run too short),
// and which limits were exceeded.
func (r *SoakReport) Notes() []string {
	var notes []string
	if !r.RSSJudged {
		notes = append(notes, fmt.Sprintf("RSS growth reported, not judged: a run under %v ends before the runtime's RSS settles", SoakMinJudged))
	}
	if !r.WithinLimits() {
		notes = append(notes, fmt.Sprintf("limits exceeded (lost %d, RSS growth %.2f %% ≥ %.0f %% or goroutine growth %d > %d)",
			r.Load.Lost, r.RSSGrowthPct, SoakMaxRSSGrowthPct, r.GoroutineGrowth, SoakMaxGoroutineGrowth))
	}
	return notes
}
