package readersession_test

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

// pki is the test PKI with the fixtures' reader configuration.
type pki struct{ *testpki.PKI }

func newPKI(t testing.TB, curve int64) *pki {
	t.Helper()
	return &pki{testpki.New(t, testpki.Options{Curve: curve})}
}

var (
	defaultPKIOnce sync.Once
	defaultPKIVal  *pki
	otherPKIOnce   sync.Once
	otherPKIVal    *pki
)

// defaultPKI and otherPKI are two unrelated P-256 PKIs shared by the tests.
func defaultPKI(t testing.TB) *pki {
	defaultPKIOnce.Do(func() { defaultPKIVal = newPKI(t, messages.CurveP256) })
	return defaultPKIVal
}

func otherPKI(t testing.TB) *pki {
	otherPKIOnce.Do(func() { otherPKIVal = newPKI(t, messages.CurveP256) })
	return otherPKIVal
}

var requested = []string{"family_name", "given_name", "portrait", "age_over_18", "document_number", "expiry_date"}

func mdlRequest() []request.Doc { return testpki.MDLRequest(requested...) }

// readerConfig is a reader trusting p's IACA, asking for the sample elements.
func (p *pki) readerConfig(withAuth bool) *readersession.Config {
	cfg := &readersession.Config{Request: mdlRequest(), Trust: verify.NewTrustStore(p.IACA.Certificate)}
	if withAuth {
		cfg.ReaderAuth = p.Reader
	}
	return cfg
}

func newHolder(t testing.TB, cfg *holdersession.Config) *holdersession.Session {
	t.Helper()
	h, err := holdersession.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// exchange is the record of two machines driven against each other.
type exchange struct {
	r          *readersession.Session
	h          *holdersession.Session
	readerSent [][]byte
	holderSent [][]byte
	holderLast holdersession.Step // the holder's last step
	readerLast readersession.Step // the reader's last step
	verifyRuns int
	decideRuns int
	// waiting is set when the holder went silent and the reader still waits.
	waiting bool
}

// run engages r with h over handover (nil: QR) and shuttles the messages until the
// reader is done or the holder goes silent. Verification runs inline.
func run(t testing.TB, r *readersession.Session, h *holdersession.Session, handover cbor.RawMessage) *exchange {
	t.Helper()
	if handover == nil {
		handover = messages.QRHandover()
	}
	x := &exchange{r: r, h: h}
	step := r.Start(h.DeviceEngagement(), handover)
	x.drive(t, step)
	return x
}

// drive carries out reader steps from step on.
func (x *exchange) drive(t testing.TB, step readersession.Step) {
	t.Helper()
	for range 20 {
		x.readerLast = step
		if step.Verify != nil {
			if step.Send != nil {
				t.Fatal("a step with both Send and Verify")
			}
			x.verifyRuns++
			step = x.r.Verified(step.Verify.Run())
			continue
		}
		if step.Decide != nil {
			if step.Send != nil || step.Done {
				t.Fatal("a Decide step that also sends or ends")
			}
			x.decideRuns++
			step = x.r.Decided(step.Decide.Run())
			continue
		}
		if step.Send == nil {
			if !step.Done {
				t.Fatal("reader step with nothing to do and not done")
			}
			return
		}
		x.readerSent = append(x.readerSent, step.Send)
		hs := x.h.Receive(step.Send)
		x.holderLast = hs
		if step.Done {
			return
		}
		if hs.Send == nil {
			x.waiting = true
			return
		}
		x.holderSent = append(x.holderSent, hs.Send)
		step = x.r.Receive(hs.Send)
	}
	t.Fatal("exchange did not finish in 20 steps")
}

func verdict(t testing.TB, r *readersession.Session) *readersession.Verdict {
	t.Helper()
	v, ok := r.Verdict()
	if !ok || v == nil {
		t.Fatal("no verdict")
	}
	return v
}

func expectVerdict(t testing.TB, r *readersession.Session, outcome readersession.Outcome, reason string) *readersession.Verdict {
	t.Helper()
	v := verdict(t, r)
	if v.Outcome != outcome || v.Reason != reason {
		t.Fatalf("verdict %s (%s): %s; want %s (%s)", v.Outcome, v.Reason, v.Detail, outcome, reason)
	}
	checkVerdictStable(t, r)
	return v
}

// checkVerdictStable pokes a finished session with every entry point and checks the
// verdict stays the very same value and no further message is produced.
func checkVerdictStable(t testing.TB, r *readersession.Session) {
	t.Helper()
	v := verdict(t, r)
	snapshot := *v
	var result verify.Result
	if v.Result != nil {
		result = *v.Result
	}
	pokes := []func() readersession.Step{
		func() readersession.Step { return r.Fail(readersession.Timeout, "inactivity", "late timer") },
		func() readersession.Step { return r.Receive([]byte{0xa0}) },
		func() readersession.Step { return r.Receive(statusMsg(t, messages.StatusSessionTermination)) },
		func() readersession.Step {
			return r.Verified(readersession.Verification{Result: &verify.Result{Valid: true}})
		},
		func() readersession.Step { return r.Verified(readersession.Verification{}) },
		func() readersession.Step { return r.Decided(readersession.Decision{Outcome: readersession.Accepted}) },
		func() readersession.Step { return r.Start([]byte{0xf6}, messages.QRHandover()) },
		func() readersession.Step { return r.Fail(readersession.Error, "link", "broken") },
	}
	for i, poke := range pokes {
		st := poke()
		if !st.Done || st.Send != nil || st.Verify != nil || st.Decide != nil {
			t.Fatalf("poke %d after the verdict gave %+v", i, st)
		}
		after, ok := r.Verdict()
		if !ok || after != v {
			t.Fatalf("poke %d replaced the verdict pointer", i)
		}
		if !reflect.DeepEqual(*after, snapshot) {
			t.Fatalf("poke %d changed the verdict: %+v -> %+v", i, snapshot, *after)
		}
		if v.Result != nil && !reflect.DeepEqual(*v.Result, result) {
			t.Fatalf("poke %d changed the verification result", i)
		}
	}
}

func statusMsg(t testing.TB, code uint64) []byte {
	t.Helper()
	b, err := messages.Marshal(messages.NewSessionStatus(code))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectStatus checks msg is a SessionData with only the given status.
func expectStatus(t testing.TB, msg []byte, code uint64) {
	t.Helper()
	sd, err := messages.DecodeSessionData(msg)
	if err != nil {
		t.Fatalf("not a SessionData: %v", err)
	}
	if sd.Data != nil || sd.Status == nil || *sd.Status != code {
		st := "none"
		if sd.Status != nil {
			st = fmt.Sprint(*sd.Status)
		}
		t.Fatalf("SessionData with data %x and status %s, want status %d only", sd.Data, st, code)
	}
}

func last(msgs [][]byte) []byte {
	if len(msgs) == 0 {
		return nil
	}
	return msgs[len(msgs)-1]
}

// expectDisclosed checks the accepted verdict holds exactly the requested elements.
func expectDisclosed(t testing.TB, v *readersession.Verdict) {
	t.Helper()
	if v.Result == nil || len(v.Result.Documents) != 1 {
		t.Fatalf("result %+v", v.Result)
	}
	d := v.Result.Documents[0]
	if d.DocType != issuer.DocTypeMDL || len(d.Elements) != 1 {
		t.Fatalf("document %s with name spaces %v", d.DocType, d.Elements)
	}
	var got []string
	for id := range d.Elements[issuer.NamespaceMDL] {
		got = append(got, id)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(requested))
	if !slices.Equal(got, want) {
		t.Fatalf("disclosed %v, want %v", got, want)
	}
	if fn, _ := d.Elements[issuer.NamespaceMDL]["family_name"].(string); fn == "" {
		t.Fatalf("family_name %v", d.Elements[issuer.NamespaceMDL]["family_name"])
	}
	if !bytes.Equal(d.RawElements[issuer.NamespaceMDL]["age_over_18"], []byte{0xf5}) {
		t.Fatalf("age_over_18 %x", d.RawElements[issuer.NamespaceMDL]["age_over_18"])
	}
}

// fixedNow is a clock for tests that care about time.
func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }
