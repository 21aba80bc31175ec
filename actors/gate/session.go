package gate

import (
	"context"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/profile"
)

// SessionDecider plugs a profile into readersession: use Run as Config.Verify (it runs
// on the crypto worker) and Decide as Config.Decide. Run evaluates the profile with the
// DeviceResponse at hand (MSO freshness, device auth, status); the decision travels
// with the verification result (Verification.Note) to Decide, and Decide carries it
// into the session's verdict (Verdict.Note). It keeps no state and is safe for
// concurrent use.
type SessionDecider struct {
	Profile *profile.Profile
	Status  profile.StatusChecker
	// StatusTimeout bounds the status list lookup inside Run (default 5 s).
	StatusTimeout time.Duration
}

// Run performs the verification job and the profile decision.
func (s *SessionDecider) Run(job *readersession.VerifyJob) readersession.Verification {
	res := job.Verify()
	timeout := s.StatusTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := s.Profile.Evaluate(profile.Input{Result: res, Response: job.Response, Now: job.Options.Now, Status: s.Status, Context: ctx})
	return readersession.Verification{Result: res, Note: d}
}

// Decision returns the decision Run made for v; ok is false when v did not come from
// Run.
func (s *SessionDecider) Decision(v readersession.Verification) (d profile.Decision, ok bool) {
	d, ok = v.Note.(profile.Decision)
	return d, ok
}

// Decide is readersession.Config.Decide; the profile decision becomes the Note. For a
// verification Run did not make it evaluates without the response, so MSO-based checks
// the profile asks for fail closed.
func (s *SessionDecider) Decide(v readersession.Verification) readersession.Decision {
	d, ok := s.Decision(v)
	if !ok {
		d = s.Profile.Decide(v.Result, time.Now())
	}
	if d.Outcome == profile.Accept {
		return readersession.Decision{Outcome: readersession.Accepted, Note: d}
	}
	return readersession.Decision{Outcome: readersession.Rejected, Reason: d.Reason, Note: d}
}
