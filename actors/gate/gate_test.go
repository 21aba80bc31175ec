package gate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

type recorder struct {
	mu       sync.Mutex
	actions  []string
	failOpen bool
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.actions = append(r.actions, s)
	r.mu.Unlock()
}
func (r *recorder) Open(_ context.Context, lane, session string) error {
	r.add("open " + lane + " " + session)
	if r.failOpen {
		return errors.New("barrier jammed")
	}
	return nil
}
func (r *recorder) Deny(_ context.Context, lane, session, reason string) error {
	r.add("deny " + reason)
	return nil
}
func (r *recorder) CallStaff(_ context.Context, lane, session, reason string) error {
	r.add("staff " + reason)
	return nil
}

var captured = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// present issues an mDL (age_over_18 as given, with portrait_capture_date), presents it
// to the profile's request and verifies it.
func present(t *testing.T, p *profile.Profile, ageOver18 bool) profile.Input {
	in, _ := presentWithTrust(t, p, ageOver18)
	return in
}

func presentWithTrust(t *testing.T, p *profile.Profile, ageOver18 bool) (profile.Input, *verify.TrustStore) {
	t.Helper()
	pki := testpki.New(t, testpki.Options{})
	nss := issuer.SampleMDL(nil)
	for i, e := range nss[0].Elements {
		if e.Identifier == "age_over_18" {
			nss[0].Elements[i].Value = ageOver18
		}
	}
	nss[0].Elements = append(nss[0].Elements, issuer.Element{Identifier: "portrait_capture_date", Value: messages.NewTDate(captured)})
	cred := pki.Issue(t, issuer.IssueRequest{NameSpaces: nss})
	st := messages.NewProximityTranscript(messages.NewEncodedCBOR([]byte{0xa0}), messages.NewEncodedCBOR([]byte{0xa0}), messages.QRHandover())
	req, err := request.Build(p.Request(), nil, st)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&holder.Presenter{Credentials: []*issuer.Credential{cred}}).BuildResponse(req, st, holder.PresentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	trust := verify.NewTrustStore(pki.IACA.Certificate)
	res := verify.VerifyDecodedResponse(resp, verify.Options{Trust: trust, Transcript: &st, Now: now})
	return profile.Input{Result: res, Response: resp, Now: now}, trust
}

func TestPipeline(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		age     bool
		matcher Matcher
		timeout time.Duration
		action  Action
		reason  string
		log     string
	}{
		{"match opens", true, &TestMatcher{Verdict: Match}, 0, ActionOpen, "", "open L1 S1"},
		{"no match denies", true, &TestMatcher{Verdict: NoMatch}, 0, ActionDeny, ReasonNoMatch, "deny " + ReasonNoMatch},
		{"undecided calls staff", true, &TestMatcher{Verdict: Undecided}, 0, ActionCallStaff, ReasonUndecided, "staff " + ReasonUndecided},
		{"matcher error calls staff", true, &TestMatcher{Err: errors.New("camera offline")}, 0, ActionCallStaff, ReasonMatchError, "staff " + ReasonMatchError},
		{"matcher timeout calls staff", true, &TestMatcher{Delay: time.Second}, 20 * time.Millisecond, ActionCallStaff, ReasonUndecided, "staff " + ReasonUndecided},
		{"no matcher calls staff", true, nil, 0, ActionCallStaff, ReasonNoMatcher, "staff " + ReasonNoMatcher},
		{"rule false denies", false, &TestMatcher{}, 0, ActionDeny, profile.CheckRule, "deny " + profile.CheckRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profile.AgeOver18()
			rec := &recorder{}
			g := &Gate{Profile: p, Matcher: tc.matcher, Actuator: rec, MatchTimeout: tc.timeout}
			v := g.Process(ctx, "L1", "S1", present(t, p, tc.age))
			if v.Action != tc.action || v.Reason != tc.reason {
				t.Fatalf("verdict %+v", v)
			}
			if len(rec.actions) != 1 || rec.actions[0] != tc.log {
				t.Fatalf("actuator got %v", rec.actions)
			}
			if v.Opened() != (tc.action == ActionOpen) {
				t.Fatal("Opened disagrees with the action")
			}
			if tm, ok := tc.matcher.(*TestMatcher); ok {
				if !tc.age {
					if tm.Calls() != 0 {
						t.Fatal("matcher called for a rejected document")
					}
					return
				}
				last := tm.Last()
				if last == nil || last.MediaType != "image/jpeg" || string(last.Image) != string(issuer.SamplePortrait()) ||
					last.CaptureDate == nil || !last.CaptureDate.Equal(captured) || last.LaneID != "L1" || last.DocType != issuer.DocTypeMDL {
					t.Fatalf("portrait %+v", last)
				}
				if v.Match == nil {
					t.Fatal("match result missing from the verdict")
				}
			}
		})
	}
}

func TestProfileWithoutHolderVerificationOpens(t *testing.T) {
	p := profile.MDL()
	m := &TestMatcher{}
	rec := &recorder{}
	v := (&Gate{Profile: p, Matcher: m, Actuator: rec}).Process(context.Background(), "L", "S", present(t, p, true))
	if v.Action != ActionOpen || m.Calls() != 0 || v.Match != nil {
		t.Fatalf("%+v calls %d", v, m.Calls())
	}
}

func TestActuatorFailureCallsStaff(t *testing.T) {
	p := profile.MDL()
	rec := &recorder{failOpen: true}
	v := (&Gate{Profile: p, Actuator: rec}).Process(context.Background(), "L", "S", present(t, p, true))
	if v.Action != ActionCallStaff || v.Reason != ReasonActuator || !strings.Contains(v.ActionError, "barrier jammed") || v.Opened() {
		t.Fatalf("%+v", v)
	}
	if strings.Join(rec.actions, ",") != "open L S,staff "+ReasonActuator {
		t.Fatalf("%v", rec.actions)
	}
}

func TestOperatorMatcher(t *testing.T) {
	p := profile.AgeOver18()
	in := present(t, p, true)
	om := NewOperatorMatcher(1, time.Second)
	go func() {
		r := <-om.Requests
		if len(r.Portrait.Image) == 0 || r.Deadline.IsZero() {
			r.Answer(false, "bad request")
			return
		}
		r.Answer(true, "operator-7")
		r.Answer(false, "ignored") // only the first answer counts
	}()
	v := (&Gate{Profile: p, Matcher: om}).Process(context.Background(), "L", "S", in)
	if v.Action != ActionOpen || v.Match == nil || v.Match.By != "operator-7" {
		t.Fatalf("%+v", v)
	}

	// nobody reads the requests
	om = &OperatorMatcher{Requests: make(chan *OperatorRequest), Timeout: 20 * time.Millisecond}
	if _, err := om.Match(context.Background(), Portrait{}); !errors.Is(err, ErrNoOperator) {
		t.Fatalf("no operator: %v", err)
	}
	// the request is taken but never answered; a late answer does not block
	om = NewOperatorMatcher(1, 20*time.Millisecond)
	res, err := om.Match(context.Background(), Portrait{})
	if !errors.Is(err, ErrOperatorTimeout) || res.Verdict != Undecided {
		t.Fatalf("timeout: %+v %v", res, err)
	}
	(<-om.Requests).Answer(true, "late")
	v = (&Gate{Profile: p, Matcher: om}).Process(context.Background(), "L", "S", in)
	if v.Action != ActionCallStaff || v.Reason != ReasonUndecided {
		t.Fatalf("%+v", v)
	}
}

func TestLogActuator(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a := LogActuator{Log: zap.New(core)}
	ctx := context.Background()
	a.Open(ctx, "L", "S")
	a.Deny(ctx, "L", "S", "profile.rule")
	a.CallStaff(ctx, "L", "S", ReasonUndecided)
	entries := logs.All()
	if len(entries) != 3 {
		t.Fatalf("%d entries", len(entries))
	}
	if f := entries[1].ContextMap(); f["action"] != "deny" || f["reason"] != "profile.rule" || f["lane"] != "L" || f["session"] != "S" {
		t.Fatalf("fields %v", f)
	}
	if err := (LogActuator{}).Open(ctx, "L", "S"); err != nil {
		t.Fatal(err)
	}
}

func TestSessionDecider(t *testing.T) {
	p := profile.MDL()
	in, trust := presentWithTrust(t, p, true)
	st := messages.NewProximityTranscript(messages.NewEncodedCBOR([]byte{0xa0}), messages.NewEncodedCBOR([]byte{0xa0}), messages.QRHandover())
	sd := &SessionDecider{Profile: p}
	// empty trust store: verification fails and the verify check is the reason
	v := sd.Run(&readersession.VerifyJob{Response: in.Response, Options: verify.Options{Trust: verify.NewTrustStore(), Transcript: &st, Now: in.Now}})
	if out := sd.Decide(v); out.Outcome != readersession.Rejected || out.Reason != verify.CheckIssuerAuthChain {
		t.Fatalf("%s %s", out.Outcome, out.Reason)
	}
	// the decision made in Run had the MSO evidence
	v = sd.Run(&readersession.VerifyJob{Response: in.Response, Options: verify.Options{Trust: trust, Transcript: &st, Now: in.Now}})
	out := sd.Decide(v)
	if out.Outcome != readersession.Accepted {
		t.Fatalf("%s %s", out.Outcome, out.Reason)
	}
	d, ok := sd.Decision(v)
	if !ok || d.Outcome != profile.Accept {
		t.Fatalf("%+v", d)
	}
	// the decision travels on into the verdict
	if carried, ok := out.Note.(profile.Decision); !ok || carried.Outcome != profile.Accept || carried.Document != d.Document {
		t.Fatalf("note %+v", out.Note)
	}
	// a result without Run's decision has none
	bare := readersession.Verification{Result: v.Result}
	if _, ok := sd.Decision(bare); ok {
		t.Fatal("a decision without Run")
	}
	// without Run's evidence the MSO checks fail closed
	if out := sd.Decide(bare); out.Outcome != readersession.Rejected || out.Reason != profile.CheckEvidence {
		t.Fatalf("%s %s", out.Outcome, out.Reason)
	}
	gv := (&Gate{Profile: p}).ProcessDecision(context.Background(), "L", "S", v.Result, d)
	if gv.Action != ActionOpen {
		t.Fatalf("%+v", gv)
	}
}

func TestLogActuatorContextFields(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a := LogActuator{Log: zap.New(core)}
	ctx := WithLogFields(context.Background(), zap.String("bearer", "nfc"))
	ctx2 := WithLogFields(ctx, zap.String("outcome", "rejected"))
	a.Deny(ctx2, "L", "S", ReasonNoMatch)
	a.Open(ctx, "L", "S2")
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	if f := entries[0].ContextMap(); f["bearer"] != "nfc" || f["outcome"] != "rejected" || f["reason"] != ReasonNoMatch || f["action"] != "deny" {
		t.Fatalf("fields %v", f)
	}
	if f := entries[1].ContextMap(); f["bearer"] != "nfc" || f["outcome"] != nil || f["session"] != "S2" {
		t.Fatalf("fields %v (the parent context must not see the child's fields)", f)
	}
}

// A decision made without an actuator (while the session was open) is carried out later
// by Actuate, with the same fallback as Process.
func TestActuateLater(t *testing.T) {
	p := profile.AgeOver18()
	in := present(t, p, true)
	g := &Gate{Profile: p, Matcher: &TestMatcher{Verdict: NoMatch}}
	v := g.ProcessDecision(context.Background(), "L", "", in.Result, p.Evaluate(in))
	if v.Action != ActionDeny || v.Reason != ReasonNoMatch || v.Match == nil || v.Match.Verdict != NoMatch {
		t.Fatalf("%+v", v)
	}
	rec := &recorder{}
	(&Gate{Actuator: rec}).Actuate(context.Background(), "L", "S9", &v)
	if strings.Join(rec.actions, ",") != "deny "+ReasonNoMatch {
		t.Fatalf("%v", rec.actions)
	}
	open := Verdict{Action: ActionOpen}
	rec = &recorder{failOpen: true}
	(&Gate{Actuator: rec}).Actuate(context.Background(), "L", "S9", &open)
	if open.Action != ActionCallStaff || open.Reason != ReasonActuator || strings.Join(rec.actions, ",") != "open L S9,staff "+ReasonActuator {
		t.Fatalf("%+v %v", open, rec.actions)
	}
}
