package loadgen

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testvenue"
	"github.com/mdocgate/mdocgate/supervisor/load"
)

// A worker (Work) is found by a coordinator (Remote), runs its share of the holders and
// prints a line for it; a plan it cannot run is printed with its error.
func TestWorkPrintsEachPlan(t *testing.T) {
	c := testvenue.Start(t, 1)
	var mu sync.Mutex
	var lines []string
	print := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		lines = append(lines, string(b))
		mu.Unlock()
	}
	printed := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Work(ctx, c.URLs[0], "w1", print) }()
	waitLines := func(n int) []string {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if l := printed(); len(l) >= n {
				return l
			}
		}
		t.Fatalf("want %d lines, got %q", n, printed())
		return nil
	}
	if got, want := waitLines(1)[0], `{"venue":"`+c.URLs[0]+`","worker":"w1"}`; got != want {
		t.Fatalf("first line %s, want %s", got, want)
	}

	nc, err := Connect(c.URLs[0], "coordinator")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// nothing listens on port 1: the sessions fail, the plan still runs
	target := "http://127.0.0.1:1"
	shards, err := Remote(nc, Options{Workers: 1})(ctx, load.TargetConfig{Targets: []string{target}, Holders: 2, Concurrency: 1, Timeout: time.Second})
	if err != nil || len(shards) != 1 || shards[0].Worker != "w1" {
		t.Fatalf("remote run: %v %+v", err, shards)
	}
	line := waitLines(2)[1]
	if !strings.HasPrefix(line, `{"holders":2,"seconds":`) || !strings.HasSuffix(line, `,"sessions":2,"targets":["`+target+`"],"worker":"w1"}`) {
		t.Fatalf("plan line %s", line)
	}
	// a plan without holders or duration is refused by the run
	if _, err := ask(ctx, nc, "w1", Plan{Targets: []string{target}, Concurrency: 1, Timeout: time.Second}); err == nil {
		t.Fatal("an empty plan ran")
	}
	if line := waitLines(3)[2]; !strings.HasPrefix(line, `{"error":"target: holders`) || !strings.HasSuffix(line, `"holders":0,"targets":["`+target+`"],"worker":"w1"}`) {
		t.Fatalf("error line %s", line)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := Work(context.Background(), "nats://127.0.0.1:1", "w2", print); err == nil {
		t.Fatal("Work without a server succeeded")
	}
}
