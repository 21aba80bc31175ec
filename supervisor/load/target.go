package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// TargetConfig describes a run against running gates (`mdocgate serve`) over the network.
type TargetConfig struct {
	Target string // the gate's base URL (its origin): http(s)://host:port
	// Targets, when set, are several gates (Target is then ignored): holder i starts at
	// Targets[i mod n], and a holder whose session fails with an error (a gate gone)
	// tries the next gate, up to once per gate.
	Targets     []string
	Holders     int           // holders in total (0 with Duration: no limit)
	Concurrency int           // holders at once
	Duration    time.Duration // stop starting holders after this long
	Timeout     time.Duration // one holder's whole session (default 10 s)
	// Credential is a folder written by `mdocgate issue --out` whose credential the
	// holders present; empty means a throwaway credential under a fresh IACA, which the
	// gate rejects as untrusted.
	Credential string
	// Metrics is the gate's /metrics URL. With it the outcomes are the gate's own
	// verdicts (counted between before and after the run; other traffic at the gate skews
	// them), and the gate's memory and goroutines are sampled.
	Metrics string
	// TargetMetrics are the /metrics URLs of Targets, one per target in order (Metrics
	// is then ignored). A gate whose /metrics cannot be read after the run (it died)
	// counts with its last reading during the run.
	TargetMetrics []string
	// CA is a PEM file of the certificates an https:// gate's (and its /metrics')
	// certificate must chain to; empty means the system's roots. Load workers (Remote)
	// read it on their own host.
	CA string
	// Remote, when set, runs the holders elsewhere (load workers, see
	// supervisor/loadgen) instead of in this process: it gets this configuration and
	// returns each worker's shard, which the report merges (by_worker).
	Remote func(ctx context.Context, cfg TargetConfig) ([]*Shard, error)
	// Worker names this process in a shard (RunTargetShard).
	Worker   string
	Progress func(done, total int64)
	// Interval is the length of the report's Series points; 0 picks one that suits the
	// run's length (at most 80 points).
	Interval time.Duration
	// Bearer restricts a run on the web lanes to "websocket" or "http"; "both" (or empty,
	// the default) takes them in turn.
	Bearer string
	// Lane, when set, names an online lane of the gate (bearer oid4vp or dcapi) to drive
	// instead of its web lanes (see RunTarget); one target, holders in this process.
	Lane string
	// Protocol is the Digital Credentials API protocol of a dcapi lane's holders; empty
	// takes the lane's protocols in turn.
	Protocol string
	// ReaderRoot is a PEM file of the reader root the online holders check the gate's
	// request signatures against; empty checks the signature and the client_id binding
	// but not the chain.
	ReaderRoot string
}

// TargetOptions are the bearer options (loadtest --bearer-opt) of a run against gates.
var TargetOptions = []string{"credential", "metrics", "ca", "bearer", "lane", "protocol", "reader_root"}

// NewTargetConfig is the run against target (a gate's base URL, or several
// comma-separated) that the bearer options describe; several targets, or a run on load
// workers (remote), take one metrics URL per target, comma-separated, in order.
func NewTargetConfig(target string, opts map[string]string, remote bool) (TargetConfig, error) {
	for k := range opts {
		if !slices.Contains(TargetOptions, k) {
			return TargetConfig{}, fmt.Errorf("--bearer-opt %s: with --target only %s= apply", k, strings.Join(TargetOptions, "=, "))
		}
	}
	cfg := TargetConfig{Target: target, Credential: opts["credential"], Metrics: opts["metrics"], CA: opts["ca"],
		Bearer: opts["bearer"], Lane: opts["lane"], Protocol: opts["protocol"], ReaderRoot: opts["reader_root"]}
	if targets := strings.Split(target, ","); len(targets) > 1 || remote {
		cfg.Targets = targets
		if m := opts["metrics"]; m != "" {
			cfg.TargetMetrics = strings.Split(m, ",")
		}
	}
	return cfg, nil
}

// TargetCounts are one target's counts in a run against several gates: the holders'
// attempts there and, with its /metrics, the gate's verdicts by outcome and reason.
type TargetCounts struct {
	Counts
	Reasons map[string]int64 `json:"reasons,omitempty"`
	// MetricsAfterRun is false when the gate's /metrics could not be read after the run
	// (the gate died): its verdicts are those of its last reading during the run.
	MetricsAfterRun *bool `json:"metrics_after_run,omitempty"`
}

// targets returns the gates and their /metrics URLs ("" each without).
func (cfg *TargetConfig) targets() ([]string, []string, error) {
	targets, metrics := cfg.Targets, cfg.TargetMetrics
	if len(targets) == 0 {
		targets = []string{cfg.Target}
		if cfg.Metrics != "" {
			metrics = []string{cfg.Metrics}
		}
	}
	if len(metrics) > 0 && len(metrics) != len(targets) {
		return nil, nil, fmt.Errorf("target: %d metrics URLs for %d targets (one per target, in order)", len(metrics), len(targets))
	}
	out := make([]string, len(targets))
	for i, t := range targets {
		if !strings.HasPrefix(t, "http://") && !strings.HasPrefix(t, "https://") {
			return nil, nil, fmt.Errorf("target %q: want the gate's base URL, http(s)://host:port", t)
		}
		out[i] = strings.TrimRight(t, "/")
	}
	if len(metrics) == 0 {
		metrics = make([]string, len(targets))
	}
	return out, metrics, nil
}

// RunTarget runs simulated web holders against running gates: every other holder uses
// its WebSocket lane, the others its HTTP lane. Against gates on loopback addresses each
// holder connects from its own loopback address (a gate's per-client limits count by
// address). Each GETs /engage and presents over the
// session URL (webholder.Present). As a holder cannot see the gate's verdict, "accepted"
// counts completed sessions (VerdictsFrom "holders") unless the gates' /metrics let the
// verdicts be read from them (VerdictsFrom "target_metrics"). When the verdicts cannot
// be read after the run, the holders' view is returned with the error. With several
// targets the report adds by_target; with Remote, by_worker.
//
// With cfg.Lane the holders drive that online lane of the (one) gate instead: on an
// oid4vp lane each begins a transaction and presents as an OpenID4VP wallet (request
// object fetched and checked, the answer posted to the response URI), on a dcapi lane
// each begins a transaction for the lane's origin and answers its request as the wallet
// behind navigator.credentials.get would. Each holder's outcome is its transaction's
// verdict as the gate reports it (VerdictsFrom "transactions"; the gate's /metrics then
// gives its process's figures and the sessions lost).
func RunTarget(ctx context.Context, cfg TargetConfig) (*Report, error) {
	targets, metricURLs, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if cfg.Lane != "" && (len(targets) > 1 || cfg.Remote != nil) {
		return nil, errors.New("target: an online lane is driven at one gate, from this process")
	}
	cfg.Targets, cfg.Target = targets, targets[0]
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	withMetrics := metricURLs[0] != ""
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	gates := make([]*gateReading, len(targets))
	for i := range gates {
		gates[i] = &gateReading{url: metricURLs[i]}
		if withMetrics {
			if gates[i].before, err = scrapeGate(ctx, client, metricURLs[i]); err != nil {
				return nil, fmt.Errorf("metrics %s: %w", metricURLs[i], err)
			}
			gates[i].last = gates[i].before
		}
	}

	start := time.Now()
	b := newBuilder(start, cfg.Interval)
	var res gateSamples
	stopSampling := func() {}
	if withMetrics {
		stopSampling = sampleEvery(b, SampleResources, func() (int64, int, bool) {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var rss int64
			var goroutines int
			ok := false
			for _, g := range gates {
				m, err := scrapeGate(sctx, client, g.url)
				if err == nil {
					g.seen(m)
				}
				if r, n, good := res.add(m, err); good {
					rss, goroutines, ok = rss+r, goroutines+n, true
				}
			}
			return rss, goroutines, ok
		})
	}
	var online *onlineTarget
	if cfg.Lane != "" {
		cred, err := targetCredential(cfg.Credential)
		if err == nil {
			online, err = newOnlineTarget(ctx, cfg, cred)
		}
		if err != nil {
			stopSampling()
			return nil, err
		}
		defer online.close()
		runOnlineHolders(ctx, cfg, online, b)
	} else if cfg.Remote != nil {
		shards, err := cfg.Remote(ctx, cfg)
		if err != nil {
			stopSampling()
			return nil, err
		}
		for _, sh := range shards {
			b.absorb(sh)
		}
	} else {
		cred, err := targetCredential(cfg.Credential)
		if err != nil {
			stopSampling()
			return nil, fmt.Errorf("credential %s: %w", cfg.Credential, err)
		}
		runTargetHolders(ctx, client, cfg, cred, b)
	}
	end := time.Now()
	stopSampling()
	rep := b.finish(end)
	rep.Transport = "web"
	rep.VerdictsFrom = "holders"
	rep.NotMeasured["air_time_seconds"] = "not modelled on the web bearers"
	rep.NotMeasured["mismatched"] = "not checked: the gate's verdicts are not matched holder by holder"
	attempts := map[string]int64{}
	for url, c := range rep.ByTarget {
		attempts[url] = c.Sessions
	}
	if len(targets) == 1 {
		rep.ByTarget = nil
	}
	measured := []string{"lost", "rejected", "restarts", "panics", "peak_rss_bytes", "goroutines_end"}
	if online != nil {
		// each holder read its own transaction's verdict from the gate; the transactions
		// that expired unanswered owe none
		rep.Transport, rep.VerdictsFrom = online.bearer, "transactions"
		rep.NotMeasured["mismatched"] = "not checked: every holder presents the same credential, trusted by the gate or not"
		measured = measured[2:]
		attempts[targets[0]] = rep.Sessions - online.unanswered.Load()
	}
	holdersOnly := func(why string) {
		for _, f := range measured {
			rep.NotMeasured[f] = "not measured: " + why
		}
	}
	if !withMetrics {
		why := "a holder sees neither the gate's verdict nor its process; give the gate's /metrics (loadtest --bearer-opt metrics=URL)"
		if online != nil {
			why = "a holder sees its verdict but not the gate's process; give the gate's /metrics (loadtest --bearer-opt metrics=URL)"
		}
		holdersOnly(why)
		return rep, nil
	}
	var after []*gateMetrics
	var dead []string
	for i, g := range gates {
		m, err := awaitVerdicts(ctx, client, g.url, g.before, attempts[targets[i]])
		if err != nil {
			if len(gates) == 1 {
				holdersOnly("the gate's /metrics could not be read after the run")
				return rep, fmt.Errorf("metrics %s after the run: %w", g.url, err)
			}
			dead = append(dead, targets[i])
			m = g.lastReading()
		}
		after = append(after, m)
		if len(targets) > 1 {
			tc := rep.ByTarget[targets[i]]
			if tc == nil {
				tc = &TargetCounts{}
				rep.ByTarget[targets[i]] = tc
			}
			alive := err == nil
			tc.MetricsAfterRun = &alive
			tc.fromMetrics(g.before, m)
		}
	}
	rep.ResourcesOf = ResourcesTarget
	var verdicts float64
	if online == nil {
		rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts = 0, 0, 0, 0
	}
	for i, g := range gates {
		d := func(outcome string) int64 { return int64(after[i].sessions[outcome] - g.before.sessions[outcome]) }
		if online == nil {
			rep.Accepted += d("accepted")
			rep.Rejected += d("rejected")
			rep.Errors += d("error")
			rep.Timeouts += d("timeout")
		}
		if after[i].hasCPU && g.before.hasCPU {
			rep.TargetCPUSeconds += after[i].cpu - g.before.cpu
		}
		verdicts += after[i].verdicts() - g.before.verdicts()
		rep.Restarts += int64(after[i].restarts - g.before.restarts)
		rep.Panics += int64(after[i].panics - g.before.panics)
		if len(targets) > 1 {
			for k, v := range after[i].reasons {
				if n := int64(v - g.before.reasons[k]); n > 0 {
					if rep.TargetReasons == nil {
						rep.TargetReasons = map[string]int64{}
					}
					rep.TargetReasons[k] += n
				}
			}
		}
	}
	owed := rep.Sessions
	if online != nil {
		owed = attempts[targets[0]]
	}
	rep.Lost = max(0, owed-int64(verdicts))
	if len(dead) > 0 {
		rep.NotMeasured["lost"] = "not measured: the /metrics of " + strings.Join(dead, ", ") +
			" could not be read after the run (its verdicts are those of its last reading)"
		rep.Lost = 0
	}
	if online == nil {
		rep.VerdictsFrom = "target_metrics"
	}
	if res.rss {
		rep.PeakRSSBytes = res.peakRSS
	} else {
		rep.NotMeasured["peak_rss_bytes"] = "not measured: the gate's /metrics has no " + metricRSS
	}
	rep.GoroutinesEnd = 0
	has := false
	for _, m := range after {
		if m.hasGoroutines {
			rep.GoroutinesEnd += int(m.goroutines)
			has = true
		}
	}
	if !has {
		rep.NotMeasured["goroutines_end"] = "not measured: the gate's /metrics has no " + metricGoroutines
	}
	return rep, nil
}

// gateReading is one target's /metrics: before the run and the last good reading.
type gateReading struct {
	url    string
	before *gateMetrics
	mu     sync.Mutex
	last   *gateMetrics
}

func (g *gateReading) seen(m *gateMetrics) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = m
}

func (g *gateReading) lastReading() *gateMetrics {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

// fromMetrics sets a target's verdict counts from its readings.
func (tc *TargetCounts) fromMetrics(before, after *gateMetrics) {
	d := func(outcome string) int64 { return int64(after.sessions[outcome] - before.sessions[outcome]) }
	tc.Accepted, tc.Rejected, tc.Errors, tc.Timeouts = d("accepted"), d("rejected"), d("error"), d("timeout")
	tc.Reasons = map[string]int64{}
	for k, v := range after.reasons {
		if n := int64(v - before.reasons[k]); n > 0 {
			tc.Reasons[k] = n
		}
	}
}

// RunTargetShard runs this process's holders of a distributed run (a load worker):
// RunTarget's holders without the gates' /metrics, returned as a shard for the
// coordinator's report.
func RunTargetShard(ctx context.Context, cfg TargetConfig) (*Shard, error) {
	targets, _, err := cfg.check()
	if err != nil {
		return nil, err
	}
	cfg.Targets, cfg.Target = targets, targets[0]
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	cred, err := targetCredential(cfg.Credential)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", cfg.Credential, err)
	}
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	b := newBuilder(start, cfg.Interval)
	runTargetHolders(ctx, client, cfg, cred, b)
	return b.shard(cfg.Worker, time.Now()), nil
}

// BearersBoth is TargetConfig.Bearer for holders on the WebSocket and the HTTP lane in
// turn (the default).
const BearersBoth = "both"

// check checks a run's configuration (targets, holders, Bearer, turning BearersBoth
// into the default, empty) and returns its gates and their /metrics URLs (targets).
func (cfg *TargetConfig) check() (targets, metrics []string, err error) {
	if targets, metrics, err = cfg.targets(); err != nil {
		return nil, nil, err
	}
	if cfg.Holders < 0 || cfg.Concurrency <= 0 || (cfg.Holders == 0 && cfg.Duration <= 0) {
		return nil, nil, errors.New("target: holders ≥ 0 (0 only with a duration) and concurrency > 0 please")
	}
	switch cfg.Bearer {
	case "", web.BearerWebSocket, web.BearerHTTP:
	case BearersBoth:
		cfg.Bearer = ""
	default:
		return nil, nil, fmt.Errorf("target: bearer %q (want websocket, http or both)", cfg.Bearer)
	}
	return targets, metrics, nil
}

// client is the HTTP client of a target run's holders and scrapes: its CA's
// certificates (CA) or the system's are the roots an https:// gate is checked against.
func (cfg *TargetConfig) client() (*http.Client, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca %s: no PEM certificate", cfg.CA)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport}, nil
}

// runTargetHolders paces the holders of a target run and records each attempt.
func runTargetHolders(ctx context.Context, client *http.Client, cfg TargetConfig, cred *issuer.Credential, b *builder) {
	targets := cfg.Targets
	// a gate bounds what one client address holds and asks for (limits:): against gates
	// on loopback every holder comes from its own address, as many phones would, with
	// connections of its own closed when it is done
	holderClient := func(int) (*http.Client, func()) { return client, func() {} }
	if loopbackTargets(targets) {
		holderClient = func(i int) (*http.Client, func()) {
			c := sourceClientLike(client, loopbackSource(77, i%60000), 2)
			return c, c.CloseIdleConnections
		}
	}
	pace := newPacer(time.Now(), cfg.Concurrency, cfg.Holders, 0, cfg.Duration, cfg.Progress)
	for i := 0; pace.next(ctx, i); i++ {
		go func() {
			defer pace.done()
			hc, done := holderClient(i)
			defer done()
			var o readersession.Outcome
			var reason string
			for try := 0; try < len(targets); try++ {
				if try > 0 {
					b.retry()
				}
				target := targets[(i+try)%len(targets)]
				var bearer string
				var latency time.Duration
				var engaged bool
				bearer, o, reason, latency, engaged = targetHolder(ctx, hc, target, cfg, cred, i)
				if o == "" {
					b.busy(Valid)
					return
				}
				if engaged || len(targets) == 1 { // a gate that cannot be reached has no session of a retried holder
					b.session(bearer, "", o, reason, latency, time.Now())
					b.target(target, o)
				}
				if o != readersession.Error || ctx.Err() != nil {
					break
				}
			}
			b.holder(Valid, o, false, "", reason, "")
		}()
	}
	pace.wait()
}

// targetHolder runs one simulated holder through a whole session at target. Its outcome
// is what the holder saw: accepted (the session completed), error or timeout; "" when
// the gate was busy. engaged says the gate handed out an engagement (a session there
// began); a gate that cannot be reached has none.
func targetHolder(ctx context.Context, client *http.Client, target string, cfg TargetConfig, cred *issuer.Credential, i int) (
	bearer string, o readersession.Outcome, reason string, latency time.Duration, engaged bool) {
	bearer = web.BearerHTTP
	ws := cfg.Bearer == web.BearerWebSocket || cfg.Bearer == "" && i%2 == 0
	if ws {
		bearer = web.BearerWebSocket
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	e, err := web.FetchEngagement(ctx, client, target, false)
	if err == nil {
		engaged = true
		hc := &holdersession.Config{Credentials: []*issuer.Credential{cred}, UseMAC: i%4 < 2}
		err = webholder.Present(ctx, e.MdocURI, hc, "", web.DialOptions{WebSocket: ws, Client: client, IdleTimeout: 5 * time.Second})
	}
	latency = time.Since(t0)
	switch {
	case err == nil:
		return bearer, readersession.Accepted, "", latency, engaged
	case errors.Is(err, transports.ErrBusy):
		return bearer, "", "", latency, engaged
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return bearer, readersession.Timeout, "holder_timeout", latency, engaged
	default:
		return bearer, readersession.Error, "holder_error", latency, engaged
	}
}

// awaitVerdicts reads the gate's metrics until they count the run's sessions (verdicts
// are published just after the holder's last message) or 5 s have passed.
func awaitVerdicts(ctx context.Context, client *http.Client, url string, before *gateMetrics, sessions int64) (*gateMetrics, error) {
	for wait := time.Now().Add(5 * time.Second); ; {
		after, err := scrapeGate(ctx, client, url)
		if err != nil {
			return nil, err
		}
		if after.verdicts()-before.verdicts() >= float64(sessions) || time.Now().After(wait) {
			return after, nil
		}
		select {
		case <-ctx.Done():
			return after, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// gateSamples keeps the peak of the gate's sampled RSS.
type gateSamples struct {
	mu      sync.Mutex
	rss     bool
	peakRSS int64
}

// add notes one scrape and returns it as a sample for the series.
func (g *gateSamples) add(m *gateMetrics, err error) (int64, int, bool) {
	if err != nil || !m.hasRSS && !m.hasGoroutines {
		return 0, 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.hasRSS {
		g.rss = true
		g.peakRSS = max(g.peakRSS, int64(m.rss))
	}
	return int64(m.rss), int(m.goroutines), true
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
	_, _, cred, err := freshIssuer("loadtest")
	return cred, err
}
