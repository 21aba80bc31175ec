package readersession_test

import (
	"testing"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
)

// Config.Verify runs in place of the plain verification and sees the DeviceResponse;
// what it concludes reaches Decide with the result (how a profile that checks the MSO
// plugs in), and what Decide concludes reaches the verdict.
func TestConfigVerifyHookSeesTheResponse(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	cfg := p.readerConfig(false)
	cfg.Verify = func(job *readersession.VerifyJob) readersession.Verification {
		return readersession.Verification{Result: job.Verify(), Note: job.Response.Documents[0].DocType}
	}
	cfg.Decide = func(v readersession.Verification) readersession.Decision {
		if v.Note != issuer.DocTypeMDL || v.Result == nil {
			return readersession.Decision{Outcome: readersession.Rejected, Reason: "hook_not_run"}
		}
		return readersession.Decision{Outcome: readersession.Rejected, Reason: "decided_by_hook", Note: "gate verdict"}
	}
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
	r := readersession.New(cfg)
	run(t, r, h, messages.QRHandover())
	if v := expectVerdict(t, r, readersession.Rejected, "decided_by_hook"); v.Note != "gate verdict" {
		t.Fatalf("the decision's note did not reach the verdict: %v", v.Note)
	}
}
