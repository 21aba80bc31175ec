package daemon

import (
	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

// sessionAction is the gate action of a session verdict the lane's decision did not
// make (the session ended before a decision, or against it): only what needs a person
// calls staff. A silent or vanished holder is nobody at the gate; a holder whose phone
// sent something wrong is told no; a fault of the gate itself calls staff.
//
//	accepted                                        open
//	rejected                                        deny
//	timeout (engagement_timeout, inactivity_timeout) none
//	error, the holder went away: link_closed, terminated_by_holder; shutdown  none
//	error, the gate failed: internal, crypto_worker, decision, session_lost,
//	  link (a bearer fault other than the holder leaving)                      call_staff
//	error, anything else (what the holder sent: engagement, session_encryption,
//	  cbor_decoding, response_decoding, peer_status, protocol, link_framing,
//	  message_too_large; crypto_busy; reasons added later)                     deny
//
// Profile decisions keep their own action (a holder verification nobody answered
// calls staff: holder_verification.undecided).
func sessionAction(outcome readersession.Outcome, reason string) gate.Action {
	switch outcome {
	case readersession.Accepted:
		return gate.ActionOpen
	case readersession.Rejected:
		return gate.ActionDeny
	case readersession.Timeout:
		return gate.ActionNone
	}
	switch reason {
	case actors.ReasonLinkClosed, readersession.ReasonPeerTerminated, "shutdown":
		return gate.ActionNone
	case readersession.ReasonInternal, "crypto_worker", "decision", "session_lost", actors.ReasonLink:
		return gate.ActionCallStaff
	}
	return gate.ActionDeny
}
