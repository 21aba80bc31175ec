package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// TargetConfig describes a run against a running gate (`mdocgate serve`) over the network.
type TargetConfig struct {
	Target      string        // the gate's base URL (its origin): http(s)://host:port
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
	Metrics  string
	Progress func(done, total int64)
	// Interval is the length of the report's Series points; 0 picks one that suits the
	// run's length (at most 80 points).
	Interval time.Duration
}

// RunTarget runs simulated web holders against a running gate: every other holder uses
// its WebSocket lane, the others its HTTP lane. Against a gate on a loopback address
// each holder slot connects from its own loopback address (the gate's per-client
// limits count by address). Each GETs /engage and presents over the
// session URL (webholder.Present). As a holder cannot see the gate's verdict, "accepted"
// counts completed sessions (VerdictsFrom "holders") unless cfg.Metrics lets the
// verdicts be read from the gate (VerdictsFrom "target_metrics"). When the verdicts
// cannot be read after the run, the holders' view is returned with the error.
func RunTarget(ctx context.Context, cfg TargetConfig) (*Report, error) {
	if !strings.HasPrefix(cfg.Target, "http://") && !strings.HasPrefix(cfg.Target, "https://") {
		return nil, fmt.Errorf("target %q: want the gate's base URL, http(s)://host:port", cfg.Target)
	}
	if cfg.Holders < 0 || cfg.Concurrency <= 0 || (cfg.Holders == 0 && cfg.Duration <= 0) {
		return nil, errors.New("target: holders ≥ 0 (0 only with a duration) and concurrency > 0 please")
	}
	cfg.Target = strings.TrimRight(cfg.Target, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	cred, err := targetCredential(cfg.Credential)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", cfg.Credential, err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}}
	defer client.CloseIdleConnections()
	// a gate bounds what one client address holds (limits:): on loopback every holder
	// slot comes from its own address, as many phones would
	holderClient := func(int) *http.Client { return client }
	if isLoopbackTarget(cfg.Target) {
		pool := newClientPool(77)
		defer pool.close()
		holderClient = func(i int) *http.Client { return pool.get(i % cfg.Concurrency) }
	}
	var before *gateMetrics
	if cfg.Metrics != "" {
		if before, err = scrapeGate(ctx, client, cfg.Metrics); err != nil {
			return nil, fmt.Errorf("metrics %s: %w", cfg.Metrics, err)
		}
	}

	start := time.Now()
	b := newBuilder(start, cfg.Interval)
	var gate gateSamples
	stopSampling := func() {}
	if cfg.Metrics != "" {
		stopSampling = sampleEvery(b, SampleResources, func() (int64, int, bool) {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			m, err := scrapeGate(sctx, client, cfg.Metrics)
			return gate.add(m, err)
		})
	}
	pace := newPacer(start, cfg.Concurrency, cfg.Holders, 0, cfg.Duration, cfg.Progress)
	for i := 0; pace.next(ctx, i); i++ {
		go func() {
			defer pace.done()
			bearer, o, reason, latency := targetHolder(ctx, holderClient(i), cfg, cred, i)
			if o == "" {
				b.busy(Valid)
				return
			}
			b.session(bearer, "", o, reason, latency, time.Now())
			b.holder(Valid, o, false, "", reason, "")
		}()
	}
	pace.wait()
	end := time.Now()
	stopSampling()
	rep := b.finish(end)
	rep.Transport = "web"
	rep.VerdictsFrom = "holders"
	rep.NotMeasured["air_time_seconds"] = "not modelled on the web bearers"
	rep.NotMeasured["mismatched"] = "not checked: the gate's verdicts are not matched holder by holder"
	holdersOnly := func(why string) {
		for _, f := range []string{"lost", "rejected", "restarts", "panics", "peak_rss_bytes", "goroutines_end"} {
			rep.NotMeasured[f] = "not measured: " + why
		}
	}
	if cfg.Metrics == "" {
		holdersOnly("a holder sees neither the gate's verdict nor its process; give the gate's /metrics (loadtest --bearer-opt metrics=URL)")
		return rep, nil
	}
	after, err := awaitVerdicts(ctx, client, cfg.Metrics, before, rep.Sessions)
	if err != nil {
		holdersOnly("the gate's /metrics could not be read after the run")
		return rep, fmt.Errorf("metrics %s after the run: %w", cfg.Metrics, err)
	}
	rep.ResourcesOf = ResourcesTarget
	gate.add(after, nil)
	d := func(outcome string) int64 { return int64(after.sessions[outcome] - before.sessions[outcome]) }
	rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts = d("accepted"), d("rejected"), d("error"), d("timeout")
	rep.Lost = max(0, rep.Sessions-int64(after.verdicts()-before.verdicts()))
	rep.Restarts = int64(after.restarts - before.restarts)
	rep.Panics = int64(after.panics - before.panics)
	rep.VerdictsFrom = "target_metrics"
	if gate.rss {
		rep.PeakRSSBytes = gate.peakRSS
	} else {
		rep.NotMeasured["peak_rss_bytes"] = "not measured: the gate's /metrics has no " + metricRSS
	}
	if after.hasGoroutines {
		rep.GoroutinesEnd = int(after.goroutines)
	} else {
		rep.NotMeasured["goroutines_end"] = "not measured: the gate's /metrics has no " + metricGoroutines
	}
	return rep, nil
}

// targetHolder runs one simulated holder through a whole session. Its outcome is what
// the holder saw: accepted (the session completed), error or timeout; "" when the gate
// was busy.
func targetHolder(ctx context.Context, client *http.Client, cfg TargetConfig, cred *issuer.Credential, i int) (
	bearer string, o readersession.Outcome, reason string, latency time.Duration) {
	bearer = web.BearerHTTP
	ws := i%2 == 0
	if ws {
		bearer = web.BearerWebSocket
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	e, err := web.FetchEngagement(ctx, client, cfg.Target, false)
	if err == nil {
		hc := &holdersession.Config{Credentials: []*issuer.Credential{cred}, UseMAC: i%4 < 2}
		err = webholder.Present(ctx, e.MdocURI, hc, "", web.DialOptions{WebSocket: ws, Client: client, IdleTimeout: 5 * time.Second})
	}
	latency = time.Since(t0)
	switch {
	case err == nil:
		return bearer, readersession.Accepted, "", latency
	case errors.Is(err, transports.ErrBusy):
		return bearer, "", "", latency
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return bearer, readersession.Timeout, "holder_timeout", latency
	default:
		return bearer, readersession.Error, "holder_error", latency
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
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "loadtest IACA", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "loadtest DS", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	return issueMDL(ds, now.Add(-time.Minute), now.Add(24*time.Hour))
}
