package supervisor

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Off a terminal the log is JSON lines at the level asked for.
func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	_ = log.Sync()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "shown" || m["level"] != "warn" {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if IsTerminal(&buf) {
		t.Fatal("a buffer is no terminal")
	}
	if _, err := NewLogger(&buf, "loud"); err == nil {
		t.Fatal("unknown level accepted")
	}
}
