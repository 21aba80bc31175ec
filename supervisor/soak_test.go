package supervisor

import (
	"context"
	"testing"
	"time"
)

func TestSoakSamplesAndReports(t *testing.T) {
	rep, err := RunSoak(context.Background(), SoakConfig{
		Load:        LoadConfig{Duration: 1500 * time.Millisecond, Rate: 100, Concurrency: 16, Timeout: time.Second},
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
	// the rate is honoured: about 100 holders per second, never far above
	if perSec := float64(rep.Load.Sessions) / rep.Load.Seconds; perSec > 130 {
		t.Fatalf("rate %.0f/s exceeds the requested 100/s", perSec)
	}
}
