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
	// Bearer restricts a run on the web lanes to "websocket" or "http" (default both, in
	// turn).
	Bearer string
	// Lane, when set, names an online lane of the gate (bearer oid4vp or dcapi) to drive
	// instead of its web lanes (see RunTarget).
	Lane string
	// Protocol is the Digital Credentials API protocol of a dcapi lane's holders; empty
	// takes the lane's protocols in turn.
	Protocol string
	// ReaderRoot is a PEM file of the reader root the online holders check the gate's
	// request signatures against; empty checks the signature and the client_id binding
	// but not the chain.
	ReaderRoot string
}

// RunTarget runs simulated web holders against a running gate: every other holder uses
// its WebSocket lane, the others its HTTP lane. Each GETs /engage and presents over the
// session URL (webholder.Present). As a holder cannot see the gate's verdict, "accepted"
// counts completed sessions (VerdictsFrom "holders") unless cfg.Metrics lets the
// verdicts be read from the gate (VerdictsFrom "target_metrics"). When the verdicts
// cannot be read after the run, the holders' view is returned with the error.
//
// With cfg.Lane the holders drive that online lane instead: on an oid4vp lane each
// begins a transaction and presents as an OpenID4VP wallet (request object fetched and
// checked, the answer posted to the response URI), on a dcapi lane each begins a
// transaction for the lane's origin and answers its request as the wallet behind
// navigator.credentials.get would. Each holder's outcome is its transaction's verdict
// as the gate reports it (VerdictsFrom "transactions"; cfg.Metrics then only samples
// the gate's process).
func RunTarget(ctx context.Context, cfg TargetConfig) (*Report, error) {
	if !strings.HasPrefix(cfg.Target, "http://") && !strings.HasPrefix(cfg.Target, "https://") {
		return nil, fmt.Errorf("target %q: want the gate's base URL, http(s)://host:port", cfg.Target)
	}
	if cfg.Holders < 0 || cfg.Concurrency <= 0 || (cfg.Holders == 0 && cfg.Duration <= 0) {
		return nil, errors.New("target: holders ≥ 0 (0 only with a duration) and concurrency > 0 please")
	}
	if cfg.Bearer != "" && cfg.Bearer != web.BearerWebSocket && cfg.Bearer != web.BearerHTTP {
		return nil, fmt.Errorf("target: bearer %q (want websocket or http)", cfg.Bearer)
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
	holder := func(ctx context.Context, i int) (string, readersession.Outcome, string, time.Duration) {
		return targetHolder(ctx, client, cfg, cred, i)
	}
	var online *onlineTarget
	if cfg.Lane != "" {
		if online, err = newOnlineTarget(ctx, cfg, cred); err != nil {
			return nil, err
		}
		defer online.close()
		holder = online.holder
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
			bearer, o, reason, latency := holder(ctx, i)
			if o == "" {
				b.busy(Valid)
				return
			}
			b.session(bearer, cfg.Lane, o, reason, latency, time.Now())
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
	measured := []string{"lost", "rejected", "restarts", "panics", "peak_rss_bytes", "goroutines_end"}
	if online != nil {
		// each holder read its own transaction's verdict from the gate
		rep.Transport, rep.VerdictsFrom = online.bearer, "transactions"
		rep.NotMeasured["mismatched"] = "not checked: every holder presents the same credential, trusted by the gate or not"
		measured = measured[2:]
	}
	holdersOnly := func(why string) {
		for _, f := range measured {
			rep.NotMeasured[f] = "not measured: " + why
		}
	}
	if cfg.Metrics == "" {
		holdersOnly("a holder sees neither the gate's verdict nor its process; give the gate's /metrics (loadtest --bearer-opt metrics=URL)")
		if online != nil {
			holdersOnly("a holder sees its verdict but not the gate's process; give the gate's /metrics (loadtest --bearer-opt metrics=URL)")
		}
		return rep, nil
	}
	verdicts := rep.Sessions
	if online != nil {
		verdicts -= online.unanswered.Load() // transactions that expired unanswered have no verdict
	}
	after, err := awaitVerdicts(ctx, client, cfg.Metrics, before, verdicts)
	if err != nil {
		holdersOnly("the gate's /metrics could not be read after the run")
		return rep, fmt.Errorf("metrics %s after the run: %w", cfg.Metrics, err)
	}
	rep.ResourcesOf = ResourcesTarget
	gate.add(after, nil)
	if after.hasCPU && before.hasCPU {
		rep.TargetCPUSeconds = after.cpu - before.cpu
	}
	if online == nil {
		d := func(outcome string) int64 { return int64(after.sessions[outcome] - before.sessions[outcome]) }
		rep.Accepted, rep.Rejected, rep.Errors, rep.Timeouts = d("accepted"), d("rejected"), d("error"), d("timeout")
		rep.VerdictsFrom = "target_metrics"
	}
	rep.Lost = max(0, verdicts-int64(after.verdicts()-before.verdicts()))
	rep.Restarts = int64(after.restarts - before.restarts)
	rep.Panics = int64(after.panics - before.panics)
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
	ws := cfg.Bearer == web.BearerWebSocket || cfg.Bearer == "" && i%2 == 0
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
