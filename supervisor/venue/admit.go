package venue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/gate"
)

// Reasons of a Decision that does not admit (they become the verdict's reason).
const (
	ReasonAntiPassback = gate.ReasonAntiPassback
	ReasonDenyList     = gate.ReasonDenyList
	ReasonUnavailable  = gate.ReasonVenueUnavailable
)

// ErrUnavailable is Admit's error when the store did not commit within the decision's
// time (Options.Timeout): a partition, a lost quorum, an election that took too long.
var ErrUnavailable = errors.New("venue: the store did not commit in time")

// Admission is the store's answer to an admission.
type Admission struct {
	// Admitted is true for the credential's first use in the window, and for a retry of
	// this gate's own admission of the same presentation.
	Admitted bool
	// By is the gate that admitted the credential first, on a second use that had to
	// read the admission back (a retry whose first attempt may have written); empty
	// otherwise.
	By string
	// Attempts is the number of create calls made.
	Attempts int
}

// Admit records the use of credential key (see CredentialKey) by presentation (an id
// unique to this presentation): a create-if-absent with the window as the key's TTL.
// The answer rests on the create call alone; a key that exists is read back only when
// an earlier attempt of this call may have written it, to recognise this gate's own
// write of the same presentation (a retry after a lost reply), which admits again. Each attempt is bounded by AttemptTimeout and the
// whole call by Timeout; past it the error is ErrUnavailable.
func (v *Venue) Admit(ctx context.Context, key, presentation string) (Admission, error) {
	value := v.opts.Gate + "|" + presentation
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	// an earlier attempt (of this call, or of an earlier call for the same presentation
	// that ended unavailable) may have committed with its reply lost
	mayHaveWritten := v.uncertain.take(presentation)
	a, err := v.admit(ctx, key, value, mayHaveWritten)
	if err != nil && a.mayHaveWritten {
		v.uncertain.put(presentation)
	}
	return a.Admission, err
}

type admission struct {
	Admission
	mayHaveWritten bool
}

func (v *Venue) admit(ctx context.Context, key, value string, mayHaveWritten bool) (admission, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, v.opts.AttemptTimeout)
		err := v.create(actx, key, value)
		acancel()
		switch {
		case err == nil:
			return admission{Admission: Admission{Admitted: true, Attempts: attempt}}, nil
		case exists(err) && !mayHaveWritten:
			// someone else's: no write of ours can be there (one round trip, nothing read)
			return admission{Admission: Admission{Attempts: attempt}}, nil
		case exists(err):
			holder, ok := v.readBack(ctx, key)
			switch {
			case ok && holder == value:
				return admission{Admission: Admission{Admitted: true, Attempts: attempt}}, nil
			case ok:
				by, _, _ := strings.Cut(holder, "|")
				return admission{Admission: Admission{By: by, Attempts: attempt}}, nil
			}
			lastErr = errors.New("the admission exists and could not be read back")
		default:
			lastErr = err
			mayHaveWritten = mayHaveWritten || !definiteFailure(err)
		}
		if ctx.Err() != nil {
			return admission{Admission{Attempts: attempt}, mayHaveWritten}, fmt.Errorf("%w (%d attempts; last: %v)", ErrUnavailable, attempt, lastErr)
		}
		select {
		case <-ctx.Done():
			return admission{Admission{Attempts: attempt}, mayHaveWritten}, fmt.Errorf("%w (%d attempts; last: %v)", ErrUnavailable, attempt, lastErr)
		case <-time.After(min(time.Duration(attempt)*25*time.Millisecond, 250*time.Millisecond)):
		}
	}
}

// uncertainSet remembers, for a while, the presentations whose Admit ended unavailable
// after an attempt that may have committed: a later Admit of the same presentation
// reads the admission back to recognise its own write. Bounded: the oldest go first.
type uncertainSet struct {
	mu    sync.Mutex
	at    map[string]time.Time
	order []string
}

const maxUncertain = 4096

func (u *uncertainSet) put(p string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil {
		u.at = map[string]time.Time{}
	}
	if _, ok := u.at[p]; !ok {
		u.order = append(u.order, p)
	}
	u.at[p] = time.Now()
	for len(u.order) > maxUncertain {
		delete(u.at, u.order[0])
		u.order = u.order[1:]
	}
}

func (u *uncertainSet) take(p string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.at[p]
	delete(u.at, p)
	return ok
}

// create is the create-if-absent: a write that expects no earlier message for the
// key. (The client's Create would also take over a deleted key, with a read first on
// every refusal; admissions are never deleted, only expired, so this one round trip is
// the whole create.)
func (v *Venue) create(ctx context.Context, key, value string) error {
	_, err := v.admissions.Update(ctx, key, []byte(value), 0)
	return err
}

// exists reports whether a create was refused because the key exists.
func exists(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// definiteFailure reports whether a create failed without reaching the stream (so it
// cannot have committed): no responders, or a connection that is closed.
func definiteFailure(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// readBack reads an admission just created by someone: a replica answering a direct
// get may not have applied that write yet, so "not found" is retried briefly.
func (v *Venue) readBack(ctx context.Context, key string) (string, bool) {
	for i := 0; i < 10; i++ {
		actx, cancel := context.WithTimeout(ctx, v.opts.AttemptTimeout)
		e, err := v.admissions.Get(actx, key)
		cancel()
		if err == nil {
			return string(e.Value()), true
		}
		if ctx.Err() != nil {
			return "", false
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return "", false
}

// Decision is what a gate does with a credential that would otherwise be admitted.
type Decision struct {
	// Admit opens the lane. When false, Reason says why and CallStaff whether staff
	// is called rather than the holder denied.
	Admit     bool
	CallStaff bool
	Reason    string
	// By is the gate that admitted the credential first, when Admit read it back.
	By string
	// Journaled is set when the store was unavailable and the admission was journaled
	// locally (PartitionAdmitJournal).
	Journaled bool
	// Err is the store's error when it was unavailable.
	Err error
}

// Decide checks the deny list (in memory), then admits key for presentation (Admit)
// and applies the partition policy when the store is unavailable. It bounds its own
// time (Options.Timeout) and never panics on a store error.
func (v *Venue) Decide(ctx context.Context, key, presentation string) Decision {
	t0 := time.Now()
	d := v.decide(ctx, key, presentation)
	v.m.observe(d, time.Since(t0))
	return d
}

func (v *Venue) decide(ctx context.Context, key, presentation string) Decision {
	if v.Denied(key) {
		return Decision{Reason: ReasonDenyList}
	}
	a, err := v.Admit(ctx, key, presentation)
	switch {
	case err == nil && a.Admitted:
		return Decision{Admit: true}
	case err == nil:
		return Decision{Reason: ReasonAntiPassback, By: a.By}
	}
	v.log.Warn("anti-passback store unavailable", zap.String("policy", v.opts.OnPartition), zap.Error(err))
	switch v.opts.OnPartition {
	case PartitionCallStaff:
		return Decision{CallStaff: true, Reason: ReasonUnavailable, Err: err}
	case PartitionAdmitJournal:
		if jerr := v.journal.add(key, v.opts.Gate+"|"+presentation); jerr != nil {
			v.log.Error("journal write failed: calling staff", zap.Error(jerr))
			return Decision{CallStaff: true, Reason: ReasonUnavailable, Err: errors.Join(err, jerr)}
		}
		return Decision{Admit: true, Journaled: true, Err: err}
	}
	return Decision{Reason: ReasonUnavailable, Err: err}
}
