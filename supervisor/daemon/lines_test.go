package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"
)

// Verdicts printed from many goroutines come out as whole JSON lines.
func TestLinesWholeLines(t *testing.T) {
	var buf bytes.Buffer
	l := NewLines(&buf)
	o := l.Options(Options{})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); o.OnVerdict(Verdict{Session: "s", Lane: "a", Outcome: "accepted"}) }()
		go func() { defer wg.Done(); o.OnEvent(Event{Event: "trust_reloaded", Anchors: 2}) }()
	}
	wg.Wait()
	l.Print(Info{Name: "g"})
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || (m["outcome"] != "accepted" && m["event"] != "trust_reloaded" && m["name"] != "g") {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n != 101 {
		t.Fatalf("%d lines, want 101", n)
	}
}
