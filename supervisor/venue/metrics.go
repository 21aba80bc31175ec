package venue

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// venueMetrics are the gate's venue families:
//
//	mdocgate_venue_decisions_total{result}     admitted, anti_passback, deny_list, venue_unavailable (by policy outcome)
//	mdocgate_venue_decision_seconds            histogram of Decide's time
//	mdocgate_venue_journal_pending             admissions journaled and not yet in the store
//	mdocgate_venue_reconciled_total{result}    journaled admissions written: stored, conflict, expired
type venueMetrics struct {
	decisions      *prometheus.CounterVec
	latency        prometheus.Histogram
	journalPending prometheus.Gauge
	reconciled     *prometheus.CounterVec
}

func newVenueMetrics() *venueMetrics {
	return &venueMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_venue_decisions_total",
			Help: "Venue decisions on credentials a lane would admit, by result: admitted, journaled (admitted while the store was unavailable), anti_passback, deny_list, venue_unavailable."},
			[]string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mdocgate_venue_decision_seconds",
			Help:    "Time of a venue decision (deny list, anti-passback create with its retries).",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}}),
		journalPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mdocgate_venue_journal_pending",
			Help: "Admissions journaled while the store was unavailable and not yet reconciled."}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_venue_reconciled_total",
			Help: "Journaled admissions reconciled with the store, by result: stored, conflict (admitted elsewhere meanwhile), expired."},
			[]string{"result"}),
	}
}

func (m *venueMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.latency, m.journalPending, m.reconciled}
}

func (m *venueMetrics) observe(d Decision, took time.Duration) {
	result := "admitted"
	switch {
	case d.Journaled:
		result = "journaled"
	case !d.Admit:
		result = d.Reason
	}
	m.decisions.WithLabelValues(result).Inc()
	m.latency.Observe(took.Seconds())
}
