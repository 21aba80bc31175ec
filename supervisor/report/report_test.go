package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter throttle ends by itself one interval after a burst
	// (see supervisor/leak_test.go).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// wellFormed parses doc as XML (the report promises that), counts elements by name and
// name.class, and returns the elements.
func wellFormed(t *testing.T, doc []byte) (map[string]int, []xml.StartElement) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	counts := map[string]int{}
	var els []xml.StartElement
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("report is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
			if cls := attr(se, "class"); cls != "" {
				counts[se.Name.Local+"."+cls]++
			}
			els = append(els, se.Copy())
		}
	}
	return counts, els
}

// bars reads the histogram back from the bars' data: count by upper bound.
func bars(t *testing.T, els []xml.StartElement) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, se := range els {
		if se.Name.Local == "rect" && attr(se, "class") == "bar" {
			n, err := strconv.ParseUint(attr(se, "data-count"), 10, 64)
			if err != nil {
				t.Fatalf("bar %v: %v", se.Attr, err)
			}
			out[attr(se, "data-le-ms")] = n
		}
	}
	return out
}

// points reads a time series back from its points' data: values in order, and times.
func points(t *testing.T, els []xml.StartElement, series string) (ts, vs []float64) {
	t.Helper()
	for _, se := range els {
		if se.Name.Local != "circle" || attr(se, "data-series") != series {
			continue
		}
		tv, err1 := strconv.ParseFloat(attr(se, "data-t"), 64)
		v, err2 := strconv.ParseFloat(attr(se, "data-v"), 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("point %v", se.Attr)
		}
		ts, vs = append(ts, tv), append(vs, v)
	}
	return ts, vs
}

// histogramOf is what the report must show of rep's histogram: count by upper bound,
// from the first bucket used to the last.
func histogramOf(rep *load.Report) map[string]uint64 {
	out := map[string]uint64{}
	lo, hi := -1, -1
	for i, c := range rep.Histogram {
		if c > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	for i := lo; i >= 0 && i <= hi; i++ {
		le := "+Inf"
		if i < len(load.LatencyBoundsMs) {
			le = ffmt(load.LatencyBoundsMs[i])
		}
		out[le] = rep.Histogram[i]
	}
	return out
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var xmlnsAttr = regexp.MustCompile(`xmlns="http://www\.w3\.org/[^"]*"`)

func selfContained(t *testing.T, doc string) {
	t.Helper()
	for _, bad := range []string{"src=", "href=", "<link", "<script", "@import", "url("} {
		if strings.Contains(doc, bad) {
			t.Errorf("report refers to something outside it: %q", bad)
		}
	}
	if rest := xmlnsAttr.ReplaceAllString(doc, ""); strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
		t.Error("report has an http(s) URL besides namespace names")
	}
}

func save(t *testing.T, name string, doc []byte) {
	dir := os.Getenv("MDOCGATE_REPORT_DIR")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), doc, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReportFromRun renders a real small load run: the histogram is the run's
// per-session latencies by bucket, throughput is sampled from the first interval, and the
// process's memory and goroutines over time are drawn.
func TestReportFromRun(t *testing.T) {
	rep, err := load.Run(context.Background(), load.Config{Lanes: 2, Holders: 150, Concurrency: 16,
		Mix: load.DemoMix, Timeout: 300 * time.Millisecond, Interval: 25 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	save(t, "report-run.html", buf.Bytes())
	els, list := wellFormed(t, buf.Bytes())
	if els["svg"] != 5 || els["polyline.series"] != 5 || els["section"] < 7 {
		t.Errorf("elements %v", els)
	}
	selfContained(t, doc)

	got, want := bars(t, list), histogramOf(rep)
	var shown uint64
	for le, n := range want {
		if got[le] != n {
			t.Errorf("bar ≤ %s: %d sessions, want %d", le, got[le], n)
		}
		shown += n
	}
	if len(got) != len(want) || shown != uint64(rep.Sessions) || els["rect.bar"] != len(want) {
		t.Errorf("bars %v, want %v (%d sessions)", got, want, rep.Sessions)
	}

	ts, vs := points(t, list, "sessions per second")
	if len(vs) != len(rep.Series) || len(vs) < 2 {
		t.Fatalf("%d throughput points, series of %d", len(vs), len(rep.Series))
	}
	var sessions float64
	for i, p := range rep.Series {
		if ffmt(ts[i]) != ffmt(p.At.Seconds()) || vs[i] != p.PerSecond {
			t.Errorf("point %d: %v s %v/s, want %v s %v/s", i, ts[i], vs[i], p.At.Seconds(), p.PerSecond)
		}
		sessions += vs[i] * p.Seconds
	}
	if ts[0] != 0.025 {
		t.Errorf("first point at %v s, want the end of the first interval", ts[0])
	}
	if int64(sessions+0.5) != rep.Sessions {
		t.Errorf("throughput integrates to %v sessions, want %d", sessions, rep.Sessions)
	}
	if _, rss := points(t, list, "resident memory (MiB)"); len(rss) == 0 || rss[len(rss)-1] <= 0 {
		t.Errorf("memory samples %v", rss)
	}

	for _, want := range []string{
		"<title>mdocgate load test report</title>",
		fmt.Sprintf(`<th>Sessions</th><td class="n">%d</td>`, rep.Sessions),
		fmt.Sprintf(`<th>Accepted</th><td class="n">%d</td>`, rep.Accepted),
		fmt.Sprintf(`<th>p99</th><td class="n">%s</td>`, ffmt(rep.LatencyMs.P99)),
		fmt.Sprintf(`<td>memory-1</td><td class="n">%d</td>`, rep.ByLane["memory-1"].Sessions),
		fmt.Sprintf(`<td>tampered</td><td class="n">%d</td>`, rep.ByBehaviour["tampered"].Sessions),
		fmt.Sprintf("%d sessions by latency bucket", rep.Sessions),
		`<th>Air time (s)</th><td class="na">not modelled on memory</td>`,
		"<th>Goroutines at end (this process)</th>",
		"sessions per second", `id="latency-over-time"`,
		fmt.Sprintf(`<td>memory</td><td class="n">%d</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td><td class="na">not modelled</td>`,
			rep.Timing["memory"].Sessions, ffmt(rep.Timing["memory"].EngagementToVerdictMs.P50), ffmt(rep.Timing["memory"].EngagementToVerdictMs.P90),
			ffmt(rep.Timing["memory"].EngagementToVerdictMs.P99), ffmt(rep.Timing["memory"].EngagementToVerdictMs.Max)),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for reason, n := range rep.Reasons {
		if !strings.Contains(doc, fmt.Sprintf(`<td>%s</td><td class="n">%d</td>`, reason, n)) {
			t.Errorf("reason %s (%d) missing", reason, n)
		}
	}
	if strings.Contains(doc, "no per-session latencies") {
		t.Error("percentile bars instead of a histogram")
	}
}

// TestReportDrawsItsData renders a report of known data: bars and points carry exactly
// the report's numbers, and text is escaped.
func TestReportDrawsItsData(t *testing.T) {
	hist := make([]uint64, len(load.LatencyBoundsMs)+1)
	for le, n := range map[float64]uint64{1: 10, 5: 20, 20: 10, 50: 30, 200: 10} {
		for i, b := range load.LatencyBoundsMs {
			if b == le {
				hist[i] = n
			}
		}
	}
	var series []load.Point
	for i := range 20 {
		p := load.Point{At: time.Duration(i+1) * 100 * time.Millisecond, Seconds: 0.1, Sessions: 4, Accepted: 2, Rejected: 1, Errors: 1,
			PerSecond: 40, MeanMs: float64(10 + i), MaxMs: 180}
		series = append(series, p)
	}
	rep := &load.Report{Transport: "memory", Sessions: 80, Accepted: 40, Rejected: 20, Errors: 20, Seconds: 2,
		SessionsPerSecond: 40, LatencyMs: load.Latency{P50: 40, P90: 180, P99: 180, Max: 180},
		ByLane:    map[string]*load.Counts{"a & <b>": {Sessions: 80, Accepted: 40, Rejected: 20, Errors: 20}},
		Reasons:   map[string]int64{"rejected:mso.validity": 20, "error:cbor_decoding": 20},
		Histogram: hist, Series: series, Interval: 100 * time.Millisecond}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	save(t, "report-data.html", buf.Bytes())
	els, list := wellFormed(t, buf.Bytes())
	// buckets ≤1, ≤2, ≤5, ≤10, ≤20, ≤50, ≤100, ≤200: from the first used to the last used
	if els["svg"] != 3 || els["rect.bar"] != 8 || els["polyline.series"] != 3 {
		t.Errorf("elements %v", els)
	}
	got := bars(t, list)
	for le, n := range map[string]uint64{"1": 10, "2": 0, "5": 20, "10": 0, "20": 10, "50": 30, "100": 0, "200": 10} {
		if got[le] != n {
			t.Errorf("bar ≤ %s: %d, want %d", le, got[le], n)
		}
	}
	ts, vs := points(t, list, "sessions per second")
	if len(vs) != 20 || ts[0] != 0.1 || ts[19] != 2 || vs[7] != 40 {
		t.Errorf("throughput points %v %v", ts, vs)
	}
	if _, mean := points(t, list, "mean latency"); len(mean) != 20 || mean[3] != 13 {
		t.Errorf("mean latency points %v", mean)
	}
	selfContained(t, doc)
	for _, want := range []string{"80 sessions by latency bucket", "<title>≤ 50: 30</title>", "<title>≤ 1: 10</title>",
		"<title>≤ 200: 10</title>", "sessions per second", "mean latency", `id="latency-over-time"`, "a &amp; &lt;b&gt;",
		`<td>rejected:mso.validity</td><td class="n">20</td>`, "Memory and goroutines were not sampled."} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if err := WriteHTML(io.Discard, nil); err == nil {
		t.Error("nil report accepted")
	}
}

// A field a run could not measure says why instead of showing 0; a remote gate's
// memory and goroutines are drawn from its samples.
func TestReportSaysWhatWasNotMeasured(t *testing.T) {
	why := "not measured: a holder cannot see the gate's verdict"
	rep := &load.Report{Transport: "web", Sessions: 2, Accepted: 2, Seconds: 1, VerdictsFrom: "holders",
		ByTransport: map[string]*load.Counts{"http": {Sessions: 1, Accepted: 1}, "websocket": {Sessions: 1, Accepted: 1}},
		Histogram:   make([]uint64, len(load.LatencyBoundsMs)+1),
		NotMeasured: map[string]string{"lost": why, "peak_rss_bytes": "not measured: give the gate's /metrics"},
		Series:      []load.Point{{At: time.Second, Seconds: 1, Sessions: 2, Accepted: 2, PerSecond: 2}}, Interval: time.Second}
	rep.Histogram[6] = 2
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	for _, want := range []string{`<th>Lost</th><td class="na">` + esc(why) + `</td>`,
		`<th>Peak RSS (MiB)</th><td class="na">not measured: give the gate&#39;s /metrics</td>`,
		"Memory and goroutines: not measured: give the gate&#39;s /metrics.", `<th>Verdicts from</th><td class="n">holders</td>`} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(doc, `<th>Lost</th><td class="n">0</td>`) {
		t.Error("lost shown as 0")
	}

	rep.NotMeasured = map[string]string{}
	rep.ResourcesOf, rep.PeakRSSBytes, rep.GoroutinesEnd = load.ResourcesTarget, 48<<20, 31
	rep.Series[0].Sampled, rep.Series[0].RSSBytes, rep.Series[0].Goroutines = true, 48<<20, 31
	buf.Reset()
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	_, list := wellFormed(t, buf.Bytes())
	if _, rss := points(t, list, "resident memory (MiB)"); len(rss) != 1 || rss[0] != 48 {
		t.Errorf("gate memory points %v", rss)
	}
	if _, g := points(t, list, "goroutines"); len(g) != 1 || g[0] != 31 {
		t.Errorf("gate goroutine points %v", g)
	}
	if !strings.Contains(buf.String(), `<th>Peak RSS (MiB, the gate, from its /metrics)</th><td class="n">48</td>`) {
		t.Error("gate RSS not in the summary")
	}
}
