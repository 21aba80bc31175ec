package venue

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// By is the gate that admitted the credential first (on a second use).
	By string
	// Attempts is the number of create calls made.
	Attempts int
}

// Admit records the use of credential key (see CredentialKey) by presentation (an id
// unique to this presentation): a create-if-absent with the window as the key's TTL.
// The answer rests on the create call alone; a key that exists is read back only to
// recognise this gate's own earlier write of the same presentation (a retry after a
// lost reply), which admits again. Each attempt is bounded by AttemptTimeout and the
// whole call by Timeout; past it the error is ErrUnavailable.
func (v *Venue) Admit(ctx context.Context, key, presentation string) (Admission, error) {
	value := v.opts.Gate + "|" + presentation
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	mayHaveWritten := false // an earlier attempt may have committed with its reply lost
	var lastErr error
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, v.opts.AttemptTimeout)
		_, err := v.admissions.Create(actx, key, []byte(value))
		acancel()
		switch {
		case err == nil:
			return Admission{Admitted: true, Attempts: attempt}, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			holder, ok := v.readBack(ctx, key)
			switch {
			case ok && holder == value:
				return Admission{Admitted: true, Attempts: attempt}, nil
			case ok:
				by, _, _ := strings.Cut(holder, "|")
				return Admission{By: by, Attempts: attempt}, nil
			case !mayHaveWritten:
				// someone else's: no write of ours can be there
				return Admission{Attempts: attempt}, nil
			}
			lastErr = errors.New("the admission exists and could not be read back")
		default:
			lastErr = err
			mayHaveWritten = mayHaveWritten || !definiteFailure(err)
		}
		if ctx.Err() != nil {
			return Admission{Attempts: attempt}, fmt.Errorf("%w (%d attempts; last: %v)", ErrUnavailable, attempt, lastErr)
		}
		select {
		case <-ctx.Done():
			return Admission{Attempts: attempt}, fmt.Errorf("%w (%d attempts; last: %v)", ErrUnavailable, attempt, lastErr)
		case <-time.After(min(time.Duration(attempt)*25*time.Millisecond, 250*time.Millisecond)):
		}
	}
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
	// By is the gate that admitted the credential first (anti-passback).
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
