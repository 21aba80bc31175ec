// Package readersession is the 18013-5 reader state machine as plain synchronous Go:
// engagement → session establishment → request → response → verification → verdict →
// termination. It does no I/O and starts no goroutines; an actor (or a test) feeds it
// bytes and carries out the steps it returns. Every session ends in exactly one verdict.
package readersession

import (
	"fmt"
	"io"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Outcome is the kind of verdict a session ends with.
type Outcome string

// The four outcomes. Every started session ends in exactly one of them.
const (
	Accepted Outcome = "accepted"
	Rejected Outcome = "rejected"
	Error    Outcome = "error"
	Timeout  Outcome = "timeout"
)

// Machine-readable reasons for verdicts that are not about the credential itself.
const (
	ReasonEngagement        = "engagement"
	ReasonSessionEncryption = "session_encryption"
	ReasonCBORDecoding      = "cbor_decoding"
	ReasonResponseDecoding  = "response_decoding"
	ReasonPeerStatus        = "peer_status"
	ReasonPeerTerminated    = "terminated_by_holder"
	ReasonProtocol          = "protocol"
	ReasonInternal          = "internal"
	ReasonNotValid          = "not_valid"
	ReasonResponseStatus    = "response_status"
	// The response refused as a whole before any signature was verified (a document not
	// requested, a docType repeated), or its verification stopped by the crypto budget
	// (an error verdict): the verify check names.
	ReasonUnrequestedDoc  = verify.CheckUnrequestedDocument
	ReasonRepeatedDocType = verify.CheckRepeatedDocType
	ReasonCryptoBudget    = verify.CheckCryptoBudget
)

// Verdict is how a session ended.
type Verdict struct {
	Outcome Outcome
	// Reason is machine-readable: a verify check name for rejections
	// (e.g. "mso.value_digests") or one of the Reason constants.
	Reason string
	Detail string
	// Result is the verification result when the response was verified.
	Result *verify.Result
	// Note is the Decision.Note of the decision the verdict came from, or the
	// Verification.Note of a response refused as a whole; nil otherwise.
	Note any
}

// Verification is a verification job's answer: the verification result and, when
// Config.Verify added one, what it concluded with the DeviceResponse at hand (e.g. a
// profile decision) for Decide. The session carries Note without looking at it.
type Verification struct {
	Result *verify.Result
	Note   any
	// Session is the id of the session verified, set by whoever runs the session
	// before Verified: a decision that involves people (an operator at a desk) names it.
	Session string
}

// Decision is what Decide concluded. The session carries Note into its Verdict (e.g. a
// gate's verdict with its holder verification), so that whoever acts on the verdict
// has what the decision found.
type Decision struct {
	Outcome Outcome
	Reason  string
	Note    any
}

// Config is shared by many sessions and never modified by them.
type Config struct {
	Request    []request.Doc
	ReaderAuth request.Signer // optional: signs readerAuth of every DocRequest
	Trust      *verify.TrustStore
	Policy     verify.Policy
	Cache      *verify.ChainCache // optional
	// ClockSkew relaxes the not-yet-valid checks, never expiry (verify.Options.ClockSkew:
	// 0 means verify.DefaultClockSkew, negative none).
	ClockSkew time.Duration
	// CryptoBudget bounds the signature verifications and key agreements one response
	// may ask for, in keys.Cost units (verify.Options.CryptoBudget: 0 means
	// verify.DefaultCryptoBudget, negative no limit); past it the session ends with an
	// error verdict (ReasonCryptoBudget).
	CryptoBudget int
	Now          func() time.Time // nil means time.Now
	Rand         io.Reader        // nil means crypto/rand
	// Revocation, when set, checks the DS certificate and the MSO status list entry
	// (verify.Options.Revocation); it may fetch, bounded by its own timeouts.
	Revocation verify.Revocation
	// Verify, when set, runs each verification job in place of VerifyJob.Verify (on a
	// crypto worker): it must call job.Verify and may add work that needs the
	// DeviceResponse, such as a profile decision, which travels to Decide as
	// Verification.Note.
	Verify func(job *VerifyJob) Verification
	// Decide turns a verification into an outcome; nil accepts exactly the valid results.
	Decide func(Verification) Decision
	// DecideMayWait says Decide can take long (an operator confirming a portrait): the
	// session then hands it out as Step.Decide, to be run off the caller's loop and
	// answered with Decided, instead of calling it inside Verified.
	DecideMayWait bool
}

type state int

const (
	stateNew state = iota
	stateAwaitResponse
	stateVerifying
	stateDeciding
	stateDone
)

// Step is what the caller must do after feeding the session.
type Step struct {
	// Send, when not nil, is a session message to transmit to the holder.
	Send []byte
	// Verify, when not nil, is verification work to run (on a crypto worker) and hand
	// back with Verified.
	Verify *VerifyJob
	// Decide, when not nil, is the decision to run where waiting is harmless (see
	// Config.DecideMayWait) and hand back with Decided.
	Decide *DecideJob
	// Done is set once the session has its verdict; the transport may close after Send.
	Done bool
}

// DecideJob is a decision that may wait, detached from the session.
type DecideJob struct {
	Verification
	decide func(Verification) Decision
}

// Run makes the decision.
func (j *DecideJob) Run() Decision { return j.decide(j.Verification) }

// VerifyJob is the CPU-heavy part of a session, detachable from it.
type VerifyJob struct {
	Response  *messages.DeviceResponse
	Options   verify.Options
	run       func(*VerifyJob) Verification // Config.Verify, when set
	alternate *messages.SessionTranscript   // StartOnline's, when set
}

// Run performs the job: Config.Verify when the session's config has one (verification
// plus, say, a profile decision that needs the response), otherwise Verify.
func (j *VerifyJob) Run() Verification {
	if j.run != nil {
		return j.run(j)
	}
	return Verification{Result: j.Verify()}
}

// Verify performs the verification alone.
func (j *VerifyJob) Verify() *verify.Result {
	return j.verifyAlternate(verify.VerifyDecodedResponse(j.Response, j.Options))
}

// Session is one reader session. It is not safe for concurrent use.
type Session struct {
	cfg        *Config
	state      state
	transcript messages.SessionTranscript
	readerKey  *keys.PrivateKey
	cipher     *session.Cipher
	verdict    *Verdict
	deciding   Verification // what is under decision in stateDeciding
}

// New returns a session in its initial state.
func New(cfg *Config) *Session { return &Session{cfg: cfg} }

// Verdict returns the verdict once the session has one.
func (s *Session) Verdict() (*Verdict, bool) { return s.verdict, s.verdict != nil }

// Transcript returns the SessionTranscript once engaged.
func (s *Session) Transcript() messages.SessionTranscript { return s.transcript }

func (s *Session) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// end records the verdict (only the first one counts) and releases the session keys.
func (s *Session) end(v Verdict) Step {
	if s.verdict == nil {
		s.verdict = &v
	}
	s.state = stateDone
	if s.cipher != nil {
		s.cipher.Close()
		s.cipher = nil
	}
	s.readerKey = nil
	return Step{Done: true}
}

func statusMessage(status uint64) []byte {
	b, _ := messages.Marshal(messages.NewSessionStatus(status))
	return b
}

// Start engages with the holder's DeviceEngagement bytes (exactly as received) and the
// handover of the engagement channel, and returns the SessionEstablishment to send.
// A ReaderEngagementBytes handover means reverse engagement, which needs the reader key
// the engagement carries: such sessions start with StartReverse, and Start ends them with
// an engagement error.
func (s *Session) Start(deviceEngagement []byte, handover cbor.RawMessage) Step {
	if s.state != stateNew {
		return s.end(Verdict{Outcome: Error, Reason: ReasonProtocol, Detail: "Start called twice"})
	}
	if step, ok := s.startFromHandover(deviceEngagement, handover); ok {
		return step // reverse engagement: the key was made with the ReaderEngagement
	}
	step, err := s.start(deviceEngagement, handover)
	if err != nil {
		return s.end(Verdict{Outcome: Error, Reason: ReasonEngagement, Detail: err.Error()})
	}
	return step
}

func (s *Session) start(deviceEngagement []byte, handover cbor.RawMessage) (Step, error) {
	de, err := messages.DecodeEngagement(deviceEngagement)
	if err != nil {
		return Step{}, err
	}
	if de.Security.CipherSuite != messages.CipherSuite1 {
		return Step{}, fmt.Errorf("unsupported cipher suite %d", de.Security.CipherSuite)
	}
	deviceKey, err := de.Security.Key()
	if err != nil {
		return Step{}, err
	}
	if s.readerKey, err = keys.Generate(deviceKey.Crv, s.cfg.Rand); err != nil {
		return Step{}, fmt.Errorf("EReaderKey on curve %d: %w", deviceKey.Crv, err)
	}
	eReaderKeyBytes, err := messages.EncodeToCBOR(s.readerKey.COSEKey())
	if err != nil {
		return Step{}, err
	}
	s.transcript = messages.NewProximityTranscript(messages.NewEncodedCBOR(deviceEngagement), eReaderKeyBytes, handover)
	return s.establish(deviceKey, eReaderKeyBytes)
}

// establish derives the session keys from s.transcript and s.readerKey and returns the
// SessionEstablishment carrying the encrypted request.
func (s *Session) establish(deviceKey *messages.COSEKey, eReaderKeyBytes messages.EncodedCBOR) (Step, error) {
	stb, err := s.transcript.Bytes()
	if err != nil {
		return Step{}, err
	}
	if s.cipher, err = session.Establish(session.RoleReader, s.readerKey, deviceKey, stb.Raw()); err != nil {
		return Step{}, err
	}
	req, err := request.Build(s.cfg.Request, s.cfg.ReaderAuth, s.transcript)
	if err != nil {
		return Step{}, err
	}
	plain, err := messages.Marshal(req)
	if err != nil {
		return Step{}, err
	}
	ct, err := s.cipher.Encrypt(plain)
	if err != nil {
		return Step{}, err
	}
	out, err := messages.Marshal(messages.SessionEstablishment{EReaderKey: eReaderKeyBytes, Data: ct})
	if err != nil {
		return Step{}, err
	}
	s.state = stateAwaitResponse
	return Step{Send: out}, nil
}

// Receive handles a session message from the holder.
func (s *Session) Receive(msg []byte) Step {
	if s.state != stateAwaitResponse {
		if s.state == stateDone {
			return Step{Done: true}
		}
		return s.end(Verdict{Outcome: Error, Reason: ReasonProtocol, Detail: "message received in the wrong state"})
	}
	sd, err := messages.DecodeSessionDataBorrowing(msg) // sd does not outlive this call
	if err != nil {
		st := s.end(Verdict{Outcome: Error, Reason: ReasonCBORDecoding, Detail: err.Error()})
		st.Send = statusMessage(messages.StatusCBORDecodingError)
		return st
	}
	if sd.Data == nil {
		status := *sd.Status
		if status == messages.StatusSessionTermination {
			return s.end(Verdict{Outcome: Error, Reason: ReasonPeerTerminated, Detail: "holder ended the session without a response"})
		}
		return s.end(Verdict{Outcome: Error, Reason: ReasonPeerStatus, Detail: fmt.Sprintf("holder sent status %d", status)})
	}
	plain, err := s.cipher.Decrypt(sd.Data)
	if err != nil {
		st := s.end(Verdict{Outcome: Error, Reason: ReasonSessionEncryption, Detail: err.Error()})
		st.Send = statusMessage(messages.StatusSessionEncryptionError)
		return st
	}
	resp, err := messages.DecodeDeviceResponseBorrowing(plain) // plain is ours
	if err != nil {
		st := s.end(Verdict{Outcome: Error, Reason: ReasonResponseDecoding, Detail: err.Error()})
		st.Send = statusMessage(messages.StatusCBORDecodingError)
		return st
	}
	s.state = stateVerifying
	// the request goes with the response: documents not asked for, or repeated, are
	// refused before any signature is verified, and only what was asked is checked
	return Step{Verify: &VerifyJob{Response: resp, Options: s.verifyOptions(), run: s.cfg.Verify}}
}

// verifyOptions are the options the session's response is verified with.
func (s *Session) verifyOptions() verify.Options {
	return verify.Options{Trust: s.cfg.Trust, Transcript: &s.transcript, ReaderKey: s.readerKey,
		Now: s.now(), Policy: s.cfg.Policy, Cache: s.cfg.Cache, Request: s.cfg.Request,
		ClockSkew: s.cfg.ClockSkew, CryptoBudget: s.cfg.CryptoBudget, Revocation: s.cfg.Revocation}
}

// Verified hands back the answer of the VerifyJob and ends the session with its verdict
// and a termination message.
func (s *Session) Verified(v Verification) Step {
	if s.state != stateVerifying {
		if s.state == stateDone {
			return Step{Done: true}
		}
		return s.end(Verdict{Outcome: Error, Reason: ReasonProtocol, Detail: "verification result in the wrong state"})
	}
	if v.Result == nil {
		return s.end(Verdict{Outcome: Error, Reason: ReasonInternal, Detail: "no verification result"})
	}
	if c, refused := v.Result.Refused(); refused {
		// refused as a whole: nothing for a decision to weigh
		outcome := Rejected
		if c.Name == ReasonCryptoBudget {
			outcome = Error
		}
		st := s.end(Verdict{Outcome: outcome, Reason: c.Name, Detail: c.Reason, Result: v.Result, Note: v.Note})
		st.Send = statusMessage(messages.StatusSessionTermination)
		return st
	}
	if s.cfg.Decide != nil && s.cfg.DecideMayWait {
		s.state, s.deciding = stateDeciding, v
		return Step{Decide: &DecideJob{Verification: v, decide: s.cfg.Decide}}
	}
	var d Decision
	if s.cfg.Decide != nil {
		d = s.cfg.Decide(v)
	} else {
		d.Outcome, d.Reason = decide(v.Result)
	}
	return s.conclude(v.Result, d)
}

// Decided hands back the decision of the DecideJob and ends the session with its verdict
// and a termination message.
func (s *Session) Decided(d Decision) Step {
	if s.state != stateDeciding {
		if s.state == stateDone {
			return Step{Done: true}
		}
		return s.end(Verdict{Outcome: Error, Reason: ReasonProtocol, Detail: "decision in the wrong state"})
	}
	res := s.deciding.Result
	s.deciding = Verification{}
	return s.conclude(res, d)
}

// conclude ends the session on a decided verification result.
func (s *Session) conclude(res *verify.Result, d Decision) Step {
	st := s.end(Verdict{Outcome: d.Outcome, Reason: d.Reason, Result: res, Note: d.Note})
	st.Send = statusMessage(messages.StatusSessionTermination)
	return st
}

// decide accepts exactly the valid results and names the first fatal check otherwise.
func decide(res *verify.Result) (Outcome, string) {
	if res.Valid {
		return Accepted, ""
	}
	for _, d := range res.Documents {
		for _, c := range d.Checks {
			if !c.OK && c.Severity == "error" {
				return Rejected, c.Name
			}
		}
	}
	if res.Status != messages.ResponseOK {
		return Rejected, ReasonResponseStatus
	}
	return Rejected, ReasonNotValid
}

// Fail ends the session from outside: a timeout, a broken link, a panic in the actor.
// It has no effect on a session that already has its verdict, and it sends a
// termination message when the session was under way.
func (s *Session) Fail(outcome Outcome, reason, detail string) Step {
	if s.state == stateDone {
		return Step{Done: true}
	}
	engaged := s.state != stateNew
	st := s.end(Verdict{Outcome: outcome, Reason: reason, Detail: detail})
	if engaged {
		st.Send = statusMessage(messages.StatusSessionTermination)
	}
	return st
}
