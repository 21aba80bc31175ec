// Package gate runs what happens at a lane after a presentation was verified: the
// profile decision, credential holder verification (the portrait handed to a Matcher,
// e.g. an operator confirming on a screen), and the lane's actuator (open, deny, call
// staff). It is plain Go with no actors: the engine calls Process from a worker.
//
// Guarantees: Process never opens a lane unless the profile accepted and, when the
// profile asks for holder verification, a matcher answered Match. Every other path
// denies or calls staff, and the Verdict records why. Nothing here logs element values.
package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Action is what the lane's actuator was told to do.
type Action string

// Actions. ActionNone is for sessions with nobody at the gate to act for (the holder
// went silent or away): the actuator is not told.
const (
	ActionOpen      Action = "open"
	ActionDeny      Action = "deny"
	ActionCallStaff Action = "call_staff"
	ActionNone      Action = "none"
)

// Reasons set by the holder verification step and the actuator (Verdict.Reason).
const (
	ReasonNoMatch    = "holder_verification.no_match"
	ReasonUndecided  = "holder_verification.undecided"
	ReasonNoPortrait = "holder_verification.no_portrait"
	ReasonNoMatcher  = "holder_verification.no_matcher"
	ReasonMatchError = "holder_verification.error"
	ReasonActuator   = "actuator.failed"
	// The venue's reasons (supervisor/venue): a credential already admitted within the
	// anti-passback window, on the deny list, not identifiable (the element naming it
	// was not disclosed), or the venue's store unavailable.
	ReasonAntiPassback     = "anti_passback"
	ReasonDenyList         = "deny_list"
	ReasonNoCredentialKey  = "anti_passback.no_key"
	ReasonVenueUnavailable = "venue_unavailable"
	DefaultMatchLimit      = 60 * time.Second
)

// Actuator drives a lane's barrier, turnstile or light. Implementations must be safe for
// concurrent use by many sessions.
type Actuator interface {
	Open(ctx context.Context, laneID, sessionID string) error
	Deny(ctx context.Context, laneID, sessionID, reason string) error
	CallStaff(ctx context.Context, laneID, sessionID, reason string) error
}

// Gate is the post-verification pipeline of a lane. Its fields are read-only once in use.
type Gate struct {
	Profile *profile.Profile
	// Matcher performs holder verification when the profile asks for it; without one
	// such a profile never opens (staff is called).
	Matcher Matcher
	// Actuator receives the action; nil computes the action without carrying it out.
	Actuator Actuator
	// MatchTimeout bounds the matcher call (default DefaultMatchLimit).
	MatchTimeout time.Duration
	// Status is used by Process for the profile's status list check.
	Status profile.StatusChecker
}

// Verdict is the gate's extension of a session verdict.
type Verdict struct {
	Decision profile.Decision `json:"decision"`
	// Match is the holder verification result; nil when the step did not run.
	Match      *MatchResult `json:"match,omitempty"`
	MatchError string       `json:"matchError,omitempty"`
	Action     Action       `json:"action"`
	// Reason is the machine-readable reason of a deny or call-staff action: the
	// profile's failed check or a Reason* constant.
	Reason      string `json:"reason,omitempty"`
	ActionError string `json:"actionError,omitempty"`
	// Credential is the venue's key of the credential (a hash, never an element value)
	// when a venue decided on it: what an operator gives `mdocgate deny add`.
	Credential string `json:"credential,omitempty"`
}

// Opened reports whether the lane was told to open (and the actuator accepted).
func (v *Verdict) Opened() bool { return v.Action == ActionOpen && v.ActionError == "" }

// Process decides on a verified presentation with the profile, then runs ProcessDecision.
func (g *Gate) Process(ctx context.Context, laneID, sessionID string, in profile.Input) Verdict {
	if in.Status == nil {
		in.Status = g.Status
	}
	if in.Context == nil {
		in.Context = ctx
	}
	return g.ProcessDecision(ctx, laneID, sessionID, in.Result, g.Profile.Evaluate(in))
}

// ProcessDecision runs holder verification (when the decision asks for it) and the
// actuator for a decision already made (e.g. by SessionDecider).
func (g *Gate) ProcessDecision(ctx context.Context, laneID, sessionID string, res *verify.Result, d profile.Decision) Verdict {
	v := Verdict{Decision: d}
	switch {
	case d.Outcome != profile.Accept:
		v.Action, v.Reason = ActionDeny, d.Reason
	case !d.HolderVerification:
		v.Action = ActionOpen
	default:
		g.holderVerification(ctx, laneID, sessionID, res, &v)
	}
	g.actuate(ctx, laneID, sessionID, &v)
	return v
}

func (g *Gate) holderVerification(ctx context.Context, laneID, sessionID string, res *verify.Result, v *Verdict) {
	p, err := g.portrait(res, v.Decision)
	if err != nil {
		v.Action, v.Reason, v.MatchError = ActionCallStaff, ReasonNoPortrait, err.Error()
		return
	}
	if g.Matcher == nil {
		v.Action, v.Reason = ActionCallStaff, ReasonNoMatcher
		return
	}
	p.LaneID, p.SessionID = laneID, sessionID
	limit := g.MatchTimeout
	if limit <= 0 {
		limit = DefaultMatchLimit
	}
	mctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	m, err := safeMatch(mctx, g.Matcher, p)
	v.Match = &m
	switch {
	case err != nil:
		v.Action, v.Reason, v.MatchError = ActionCallStaff, ReasonMatchError, err.Error()
		if errors.Is(err, ErrOperatorTimeout) || errors.Is(err, context.DeadlineExceeded) {
			v.Reason = ReasonUndecided
		}
	case m.Verdict == Match:
		v.Action = ActionOpen
	case m.Verdict == NoMatch:
		v.Action, v.Reason = ActionDeny, ReasonNoMatch
	default:
		v.Action, v.Reason = ActionCallStaff, ReasonUndecided
	}
}

func safeMatch(ctx context.Context, m Matcher, p Portrait) (r MatchResult, err error) {
	defer func() {
		if x := recover(); x != nil {
			r, err = MatchResult{Verdict: Undecided}, fmt.Errorf("matcher panicked: %v", x)
		}
	}()
	return m.Match(ctx, p)
}

// portrait extracts the deciding document's portrait and capture date.
func (g *Gate) portrait(res *verify.Result, d profile.Decision) (Portrait, error) {
	if res == nil || d.Document < 0 || d.Document >= len(res.Documents) {
		return Portrait{}, errors.New("no deciding document")
	}
	view, err := g.Profile.NewView(&res.Documents[d.Document])
	if err != nil {
		return Portrait{}, err
	}
	raw, ok := view.Find("portrait")
	if !ok {
		return Portrait{}, errors.New("portrait not disclosed")
	}
	var img []byte
	if err := messages.Unmarshal(raw, &img); err != nil || len(img) == 0 {
		return Portrait{}, errors.New("portrait is not a non-empty byte string")
	}
	p := Portrait{Image: img, MediaType: sniffImage(img), DocType: d.DocType}
	if raw, ok := view.Find("portrait_capture_date"); ok {
		p.CaptureDate = decodeDate(raw)
	}
	return p, nil
}

func decodeDate(raw []byte) *time.Time {
	var td messages.TDate
	if td.UnmarshalCBOR(raw) == nil {
		t := td.Time
		return &t
	}
	var fd messages.FullDate
	if fd.UnmarshalCBOR(raw) == nil {
		t := fd.Time()
		return &t
	}
	return nil
}

// sniffImage names JPEG and JPEG 2000 (file format or codestream) images.
func sniffImage(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff:
		return "image/jpeg"
	case len(b) >= 12 && string(b[:12]) == "\x00\x00\x00\x0cjP  \r\n\x87\n":
		return "image/jp2"
	case len(b) >= 4 && b[0] == 0xff && b[1] == 0x4f && b[2] == 0xff && b[3] == 0x51:
		return "image/j2c"
	}
	return ""
}

// Actuate carries out v.Action on the actuator (nothing without one) for a verdict
// decided earlier, e.g. by ProcessDecision on a Gate without an Actuator while the
// session was still open. As in Process, a failed open falls back to calling staff and
// v records it.
func (g *Gate) Actuate(ctx context.Context, laneID, sessionID string, v *Verdict) {
	g.actuate(ctx, laneID, sessionID, v)
}

// actuate tells the actuator; a failed open falls back to calling staff. ActionNone
// tells it nothing.
func (g *Gate) actuate(ctx context.Context, laneID, sessionID string, v *Verdict) {
	if g.Actuator == nil || v.Action == ActionNone {
		return
	}
	var err error
	switch v.Action {
	case ActionOpen:
		if err = g.Actuator.Open(ctx, laneID, sessionID); err != nil {
			v.ActionError = "open: " + err.Error()
			v.Action, v.Reason = ActionCallStaff, ReasonActuator
			if err2 := g.Actuator.CallStaff(ctx, laneID, sessionID, ReasonActuator); err2 != nil {
				v.ActionError += "; call staff: " + err2.Error()
			}
		}
		return
	case ActionDeny:
		err = g.Actuator.Deny(ctx, laneID, sessionID, v.Reason)
	case ActionCallStaff:
		err = g.Actuator.CallStaff(ctx, laneID, sessionID, v.Reason)
	}
	if err != nil {
		v.ActionError = string(v.Action) + ": " + err.Error()
	}
}
