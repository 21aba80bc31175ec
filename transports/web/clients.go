package web

import "github.com/mdocgate/mdocgate/transports/admission"

// Clients is the server's per-client accounting (Config's per-client limits), for the
// other services on its listener to count their clients in the same shares (Handle).
func (s *Server) Clients() admission.Clients {
	return admission.Clients{Prefixes: s.cfg.Prefixes, Pending: s.engagements, PendingRate: s.engageRate, Sessions: s.sessionsPC, QR: s.qrRate}
}
