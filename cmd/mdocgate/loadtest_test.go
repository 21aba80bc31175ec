package main

import (
	"io"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

// parseSessionsTotal and sumValues read a gate's /metrics in the serve tests.
func parseSessionsTotal(r io.Reader) (map[string]float64, error) { return load.ParseSessionsTotal(r) }

func sumValues(m map[string]float64) (s float64) {
	for _, v := range m {
		s += v
	}
	return s
}
