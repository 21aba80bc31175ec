package gate

import (
	"context"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/verify"
)

// maxPending bounds the decisions SessionDecider keeps for sessions that never came back.
const maxPending = 4096

// SessionDecider plugs a profile into readersession: use Run as Config.Verify (it runs
// on the crypto worker) and Decide as Config.Decide. Run evaluates the
// profile with the DeviceResponse at hand (MSO freshness, device auth, status) and
// remembers the decision for Decide and for Decision. It is safe for concurrent use.
type SessionDecider struct {
	Profile *profile.Profile
	Status  profile.StatusChecker
	// StatusTimeout bounds the status list lookup inside Run (default 5 s).
	StatusTimeout time.Duration

	mu      sync.Mutex
	pending map[*verify.Result]profile.Decision
	order   []*verify.Result
}

// Run performs the verification job and the profile decision.
func (s *SessionDecider) Run(job *readersession.VerifyJob) *verify.Result {
	res := job.Verify()
	timeout := s.StatusTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := s.Profile.Evaluate(profile.Input{Result: res, Response: job.Response, Now: job.Options.Now, Status: s.Status, Context: ctx})
	s.mu.Lock()
	if s.pending == nil {
		s.pending = map[*verify.Result]profile.Decision{}
	}
	if len(s.order) >= maxPending {
		delete(s.pending, s.order[0])
		s.order = s.order[1:]
	}
	s.pending[res] = d
	s.order = append(s.order, res)
	s.mu.Unlock()
	return res
}

func (s *SessionDecider) lookup(res *verify.Result, remove bool) (profile.Decision, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.pending[res]
	if ok && remove {
		delete(s.pending, res)
		for i, r := range s.order {
			if r == res {
				s.order = append(s.order[:i], s.order[i+1:]...)
				break
			}
		}
	}
	return d, ok
}

// Decide is readersession.Config.Decide. For a result Run did not produce it evaluates
// without the response, so MSO-based checks the profile asks for fail closed.
func (s *SessionDecider) Decide(res *verify.Result) (readersession.Outcome, string) {
	d, ok := s.lookup(res, false)
	if !ok {
		d = s.Profile.Decide(res, time.Now())
	}
	if d.Outcome == profile.Accept {
		return readersession.Accepted, ""
	}
	return readersession.Rejected, d.Reason
}

// Decision returns (and forgets) the decision Run made for res, for
// Gate.ProcessDecision once the session has its verdict.
func (s *SessionDecider) Decision(res *verify.Result) (profile.Decision, bool) {
	return s.lookup(res, true)
}
