package readersession_test

import (
	"testing"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Config.Verify runs in place of the plain verification and sees the DeviceResponse;
// what it concludes reaches Decide (how a profile that checks the MSO plugs in).
func TestConfigVerifyHookSeesTheResponse(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	seen := map[*verify.Result]string{}
	cfg := p.readerConfig(false)
	cfg.Verify = func(job *readersession.VerifyJob) *verify.Result {
		res := job.Verify()
		seen[res] = job.Response.Documents[0].DocType
		return res
	}
	cfg.Decide = func(res *verify.Result) (readersession.Outcome, string) {
		if seen[res] != issuer.DocTypeMDL {
			return readersession.Rejected, "hook_not_run"
		}
		return readersession.Rejected, "decided_by_hook"
	}
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
	r := readersession.New(cfg)
	run(t, r, h, messages.QRHandover())
	expectVerdict(t, r, readersession.Rejected, "decided_by_hook")
}
