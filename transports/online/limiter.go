package online

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/mdocgate/mdocgate/transports/admission"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// slots are the limiters a client's open transaction takes a slot of: all of them or
// none (the verifiers' oid4vp.ClientLimiter).
type slots []*admission.Limiter

func (s slots) Acquire(c netip.Prefix) bool {
	for i, l := range s {
		if !l.Acquire(c) {
			for _, h := range s[:i] {
				h.Release(c)
			}
			return false
		}
	}
	return true
}

func (s slots) Release(c netip.Prefix) {
	for _, l := range s {
		l.Release(c)
	}
}

// full reports whether c would be refused now (counted by the limiter refusing).
func (s slots) full(c netip.Prefix) bool {
	for _, l := range s {
		if l.Full(c) {
			return true
		}
	}
	return false
}

// client is the client a request comes from.
func (s *Server) client(r *http.Request) netip.Prefix {
	return s.cfg.Clients.Prefixes.ClientOf(r.RemoteAddr)
}

// admitBegin says why client may not begin a transaction on lane now (nil: it may):
// checked before any key is made.
func (s *Server) admitBegin(lane string, client netip.Prefix) error {
	switch {
	case s.cfg.Busy != nil && s.cfg.Busy(lane):
		return fmt.Errorf("%w: lane %s is busy", oid4vp.ErrBusy, lane)
	case s.pending.full(client):
		return fmt.Errorf("%w: this client holds its share of open transactions and engagements", oid4vp.ErrBusy)
	case s.cfg.Clients.PendingRate != nil && !s.cfg.Clients.PendingRate.Allow(client, time.Now()):
		return fmt.Errorf("%w: this client begins transactions and engagements faster than its rate", oid4vp.ErrBusy)
	}
	return nil
}

// admitAnswer takes a session slot of the client posting an answer to lane, before
// the answer is read; release gives it back once the answer is answered. It answers
// 503 itself (ok false) when the lane is busy or the client runs its share of sessions.
func (s *Server) admitAnswer(w http.ResponseWriter, r *http.Request, lane string) (release func(), ok bool) {
	if s.cfg.Busy != nil && s.cfg.Busy(lane) {
		s.fail(w, lane, "busy", fmt.Errorf("%w: lane %s is busy; send the answer again", oid4vp.ErrBusy, lane))
		return nil, false
	}
	l := s.cfg.Clients.Sessions
	if l == nil {
		return func() {}, true
	}
	c := s.client(r)
	if !l.Acquire(c) {
		s.fail(w, lane, "busy", fmt.Errorf("%w: this client has its share of sessions under way", oid4vp.ErrBusy))
		return nil, false
	}
	return func() { l.Release(c) }, true
}
