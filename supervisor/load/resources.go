package load

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SampleResources is how often runs sample the memory and goroutines they measure
// (Point.RSSBytes, Point.Goroutines): a few times a second is cheap (reading
// /proc/self/status, or a gate's /metrics) and draws even a short run.
const SampleResources = 250 * time.Millisecond

// sampleEvery samples memory and goroutines with probe into b now and every interval
// after, until the returned stop, which takes a last sample. A probe that reports false
// had nothing to say.
func sampleEvery(b *builder, interval time.Duration, probe func() (rssBytes int64, goroutines int, ok bool)) (stop func()) {
	take := func() {
		if rss, g, ok := probe(); ok {
			b.sample(time.Now(), rss, g)
		}
	}
	take()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				take()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
			take()
		})
	}
}

// sampleThisProcess is the probe of in-process runs.
func sampleThisProcess() (int64, int, bool) {
	rss := procStatus("VmRSS:")
	return rss, runtime.NumGoroutine(), rss > 0
}

// peakRSS reads the process's peak resident set size (VmHWM) on Linux; 0 elsewhere.
func peakRSS() int64 { return procStatus("VmHWM:") }

// currentRSS reads the resident set size (VmRSS) on Linux; 0 elsewhere.
func currentRSS() int64 { return procStatus("VmRSS:") }

// procStatus reads a size in kB from /proc/self/status, in bytes; 0 when unknown.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			if f := strings.Fields(rest); len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
