package venue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testvenue"
	"github.com/mdocgate/mdocgate/supervisor/venue"
)

// connect connects gate to url (one server of the cluster) with the test's options.
func connect(t *testing.T, o venue.Options) *venue.Venue {
	t.Helper()
	if o.Name == "" {
		o.Name = "test"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := venue.Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if err := v.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	shared     *testvenue.Cluster
	sharedOnce sync.Once
	sharedTB   = &clusterTB{}
)

// clusterTB lets the cluster shared by the tests outlive any one of them.
type clusterTB struct {
	testing.TB
	dirs []string
}

func (c *clusterTB) Helper()        {}
func (c *clusterTB) Cleanup(func()) {}
func (c *clusterTB) TempDir() string {
	d, _ := os.MkdirTemp("", "venue-test-")
	c.dirs = append(c.dirs, d)
	return d
}
func (c *clusterTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (c *clusterTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Shutdown()
	}
	for _, d := range sharedTB.dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// threeGates is a 3-server cluster with a gate connected to each server; fresh when
// the test stops servers, otherwise shared by the tests (each its own venue name).
func threeGates(t *testing.T, o venue.Options) (*testvenue.Cluster, []*venue.Venue) {
	var c *testvenue.Cluster
	if o.Name == "fresh" {
		c, o.Name = testvenue.Start(t, 3), ""
	} else {
		sharedOnce.Do(func() { shared = testvenue.Start(sharedTB, 3) })
		c = shared
	}
	if o.Name == "" {
		o.Name = strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	}
	var gates []*venue.Venue
	for i, u := range c.URLs {
		o := o
		o.URLs, o.Gate = []string{u}, fmt.Sprintf("gate-%d", i)
		gates = append(gates, connect(t, o))
	}
	return c, gates
}

func key(s string) string { return venue.CredentialKey(venue.DocumentNumberID("UT", s)) }

func TestOneAdmissionAcrossThreeGates(t *testing.T) {
	_, gates := threeGates(t, venue.Options{})
	k := key("123456789")
	var admitted, passback atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := gates[i%3].Decide(context.Background(), k, fmt.Sprintf("p%d", i))
			switch {
			case d.Admit:
				admitted.Add(1)
			case d.Reason == venue.ReasonAntiPassback:
				passback.Add(1)
			default:
				t.Errorf("presentation %d: %+v", i, d)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 1 || passback.Load() != 299 {
		t.Fatalf("admitted %d, anti_passback %d; want 1 and 299", admitted.Load(), passback.Load())
	}
}

func TestRetryOfOwnPresentationAdmitsAgain(t *testing.T) {
	_, gates := threeGates(t, venue.Options{})
	k := key("retry")
	ctx := context.Background()
	a, err := gates[0].Admit(ctx, k, "p1")
	if err != nil || !a.Admitted {
		t.Fatalf("first: %+v %v", a, err)
	}
	// without a lost reply, the same presentation again is a second use
	if a, err := gates[0].Admit(ctx, k, "p1"); err != nil || a.Admitted {
		t.Fatalf("the same presentation again: %+v %v; want refused", a, err)
	}
	// the reply was lost: the same gate retries the same presentation and recognises
	// its own admission
	gates[0].LoseReply("p1")
	if a, err := gates[0].Admit(ctx, k, "p1"); err != nil || !a.Admitted {
		t.Fatalf("retry of the same presentation: %+v %v; want admitted", a, err)
	}
	gates[1].LoseReply("p1") // another gate's write is not its own, whatever the id
	if a, err := gates[1].Admit(ctx, k, "p1"); err != nil || a.Admitted || a.By != "gate-0" {
		t.Fatalf("another gate retrying the same id: %+v %v; want refused, by gate-0", a, err)
	}
	if a, err := gates[0].Admit(ctx, k, "p2"); err != nil || a.Admitted {
		t.Fatalf("another presentation at the same gate: %+v %v; want refused", a, err)
	}
	if a, err := gates[2].Admit(ctx, k, "p1"); err != nil || a.Admitted {
		t.Fatalf("same presentation id at another gate: %+v %v; want refused", a, err)
	}
}

func TestWindowIsTheTTL(t *testing.T) {
	_, gates := threeGates(t, venue.Options{Window: time.Second})
	k := key("window")
	ctx := context.Background()
	if d := gates[0].Decide(ctx, k, "a"); !d.Admit {
		t.Fatalf("first use: %+v", d)
	}
	if d := gates[1].Decide(ctx, k, "b"); d.Admit || d.Reason != venue.ReasonAntiPassback {
		t.Fatalf("second use within the window: %+v", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(250 * time.Millisecond)
		d := gates[1].Decide(ctx, k, "c")
		if d.Admit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused 10 s after a 1 s window: %+v", d)
		}
	}
}

func TestDenyListIsWatchedIntoEveryGate(t *testing.T) {
	c, gates := threeGates(t, venue.Options{})
	admin := connect(t, venue.Options{Name: t.Name(), URLs: c.URLs, Admin: true})
	ctx := context.Background()
	id := venue.DocumentNumberID("UT", "denied-1")
	k, err := admin.DenyAdd(ctx, id, "stolen")
	if err != nil || k != venue.CredentialKey(id) {
		t.Fatalf("DenyAdd: %q %v", k, err)
	}
	waitFor(t, "every gate sees the deny entry", func() bool {
		return gates[0].Denied(k) && gates[1].Denied(k) && gates[2].Denied(k)
	})
	if d := gates[1].Decide(ctx, k, "p"); d.Admit || d.Reason != venue.ReasonDenyList {
		t.Fatalf("denied credential: %+v", d)
	}
	list, err := admin.DenyList(ctx)
	if err != nil || len(list) != 1 || list[0].Key != k || list[0].Note != "stolen" {
		t.Fatalf("DenyList: %+v %v", list, err)
	}
	if _, ok, err := admin.DenyRemove(ctx, k); !ok || err != nil {
		t.Fatalf("DenyRemove: %v %v", ok, err)
	}
	waitFor(t, "every gate drops the entry", func() bool {
		return !gates[0].Denied(k) && !gates[1].Denied(k) && !gates[2].Denied(k)
	})
	if d := gates[1].Decide(ctx, k, "p"); !d.Admit {
		t.Fatalf("after removal: %+v", d)
	}
	if _, ok, err := admin.DenyRemove(ctx, k); ok || err != nil {
		t.Fatalf("removing twice: %v %v", ok, err)
	}
	// a gate that connects later reads the list before deciding
	admin.DenyAdd(ctx, k, "")
	late := connect(t, venue.Options{Name: t.Name(), URLs: c.URLs[:1], Gate: "late"})
	if !late.Denied(k) {
		t.Fatal("a gate connected after the entry does not see it once synced")
	}
}

func TestFleetSumsEveryGate(t *testing.T) {
	_, gates := threeGates(t, venue.Options{PublishEvery: 50 * time.Millisecond})
	for i, g := range gates {
		for j := 0; j <= i; j++ {
			g.Record("lane-a", "north", "accepted", "")
		}
		g.Record("lane-b", "south", "rejected", venue.ReasonAntiPassback)
	}
	waitFor(t, "gate 0 sees the whole fleet", func() bool {
		f := gates[0].Fleet()
		return len(f.Gates) == 3 && f.Total.Sessions == 9
	})
	f := gates[0].Fleet()
	if f.Total.Accepted != 6 || f.Total.AntiPassback != 3 || f.Total.Rejected != 3 {
		t.Fatalf("totals %+v", f.Total)
	}
	if len(f.Zones) != 2 || f.Zones[0].Zone != "north" || f.Zones[0].Accepted != 6 || f.Zones[1].AntiPassback != 3 {
		t.Fatalf("zones %+v", f.Zones)
	}
	if f.Gates[2].Gate != "gate-2" || f.Gates[2].Total.Accepted != 3 {
		t.Fatalf("gate-2 %+v", f.Gates[2])
	}
}

// TestServerLossLosesNoDecision stops one server of three while two gates decide on
// distinct credentials: every decision is answered, none admits a credential twice,
// and every admission is in the store afterwards.
func TestServerLossLosesNoDecision(t *testing.T) {
	c, gates := threeGates(t, venue.Options{Name: "fresh", AttemptTimeout: time.Second, Timeout: 15 * time.Second})
	ctx := context.Background()
	const n = 600
	var failed atomic.Int64
	var admitted sync.Map
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	stopped := make(chan struct{})
	for i := 0; i < n; i++ {
		if i == n/3 {
			go func() { c.Stop(0); close(stopped) }() // gate-0's server: gate-0 stops deciding
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			k := key("loss-" + strconv.Itoa(i))
			// every credential is presented twice, at the two surviving gates
			d1 := gates[1].Decide(ctx, k, "a"+strconv.Itoa(i))
			d2 := gates[2].Decide(ctx, k, "b"+strconv.Itoa(i))
			if d1.Err != nil || d2.Err != nil || d1.Admit == d2.Admit {
				failed.Add(1)
				t.Errorf("credential %d: %+v / %+v", i, d1, d2)
				return
			}
			admitted.Store(k, true)
		}()
	}
	wg.Wait()
	<-stopped
	if failed.Load() != 0 {
		t.Fatalf("%d credentials not decided exactly once", failed.Load())
	}
	count := 0
	admitted.Range(func(k, _ any) bool {
		count++
		if d := gates[2].Decide(ctx, k.(string), "again"); d.Admit || d.Reason != venue.ReasonAntiPassback {
			t.Errorf("after the loss, %s: %+v (its admission was lost)", k, d)
		}
		return true
	})
	if count != n {
		t.Fatalf("%d credentials decided, want %d", count, n)
	}
}

func TestPartitionPolicies(t *testing.T) {
	c := testvenue.Start(t, 1)
	dir := t.TempDir()
	journalPath := filepath.Join(dir, "journal.jsonl")
	o := venue.Options{URLs: c.URLs, Replicas: 1, AttemptTimeout: 100 * time.Millisecond, Timeout: 300 * time.Millisecond}
	deny, staff, journ := o, o, o
	deny.Gate, staff.Gate, journ.Gate = "deny", "staff", "journal"
	staff.OnPartition = venue.PartitionCallStaff
	journ.OnPartition, journ.Journal = venue.PartitionAdmitJournal, journalPath
	gd, gs, gj := connect(t, deny), connect(t, staff), connect(t, journ)
	ctx := context.Background()
	if d := gj.Decide(ctx, key("before"), "x"); !d.Admit || d.Journaled {
		t.Fatalf("with the store up: %+v", d)
	}
	c.Stop(0)
	if d := gd.Decide(ctx, key("p1"), "x"); d.Admit || d.CallStaff || d.Reason != venue.ReasonUnavailable || !errors.Is(d.Err, venue.ErrUnavailable) {
		t.Fatalf("deny policy: %+v", d)
	}
	if d := gs.Decide(ctx, key("p1"), "x"); d.Admit || !d.CallStaff || d.Reason != venue.ReasonUnavailable {
		t.Fatalf("call_staff policy: %+v", d)
	}
	t0 := time.Now()
	if d := gj.Decide(ctx, key("p1"), "x"); !d.Admit || !d.Journaled {
		t.Fatalf("admit_journal policy: %+v", d)
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("a decision took %s with the store down (Timeout 300 ms)", took)
	}
	gj.Decide(ctx, key("p2"), "y")
	data, _ := os.ReadFile(journalPath)
	if strings.Count(string(data), "\n") != 2 || !strings.Contains(string(data), key("p1")) {
		t.Fatalf("journal:\n%s", data)
	}
	// meanwhile another gate admitted p2: a conflict when the store is back
	restarted := testvenue.Restart(t, c, 0)
	_ = restarted
	waitFor(t, "the journal is reconciled", func() bool {
		data, _ := os.ReadFile(journalPath)
		return len(data) == 0
	})
	if d := gd.Decide(ctx, key("p1"), "z"); d.Admit || d.Reason != venue.ReasonAntiPassback {
		t.Fatalf("a journaled admission after reconciliation: %+v", d)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
