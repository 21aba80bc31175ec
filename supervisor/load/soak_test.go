package load

import (
	"context"
	"testing"
	"time"
)

func TestSoakSamplesAndReports(t *testing.T) {
	rep, err := RunSoak(context.Background(), SoakConfig{
		Load:        Config{Duration: 1500 * time.Millisecond, Rate: 100, Concurrency: 16, Timeout: time.Second},
		SampleEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Load.Lost != 0 || rep.Load.Sessions < 50 {
		t.Fatalf("lost %d sessions %d", rep.Load.Lost, rep.Load.Sessions)
	}
	if len(rep.Samples) < 5 || rep.RSSStartBytes == 0 || rep.RSSEndBytes == 0 {
		t.Fatalf("samples %d rss %d..%d", len(rep.Samples), rep.RSSStartBytes, rep.RSSEndBytes)
	}
	if rep.RSSJudged {
		t.Fatal("a 1.5 s run's RSS growth was judged")
	}
	// the rate is honoured: about 100 holders per second, never far above
	if perSec := float64(rep.Load.Sessions) / rep.Load.Seconds; perSec > 130 {
		t.Fatalf("rate %.0f/s exceeds the requested 100/s", perSec)
	}
}

func TestSoakWindow(t *testing.T) {
	for _, tc := range []struct {
		d, warmup, want time.Duration
		judged          bool
	}{
		{1500 * time.Millisecond, 0, 150 * time.Millisecond, false},
		{9 * time.Minute, 0, 54 * time.Second, false},
		{10 * time.Minute, 0, SoakRSSSettle, true},
		{30 * time.Minute, 0, SoakRSSSettle, true},
		{60 * time.Minute, 0, 6 * time.Minute, true},
		{30 * time.Minute, time.Minute, time.Minute, true},
	} {
		if w, j := soakWindow(tc.d, tc.warmup); w != tc.want || j != tc.judged {
			t.Errorf("soakWindow(%v, %v) = %v, %v; want %v, %v", tc.d, tc.warmup, w, j, tc.want, tc.judged)
		}
	}
}
