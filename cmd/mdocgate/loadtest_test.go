package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

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

// loadtest --report writes the HTML report of an in-process run too: its histogram
// holds every session.
func TestLoadtestReport(t *testing.T) {
	f := filepath.Join(t.TempDir(), "r.html")
	code, stdout, stderr := runCLI(t, "loadtest", "--holders", "40", "--concurrency", "8", "--json", "--report", f)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep struct{ Sessions int64 }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Sessions != 40 {
		t.Fatalf("%v: %s", err, stdout)
	}
	doc, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	for _, m := range regexp.MustCompile(`<rect class="bar" data-le-ms="[^"]+" data-count="(\d+)"`).FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.Atoi(m[1])
		sum += n
	}
	if sum != 40 || !strings.Contains(string(doc), "40 sessions by latency bucket") {
		t.Fatalf("histogram holds %d sessions", sum)
	}
	if code, _, _ := runCLI(t, "loadtest", "--holders", "1", "--report", filepath.Join(t.TempDir(), "no", "such", "dir.html")); code != exitUsage {
		t.Fatalf("unwritable report: exit %d", code)
	}
}
