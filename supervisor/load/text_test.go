package load

import (
	"bytes"
	"strings"
	"testing"
)

// Off a terminal there is no bar, and a nil bar is safe to use.
func TestProgressBarOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	bar := NewProgressBar(&buf)
	if bar != nil || bar.Progress() != nil {
		t.Fatal("a progress bar on a buffer")
	}
	bar.Finish()
	// the drawing itself
	p := &ProgressBar{w: &buf}
	p.Progress()(5, 10)
	p.Finish()
	if got := buf.String(); !strings.Contains(got, "5/10 holders") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("%q", got)
	}
}
