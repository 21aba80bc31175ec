package readersession_test

import (
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
)

// A holder that answers an mDL request with another valid document (a response meant
// for another request) is rejected, before any of its signatures is verified.
func TestUnrequestedDocumentIsRejected(t *testing.T) {
	p := defaultPKI(t)
	now := time.Now().Truncate(time.Second)
	photo := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{DocType: issuer.DocTypePhotoID,
		Signed: now, ValidFrom: now, ValidUntil: now.Add(24 * time.Hour)})
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{photo}, Misbehave: holdersession.AnswerAnything})
	r := readersession.New(p.readerConfig(false))
	run(t, r, h, messages.QRHandover())
	v := expectVerdict(t, r, readersession.Rejected, readersession.ReasonUnrequestedDoc)
	if v.Result == nil || v.Result.Valid || len(v.Result.Documents) != 0 || v.Result.CryptoCost != 0 {
		t.Fatalf("the response must be refused before any document is verified: %+v", v.Result)
	}
	checkVerdictStable(t, r)
}

// Issue 14: a response holding one valid, requested document 100 times was accepted
// after verifying every copy. It is refused before any signature is verified.
func TestRepeatedDocumentIsRejected(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}, Misbehave: holdersession.RepeatDocument})
	r := readersession.New(p.readerConfig(false))
	run(t, r, h, messages.QRHandover())
	v := expectVerdict(t, r, readersession.Rejected, readersession.ReasonRepeatedDocType)
	if v.Result == nil || len(v.Result.Documents) != 0 || v.Result.CryptoCost != 0 {
		t.Fatalf("documents verified before the refusal: %+v", v.Result)
	}
	checkVerdictStable(t, r)
}

// Issue 15: past the session's crypto budget verification stops and the session ends
// with an error verdict. A P-521 device key costs 36 P-256 verifications.
func TestCryptoBudgetEndsTheSession(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, messages.CurveP521, issuer.IssueRequest{})
	for _, tc := range []struct {
		budget  int
		outcome readersession.Outcome
		reason  string
	}{
		{10, readersession.Error, readersession.ReasonCryptoBudget},
		{0, readersession.Accepted, ""}, // the default covers any one legitimate document
	} {
		cfg := p.readerConfig(false)
		cfg.CryptoBudget = tc.budget
		r := readersession.New(cfg)
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), messages.QRHandover())
		v := expectVerdict(t, r, tc.outcome, tc.reason)
		if tc.budget > 0 && (v.Result == nil || v.Result.CryptoCost > tc.budget) {
			t.Fatalf("budget %d: spent %+v", tc.budget, v.Result)
		}
		checkVerdictStable(t, r)
	}
}
