package gate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Portrait is what holder verification compares with the person at the lane.
type Portrait struct {
	Image []byte
	// MediaType is "image/jpeg", "image/jp2", "image/j2c", or "" when not recognised.
	MediaType string
	// CaptureDate is portrait_capture_date when disclosed; a matcher may treat an old
	// portrait with more caution.
	CaptureDate       *time.Time
	DocType           string
	LaneID, SessionID string
}

// MatchVerdict is the outcome of holder verification.
type MatchVerdict string

// Match verdicts.
const (
	Match     MatchVerdict = "match"
	NoMatch   MatchVerdict = "no_match"
	Undecided MatchVerdict = "undecided"
)

// MatchResult is a matcher's answer.
type MatchResult struct {
	Verdict MatchVerdict `json:"verdict"`
	// Score is a matcher-specific similarity, 0 when not applicable.
	Score float64 `json:"score,omitempty"`
	// By names who decided: a matcher name or an operator id.
	By     string `json:"by,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Matcher compares a credential portrait with the holder. Match must return when ctx
// ends. Implementations must be safe for concurrent use.
type Matcher interface {
	Match(ctx context.Context, p Portrait) (MatchResult, error)
}

// Errors of the operator matcher.
var (
	ErrOperatorTimeout = errors.New("gate: the operator did not answer in time")
	ErrNoOperator      = errors.New("gate: no operator is taking requests")
)

// OperatorRequest is a portrait waiting for an operator's yes or no.
type OperatorRequest struct {
	Portrait Portrait
	Deadline time.Time
	once     sync.Once
	answer   chan MatchResult
}

// Answer records the operator's decision; only the first answer counts and it never
// blocks, even after the request timed out.
func (r *OperatorRequest) Answer(match bool, operator string) {
	r.once.Do(func() {
		v := NoMatch
		if match {
			v = Match
		}
		r.answer <- MatchResult{Verdict: v, By: operator}
	})
}

// OperatorMatcher hands each portrait to a UI over Requests and waits for the operator.
// The UI reads Requests, shows the portrait, and calls Answer.
type OperatorMatcher struct {
	// Requests delivers the pending requests; buffer it for as many lanes as one
	// operator watches.
	Requests chan *OperatorRequest
	// Timeout bounds the wait for an answer (and for a free slot in Requests).
	Timeout time.Duration
}

// NewOperatorMatcher returns an operator matcher with a Requests buffer of size buffer.
func NewOperatorMatcher(buffer int, timeout time.Duration) *OperatorMatcher {
	return &OperatorMatcher{Requests: make(chan *OperatorRequest, buffer), Timeout: timeout}
}

// Match sends the request and waits for the answer. When the request cannot be
// delivered or no answer comes before Timeout or ctx ends, it returns Undecided with
// ErrNoOperator or ErrOperatorTimeout.
func (m *OperatorMatcher) Match(ctx context.Context, p Portrait) (MatchResult, error) {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultMatchLimit
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	r := &OperatorRequest{Portrait: p, Deadline: deadline, answer: make(chan MatchResult, 1)}
	select {
	case m.Requests <- r:
	case <-ctx.Done():
		return MatchResult{Verdict: Undecided, Detail: "no operator took the request"}, ErrNoOperator
	}
	select {
	case res := <-r.answer:
		return res, nil
	case <-ctx.Done():
		r.once.Do(func() {}) // late answers are dropped
		return MatchResult{Verdict: Undecided, Detail: "operator timeout"}, ErrOperatorTimeout
	}
}

// TestMatcher is a deterministic matcher for tests and demos: it answers Verdict (or
// returns Err) after Delay, and counts calls. The zero value answers Match.
type TestMatcher struct {
	Verdict MatchVerdict
	Err     error
	Delay   time.Duration
	calls   atomic.Int64
	last    atomic.Pointer[Portrait]
}

// Match implements Matcher.
func (m *TestMatcher) Match(ctx context.Context, p Portrait) (MatchResult, error) {
	m.calls.Add(1)
	m.last.Store(&p)
	if m.Delay > 0 {
		t := time.NewTimer(m.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return MatchResult{Verdict: Undecided}, ctx.Err()
		}
	}
	if m.Err != nil {
		return MatchResult{Verdict: Undecided, By: "test"}, m.Err
	}
	v := m.Verdict
	if v == "" {
		v = Match
	}
	return MatchResult{Verdict: v, By: "test"}, nil
}

// Calls returns how many times Match was called.
func (m *TestMatcher) Calls() int { return int(m.calls.Load()) }

// Last returns the last portrait matched, or nil.
func (m *TestMatcher) Last() *Portrait { return m.last.Load() }
