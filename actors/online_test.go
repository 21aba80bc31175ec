package actors

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// Arrivals without a link: a presentation that arrived whole is verified on the crypto
// pool and ends in its verdict, a refused holder ends in a rejection at once; both
// under the id the transport gave them, with nothing to write to.
func TestWholeArrivals(t *testing.T) {
	env, system := testEnv(t)
	env.Log, env.Admission = zap.NewNop(), NewAdmission(0)
	env.Pool = system.Root.Spawn(CryptoPoolProps(env, PoolConfig{Workers: 1}))
	verdicts := make(chan *SessionVerdict, 4)
	env.Results.Subscribe(func(v *SessionVerdict) { verdicts <- v })
	pki := testpki.New(t, testpki.Options{})
	cred := pki.Issue(t, issuer.IssueRequest{})
	docs := testpki.MDLRequest("family_name", "age_over_18")
	l := &arrivals{ch: make(chan *transports.Arrival, 4), closed: make(chan struct{})}
	reader := &readersession.Config{Request: docs, Trust: verify.NewTrustStore(pki.IACA.Certificate)}
	lane := system.Root.Spawn(LaneProps(env, &LaneConfig{Name: "online", Listener: l,
		Sessions: SessionSettings{Reader: reader, EngagementTimeout: time.Minute, InactivityTimeout: time.Minute}}))
	defer func() { _ = system.Root.StopFuture(lane).Wait() }()

	tr := messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover("https://gate.example", "nonce-0123456789", nil)}
	dreq, err := request.Build(docs, nil, tr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&holder.Presenter{Credentials: []*issuer.Credential{cred}}).Present(dreq, tr)
	if err != nil {
		t.Fatal(err)
	}
	l.ch <- &transports.Arrival{ID: "tx-accepted", Bearer: "dcapi", Online: &transports.Presentation{Response: resp, Transcript: tr}}
	l.ch <- &transports.Arrival{ID: "tx-unreadable", Bearer: "dcapi",
		Online: &transports.Presentation{Err: errors.New("HPKE: cannot open"), Reason: "response_decryption"}}
	l.ch <- &transports.Arrival{ID: "engagement-1", Bearer: "http", Refused: &transports.Refusal{Reason: "origin", Detail: "OriginInfo names https://evil.example"}}
	want := map[string][2]string{
		"tx-accepted":   {string(readersession.Accepted), ""},
		"tx-unreadable": {string(readersession.Error), "response_decryption"},
		"engagement-1":  {string(readersession.Rejected), "origin"},
	}
	for range want {
		select {
		case v := <-verdicts:
			w, ok := want[v.SessionID]
			if !ok || string(v.Outcome) != w[0] || v.Reason != w[1] {
				t.Fatalf("verdict %s: %s (%s) %s", v.SessionID, v.Outcome, v.Reason, v.Detail)
			}
			if v.SessionID == "tx-accepted" && (v.Result == nil || !v.Result.Valid) {
				t.Fatalf("accepted without a valid result")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a verdict is missing")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for env.Counters.InFlight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still in flight", env.Counters.InFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}
