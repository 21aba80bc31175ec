// Package report writes a self-contained HTML report of a load run (a load.Report): the
// summary, latency percentiles, a latency histogram, throughput, latency and the
// measured process's memory and goroutines over time, and the per-lane,
// per-transport, per-behaviour and reason tables. Plots are inline SVG; the document
// loads nothing: no scripts, styles, fonts or images from anywhere. The data behind
// each plot is in its elements' data- attributes (histogram bars: data-le-ms and
// data-count; time series points: data-t and data-v), so that tools can read it back.
package report

import (
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

// WriteHTML writes the report of rep. The document is also well-formed XML (void
// elements closed, numeric character references only). A figure the run could not
// measure (rep.NotMeasured) says so instead of showing 0.
func WriteHTML(w io.Writer, rep *load.Report) error {
	if rep == nil {
		return errors.New("report: no report")
	}
	d := view{Rep: rep, Generated: time.Now().UTC().Format(time.RFC3339)}
	measured := func(field, v string) value {
		if why, ok := rep.NotMeasured[field]; ok {
			return value{V: why, NA: true}
		}
		return value{V: v}
	}
	d.Summary = []kv{
		{"Transport", value{V: rep.Transport}}, {"Sessions", value{V: num(rep.Sessions)}},
		{"Accepted", value{V: num(rep.Accepted)}}, {"Rejected", measured("rejected", num(rep.Rejected))},
		{"Errors", value{V: num(rep.Errors)}}, {"Timeouts", value{V: num(rep.Timeouts)}},
		{"Lost", measured("lost", num(rep.Lost))}, {"Mismatched", measured("mismatched", num(rep.Mismatched))},
		{"Busy", value{V: num(rep.Busy)}}, {"Duration (s)", value{V: ffmt(rep.Seconds)}},
		{"Sessions per second", value{V: ffmt(rep.SessionsPerSecond)}},
	}
	if rep.FloorSessionsPerSecond > 0 {
		d.Summary = append(d.Summary, kv{"Floor (sessions per second)", value{V: ffmt(rep.FloorSessionsPerSecond)}},
			kv{"Share of the floor reached", value{V: ffmt(100*rep.FloorRatio) + " %"}})
	} else {
		d.Summary = append(d.Summary, kv{"Floor (sessions per second)", value{V: "not measured (loadtest --floor D)", NA: true}})
	}
	if rep.VerdictsFrom != "" {
		d.Summary = append(d.Summary, kv{"Verdicts from", value{V: rep.VerdictsFrom}})
	}
	rss, goroutines := "Peak RSS (MiB)", "Goroutines at end"
	if rep.ResourcesOf != "" {
		rss, goroutines = "Peak RSS (MiB, "+rep.ResourcesOf+")", goroutines+" ("+rep.ResourcesOf+")"
	}
	d.Summary = append(d.Summary,
		kv{"Restarts", measured("restarts", num(rep.Restarts))}, kv{"Panics", measured("panics", num(rep.Panics))},
		kv{rss, measured("peak_rss_bytes", ffmt(float64(rep.PeakRSSBytes)/(1<<20)))},
		kv{goroutines, measured("goroutines_end", num(int64(rep.GoroutinesEnd)))},
		kv{"Air time (s)", measured("air_time_seconds", ffmt(rep.AirTimeSeconds))},
	)
	if rep.Sessions > 0 {
		d.Latency = []kv{{"p50", value{V: ffmt(rep.LatencyMs.P50)}}, {"p90", value{V: ffmt(rep.LatencyMs.P90)}},
			{"p99", value{V: ffmt(rep.LatencyMs.P99)}}, {"max", value{V: ffmt(rep.LatencyMs.Max)}}}
	}
	d.ByLane = countsRows(rep.ByLane)
	d.ByTransport = countsRows(rep.ByTransport)
	d.ByBehaviour = countsRows(rep.ByBehaviour)
	for name, t := range rep.Timing {
		air := value{V: "not modelled", NA: true}
		if t.AirModelled {
			air = value{V: ffmt(t.AirTimeMsPerSession)}
		}
		l := t.EngagementToVerdictMs
		d.Timing = append(d.Timing, timingRow{Name: name, Sessions: t.Sessions, P50: ffmt(l.P50), P90: ffmt(l.P90), P99: ffmt(l.P99),
			Max: ffmt(l.Max), Air: air})
	}
	sort.Slice(d.Timing, func(i, j int) bool { return d.Timing[i].Name < d.Timing[j].Name })
	for k, v := range rep.Reasons {
		d.Reasons = append(d.Reasons, kv{k, value{V: num(v)}})
	}
	sort.Slice(d.Reasons, func(i, j int) bool {
		a, b := rep.Reasons[d.Reasons[i].K], rep.Reasons[d.Reasons[j].K]
		return a > b || a == b && d.Reasons[i].K < d.Reasons[j].K
	})
	d.Histogram, d.HistogramNote = histogramSVG(rep.Histogram)
	d.Throughput, d.ThroughputNote = throughputSVG(rep)
	d.LatencyOverTime = latencyOverTimeSVG(rep.Series)
	d.Memory, d.Goroutines, d.ResourcesNote = resourcesSVG(rep)
	return page.Execute(w, d)
}

// WriteFile writes the report of rep to a file at path.
func WriteFile(path string, rep *load.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteHTML(f, rep); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// value is a figure of the report, or (NA) why it is not there.
type value struct {
	V  string
	NA bool
}

type kv struct {
	K string
	V value
}

type countsRow struct {
	Name                                                             string
	Sessions, Accepted, Rejected, Errors, Timeouts, Lost, Mismatched int64
}

// timingRow is a bearer's time from engagement to verdict next to its modelled air time.
type timingRow struct {
	Name               string
	Sessions           int64
	P50, P90, P99, Max string
	Air                value
}

type view struct {
	Rep                                                        *load.Report
	Generated                                                  string
	Summary, Latency, Reasons                                  []kv
	ByLane, ByTransport, ByBehaviour                           []countsRow
	Timing                                                     []timingRow
	Histogram, Throughput, LatencyOverTime, Memory, Goroutines template.HTML
	HistogramNote, ThroughputNote, ResourcesNote               string
}

func countsRows(m map[string]*load.Counts) []countsRow {
	var out []countsRow
	for k, c := range m {
		out = append(out, countsRow{k, c.Sessions, c.Accepted, c.Rejected, c.Errors, c.Timeouts, c.Lost, c.Mismatched})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func num(n int64) string { return fmt.Sprint(n) }

// ffmt prints a float with up to three decimals and no trailing zeros.
func ffmt(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-0" {
		return "0"
	}
	return s
}

// chart geometry
const (
	chartW, chartH             = 860, 280
	padL, padR, padT, padB     = 56, 16, 16, 44
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	svgOpen                    = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`
	colAccent, colGrid, colTxt = "#2f6fdb", "#d7dde5", "#4a5563"
	colSecond                  = "#c2410c"
)

func esc(s string) string { return html.EscapeString(s) }

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// yAxis draws horizontal grid lines and labels for 0..top.
func yAxis(b *strings.Builder, top float64, unit string) {
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := padT + plotH - plotH*float64(i)/4
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`, padL, y, padL+plotW, y, colGrid)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="%s">%s</text>`, padL-6, y+4, colTxt, esc(ffmt(v)))
	}
	fmt.Fprintf(b, `<text x="12" y="%d" font-size="11" fill="%s" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`,
		padT+plotH/2, colTxt, padT+plotH/2, esc(unit))
}

// histogramSVG draws the sessions by latency bucket (load.LatencyBoundsMs), from the
// first bucket used to the last.
func histogramSVG(counts []uint64) (template.HTML, string) {
	var total uint64
	lo, hi := -1, -1
	for i, c := range counts {
		total += c
		if c > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if total == 0 {
		return "", "No session ended: no latencies to show."
	}
	bounds := load.LatencyBoundsMs
	top := 0.0
	for _, c := range counts[lo : hi+1] {
		top = max(top, float64(c))
	}
	top = niceMax(top)
	var b strings.Builder
	fmt.Fprintf(&b, svgOpen, chartW, chartH, chartW, chartH, "latency histogram")
	yAxis(&b, top, "sessions")
	slot := float64(plotW) / float64(hi-lo+1)
	for i := lo; i <= hi; i++ {
		label, le := "> "+ffmt(bounds[len(bounds)-1]), "+Inf"
		if i < len(bounds) {
			label, le = "≤ "+ffmt(bounds[i]), ffmt(bounds[i])
		}
		c := counts[i]
		h := float64(plotH) * float64(c) / top
		x := float64(padL) + slot*float64(i-lo)
		fmt.Fprintf(&b, `<rect class="bar" data-le-ms="%s" data-count="%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d</title></rect>`,
			le, c, x+slot*0.12, float64(padT+plotH)-h, slot*0.76, h, colAccent, esc(label), c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="%s">%d</text>`,
			x+slot/2, float64(padT+plotH)-h-4, colTxt, c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="10" fill="%s">%s</text>`,
			x+slot/2, padT+plotH+16, colTxt, esc(label))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11" fill="%s">latency (ms)</text>`,
		padL+plotW/2, chartH-6, colTxt)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), fmt.Sprintf("%d sessions by latency bucket (ms).", total)
}

// line is one series of a line chart.
type line struct {
	name, colour string
	ys           []float64
}

// lineChart plots lines over xs (seconds from the run's start) as polylines, the first
// with an area, each point a circle carrying its data (data-t, data-v).
func lineChart(label, unit string, xs []float64, lines []line) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, svgOpen, chartW, chartH, chartW, chartH, esc(label))
	top := 0.0
	for _, l := range lines {
		for _, y := range l.ys {
			top = max(top, y)
		}
	}
	top = niceMax(top)
	right := 1.0
	if len(xs) > 0 {
		right = max(xs[len(xs)-1], 1e-3)
	}
	yAxis(&b, top, unit)
	step := niceMax(right / 6)
	for t := 0.0; t <= right*(1+1e-9); t += step {
		x := float64(padL) + float64(plotW)*t/right
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="%s">%s</text>`, x, padT+plotH+16, colTxt, esc(ffmt(t)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11" fill="%s">time (s)</text>`, padL+plotW/2, chartH-6, colTxt)
	for li, l := range lines {
		if len(l.ys) == 0 {
			continue
		}
		pts := make([]string, len(l.ys))
		var dots strings.Builder
		for i, y := range l.ys {
			px := float64(padL) + float64(plotW)*xs[i]/right
			py := float64(padT+plotH) - float64(plotH)*y/top
			pts[i] = fmt.Sprintf("%.1f,%.1f", px, py)
			fmt.Fprintf(&dots, `<circle class="point" data-series="%s" data-t="%s" data-v="%s" cx="%.1f" cy="%.1f" r="2" fill="%s"><title>%s s: %s %s</title></circle>`,
				esc(l.name), ffmt(xs[i]), ffmt(y), px, py, l.colour, esc(ffmt(xs[i])), esc(ffmt(y)), esc(unit))
		}
		if li == 0 { // the area under the first line, from its first point to its last
			fmt.Fprintf(&b, `<polygon points="%.1f,%d %s %.1f,%d" fill="%s" fill-opacity="0.15"/>`,
				float64(padL)+float64(plotW)*xs[0]/right, padT+plotH, strings.Join(pts, " "),
				float64(padL)+float64(plotW)*xs[len(xs)-1]/right, padT+plotH, l.colour)
		}
		fmt.Fprintf(&b, `<polyline class="series" data-series="%s" points="%s" fill="none" stroke="%s" stroke-width="2"/>`,
			esc(l.name), strings.Join(pts, " "), l.colour)
		b.WriteString(dots.String())
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`, padL+8+li*160, padT+12, l.colour, esc(l.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// seconds are the points' end times, in seconds from the run's start.
func seconds(ps []load.Point) []float64 {
	xs := make([]float64, len(ps))
	for i, p := range ps {
		xs[i] = p.At.Seconds()
	}
	return xs
}

func throughputSVG(rep *load.Report) (template.HTML, string) {
	if len(rep.Series) == 0 {
		return "", "The run has no time series."
	}
	ys := make([]float64, len(rep.Series))
	for i, p := range rep.Series {
		ys[i] = p.PerSecond
	}
	note := fmt.Sprintf("Sessions ended per second, in intervals of %s from the run's start.", rep.Interval)
	return lineChart("throughput over time", "per second", seconds(rep.Series), []line{{"sessions per second", colAccent, ys}}), note
}

func latencyOverTimeSVG(series []load.Point) template.HTML {
	var used []load.Point
	for _, p := range series {
		if p.Sessions > 0 {
			used = append(used, p)
		}
	}
	if len(used) == 0 {
		return ""
	}
	mean := make([]float64, len(used))
	mx := make([]float64, len(used))
	for i, p := range used {
		mean[i], mx[i] = p.MeanMs, p.MaxMs
	}
	return lineChart("latency over time", "ms", seconds(used), []line{{"mean latency", colAccent, mean}, {"max latency", colSecond, mx}})
}

// resourcesSVG draws the sampled memory and goroutines of whoever the run measured, or
// says why there are none.
func resourcesSVG(rep *load.Report) (mem, gor template.HTML, note string) {
	var sampled []load.Point
	for _, p := range rep.Series {
		if p.Sampled {
			sampled = append(sampled, p)
		}
	}
	if len(sampled) == 0 {
		if why, ok := rep.NotMeasured["peak_rss_bytes"]; ok {
			return "", "", "Memory and goroutines: " + why + "."
		}
		return "", "", "Memory and goroutines were not sampled."
	}
	rss := make([]float64, len(sampled))
	g := make([]float64, len(sampled))
	for i, p := range sampled {
		rss[i], g[i] = float64(p.RSSBytes)/(1<<20), float64(p.Goroutines)
	}
	xs := seconds(sampled)
	note = fmt.Sprintf("Sampled every %s: %s.", load.SampleResources, rep.ResourcesOf)
	return lineChart("resident memory over time", "MiB", xs, []line{{"resident memory (MiB)", colAccent, rss}}),
		lineChart("goroutines over time", "goroutines", xs, []line{{"goroutines", colSecond, g}}), note
}

type countsTable struct {
	Title string
	Rows  []countsRow
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"rows": func(title string, rows []countsRow) countsTable { return countsTable{title, rows} },
}).Parse(`<!DOCTYPE html>
<html lang="en" xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>mdocgate load test report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1f2933; margin: 24px auto; max-width: 920px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #d7dde5; padding-bottom: 4px; }
.meta { color: #4a5563; }
table { border-collapse: collapse; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e4e8ee; padding: 3px 10px; text-align: left; }
td.n, th.n { text-align: right; }
td.na { color: #6b7280; font-style: italic; max-width: 420px; }
th { color: #4a5563; font-weight: 600; }
.grid { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
.note { color: #4a5563; font-size: 13px; }
.bad { color: #b42318; font-weight: 600; }
svg { max-width: 100%; height: auto; display: block; }
</style>
</head>
<body>
<h1>mdocgate load test report</h1>
<p class="meta">Transport {{.Rep.Transport}} · {{.Rep.Sessions}} sessions in {{printf "%.2f" .Rep.Seconds}} s · generated {{.Generated}}</p>
<div class="grid">
<section id="summary">
<h2>Summary</h2>
<table>{{range .Summary}}<tr><th>{{.K}}</th>{{if .V.NA}}<td class="na">{{.V.V}}</td>{{else}}<td class="n">{{.V.V}}</td>{{end}}</tr>{{end}}</table>
</section>
<section id="latency">
<h2>Latency (ms)</h2>
{{if .Latency}}<table>{{range .Latency}}<tr><th>{{.K}}</th><td class="n">{{.V.V}}</td></tr>{{end}}</table>{{else}}<p class="note">No session ended.</p>{{end}}
{{if or .Rep.Lost .Rep.Mismatched}}<p class="bad">{{.Rep.Lost}} lost, {{.Rep.Mismatched}} mismatched sessions.</p>{{end}}
{{range .Rep.Mismatches}}<p class="note">{{.}}</p>{{end}}
{{range .Rep.Losses}}<p class="note">{{.}}</p>{{end}}
</section>
</div>
<section id="histogram">
<h2>Latency histogram</h2>
<p class="note">{{.HistogramNote}}</p>
{{.Histogram}}
</section>
<section id="throughput">
<h2>Throughput over time</h2>
<p class="note">{{.ThroughputNote}}</p>
{{.Throughput}}
</section>
{{if .LatencyOverTime}}<section id="latency-over-time">
<h2>Latency over time</h2>
{{.LatencyOverTime}}
</section>{{end}}
<section id="resources">
<h2>Memory and goroutines over time</h2>
<p class="note">{{.ResourcesNote}}</p>
{{.Memory}}
{{.Goroutines}}
</section>
{{define "counts"}}<table><tr><th>{{.Title}}</th><th class="n">Sessions</th><th class="n">Accepted</th><th class="n">Rejected</th><th class="n">Errors</th><th class="n">Timeouts</th><th class="n">Lost</th><th class="n">Mismatched</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Accepted}}</td><td class="n">{{.Rejected}}</td><td class="n">{{.Errors}}</td><td class="n">{{.Timeouts}}</td><td class="n">{{.Lost}}</td><td class="n">{{.Mismatched}}</td></tr>
{{end}}</table>{{end}}
{{if .ByLane}}<section id="by-lane"><h2>By lane</h2>{{template "counts" (rows "Lane" .ByLane)}}</section>{{end}}
{{if .ByTransport}}<section id="by-transport"><h2>By transport</h2>{{template "counts" (rows "Transport" .ByTransport)}}</section>{{end}}
{{if .Timing}}<section id="timing"><h2>Engagement to verdict by transport</h2>
<p class="note">From the engagement's start (a card tapped, a QR code shown) to the verdict, in ms, next to the modelled air time of a session (radio bit rates and connection events; the engine does not sleep it). A session engaged on one bearer and handed to another is counted as ENGAGEMENT&gt;DATA.</p>
<table><tr><th>Transport</th><th class="n">Sessions</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">max</th><th class="n">Air time per session</th></tr>
{{range .Timing}}<tr><td>{{.Name}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.P50}}</td><td class="n">{{.P90}}</td><td class="n">{{.P99}}</td><td class="n">{{.Max}}</td>{{if .Air.NA}}<td class="na">{{.Air.V}}</td>{{else}}<td class="n">{{.Air.V}}</td>{{end}}</tr>
{{end}}</table></section>{{end}}
{{if .ByBehaviour}}<section id="by-behaviour"><h2>By holder behaviour</h2>{{template "counts" (rows "Behaviour" .ByBehaviour)}}</section>{{end}}
{{if .Reasons}}<section id="reasons"><h2>Reasons</h2>
<table><tr><th>Outcome: reason</th><th class="n">Sessions</th></tr>{{range .Reasons}}<tr><td>{{.K}}</td><td class="n">{{.V.V}}</td></tr>{{end}}</table>
</section>{{end}}
</body>
</html>
`))
