package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// startWhole starts a session whose arrival needs no link: a presentation that arrived
// whole over the Internet (transports.Arrival.Online), verified on the crypto pool and
// decided as any other, or a holder the transport refused (Arrival.Refused), rejected at
// once. It reports false for an ordinary arrival.
func (s *sessionActor) startWhole(ctx actor.Context) bool {
	a := s.arrival
	switch {
	case a.Refused != nil:
		s.apply(ctx, s.rs.Fail(readersession.Rejected, a.Refused.Reason, a.Refused.Detail))
	case a.Online != nil && a.Online.Err != nil:
		s.apply(ctx, s.rs.Fail(readersession.Error, a.Online.Reason, a.Online.Err.Error()))
	case a.Online != nil:
		p := a.Online
		s.apply(ctx, s.rs.StartOnline(p.Response, p.Transcript, p.Alternate))
	default:
		return false
	}
	return true
}
