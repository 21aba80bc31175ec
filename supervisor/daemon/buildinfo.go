package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/supervisor"
)

// buildInfoCollector is mdocgate_build_info: 1, labelled with what the binary was built
// from.
func buildInfoCollector() prometheus.Collector {
	b := supervisor.ReadBuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mdocgate_build_info",
		Help:        "Always 1: the version, commit and Go version the running gate was built from.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.Go}})
	g.Set(1)
	return g
}
