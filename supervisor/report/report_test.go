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
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/supervisor"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter throttle ends by itself one interval after a burst
	// (see supervisor/leak_test.go).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// clock is a settable time source for the sampler.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func fakeSampler(interval time.Duration) (*Sampler, *clock) {
	s := NewSampler(interval)
	c := &clock{t: s.start}
	s.now = c.now
	return s, c
}

func v(end time.Time, o readersession.Outcome, lat time.Duration) *actors.SessionVerdict {
	return &actors.SessionVerdict{Lane: "l", Bearer: "memory", Outcome: o, Started: end.Add(-lat), Ended: end}
}

func TestSamplerBucketsVerdicts(t *testing.T) {
	s, c := fakeSampler(time.Second)
	t0 := s.start
	s.Observe(v(t0.Add(100*time.Millisecond), readersession.Accepted, 3*time.Millisecond))
	s.Observe(v(t0.Add(900*time.Millisecond), readersession.Rejected, 40*time.Millisecond))
	s.Observe(v(t0.Add(2500*time.Millisecond), readersession.Timeout, 45*time.Second))
	c.t = t0.Add(3500 * time.Millisecond)
	got := s.Series()
	if len(got) != 4 {
		t.Fatalf("%d points: %+v", len(got), got)
	}
	p := got[0]
	if p.Sessions != 2 || p.Accepted != 1 || p.Rejected != 1 || p.PerSecond != 2 || p.MaxMs != 40 || p.MeanMs != 21.5 || p.At != time.Second {
		t.Errorf("first point %+v", p)
	}
	if p.Latency[latencyBucket(3)] != 1 || p.Latency[latencyBucket(40)] != 1 || latencyBucket(3) != 5 || latencyBucket(40) != 8 {
		t.Errorf("latency buckets %v", p.Latency)
	}
	if got[1].Sessions != 0 || got[1].Latency != nil {
		t.Errorf("empty interval %+v", got[1])
	}
	if got[2].Timeouts != 1 || got[2].Latency[len(LatencyBoundsMs)] != 1 {
		t.Errorf("slow timeout not in the last bucket: %+v", got[2])
	}
	if last := got[3]; last.At != 3500*time.Millisecond || last.Seconds != 0.5 {
		t.Errorf("partial last point %+v", last)
	}
}

func TestSamplerProgressAndCompaction(t *testing.T) {
	s, c := fakeSampler(10 * time.Millisecond)
	var done int64
	for i := 0; i < 3*MaxPoints; i++ {
		c.t = c.t.Add(10 * time.Millisecond)
		done += 2
		s.Progress(done, 0)
		s.Progress(done-1, 0) // late, out of order: ignored
	}
	got := s.Series()
	if len(got) > MaxPoints || s.Interval() != 40*time.Millisecond {
		t.Fatalf("%d points, interval %v", len(got), s.Interval())
	}
	var total int64
	for _, p := range got {
		total += p.Completed
		if p.Sessions != 0 {
			t.Fatal("progress made sessions")
		}
	}
	if total != done {
		t.Fatalf("completed %d, want %d", total, done)
	}
	if mid := got[len(got)/2]; mid.PerSecond != 200 {
		t.Errorf("progress rate %v, want 200/s", mid.PerSecond)
	}
}

// wellFormed parses doc as XML (the report promises that) and counts elements.
func wellFormed(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	counts := map[string]int{}
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
		}
	}
	return counts
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

// TestReportFromRunLoad renders a real small load run sampled through its progress
// callback.
func TestReportFromRunLoad(t *testing.T) {
	s := NewSampler(25 * time.Millisecond)
	rep, err := supervisor.RunLoad(context.Background(), supervisor.LoadConfig{Lanes: 2, Holders: 150, Concurrency: 16,
		Mix: supervisor.DemoMix, Timeout: 300 * time.Millisecond, Progress: s.Progress})
	if err != nil {
		t.Fatal(err)
	}
	series := s.Series()
	var completed int64
	for _, p := range series {
		completed += p.Completed
	}
	if completed != 150 {
		t.Fatalf("series counts %d completions, want 150", completed)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, series); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	save(t, "report-progress.html", buf.Bytes())
	els := wellFormed(t, buf.Bytes())
	if els["svg"] != 2 || els["rect.bar"] != 4 || els["polyline.series"] != 1 || els["section"] < 6 {
		t.Errorf("elements %v", els)
	}
	selfContained(t, doc)
	for _, want := range []string{
		"<title>mdocgate load test report</title>",
		fmt.Sprintf(`<th>Sessions</th><td class="n">%d</td>`, rep.Sessions),
		fmt.Sprintf(`<th>Accepted</th><td class="n">%d</td>`, rep.Accepted),
		fmt.Sprintf(`<th>p99</th><td class="n">%s</td>`, ffmt(rep.LatencyMs.P99)),
		fmt.Sprintf(`<td>memory-1</td><td class="n">%d</td>`, rep.ByLane["memory-1"].Sessions),
		fmt.Sprintf(`<td>tampered</td><td class="n">%d</td>`, rep.ByBehaviour["tampered"].Sessions),
		ffmt(rep.LatencyMs.Max) + " ms",
		"holders completed per second",
		"no per-session latencies",
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
	if strings.Contains(doc, "latency-over-time") {
		t.Error("latency over time drawn without verdicts")
	}
}

// TestReportFromVerdicts renders a series sampled from verdicts: a real histogram and
// latency over time.
func TestReportFromVerdicts(t *testing.T) {
	s, c := fakeSampler(100 * time.Millisecond)
	t0 := s.start
	lats := []time.Duration{800 * time.Microsecond, 4 * time.Millisecond, 4 * time.Millisecond, 15 * time.Millisecond,
		40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, 180 * time.Millisecond}
	outcomes := []readersession.Outcome{readersession.Accepted, readersession.Accepted, readersession.Rejected, readersession.Error}
	for i := 0; i < 80; i++ {
		s.Observe(v(t0.Add(time.Duration(i)*25*time.Millisecond), outcomes[i%len(outcomes)], lats[i%len(lats)]))
	}
	c.t = t0.Add(2 * time.Second)
	rep := &supervisor.Report{Transport: "memory", Sessions: 80, Accepted: 40, Rejected: 20, Errors: 20, Seconds: 2,
		SessionsPerSecond: 40, LatencyMs: supervisor.Latency{P50: 40, P90: 180, P99: 180, Max: 180},
		ByLane:  map[string]*supervisor.Counts{"a & <b>": {Sessions: 80, Accepted: 40, Rejected: 20, Errors: 20}},
		Reasons: map[string]int64{"rejected:mso.validity": 20, "error:cbor_decoding": 20}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, s.Series()); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	save(t, "report-verdicts.html", buf.Bytes())
	els := wellFormed(t, buf.Bytes())
	// buckets ≤1, ≤2, ≤5, ≤10, ≤20, ≤50, ≤100, ≤200: from the first used to the last used
	if els["svg"] != 3 || els["rect.bar"] != 8 || els["polyline.series"] != 3 {
		t.Errorf("elements %v", els)
	}
	selfContained(t, doc)
	for _, want := range []string{"80 sessions by latency bucket", "<title>≤ 50: 30</title>", "<title>≤ 1: 10</title>",
		"<title>≤ 200: 10</title>", "sessions per second", "mean latency", `id="latency-over-time"`, "a &amp; &lt;b&gt;",
		`<td>rejected:mso.validity</td><td class="n">20</td>`} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if err := WriteHTML(io.Discard, nil, nil); err == nil {
		t.Error("nil report accepted")
	}
}
