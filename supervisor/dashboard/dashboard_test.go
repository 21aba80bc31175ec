package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource publishes verdicts by hand.
type fakeSource struct {
	mu       sync.Mutex
	subs     map[int]func(*actors.SessionVerdict)
	next     int
	counters actors.Counters
}

func newFake() *fakeSource { return &fakeSource{subs: map[int]func(*actors.SessionVerdict){}} }

func (f *fakeSource) Subscribe(fn func(*actors.SessionVerdict)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.subs[id] = fn
	return func() { f.mu.Lock(); delete(f.subs, id); f.mu.Unlock() }
}

func (f *fakeSource) Counters() *actors.Counters { return &f.counters }

func (f *fakeSource) subscribers() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.subs) }

func (f *fakeSource) publish(v *actors.SessionVerdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		s(v)
	}
}

// feed is a fixed crowd on two lanes. Details carry a name that must never reach the page.
type fed struct {
	lane, bearer string
	outcome      readersession.Outcome
	reason       string
	n            int
	latency      time.Duration
}

var crowd = []fed{
	{"gate-north", "memory", readersession.Accepted, "", 7, 40 * time.Millisecond},
	{"gate-north", "memory", readersession.Rejected, "mso.validity", 2, 55 * time.Millisecond},
	{"gate-north", "memory", readersession.Timeout, "engagement_timeout", 1, 300 * time.Millisecond},
	{"gate-south", "ble", readersession.Accepted, "", 3, 120 * time.Millisecond},
	{"gate-south", "ble", readersession.Error, "cbor_decoding", 1, 15 * time.Millisecond},
}

const secret = "Erika Mustermann 1964-08-12"

func feed(src *fakeSource) {
	now := time.Now()
	i := 0
	for _, f := range crowd {
		for k := 0; k < f.n; k++ {
			i++
			src.publish(&actors.SessionVerdict{SessionID: fmt.Sprintf("%016x", 0xabc000+i), Lane: f.lane, Bearer: f.bearer,
				Outcome: f.outcome, Reason: f.reason, Detail: secret, Started: now.Add(-f.latency), Ended: now})
		}
	}
	src.counters.Started.Store(16)
	src.counters.Ended.Store(14)
	src.counters.InFlight.Store(2)
	src.counters.Busy.Store(4)
	src.counters.Restarts.Store(1)
	src.counters.CryptoQueue.Store(3)
}

func TestSnapshotCounts(t *testing.T) {
	src := newFake()
	d := New(src, Options{Title: "Terminal 2"})
	defer d.Close()
	feed(src)
	s := d.Snapshot()
	if s.Totals.Sessions != 14 || s.Totals.Accepted != 10 || s.Totals.Rejected != 2 || s.Totals.Errors != 1 || s.Totals.Timeouts != 1 {
		t.Fatalf("totals %+v", s.Totals)
	}
	if len(s.Lanes) != 2 || s.Lanes[0].Lane != "gate-north" || s.Lanes[0].Sessions != 10 || s.Lanes[1].Bearer != "ble" {
		t.Fatalf("lanes %+v", s.Lanes)
	}
	if n := s.Lanes[0]; n.P50 != 40 || n.P99 != 300 {
		t.Errorf("north latency p50 %v p99 %v", n.P50, n.P99)
	}
	if len(s.Recent) != 14 || s.Recent[0].Lane != "gate-south" || s.Recent[0].Reason != "cbor_decoding" {
		t.Errorf("recent %+v", s.Recent)
	}
	if s.Totals.PerSecond <= 0 || s.Throughput[len(s.Throughput)-1]+s.Throughput[len(s.Throughput)-2] < 0 {
		t.Errorf("throughput %v %v", s.Totals.PerSecond, s.Throughput)
	}
	if s.Engine.Busy != 4 || s.Engine.InFlight != 2 || s.Engine.CryptoQueue != 3 {
		t.Errorf("engine %+v", s.Engine)
	}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), "Erika") {
		t.Fatal("snapshot leaks verdict detail")
	}
}

func TestBoundedMemory(t *testing.T) {
	src := newFake()
	d := New(src, Options{Recent: 5})
	defer d.Close()
	now := time.Now()
	for i := 0; i < 20000; i++ {
		src.publish(&actors.SessionVerdict{SessionID: fmt.Sprint(i), Lane: fmt.Sprintf("lane-%d", i%100), Bearer: "memory",
			Outcome: readersession.Accepted, Started: now.Add(-time.Duration(i%1000) * time.Millisecond), Ended: now})
	}
	s := d.Snapshot()
	if len(s.Lanes) != MaxLanes+1 || len(s.Recent) != 5 || s.Totals.Sessions != 20000 {
		t.Fatalf("lanes %d recent %d sessions %d", len(s.Lanes), len(s.Recent), s.Totals.Sessions)
	}
	var sum int64
	for _, l := range s.Lanes {
		sum += l.Sessions
	}
	if sum != 20000 || s.Lanes[len(s.Lanes)-1].Lane != "other" {
		t.Fatalf("lane sessions add up to %d; last lane %q", sum, s.Lanes[len(s.Lanes)-1].Lane)
	}
	if s.Recent[0].SessionID != "19999" {
		t.Errorf("newest recent %q", s.Recent[0].SessionID)
	}
}

// TestEventStreamClients connects many streams, checks they all get snapshots that
// reflect new verdicts, and that disconnected ones are forgotten.
func TestEventStreamClients(t *testing.T) {
	src := newFake()
	d := New(src, Options{Interval: 50 * time.Millisecond, MaxClients: 40})
	srv := httptest.NewServer(d)
	defer srv.Close()
	defer d.Close()

	const n = 30
	type stream struct {
		cancel context.CancelFunc
		body   io.ReadCloser
		r      *bufio.Reader
	}
	var streams []stream
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		streams = append(streams, stream{cancel, resp.Body, bufio.NewReader(resp.Body)})
	}
	feed(src)
	for i, s := range streams {
		deadline := time.Now().Add(5 * time.Second)
		for {
			snap := nextSnapshot(t, s.r)
			if snap.Totals.Sessions == 14 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream %d never saw the verdicts", i)
			}
		}
	}
	if c := d.clientCount(); c != n {
		t.Fatalf("%d clients, want %d", c, n)
	}
	// the 41st stream is refused
	for i := 0; i < 11; i++ {
		resp, err := srv.Client().Get(srv.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		if i < 10 {
			defer resp.Body.Close()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("stream past MaxClients: %d", resp.StatusCode)
		}
	}
	for _, s := range streams[:20] {
		s.cancel()
		s.body.Close()
	}
	waitFor(t, func() bool { return d.clientCount() == 20 }, "disconnected clients to be dropped")
	for _, s := range streams[20:] {
		s.cancel()
		s.body.Close()
	}
	// JSON snapshot and the page
	resp, err := srv.Client().Get(srv.URL + "/snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil || snap.Totals.Sessions != 14 {
		t.Fatalf("snapshot.json: %v %+v", err, snap.Totals)
	}
	resp.Body.Close()
	resp, err = srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		if strings.Contains(strings.ReplaceAll(string(b), `"http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("page is not self-contained: %q", bad)
		}
	}
	resp, err = srv.Client().Get(srv.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	d.Close()
	if src.subscribers() != 0 {
		t.Error("Close left a subscription")
	}
}

func nextSnapshot(t *testing.T, r *bufio.Reader) Snapshot {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var s Snapshot
			if err := json.Unmarshal([]byte(data), &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
}

func waitFor(t *testing.T, f func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
