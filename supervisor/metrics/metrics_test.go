package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter throttle ends by itself one interval after a burst
	// (see supervisor/leak_test.go); none of this package's goroutines is ignored.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

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

func (f *fakeSource) publish(v *actors.SessionVerdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		s(v)
	}
}

func verdict(lane, bearer string, o readersession.Outcome, reason string, d time.Duration) *actors.SessionVerdict {
	now := time.Now()
	return &actors.SessionVerdict{SessionID: "s", Lane: lane, Bearer: bearer, Outcome: o, Reason: reason,
		Detail: "family_name=Doe", Started: now.Add(-d), Ended: now}
}

// counts gathers sessions_total by "lane/bearer/outcome/reason", and the other families by name.
func gather(t *testing.T, reg *prometheus.Registry) (sessions map[string]float64, scalars map[string]float64, hist map[string]uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sessions, scalars, hist = map[string]float64{}, map[string]float64{}, map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				if mf.GetName() == "mdocgate_sessions_total" {
					sessions[l["lane"]+"/"+l["bearer"]+"/"+l["outcome"]+"/"+l["reason"]] += m.GetCounter().GetValue()
				} else {
					scalars[mf.GetName()] = m.GetCounter().GetValue()
				}
			case dto.MetricType_GAUGE:
				scalars[mf.GetName()] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				hist[l["lane"]+"/"+l["bearer"]+"/"+l["stage"]] += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return
}

func TestFakeSourceLabelsAndCounters(t *testing.T) {
	src := newFake()
	reg := prometheus.NewRegistry()
	m := New(reg, src)
	defer m.Close()

	src.publish(verdict("gate-1", "memory", readersession.Accepted, "", 20*time.Millisecond))
	src.publish(verdict("gate-1", "memory", readersession.Accepted, "", 30*time.Millisecond))
	src.publish(verdict("gate-1", "memory", readersession.Rejected, verify.CheckValueDigests, 40*time.Millisecond))
	src.publish(verdict("gate-2", "ble", readersession.Timeout, "engagement_timeout", 2*time.Second))
	src.publish(verdict("gate-2", "ble", readersession.Error, "something new: with detail 4711", time.Millisecond))
	for i := 0; i < MaxLabelValues+10; i++ { // a runaway of lane names folds into "other"
		src.publish(verdict(fmt.Sprintf("x-%d", i), "memory", readersession.Accepted, "", time.Millisecond))
	}
	src.counters.Busy.Store(7)
	src.counters.InFlight.Store(3)
	src.counters.Restarts.Store(2)
	src.counters.Panics.Store(1)
	src.counters.CryptoQueue.Store(5)
	src.counters.Started.Store(100)
	src.counters.Ended.Store(97)

	sessions, scalars, hist := gather(t, reg)
	want := map[string]float64{
		"gate-1/memory/accepted/none":              2,
		"gate-1/memory/rejected/mso.value_digests": 1,
		"gate-2/ble/timeout/engagement_timeout":    1,
		"gate-2/ble/error/other":                   1,
		"other/memory/accepted/none":               12, // 64 values: gate-1, gate-2 and x-0..x-61
	}
	for k, v := range want {
		if sessions[k] != v {
			t.Errorf("sessions_total{%s} = %v, want %v", k, sessions[k], v)
		}
	}
	lanes := map[string]bool{}
	for k := range sessions {
		lanes[strings.Split(k, "/")[0]] = true
	}
	if len(lanes) != MaxLabelValues+1 {
		t.Errorf("%d lane label values, want %d (+other)", len(lanes), MaxLabelValues)
	}
	for name, v := range map[string]float64{"mdocgate_busy_rejections_total": 7, "mdocgate_sessions_in_flight": 3,
		"mdocgate_actor_restarts_total": 2, "mdocgate_actor_panics_total": 1, "mdocgate_crypto_queue_depth": 5,
		"mdocgate_sessions_started_total": 100, "mdocgate_sessions_ended_total": 97} {
		if scalars[name] != v {
			t.Errorf("%s = %v, want %v", name, scalars[name], v)
		}
	}
	if hist["gate-1/memory/total"] != 3 || hist["gate-2/ble/total"] != 2 {
		t.Errorf("duration histogram counts %v", hist)
	}

	// the HTTP exposition carries the same numbers, and never a Detail
	body := scrape(t, m)
	for _, line := range []string{
		`mdocgate_sessions_total{bearer="memory",lane="gate-1",outcome="rejected",reason="mso.value_digests"} 1`,
		`mdocgate_busy_rejections_total 7`,
		`mdocgate_crypto_queue_depth 5`,
		`mdocgate_session_duration_seconds_bucket{bearer="ble",lane="gate-2",stage="total",le="2.5"} 2`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if strings.Contains(body, "Doe") || strings.Contains(body, "4711") {
		t.Error("/metrics leaks verdict details")
	}

	m.Close()
	src.publish(verdict("gate-1", "memory", readersession.Accepted, "", time.Millisecond))
	if s, _, _ := gather(t, reg); s["gate-1/memory/accepted/none"] != 2 {
		t.Error("counted a verdict after Close")
	}
}

func TestReasonLabel(t *testing.T) {
	for in, want := range map[string]string{"": NoReason, "mso.validity": "mso.validity", "crypto_worker": "crypto_worker",
		"profile.rule": "profile.rule", "holder_verification.no_match": "holder_verification.no_match",
		"mso.validity: expired 2024-01-01": OtherValue, "Jane Doe": OtherValue} {
		if got := Reason(in); got != want {
			t.Errorf("Reason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTwoMetricsOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, newFake())
	defer m.Close()
	defer func() {
		if recover() == nil {
			t.Error("second registration did not panic")
		}
	}()
	New(reg, newFake())
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRealEngineCountsMatchVerdicts runs simulated holders against a real engine with
// two memory lanes and checks that /metrics counts exactly the verdicts published.
func TestRealEngineCountsMatchVerdicts(t *testing.T) {
	trust, cred := pki(t)
	eng := supervisor.Start(supervisor.Config{Workers: 2})
	reg := prometheus.NewRegistry()
	m := New(reg, FromEngine(eng))
	defer m.Close()

	var mu sync.Mutex
	seen := map[string]float64{}
	durations := map[string]uint64{}
	all := make(chan struct{}, 1024)
	unsub := eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		mu.Lock()
		seen[v.Lane+"/"+v.Bearer+"/"+string(v.Outcome)+"/"+Reason(v.Reason)]++
		durations[v.Lane+"/"+v.Bearer+"/total"]++
		mu.Unlock()
		all <- struct{}{}
	})
	defer unsub()

	lanes := map[string]*memory.Listener{}
	for _, name := range []string{"north", "south"} {
		l := memory.NewListener(name, 64)
		lanes[name] = l
		err := eng.AddLane(&actors.LaneConfig{Name: name, Listener: l, Sessions: actors.SessionSettings{
			Reader: &readersession.Config{
				Request: []request.Doc{{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{{
					Name: issuer.NamespaceMDL, Elements: []string{"family_name", "age_over_18"}}}}},
				Trust: trust, Cache: verify.NewChainCache(8)},
			EngagementTimeout: 300 * time.Millisecond, InactivityTimeout: 300 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
	}
	mix := []holdersession.Misbehaviour{holdersession.Honest, holdersession.Honest, holdersession.Honest,
		holdersession.TamperElement, holdersession.WrongDeviceKey, holdersession.GarbageResponse, holdersession.Silent}
	const n = 28
	for i := 0; i < n; i++ {
		l := lanes[[]string{"north", "south"}[i%2]]
		eng.SpawnHolder(&actors.HolderConfig{
			NewSession: func() (actors.HolderSession, error) {
				return holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}, Misbehave: mix[i%len(mix)]})
			},
			Engage: func(ctx context.Context, de, h []byte) (transports.Conn, error) {
				return l.Engage(ctx, de, h, memory.LinkConfig{})
			},
			Retries: 10, RetryAfter: 10 * time.Millisecond,
		})
	}
	for i := 0; i < n; i++ {
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d verdicts", i, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	sessions, scalars, hist := gather(t, reg)
	mu.Lock()
	defer mu.Unlock()
	var total float64
	for k, v := range seen {
		total += v
		if sessions[k] != v {
			t.Errorf("sessions_total{%s} = %v, verdicts %v", k, sessions[k], v)
		}
	}
	if len(sessions) != len(seen) {
		t.Errorf("metrics series %v, verdicts %v", sessions, seen)
	}
	if total != n || scalars["mdocgate_sessions_ended_total"] != n || scalars["mdocgate_sessions_started_total"] != n {
		t.Errorf("verdicts %v, ended_total %v, started_total %v, want %d", total, scalars["mdocgate_sessions_ended_total"],
			scalars["mdocgate_sessions_started_total"], n)
	}
	if scalars["mdocgate_sessions_in_flight"] != 0 {
		t.Errorf("in flight %v after shutdown", scalars["mdocgate_sessions_in_flight"])
	}
	for k, v := range durations {
		if hist[k] != v {
			t.Errorf("duration count %s = %d, want %d", k, hist[k], v)
		}
	}
	for _, k := range []string{"north/memory/accepted/none", "south/memory/accepted/none"} {
		if sessions[k] == 0 {
			t.Errorf("no %s in %v", k, sessions)
		}
	}
	var rejected, timeouts float64
	for k, v := range sessions {
		switch strings.Split(k, "/")[2] {
		case "rejected":
			rejected += v
		case "timeout":
			timeouts += v
		}
	}
	if rejected == 0 || timeouts == 0 {
		t.Errorf("want rejections and timeouts in %v", sessions)
	}
	t.Logf("sessions_total: %v", sessions)
}

// pki issues one mDL under a fresh IACA and returns the trust store that accepts it.
func pki(t *testing.T) (*verify.TrustStore, *issuer.Credential) {
	t.Helper()
	p := testpki.New(t, testpki.Options{Name: "metrics test"})
	return verify.NewTrustStore(p.IACA.Certificate), p.IssueOn(t, 0, issuer.IssueRequest{})
}

// The gate's own memory and goroutines are exported with its verdicts (loadtest
// --target reads them), and a registry that has the runtime's collectors already keeps
// them.
func TestRuntimeAndProcessFamilies(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, newFake())
	defer m.Close()
	_, scalars, _ := gather(t, reg)
	if scalars["go_goroutines"] < 1 {
		t.Errorf("go_goroutines %v", scalars["go_goroutines"])
	}
	if scalars["process_resident_memory_bytes"] < 1<<20 {
		t.Errorf("process_resident_memory_bytes %v", scalars["process_resident_memory_bytes"])
	}
	body := scrape(t, m)
	for _, want := range []string{"\ngo_goroutines ", "\nprocess_resident_memory_bytes "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}

	withRuntime := prometheus.NewRegistry()
	withRuntime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	New(withRuntime, newFake()).Close()
}
