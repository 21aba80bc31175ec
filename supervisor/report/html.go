package report

import (
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/supervisor"
)

// WriteHTML writes a self-contained HTML document: the run's summary, latency
// percentiles, a latency histogram, throughput over time (and latency over time when
// the series has verdicts), and the per-lane, per-transport, per-behaviour and reason
// tables. Plots are inline SVG; nothing is loaded from elsewhere. The document is also
// well-formed XML (void elements closed, numeric character references only).
//
// The histogram sums the series' Latency buckets; when the series has none (a sampler
// fed only by Progress) it shows the report's percentiles as bars instead. series may
// be empty.
func WriteHTML(w io.Writer, rep *supervisor.Report, series []Point) error {
	if rep == nil {
		return errors.New("report: no report")
	}
	d := view{Rep: rep, Generated: time.Now().UTC().Format(time.RFC3339)}
	d.Summary = []kv{
		{"Transport", rep.Transport}, {"Sessions", num(rep.Sessions)}, {"Accepted", num(rep.Accepted)},
		{"Rejected", num(rep.Rejected)}, {"Errors", num(rep.Errors)}, {"Timeouts", num(rep.Timeouts)},
		{"Lost", num(rep.Lost)}, {"Mismatched", num(rep.Mismatched)}, {"Busy", num(rep.Busy)},
		{"Duration (s)", ffmt(rep.Seconds)}, {"Sessions per second", ffmt(rep.SessionsPerSecond)},
		{"Restarts", num(rep.Restarts)}, {"Panics", num(rep.Panics)},
		{"Peak RSS (MiB)", ffmt(float64(rep.PeakRSSBytes) / (1 << 20))}, {"Goroutines at end", num(int64(rep.GoroutinesEnd))},
	}
	if rep.AirTimeSeconds > 0 {
		d.Summary = append(d.Summary, kv{"Air time (s)", ffmt(rep.AirTimeSeconds)})
	}
	d.Latency = []kv{{"p50", ffmt(rep.LatencyMs.P50)}, {"p90", ffmt(rep.LatencyMs.P90)}, {"p99", ffmt(rep.LatencyMs.P99)},
		{"max", ffmt(rep.LatencyMs.Max)}}
	d.ByLane = countsRows(rep.ByLane)
	d.ByTransport = countsRows(rep.ByTransport)
	d.ByBehaviour = countsRows(rep.ByBehaviour)
	for k, v := range rep.Reasons {
		d.Reasons = append(d.Reasons, kv{k, num(v)})
	}
	sort.Slice(d.Reasons, func(i, j int) bool {
		a, b := rep.Reasons[d.Reasons[i].K], rep.Reasons[d.Reasons[j].K]
		return a > b || a == b && d.Reasons[i].K < d.Reasons[j].K
	})
	d.Histogram, d.HistogramNote = histogramSVG(rep, series)
	d.Throughput = throughputSVG(series)
	d.LatencyOverTime = latencyOverTimeSVG(series)
	return page.Execute(w, d)
}

type kv struct{ K, V string }

type countsRow struct {
	Name                                                             string
	Sessions, Accepted, Rejected, Errors, Timeouts, Lost, Mismatched int64
}

type view struct {
	Rep                                    *supervisor.Report
	Generated                              string
	Summary, Latency, Reasons              []kv
	ByLane, ByTransport, ByBehaviour       []countsRow
	Histogram, Throughput, LatencyOverTime template.HTML
	HistogramNote                          string
}

func countsRows(m map[string]*supervisor.Counts) []countsRow {
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

func histogramSVG(rep *supervisor.Report, series []Point) (template.HTML, string) {
	counts := make([]uint64, len(LatencyBoundsMs)+1)
	var total uint64
	for _, p := range series {
		for i, c := range p.Latency {
			if i < len(counts) {
				counts[i] += c
				total += c
			}
		}
	}
	type bar struct {
		label string
		v     float64
		text  string
	}
	var bars []bar
	note := ""
	unit := "sessions"
	if total > 0 {
		// trim empty buckets at both ends
		lo, hi := 0, len(counts)-1
		for lo < hi && counts[lo] == 0 {
			lo++
		}
		for hi > lo && counts[hi] == 0 {
			hi--
		}
		for i := lo; i <= hi; i++ {
			label := "> " + ffmt(LatencyBoundsMs[len(LatencyBoundsMs)-1])
			if i < len(LatencyBoundsMs) {
				label = "≤ " + ffmt(LatencyBoundsMs[i])
			}
			bars = append(bars, bar{label, float64(counts[i]), fmt.Sprint(counts[i])})
		}
		note = fmt.Sprintf("%d sessions by latency bucket (ms).", total)
	} else {
		l := rep.LatencyMs
		for _, p := range []struct {
			n string
			v float64
		}{{"p50", l.P50}, {"p90", l.P90}, {"p99", l.P99}, {"max", l.Max}} {
			bars = append(bars, bar{p.n, p.v, ffmt(p.v) + " ms"})
		}
		note = "The series has no per-session latencies (progress only): latency percentiles of the run, in ms."
		unit = "ms"
	}
	top := 0.0
	for _, b := range bars {
		top = max(top, b.v)
	}
	top = niceMax(top)
	var b strings.Builder
	fmt.Fprintf(&b, svgOpen, chartW, chartH, chartW, chartH, "latency histogram")
	yAxis(&b, top, unit)
	slot := float64(plotW) / float64(len(bars))
	for i, br := range bars {
		h := float64(plotH) * br.v / top
		x := float64(padL) + slot*float64(i)
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
			x+slot*0.12, float64(padT+plotH)-h, slot*0.76, h, colAccent, esc(br.label), esc(br.text))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="%s">%s</text>`,
			x+slot/2, float64(padT+plotH)-h-4, colTxt, esc(br.text))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="10" fill="%s">%s</text>`,
			x+slot/2, padT+plotH+16, colTxt, esc(br.label))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11" fill="%s">latency (ms)</text>`,
		padL+plotW/2, chartH-6, colTxt)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), note
}

// lineChart plots ys over xs (seconds) as a polyline with an area.
func lineChart(label, unit string, xs []float64, lines [][]float64, colours []string, names []string) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, svgOpen, chartW, chartH, chartW, chartH, esc(label))
	top := 0.0
	for _, ys := range lines {
		for _, y := range ys {
			top = max(top, y)
		}
	}
	top = niceMax(top)
	right := 1.0
	if len(xs) > 0 {
		right = max(xs[len(xs)-1], 1e-3)
	}
	yAxis(&b, top, unit)
	for i := 0; i <= 5; i++ {
		t := right * float64(i) / 5
		x := float64(padL) + float64(plotW)*float64(i)/5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="%s">%s</text>`, x, padT+plotH+16, colTxt, esc(ffmt(t)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11" fill="%s">time (s)</text>`, padL+plotW/2, chartH-6, colTxt)
	for li, ys := range lines {
		var pts []string
		for i, y := range ys {
			px := float64(padL) + float64(plotW)*xs[i]/right
			py := float64(padT+plotH) - float64(plotH)*y/top
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		}
		if len(pts) == 0 {
			continue
		}
		if li == 0 {
			fmt.Fprintf(&b, `<polygon points="%d,%d %s %.1f,%d" fill="%s" fill-opacity="0.15"/>`, padL, padT+plotH,
				strings.Join(pts, " "), float64(padL)+float64(plotW)*xs[len(xs)-1]/right, padT+plotH, colours[li])
		}
		fmt.Fprintf(&b, `<polyline class="series" points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), colours[li])
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`, padL+8+li*140, padT+12, colours[li], esc(names[li]))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func throughputSVG(series []Point) template.HTML {
	xs := make([]float64, len(series))
	ys := make([]float64, len(series))
	var verdicts int64
	for i, p := range series {
		xs[i], ys[i] = p.At.Seconds(), p.PerSecond
		verdicts += p.Sessions
	}
	name := "sessions per second"
	if verdicts == 0 {
		name = "holders completed per second"
	}
	return lineChart("throughput over time", "per second", xs, [][]float64{ys}, []string{colAccent}, []string{name})
}

func latencyOverTimeSVG(series []Point) template.HTML {
	var xs, mean, mx []float64
	for _, p := range series {
		if p.Sessions == 0 {
			continue
		}
		xs = append(xs, p.At.Seconds())
		mean = append(mean, p.MeanMs)
		mx = append(mx, p.MaxMs)
	}
	if len(xs) == 0 {
		return ""
	}
	return lineChart("latency over time", "ms", xs, [][]float64{mean, mx}, []string{colAccent, "#c2410c"}, []string{"mean latency", "max latency"})
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
<table>{{range .Summary}}<tr><th>{{.K}}</th><td class="n">{{.V}}</td></tr>{{end}}</table>
</section>
<section id="latency">
<h2>Latency (ms)</h2>
<table>{{range .Latency}}<tr><th>{{.K}}</th><td class="n">{{.V}}</td></tr>{{end}}</table>
{{if or .Rep.Lost .Rep.Mismatched}}<p class="bad">{{.Rep.Lost}} lost, {{.Rep.Mismatched}} mismatched sessions.</p>{{end}}
{{range .Rep.Mismatches}}<p class="note">{{.}}</p>{{end}}
</section>
</div>
<section id="histogram">
<h2>Latency histogram</h2>
<p class="note">{{.HistogramNote}}</p>
{{.Histogram}}
</section>
<section id="throughput">
<h2>Throughput over time</h2>
{{.Throughput}}
</section>
{{if .LatencyOverTime}}<section id="latency-over-time">
<h2>Latency over time</h2>
{{.LatencyOverTime}}
</section>{{end}}
{{define "counts"}}<table><tr><th>{{.Title}}</th><th class="n">Sessions</th><th class="n">Accepted</th><th class="n">Rejected</th><th class="n">Errors</th><th class="n">Timeouts</th><th class="n">Lost</th><th class="n">Mismatched</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Accepted}}</td><td class="n">{{.Rejected}}</td><td class="n">{{.Errors}}</td><td class="n">{{.Timeouts}}</td><td class="n">{{.Lost}}</td><td class="n">{{.Mismatched}}</td></tr>
{{end}}</table>{{end}}
{{if .ByLane}}<section id="by-lane"><h2>By lane</h2>{{template "counts" (rows "Lane" .ByLane)}}</section>{{end}}
{{if .ByTransport}}<section id="by-transport"><h2>By transport</h2>{{template "counts" (rows "Transport" .ByTransport)}}</section>{{end}}
{{if .ByBehaviour}}<section id="by-behaviour"><h2>By holder behaviour</h2>{{template "counts" (rows "Behaviour" .ByBehaviour)}}</section>{{end}}
{{if .Reasons}}<section id="reasons"><h2>Reasons</h2>
<table><tr><th>Outcome: reason</th><th class="n">Sessions</th></tr>{{range .Reasons}}<tr><td>{{.K}}</td><td class="n">{{.V}}</td></tr>{{end}}</table>
</section>{{end}}
</body>
</html>
`))
