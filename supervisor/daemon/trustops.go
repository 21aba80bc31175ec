package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/crypto/verify"
)

// trustState is the trust the lanes' new sessions use, and when it was loaded.
type trustState struct {
	ts     *verify.TrustStore
	loaded time.Time
}

// setTrust makes ts the trust of every lane's new sessions (sessions under way keep
// theirs) and logs the anchors that expire within expiry_warning_days.
func (g *Gate) setTrust(ts *verify.TrustStore) {
	now := time.Now()
	g.trust.Store(&trustState{ts: ts, loaded: now})
	for _, l := range g.lanes {
		l.current.Store(l.readerConfig(ts, l.rules.Load()))
		// chains verified against the old anchors are unreachable already (the cache
		// is keyed by the store's generation); let them go
		l.cache.Reset()
	}
	g.warnExpiring(now)
}

// warnExpiring logs every anchor that expires within expiry_warning_days.
func (g *Gate) warnExpiring(now time.Time) {
	st := g.trust.Load()
	if st == nil {
		return
	}
	within := time.Duration(g.live.Load().Trust.ExpiryWarningDays) * 24 * time.Hour
	for _, c := range st.ts.Anchors() {
		if left := c.NotAfter.Sub(now); left < within {
			g.log.Warn("trust anchor expires soon", zap.String("subject", c.Subject.String()), zap.Time("not_after", c.NotAfter),
				zap.Int("days_left", int(left.Hours()/24)))
		}
	}
}

// trustReady is the "trust" readiness part: anchors loaded and not all of them expired.
func (g *Gate) trustReady(context.Context) error {
	st := g.trust.Load()
	if st == nil || st.ts.Len() == 0 {
		return errors.New("no trust anchor loaded")
	}
	now := time.Now()
	for _, c := range st.ts.Anchors() {
		if !now.Before(c.NotBefore) && !now.After(c.NotAfter) {
			return nil
		}
	}
	return fmt.Errorf("none of the %d trust anchors is valid now (expired or not yet valid)", st.ts.Len())
}

// Buckets of mdocgate_trust_anchors by time left.
var expiryBuckets = []struct {
	label string
	left  time.Duration
}{{"lt_7d", 7 * 24 * time.Hour}, {"lt_30d", 30 * 24 * time.Hour}, {"lt_90d", 90 * 24 * time.Hour}, {"lt_365d", 365 * 24 * time.Hour}}

var (
	anchorsDesc = prometheus.NewDesc("mdocgate_trust_anchors",
		"Trust anchors in use, by time to expiry (expires_in: expired, lt_7d, lt_30d, lt_90d, lt_365d, later; each anchor in one bucket).",
		[]string{"expires_in"}, nil)
	expiringDesc = prometheus.NewDesc("mdocgate_trust_anchors_expiring",
		"Trust anchors not yet expired that expire within trust.expiry_warning_days.", nil, nil)
	earliestDesc = prometheus.NewDesc("mdocgate_trust_anchor_earliest_expiry_timestamp_seconds",
		"When the first trust anchor still valid expires (Unix time).", nil, nil)
	trustLoadedDesc = prometheus.NewDesc("mdocgate_trust_loaded_timestamp_seconds",
		"When the trust anchors in use were loaded (Unix time).", nil, nil)
)

// trustCollector exports the anchors in use by days to expiry, read at scrape time.
type trustCollector struct{ g *Gate }

func (c trustCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- anchorsDesc
	ch <- expiringDesc
	ch <- earliestDesc
	ch <- trustLoadedDesc
}

func (c trustCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.trust.Load()
	if st == nil {
		return
	}
	now := time.Now()
	within := time.Duration(c.g.live.Load().Trust.ExpiryWarningDays) * 24 * time.Hour
	counts := map[string]int{"expired": 0, "later": 0}
	for _, b := range expiryBuckets {
		counts[b.label] = 0
	}
	expiring := 0
	var earliest time.Time
	for _, cert := range st.ts.Anchors() {
		left := cert.NotAfter.Sub(now)
		label := "later"
		if left < 0 {
			label = "expired"
		} else {
			for _, b := range expiryBuckets {
				if left < b.left {
					label = b.label
					break
				}
			}
			if left < within {
				expiring++
			}
			if earliest.IsZero() || cert.NotAfter.Before(earliest) {
				earliest = cert.NotAfter
			}
		}
		counts[label]++
	}
	for label, n := range counts {
		ch <- prometheus.MustNewConstMetric(anchorsDesc, prometheus.GaugeValue, float64(n), label)
	}
	ch <- prometheus.MustNewConstMetric(expiringDesc, prometheus.GaugeValue, float64(expiring))
	if !earliest.IsZero() {
		ch <- prometheus.MustNewConstMetric(earliestDesc, prometheus.GaugeValue, float64(earliest.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(trustLoadedDesc, prometheus.GaugeValue, float64(st.loaded.Unix()))
}
