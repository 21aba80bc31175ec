package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/crypto/trust"
)

// RevocationSource is what the revocation metrics read at scrape time; a
// *trust.StatusClient is one.
type RevocationSource interface {
	Snapshot() trust.RevocationStats
}

// Revocation metric families (kind is status_list or crl; uri is a list's or CRL's URI,
// or the file it was loaded from). The uri label is bounded by the client's MaxLists,
// and every URI comes from a credential or certificate that verified.
var (
	revFetches = prometheus.NewDesc("mdocgate_revocation_fetches_total",
		"Downloads of status lists and CRLs started.", []string{"kind"}, nil)
	revFailures = prometheus.NewDesc("mdocgate_revocation_fetch_failures_total",
		"Downloads that failed (network, HTTP status, size, decoding, signature, cache bounds).", []string{"kind"}, nil)
	revHits = prometheus.NewDesc("mdocgate_revocation_cache_hits_total",
		"Lookups answered from a fresh cached list or CRL.", []string{"kind"}, nil)
	revStale = prometheus.NewDesc("mdocgate_revocation_stale_answers_total",
		"Lookups answered from a stale copy within stale_if_error.", []string{"kind"}, nil)
	revFailOpen = prometheus.NewDesc("mdocgate_revocation_fail_open_total",
		"Checks passed with no usable list or CRL under on_stale: open.", []string{"kind"}, nil)
	revAge = prometheus.NewDesc("mdocgate_revocation_list_age_seconds",
		"Seconds since the list or CRL was last fetched (or loaded from a file).", []string{"kind", "uri"}, nil)
	revUsable = prometheus.NewDesc("mdocgate_revocation_list_usable",
		"1 while the list or CRL is fresh or stale within stale_if_error, else 0.", []string{"kind", "uri"}, nil)
)

type revocationCollector struct{ src RevocationSource }

// NewRevocationCollector exports a status client's counters and the age and usability
// of every list and CRL it holds, read at scrape time.
func NewRevocationCollector(src RevocationSource) prometheus.Collector {
	return revocationCollector{src}
}

func (revocationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{revFetches, revFailures, revHits, revStale, revFailOpen, revAge, revUsable} {
		ch <- d
	}
}

func (c revocationCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	for kind, k := range s.Counters {
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{{revFetches, k.Fetches}, {revFailures, k.Failures}, {revHits, k.Hits}, {revStale, k.Stale}, {revFailOpen, k.FailOpen}} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), kind)
		}
	}
	seen := map[[2]string]bool{}
	for _, l := range s.Lists {
		if seen[[2]string{l.Kind, l.URI}] { // two files of one name: the first one
			continue
		}
		seen[[2]string{l.Kind, l.URI}] = true
		usable := 0.0
		if l.Usable {
			usable = 1
		}
		ch <- prometheus.MustNewConstMetric(revUsable, prometheus.GaugeValue, usable, l.Kind, l.URI)
		if !l.Fetched.IsZero() {
			ch <- prometheus.MustNewConstMetric(revAge, prometheus.GaugeValue, l.Age.Seconds(), l.Kind, l.URI)
		}
	}
}
