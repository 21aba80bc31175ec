package readersession

import (
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// StartOnline begins a session on a presentation that arrived whole over the Internet
// (OpenID4VP, the Digital Credentials API): resp was sent bound to transcript, which the
// reader rebuilt itself. No session keys, no messages: the session goes straight to
// verification (the step's VerifyJob), then to its decision and verdict like any
// other. alternate, when not nil, is a transcript also accepted when mdoc
// authentication alone fails under transcript (older wallets' handover, where a lane
// allows it).
func (s *Session) StartOnline(resp *messages.DeviceResponse, transcript messages.SessionTranscript, alternate *messages.SessionTranscript) Step {
	if s.state != stateNew {
		return s.end(Verdict{Outcome: Error, Reason: ReasonProtocol, Detail: "StartOnline on a session already started"})
	}
	if resp == nil {
		return s.end(Verdict{Outcome: Error, Reason: ReasonResponseDecoding, Detail: "no DeviceResponse"})
	}
	s.transcript = transcript
	s.state = stateVerifying
	return Step{Verify: &VerifyJob{Response: resp, Options: s.verifyOptions(), run: s.cfg.Verify, alternate: alternate}}
}

// verifyAlternate verifies the job's response under its alternate transcript when mdoc
// authentication alone failed under the first, and returns the valid result, if any.
func (j *VerifyJob) verifyAlternate(res *verify.Result) *verify.Result {
	if j.alternate == nil || !res.FailedOnly(verify.CheckDeviceSignature) {
		return res
	}
	o := j.Options
	o.Transcript = j.alternate
	if alt := verify.VerifyDecodedResponse(j.Response, o); alt.Valid {
		return alt
	}
	return res
}
