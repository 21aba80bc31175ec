package holdersession_test

import (
	"testing"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

func reverseEngagement(t *testing.T) (*keys.PrivateKey, []byte) {
	t.Helper()
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	re, _ := messages.NewEngagement(k.COSEKey(), messages.NewHTTPMethod("https://gate.example/session/1"))
	re.Version = "1.1"
	b, err := messages.Marshal(re)
	if err != nil {
		t.Fatal(err)
	}
	return k, b
}

// drive runs a reader session against a holder session to the reader's verdict.
func drive(t *testing.T, r *readersession.Session, h *holdersession.Session, step readersession.Step) *readersession.Verdict {
	t.Helper()
	for range 10 {
		if step.Verify != nil {
			step = r.Verified(step.Verify.Run())
			continue
		}
		if step.Send != nil {
			hs := h.Receive(step.Send)
			if step.Done {
				break
			}
			if hs.Send == nil {
				t.Fatalf("holder silent: %v", hs.Err)
			}
			step = r.Receive(hs.Send)
			continue
		}
		break
	}
	v, ok := r.Verdict()
	if !ok {
		t.Fatal("no verdict")
	}
	return v
}

func TestReverse(t *testing.T) {
	f := newFixture(t)
	cred := f.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	rc := &readersession.Config{Trust: verify.NewTrustStore(f.IACA.Certificate), Request: testpki.MDLRequest("family_name")}
	hc := &holdersession.Config{Credentials: []*issuer.Credential{cred}}

	// NewReverse: the DeviceEngagement is 1.1 with the origin, the first message MessageData
	key, re := reverseEngagement(t)
	h, err := holdersession.NewReverse(hc, re, "https://gate.example")
	if err != nil {
		t.Fatal(err)
	}
	de, err := messages.DecodeEngagement(h.DeviceEngagement())
	if err != nil || de.Version != "1.1" || len(de.OriginInfos) != 1 {
		t.Fatalf("engagement %+v %v", de, err)
	}
	if d, _ := de.OriginInfos[0].Domain(); d != "https://gate.example" {
		t.Fatalf("origin %q", d)
	}
	var md messages.MessageData
	if err := messages.Unmarshal(h.FirstMessage(), &md); err != nil || string(md.DeviceEngagementBytes.Content()) != string(h.DeviceEngagement()) {
		t.Fatalf("MessageData: %v", err)
	}
	r := readersession.New(rc)
	if v := drive(t, r, h, r.StartReverse(key, re, h.DeviceEngagement())); v.Outcome != readersession.Accepted {
		t.Fatalf("NewReverse: %s (%s) %s", v.Outcome, v.Reason, v.Detail)
	}

	// BindReverse: a forward-built session answering a reverse engagement
	key, re = reverseEngagement(t)
	h2, err := holdersession.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.BindReverse(re); err != nil {
		t.Fatal(err)
	}
	r = readersession.New(rc)
	if v := drive(t, r, h2, r.StartReverse(key, re, h2.DeviceEngagement())); v.Outcome != readersession.Accepted {
		t.Fatalf("BindReverse: %s (%s) %s", v.Outcome, v.Reason, v.Detail)
	}
	// a session binds once, before its keys exist, and to a reader engagement
	if err := h2.BindReverse(re); err == nil {
		t.Fatal("bound twice")
	}
	h3, _ := holdersession.New(hc)
	for _, bad := range [][]byte{nil, {0xa0}} {
		if err := h3.BindReverse(bad); err == nil {
			t.Fatalf("bound to reader engagement %x", bad)
		}
	}
	// bad reader engagements
	if _, err := holdersession.NewReverse(hc, []byte{0xa0}, ""); err == nil {
		t.Fatal("bad reader engagement accepted")
	}
}
