package actors

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports"
)

// SessionVerdict is what a lane publishes when a session ends.
type SessionVerdict struct {
	SessionID string
	Lane      string
	Bearer    string
	Outcome   readersession.Outcome
	Reason    string
	Detail    string
	Started   time.Time
	Ended     time.Time
	// Engaged is when the engagement began (a card tapped, a QR code read: the
	// arrival's EngagedAt), Started when the bearer does not say.
	Engaged time.Time
	// AirTime is the session's modelled air time (0 when its bearer models none).
	AirTime time.Duration
	// EngagementDigest is SHA-256 of the DeviceEngagement bytes; simulations use it to
	// match a verdict with the holder that caused it.
	EngagementDigest [32]byte
	// Result is the verification result when there was one.
	Result *verify.Result
	// Note is what the lane's decision carried into the verdict (readersession
	// Verdict.Note), e.g. a gate's verdict; nil otherwise.
	Note any
}

// Latency is the time from arrival to verdict.
func (v *SessionVerdict) Latency() time.Duration { return v.Ended.Sub(v.Started) }

// FromEngagement is the time from the engagement's start to the verdict.
func (v *SessionVerdict) FromEngagement() time.Duration {
	if v.Engaged.IsZero() {
		return v.Latency()
	}
	return v.Ended.Sub(v.Engaged)
}

// sessionVerdict starts the verdict of arrival a at a lane, admitted at started, with
// what the arrival says of its timing.
func sessionVerdict(id, lane string, a *transports.Arrival, started time.Time) *SessionVerdict {
	v := &SessionVerdict{SessionID: id, Lane: lane, Bearer: a.Bearer, Started: started, Ended: time.Now(), Engaged: a.EngagedAt}
	if v.Engaged.IsZero() || v.Engaged.After(started) {
		v.Engaged = started
	}
	if at, ok := a.Conn.(transports.AirTimer); ok {
		v.AirTime = at.AirTime()
	}
	return v
}

// Results fans verdicts out to subscribers. Subscribers are called synchronously in the
// publishing lane's goroutine and must not block (count, log, or hand off to a channel).
type Results struct {
	mu   sync.RWMutex
	subs map[int]func(*SessionVerdict)
	next int
}

// NewResults returns an empty stream.
func NewResults() *Results { return &Results{subs: map[int]func(*SessionVerdict){}} }

// Subscribe registers f and returns a function that removes it.
func (r *Results) Subscribe(f func(*SessionVerdict)) (unsubscribe func()) {
	r.mu.Lock()
	id := r.next
	r.next++
	r.subs[id] = f
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.subs, id)
		r.mu.Unlock()
	}
}

func (r *Results) publish(v *SessionVerdict) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, f := range r.subs {
		f(v)
	}
}

// Counters are engine-wide counts, updated atomically by the actors.
type Counters struct {
	Started     atomic.Int64 // sessions admitted
	Ended       atomic.Int64 // verdicts published
	Busy        atomic.Int64 // arrivals refused for lack of capacity
	InFlight    atomic.Int64 // admitted and not yet ended
	Arriving    atomic.Int64 // taken from a listener, on their way to their lane's admission
	Panics      atomic.Int64 // panics contained in any actor
	Restarts    atomic.Int64 // actor restarts and stops decided by supervision
	CryptoQueue atomic.Int64 // verification jobs waiting for a worker
	// CryptoBusy counts verification jobs refused because their lane's queue was full.
	CryptoBusy atomic.Int64
	// CryptoDropped counts verification jobs dropped unrun because their session had
	// ended (the holder hung up, the session was stopped) while they waited.
	CryptoDropped atomic.Int64
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }
