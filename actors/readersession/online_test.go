package readersession_test

import (
	"testing"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// onlineResponse is a wallet's DeviceResponse to the mDL request, signed over tr.
func onlineResponse(t *testing.T, cred *issuer.Credential, tr messages.SessionTranscript) *messages.DeviceResponse {
	t.Helper()
	dreq, err := request.Build(mdlRequest(), nil, tr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&holder.Presenter{Credentials: []*issuer.Credential{cred}}).Present(dreq, tr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// verifyStep runs the step's job as a crypto worker would and hands back its answer.
func verifyStep(t *testing.T, r *readersession.Session, st readersession.Step) readersession.Step {
	t.Helper()
	if st.Verify == nil || st.Send != nil || st.Done {
		t.Fatalf("step %+v, want a verification job only", st)
	}
	return r.Verified(st.Verify.Run())
}

// An online presentation goes straight to verification under the transcript the
// reader rebuilt, then to the verdict; no message is sent before the termination.
func TestStartOnline(t *testing.T) {
	p := defaultPKI(t)
	cred := p.Issue(t, issuer.IssueRequest{})
	tr := messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover("https://gate.example", "nonce-0123456789", nil)}
	other := messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover("https://evil.example", "nonce-0123456789", nil)}

	r := readersession.New(p.readerConfig(false))
	verifyStep(t, r, r.StartOnline(onlineResponse(t, cred, tr), tr, nil))
	v := expectVerdict(t, r, readersession.Accepted, "")
	expectDisclosed(t, v)

	// bound to another transcript: mdoc authentication fails
	r = readersession.New(p.readerConfig(false))
	verifyStep(t, r, r.StartOnline(onlineResponse(t, cred, other), tr, nil))
	expectVerdict(t, r, readersession.Rejected, verify.CheckDeviceSignature)

	// ... unless that transcript is the alternate one
	r = readersession.New(p.readerConfig(false))
	verifyStep(t, r, r.StartOnline(onlineResponse(t, cred, other), tr, &other))
	expectVerdict(t, r, readersession.Accepted, "")

	// the alternate does not rescue anything but mdoc authentication
	untrusted := otherPKI(t).Issue(t, issuer.IssueRequest{})
	r = readersession.New(p.readerConfig(false))
	verifyStep(t, r, r.StartOnline(onlineResponse(t, untrusted, other), tr, &other))
	expectVerdict(t, r, readersession.Rejected, verify.CheckIssuerAuthChain)

	// no response, or started twice
	r = readersession.New(p.readerConfig(false))
	if st := r.StartOnline(nil, tr, nil); !st.Done {
		t.Fatal("nil response")
	}
	expectVerdict(t, r, readersession.Error, readersession.ReasonResponseDecoding)
	r = readersession.New(p.readerConfig(false))
	r.StartOnline(onlineResponse(t, cred, tr), tr, nil)
	if st := r.StartOnline(onlineResponse(t, cred, tr), tr, nil); !st.Done {
		t.Fatal("second start")
	}
	expectVerdict(t, r, readersession.Error, readersession.ReasonProtocol)
}
