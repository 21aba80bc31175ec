package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/report"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// targetOptions drive `mdocgate loadtest --target URL`.
type targetOptions struct {
	Target      string        // the serve's base URL (its origin)
	Holders     int           // holders in total (0 with Duration: no limit)
	Concurrency int           // holders at once
	Duration    time.Duration // stop starting holders after this long
	Timeout     time.Duration // one holder's whole session
	Report      string        // HTML report file, optional
	JSON        bool
	// Options are the --bearer-opt values: "credential" a folder written by
	// `mdocgate issue --out` (default: a throwaway credential under a fresh IACA, which the
	// target rejects as untrusted), "metrics" the target's /metrics URL: the verdicts are
	// then read from the target (outcomes, lost).
	Options map[string]string
}

// targetResult is one holder's end, as the holder saw it.
type targetResult struct {
	bearer  string
	outcome string // accepted (session completed), error, timeout or busy
	reason  string
	latency time.Duration
}

// runLoadtestTarget runs simulated web holders against a running serve: every other
// holder uses the WebSocket lane, the others the HTTP lane. Each GETs /engage and
// presents over the session URL. The report has loadtest's JSON fields; as a holder
// cannot see the reader's verdict, "accepted" counts completed sessions unless the
// "metrics" option lets the verdicts be read from the target's /metrics (by difference
// before and after the run; other traffic at the target skews it).
func runLoadtestTarget(o targetOptions, stdout, stderr io.Writer) int {
	if o.Target == "" {
		return fail(stderr, "loadtest", errors.New("--report: only with --target for now"))
	}
	if o.Holders < 0 || o.Concurrency <= 0 || (o.Holders == 0 && o.Duration <= 0) {
		return fail(stderr, "loadtest", errors.New("--target: --holders ≥ 0 (0 only with --duration) and --concurrency > 0 please"))
	}
	if !strings.HasPrefix(o.Target, "http://") && !strings.HasPrefix(o.Target, "https://") {
		return fail(stderr, "loadtest", fmt.Errorf("--target %q: want the serve's base URL, http(s)://host:port", o.Target))
	}
	o.Target = strings.TrimRight(o.Target, "/")
	for k := range o.Options {
		if k != "credential" && k != "metrics" {
			return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt %s: with --target only credential= and metrics= apply", k))
		}
	}
	cred, err := targetCredential(o.Options["credential"])
	if err != nil {
		return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt credential: %w", err))
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var before map[string]float64
	if u := o.Options["metrics"]; u != "" {
		if before, err = scrapeSessions(ctx, u); err != nil {
			return fail(stderr, "loadtest", fmt.Errorf("--bearer-opt metrics: %w", err))
		}
	}
	sampler := report.NewSampler(time.Second)
	var bar *progressBar
	if isTTY(stderr) {
		bar = &progressBar{w: stderr, start: time.Now()}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	defer client.CloseIdleConnections()

	start := time.Now()
	var deadline time.Time
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	var (
		next, done atomic.Int64
		mu         sync.Mutex
		results    []targetResult
		wg         sync.WaitGroup
	)
	total := int64(o.Holders)
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if (total > 0 && i >= total) || (!deadline.IsZero() && time.Now().After(deadline)) {
					return
				}
				r := runTargetHolder(ctx, client, o, cred, int(i))
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				d := done.Add(1)
				sampler.Progress(d, total)
				if bar != nil {
					bar.update(d, total)
				}
			}
		}()
	}
	wg.Wait()
	if bar != nil {
		bar.finish()
	}
	rep := targetReport(results, time.Since(start))
	rep.VerdictsFrom = "holders"
	if u := o.Options["metrics"]; u != "" {
		if err := applyMetrics(ctx, rep, u, before); err != nil {
			fmt.Fprintf(stderr, "mdocgate: warning: --bearer-opt metrics: %v\n", err)
		} else {
			rep.VerdictsFrom = "target_metrics"
		}
	}
	if rep.VerdictsFrom == "holders" {
		fmt.Fprintln(stderr, "mdocgate: note: a holder cannot see the gate's verdict: \"accepted\" counts completed sessions; "+
			"--bearer-opt metrics=http://HTTP_ADDR/metrics reads the gate's verdicts")
	}
	if o.Report != "" {
		if err := writeTargetReport(o.Report, rep, sampler.Series()); err != nil {
			return fail(stderr, "loadtest", fmt.Errorf("--report: %w", err))
		}
	}
	if o.JSON {
		writeJSON(stdout, rep)
	} else {
		printReport(stdout, "loadtest "+o.Target, rep)
	}
	if rep.Lost != 0 {
		return exitInvalid
	}
	return exitOK
}

// runTargetHolder runs one simulated holder through a whole session.
func runTargetHolder(ctx context.Context, client *http.Client, o targetOptions, cred *issuer.Credential, i int) targetResult {
	r := targetResult{bearer: web.BearerHTTP}
	ws := i%2 == 0
	if ws {
		r.bearer = web.BearerWebSocket
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	t0 := time.Now()
	e, err := web.FetchEngagement(ctx, client, o.Target, false)
	if err == nil {
		hc := &holdersession.Config{Credentials: []*issuer.Credential{cred}, UseMAC: i%4 < 2}
		err = web.Present(ctx, e.MdocURI, hc, "", web.DialOptions{WebSocket: ws, Client: client, IdleTimeout: 5 * time.Second})
	}
	r.latency = time.Since(t0)
	switch {
	case err == nil:
		r.outcome = "accepted"
	case errors.Is(err, transports.ErrBusy):
		r.outcome = "busy"
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		r.outcome, r.reason = "timeout", "holder_timeout"
	default:
		r.outcome, r.reason = "error", "holder_error"
	}
	return r
}

// targetReport sums the holders' results into loadtest's report.
func targetReport(results []targetResult, elapsed time.Duration) *supervisor.Report {
	rep := &supervisor.Report{Transport: "web", Seconds: elapsed.Seconds(), ByTransport: map[string]*supervisor.Counts{},
		ByLane: map[string]*supervisor.Counts{}, ByBehaviour: map[string]*supervisor.Counts{}, Reasons: map[string]int64{}}
	var lat []float64
	for _, r := range results {
		if r.outcome == "busy" {
			rep.Busy++
			continue
		}
		c := rep.ByTransport[r.bearer]
		if c == nil {
			c = &supervisor.Counts{}
			rep.ByTransport[r.bearer] = c
		}
		beh := rep.ByBehaviour["valid"]
		if beh == nil {
			beh = &supervisor.Counts{}
			rep.ByBehaviour["valid"] = beh
		}
		for _, c := range []*supervisor.Counts{c, beh} {
			c.Sessions++
			switch r.outcome {
			case "accepted":
				c.Accepted++
			case "timeout":
				c.Timeouts++
			default:
				c.Errors++
			}
		}
		rep.Sessions++
		switch r.outcome {
		case "accepted":
			rep.Accepted++
		case "timeout":
			rep.Timeouts++
		default:
			rep.Errors++
		}
		if r.reason != "" {
			rep.Reasons[r.reason]++
		}
		lat = append(lat, float64(r.latency.Microseconds())/1000)
	}
	if rep.Seconds > 0 {
		rep.SessionsPerSecond = float64(rep.Sessions) / rep.Seconds
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	rep.LatencyMs = supervisor.Latency{P50: pct(0.5), P90: pct(0.9), P99: pct(0.99), Max: pct(1)}
	return rep
}

// applyMetrics replaces the holder-side outcomes with the target's verdicts counted
// between before and now: a session the holder ran but the target gave no verdict is lost.
func applyMetrics(ctx context.Context, rep *supervisor.Report, url string, before map[string]float64) error {
	var after map[string]float64
	var err error
	// verdicts are published just after the holder's last message: give them a moment
	for wait := time.Now().Add(5 * time.Second); ; {
		if after, err = scrapeSessions(ctx, url); err != nil {
			return err
		}
		if sumValues(after)-sumValues(before) >= float64(rep.Sessions) || time.Now().After(wait) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := func(outcome string) int64 { return int64(after[outcome] - before[outcome]) }
	rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts = d("accepted"), d("rejected"), d("error"), d("timeout")
	verdicts := int64(sumValues(after) - sumValues(before))
	rep.Lost = max(0, rep.Sessions-verdicts)
	return nil
}

func sumValues(m map[string]float64) (s float64) {
	for _, v := range m {
		s += v
	}
	return s
}

// scrapeSessions reads mdocgate_sessions_total from a Prometheus text endpoint, summed
// by outcome.
func scrapeSessions(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseSessionsTotal(resp.Body)
}

// parseSessionsTotal sums the mdocgate_sessions_total samples of a Prometheus text
// exposition by their outcome label.
func parseSessionsTotal(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "mdocgate_sessions_total{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		if end < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		outcome := ""
		for _, kv := range strings.Split(line[len("mdocgate_sessions_total{"):end], ",") {
			if k, val, ok := strings.Cut(kv, "="); ok && k == "outcome" {
				outcome = strings.Trim(val, `"`)
			}
		}
		out[outcome] += v
	}
	return out, sc.Err()
}

// targetCredential loads the holders' credential from an `mdocgate issue --out` folder,
// or issues a throwaway one under a fresh IACA when dir is empty.
func targetCredential(dir string) (*issuer.Credential, error) {
	if dir != "" {
		cred, dk, err := issuer.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		if dk != nil {
			cred.DevicePrivateKey = dk
		}
		return cred, nil
	}
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "loadtest IACA", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "loadtest DS", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	dk, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	cred, err := ds.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil), DeviceKey: dk.COSEKey(),
		Signed: now.Add(-time.Minute), ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	cred.DevicePrivateKey = dk
	return cred, nil
}

// writeTargetReport writes the HTML report.
func writeTargetReport(path string, rep *supervisor.Report, series []report.Point) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := report.WriteHTML(f, rep, series); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// kvOptions reads key=value flags; a value without "=" maps to "".
func kvOptions(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
