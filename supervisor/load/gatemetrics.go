package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The families RunTarget reads from a gate's /metrics (supervisor/metrics exports them).
const (
	metricSessions   = "mdocgate_sessions_total"
	metricRestarts   = "mdocgate_actor_restarts_total"
	metricPanics     = "mdocgate_actor_panics_total"
	metricRSS        = "process_resident_memory_bytes"
	metricGoroutines = "go_goroutines"
	metricCPU        = "process_cpu_seconds_total"
)

// gateMetrics is one reading of a gate's /metrics.
type gateMetrics struct {
	sessions         map[string]float64 // mdocgate_sessions_total summed by outcome
	reasons          map[string]float64 // the same by "outcome:reason" (reason "none" left out)
	restarts, panics float64
	rss, goroutines  float64
	hasRSS           bool
	hasGoroutines    bool
	cpu              float64 // the process's CPU seconds
	hasCPU           bool
}

// verdicts is the number of verdicts the gate has published.
func (m *gateMetrics) verdicts() (s float64) {
	for _, v := range m.sessions {
		s += v
	}
	return s
}

// scrapeGate reads a gate's /metrics.
func scrapeGate(ctx context.Context, client *http.Client, url string) (*gateMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseGateMetrics(resp.Body)
}

// ParseSessionsTotal sums the mdocgate_sessions_total samples of a Prometheus text
// exposition by their outcome label.
func ParseSessionsTotal(r io.Reader) (map[string]float64, error) {
	m, err := parseGateMetrics(r)
	if err != nil {
		return nil, err
	}
	return m.sessions, nil
}

// parseGateMetrics reads the families RunTarget uses from a Prometheus text exposition
// (lines "name{labels} value [timestamp]"; comments and other families are skipped).
func parseGateMetrics(r io.Reader) (*gateMetrics, error) {
	m := &gateMetrics{sessions: map[string]float64{}, reasons: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		var labels string
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				return nil, fmt.Errorf("metrics line %q: unterminated labels", line)
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		var dst *float64
		switch name {
		case metricSessions:
		case metricRestarts:
			dst = &m.restarts
		case metricPanics:
			dst = &m.panics
		case metricRSS:
			dst, m.hasRSS = &m.rss, true
		case metricGoroutines:
			dst, m.hasGoroutines = &m.goroutines, true
		case metricCPU:
			dst, m.hasCPU = &m.cpu, true
		default:
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		if dst != nil {
			*dst += v
			continue
		}
		outcome, reason := "", ""
		for _, kv := range strings.Split(labels, ",") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				switch k {
				case "outcome":
					outcome = strings.Trim(val, `"`)
				case "reason":
					reason = strings.Trim(val, `"`)
				}
			}
		}
		m.sessions[outcome] += v
		if reason != "" && reason != "none" {
			m.reasons[outcome+":"+reason] += v
		}
	}
	return m, sc.Err()
}
