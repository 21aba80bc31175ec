package daemon

import (
	"encoding/json"
	"io"
	"sync"
)

// Lines prints a gate's Info, verdicts and events as JSON lines (serve's standard
// output): each value a whole line, one at a time, as verdicts arrive from many
// goroutines.
type Lines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLines prints to w.
func NewLines(w io.Writer) *Lines { return &Lines{w: w} }

// Print writes v as one JSON line.
func (l *Lines) Print(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return // Info, Verdict and Event always marshal
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(append(b, '\n'))
}

// Options are o with OnVerdict and OnEvent printing to l.
func (l *Lines) Options(o Options) Options {
	o.OnVerdict = func(v Verdict) { l.Print(v) }
	o.OnEvent = func(e Event) { l.Print(e) }
	return o
}
