package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Defaults of the trust section's refresh settings.
const (
	defaultVICALRefresh      = time.Hour
	defaultExpiryWarningDays = 30
	vicalFetchTimeout        = 30 * time.Second
)

// validateRefresh checks (and defaults) vical_url, vical_refresh, vical_max_age and
// expiry_warning_days (fields relative to trust).
func (t *TrustConfig) validateRefresh() error {
	switch {
	case t.ExpiryWarningDays < 0:
		return bad("expiry_warning_days", "must not be negative")
	case t.VICALRefresh < 0:
		return bad("vical_refresh", "must not be negative")
	case t.VICALMaxAge < 0:
		return bad("vical_max_age", "must not be negative")
	}
	if t.ExpiryWarningDays == 0 {
		t.ExpiryWarningDays = defaultExpiryWarningDays
	}
	if t.VICALURL == "" {
		switch {
		case t.VICALRefresh != 0:
			return bad("vical_refresh", "only with vical_url")
		case t.VICALMaxAge != 0:
			return bad("vical_max_age", "only with vical_url")
		}
		return nil
	}
	u, err := url.Parse(t.VICALURL)
	switch {
	case err != nil:
		return &fieldError{"vical_url", err}
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return bad("vical_url", "%q: want http(s)://host/path", t.VICALURL)
	case t.VICALAnchor == "":
		return bad("vical_anchor", "a VICAL needs its provider's anchor certificate")
	}
	if t.VICALRefresh == 0 {
		t.VICALRefresh = defaultVICALRefresh
	}
	if t.VICALMaxAge == 0 {
		t.VICALMaxAge = 3 * t.VICALRefresh
	}
	if t.VICALMaxAge < t.VICALRefresh {
		return bad("vical_max_age", "%s is shorter than vical_refresh %s", t.VICALMaxAge, t.VICALRefresh)
	}
	return nil
}

// vicalAnchors reads the VICAL provider's anchor certificates.
func (c *Config) vicalAnchors() (*verify.TrustStore, error) {
	data, err := messages.ReadFileLimited(c.path(c.Trust.VICALAnchor), trust.MaxAnchorFileSize)
	if err != nil {
		return nil, &fieldError{"trust.vical_anchor", err}
	}
	anchors, err := verify.ParseCertificates(data)
	if err != nil {
		return nil, &fieldError{"trust.vical_anchor", err}
	}
	return verify.NewTrustStore(anchors...), nil
}

// vicalFetcher keeps the last good VICAL of trust.vical_url: fetched every vical_refresh,
// its signature verified against vical_anchor (re-read at every fetch, from the current
// configuration). A fetch that fails — the server down, a bad signature, a list too
// large — leaves the last good list in use.
type vicalFetcher struct {
	url     string
	refresh time.Duration
	maxAge  time.Duration
	client  *http.Client
	// config returns the configuration whose vical_anchor is current.
	config func() *Config
	log    *zap.Logger

	mu      sync.Mutex
	list    *trust.VICAL
	fetched time.Time // of list
	lastErr error     // of the last fetch, nil when it succeeded

	fetches *prometheus.CounterVec
}

func newVICALFetcher(t *TrustConfig, config func() *Config, log *zap.Logger) *vicalFetcher {
	if t.VICALURL == "" {
		return nil
	}
	return &vicalFetcher{url: t.VICALURL, refresh: t.VICALRefresh, maxAge: t.VICALMaxAge, config: config, log: log,
		client: &http.Client{Timeout: vicalFetchTimeout},
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_vical_fetches_total",
			Help: "Fetches of trust.vical_url, by result (ok, error: the last good list stays)."}, []string{"result"})}
}

// fetch downloads and verifies the list once; on success it becomes the current one.
func (f *vicalFetcher) fetch(ctx context.Context) error {
	err := f.download(ctx)
	f.mu.Lock()
	f.lastErr = err
	f.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
		f.log.Warn("VICAL fetch failed; the last good list stays", zap.String("url", f.url), zap.Error(err))
	}
	f.fetches.WithLabelValues(result).Inc()
	return err
}

func (f *vicalFetcher) download(ctx context.Context) error {
	anchors, err := f.config().vicalAnchors()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", f.url, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, trust.MaxVICALSize+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", f.url, err)
	}
	if len(data) > trust.MaxVICALSize {
		return fmt.Errorf("GET %s: larger than %d bytes", f.url, trust.MaxVICALSize)
	}
	now := time.Now()
	v, err := trust.ParseVICAL(data, trust.VICALOptions{Anchors: anchors, Now: now})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.list, f.fetched = v, now
	f.mu.Unlock()
	f.log.Info("VICAL fetched", zap.String("url", f.url), zap.String("provider", v.Provider), zap.Int("entries", len(v.Entries)),
		zap.Time("date", v.Date))
	return nil
}

// current returns the last good list (nil before the first good fetch).
func (f *vicalFetcher) current() *trust.VICAL {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list
}

// run fetches every refresh until ctx ends, calling updated after each good fetch.
func (f *vicalFetcher) run(ctx context.Context, updated func()) {
	t := time.NewTicker(f.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, vicalFetchTimeout)
			err := f.fetch(fctx)
			cancel()
			if err == nil {
				updated()
			}
		}
	}
}

// ready is the "vical" readiness part: a good list no older than vical_max_age.
func (f *vicalFetcher) ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := ""
	if f.lastErr != nil {
		last = "; last fetch: " + f.lastErr.Error()
	}
	switch {
	case f.list == nil:
		return errors.New("no VICAL fetched from " + f.url + " yet" + last)
	case time.Since(f.fetched) > f.maxAge:
		return fmt.Errorf("the last good VICAL is %s old (vical_max_age %s)%s", time.Since(f.fetched).Round(time.Second), f.maxAge, last)
	}
	return nil
}

// collectors export the list's age and the fetches.
func (f *vicalFetcher) collectors() []prometheus.Collector {
	if f == nil {
		return nil
	}
	return []prometheus.Collector{f.fetches, &vicalCollector{f}}
}

var (
	vicalAgeDesc = prometheus.NewDesc("mdocgate_vical_age_seconds",
		"Seconds since the VICAL in use was fetched from trust.vical_url (absent before the first good fetch).", nil, nil)
	vicalIssueDesc = prometheus.NewDesc("mdocgate_vical_issue_timestamp_seconds",
		"The date the VICAL in use was issued (Unix time).", nil, nil)
)

type vicalCollector struct{ f *vicalFetcher }

func (c *vicalCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- vicalAgeDesc
	ch <- vicalIssueDesc
}

func (c *vicalCollector) Collect(ch chan<- prometheus.Metric) {
	c.f.mu.Lock()
	list, fetched := c.f.list, c.f.fetched
	c.f.mu.Unlock()
	if list == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(vicalAgeDesc, prometheus.GaugeValue, time.Since(fetched).Seconds())
	ch <- prometheus.MustNewConstMetric(vicalIssueDesc, prometheus.GaugeValue, float64(list.Date.Unix()))
}
