package actuator

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/internal/testmqtt"
)

var eventKeys = []string{"action", "bearer", "gate", "lane", "outcome", "reason", "session", "time"}

func template() context.Context {
	return WithEvent(context.Background(), Event{Gate: "g1", Bearer: "nfc", Outcome: "rejected", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
}

// checkEvent decodes an event body and checks it has exactly the contract's keys.
func checkEvent(t *testing.T, body []byte) Event {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != strings.Join(eventKeys, ",") {
		t.Fatalf("event keys %v, want exactly %v", keys, eventKeys)
	}
	var e Event
	json.Unmarshal(body, &e)
	return e
}

// A webhook posts the event signed with HMAC-SHA256 over the bytes sent; a 5xx is tried
// again with backoff, and the deliveries are counted.
func TestWebhook(t *testing.T) {
	secret := []byte("s3cret-shared-with-the-turnstile")
	var calls atomic.Int32
	var mu sync.Mutex
	var got []Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(SignatureHeader)
		if !hmac.Equal([]byte(sig), []byte(Sign(secret, body))) || !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad type", http.StatusUnsupportedMediaType)
			return
		}
		if calls.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		e := checkEvent(t, body)
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer srv.Close()
	m := NewMetrics()
	a := &Actuator{Sink: &Webhook{URL: srv.URL, Secret: secret, Timeout: time.Second}, Backoff: 10 * time.Millisecond, Metrics: m}
	if err := a.Deny(template(), "lane-1", "s-1", "mso.validity"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || len(got) != 1 {
		t.Fatalf("calls %d, events %v", calls.Load(), got)
	}
	e := got[0]
	if e.Gate != "g1" || e.Lane != "lane-1" || e.Session != "s-1" || e.Bearer != "nfc" || e.Outcome != "rejected" ||
		e.Reason != "mso.validity" || e.Action != "deny" || !e.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("event %+v", e)
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("lane-1", "webhook", "delivered")); v != 1 {
		t.Fatalf("delivered %v", v)
	}
	if v := testutil.ToFloat64(m.failures.WithLabelValues("lane-1", "webhook")); v != 2 {
		t.Fatalf("attempt failures %v", v)
	}

	// a wrong secret: every attempt refused, the error says so, and failed is counted
	bad := &Actuator{Sink: &Webhook{URL: srv.URL, Secret: []byte("wrong"), Timeout: time.Second}, Attempts: 2, Backoff: time.Millisecond, Metrics: m}
	if err := bad.Open(template(), "lane-1", "s-2"); err == nil || !strings.Contains(err.Error(), "status 401") || !strings.Contains(err.Error(), "2 attempt") {
		t.Fatalf("wrong secret: %v", err)
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("lane-1", "webhook", "failed")); v != 1 {
		t.Fatalf("failed %v", v)
	}
	if n := testutil.CollectAndCount(prometheus.Collector(m.duration)); n != 1 {
		t.Fatalf("duration series %d", n)
	}
}

// A webhook does not follow redirects (a signed event goes where it was configured to)
// and gives up on a receiver that does not answer within its timeout.
func TestWebhookRedirectAndTimeout(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	redirect := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	a := &Actuator{Sink: &Webhook{URL: redirect.URL, Secret: []byte("k"), Timeout: time.Second}, Attempts: 1}
	if err := a.Open(template(), "l", "s"); err == nil || !strings.Contains(err.Error(), "status 307") || elsewhere.Load() != 0 {
		t.Fatalf("redirect: %v (elsewhere %d)", err, elsewhere.Load())
	}
	stall := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stall }))
	defer slow.Close()
	defer close(stall)
	start := time.Now()
	a = &Actuator{Sink: &Webhook{URL: slow.URL, Secret: []byte("k"), Timeout: 100 * time.Millisecond}, Attempts: 2, Backoff: time.Millisecond}
	if err := a.Open(template(), "l", "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow receiver: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("two attempts of 100ms took %v", d)
	}
}

// An exec actuator runs its command with the action in the environment and the event on
// standard input; a failing command is tried again, one past its timeout is killed.
func TestExec(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "relay.log")
	script := filepath.Join(dir, "relay.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
echo "$MDOCGATE_ACTION $MDOCGATE_OUTCOME $MDOCGATE_LANE $MDOCGATE_SESSION $MDOCGATE_REASON $MDOCGATE_GATE" >> "$1"
cat >> "$1.json"
[ -e "$1.fail" ] && { rm "$1.fail"; echo "relay busy" >&2; exit 3; }
exit 0
`), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(out+".fail", nil, 0o644) // the first run fails
	m := NewMetrics()
	a := &Actuator{Sink: &Exec{Command: []string{script, out}, Timeout: 5 * time.Second}, Backoff: time.Millisecond, Metrics: m}
	if err := a.Open(template(), "door", "s-9"); err != nil {
		t.Fatal(err)
	}
	lines, _ := os.ReadFile(out)
	if string(lines) != "open rejected door s-9  g1\nopen rejected door s-9  g1\n" {
		t.Fatalf("runs: %q", lines)
	}
	body, _ := os.ReadFile(out + ".json")
	if e := checkEvent(t, body[:strings.IndexByte(string(body), '}')+1]); e.Action != "open" || e.Session != "s-9" {
		t.Fatalf("stdin event %+v", e)
	}
	if v := testutil.ToFloat64(m.failures.WithLabelValues("door", "exec")); v != 1 {
		t.Fatalf("attempt failures %v", v)
	}
	fail := &Actuator{Sink: &Exec{Command: []string{"/bin/sh", "-c", "echo jammed >&2; exit 4"}}, Attempts: 1}
	if err := fail.CallStaff(template(), "door", "s", "x"); err == nil || !strings.Contains(err.Error(), "exit status 4: jammed") {
		t.Fatalf("failing command: %v", err)
	}
	start := time.Now()
	hang := &Actuator{Sink: &Exec{Command: []string{"/bin/sh", "-c", "sleep 30 & sleep 30"}, Timeout: 200 * time.Millisecond}, Attempts: 1}
	if err := hang.Deny(template(), "door", "s", "x"); err == nil || !strings.Contains(err.Error(), "killed after") {
		t.Fatalf("hanging command: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a 200ms timeout took %v", d)
	}
}

// An MQTT actuator publishes the event to its topic on a real broker (Mosquitto); while
// it cannot reach its broker a publish fails at once rather than waiting in a queue.
func TestMQTT(t *testing.T) {
	broker := testmqtt.Broker(t)
	topic := "mdocgate-test/" + t.Name() + "/" + time.Now().Format("150405.000000")
	msgs := testmqtt.Subscribe(t, broker, topic)
	sink := NewMQTT(MQTTOptions{Broker: broker, Topic: topic, QoS: 1, Timeout: 5 * time.Second})
	defer sink.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !sink.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("not connected to", broker)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a := &Actuator{Sink: sink, Backoff: 10 * time.Millisecond}
	for i, action := range []gate.Action{gate.ActionOpen, gate.ActionDeny} {
		if err := a.Deliver(template(), action, "lane-m", "s-"+string(rune('a'+i)), ""); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-msgs:
			if e := checkEvent(t, b); e.Action != string(action) || e.Lane != "lane-m" {
				t.Fatalf("message %s", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
	}
	down := NewMQTT(MQTTOptions{Broker: "tcp://127.0.0.1:1", Topic: "x", Timeout: time.Second})
	defer down.Close()
	start := time.Now()
	err := (&Actuator{Sink: down, Attempts: 1}).Open(template(), "l", "s")
	if err == nil || !strings.Contains(err.Error(), "not connected") || time.Since(start) > time.Second {
		t.Fatalf("unreachable broker: %v after %v", err, time.Since(start))
	}
}
