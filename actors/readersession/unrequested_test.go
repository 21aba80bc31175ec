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
// for another request) is rejected even though every signature checks out.
func TestUnrequestedDocumentIsRejected(t *testing.T) {
	p := defaultPKI(t)
	now := time.Now().Truncate(time.Second)
	photo := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{DocType: issuer.DocTypePhotoID,
		Signed: now, ValidFrom: now, ValidUntil: now.Add(24 * time.Hour)})
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{photo}, Misbehave: holdersession.AnswerAnything})
	r := readersession.New(p.readerConfig(false))
	run(t, r, h, messages.QRHandover())
	v := expectVerdict(t, r, readersession.Rejected, readersession.ReasonUnrequestedDoc)
	if v.Result == nil || !v.Result.Valid {
		t.Fatal("the photo ID itself should verify: the rejection is about the request")
	}
	checkVerdictStable(t, r)
}
