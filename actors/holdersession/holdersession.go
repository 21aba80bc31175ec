// Package holdersession is the holder (mdoc) side of device retrieval as plain synchronous
// Go, for simulated holders: engagement generation, session establishment, request
// parsing with an optional reader-auth check, element selection and mdoc authentication.
// It can misbehave on purpose so that readers can be tested against hostile holders.
package holdersession

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Misbehaviour is a deliberate protocol or data fault of a simulated holder.
type Misbehaviour string

// Misbehaviours a simulated holder can show.
const (
	Honest          Misbehaviour = ""
	TamperElement   Misbehaviour = "tamper_element"     // an issued item altered after issuance
	WrongDeviceKey  Misbehaviour = "wrong_device_key"   // deviceAuth not made with the key in the MSO
	CorruptSession  Misbehaviour = "corrupt_ciphertext" // response ciphertext altered in transit
	GarbageResponse Misbehaviour = "garbage"            // a message that is not CBOR
	Silent          Misbehaviour = "silent"             // never answers
	TerminateEarly  Misbehaviour = "terminate"          // answers the request with status 20 only
	SkipCounter     Misbehaviour = "skip_counter"       // encrypts the response with a counter the reader does not expect
	AnswerAnything  Misbehaviour = "unrequested"        // discloses every credential, whatever was asked
	RepeatDocument  Misbehaviour = "repeat_document"    // answers with its document RepeatCount times
)

// Config describes one simulated holder. It is not modified by sessions.
type Config struct {
	Credentials []*issuer.Credential
	// Index, optional and shareable between holders, remembers each credential's key
	// check and item identifiers (holder.Index) so presentations don't redo them.
	Index *holder.Index
	// Curve of the ephemeral device key; 0 means P-256.
	Curve int64
	// Methods are the device retrieval methods put in the engagement (may be empty).
	Methods []messages.RetrievalMethod
	// UseMAC authenticates with deviceMac instead of deviceSignature.
	UseMAC bool
	// ReaderTrust, when set, makes the holder check readerAuth and refuse (DeviceResponse
	// status 10, no data) a request whose reader authentication fails.
	ReaderTrust *verify.TrustStore
	// ReaderTrustCache, optional, remembers verified reader certificate chains.
	ReaderTrustCache *verify.ChainCache
	// ReaderRevocation, optional with ReaderTrust, checks the reader certificate against
	// its root's CRL (verify.CheckReaderAuthRevocation).
	ReaderRevocation verify.Revocation
	Misbehave        Misbehaviour
	// Canned, when set, is the plaintext DeviceResponse the holder answers every
	// request with, encrypted for the session, whatever was asked: an attacker
	// replaying a response prepared once (benchmarks of what a hostile holder costs a
	// reader). Credentials are then not used.
	Canned []byte
	Rand   io.Reader
	Now    func() time.Time
}

// Step is what the caller must do after feeding the session.
type Step struct {
	Send []byte // message to transmit to the reader, or nil
	Done bool   // the session is over for the holder
	Err  error  // why the holder ended the session, if it was not a normal termination
}

// Session is one holder session. It is not safe for concurrent use.
type Session struct {
	cfg        *Config
	eKey       *keys.PrivateKey
	engagement []byte
	handover   cbor.RawMessage
	cipher     *session.Cipher
	transcript messages.SessionTranscript
	readerKey  *messages.COSEKey
	done       bool
}

// New generates the ephemeral device key and the DeviceEngagement.
func New(cfg *Config) (*Session, error) {
	curve := cfg.Curve
	if curve == 0 {
		curve = messages.CurveP256
	}
	k, err := keys.Generate(curve, cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("holder: EDeviceKey: %w", err)
	}
	de, err := messages.NewEngagement(k.COSEKey(), cfg.Methods...)
	if err != nil {
		return nil, err
	}
	b, err := messages.Marshal(de)
	if err != nil {
		return nil, err
	}
	return &Session{cfg: cfg, eKey: k, engagement: b, handover: messages.QRHandover()}, nil
}

// DeviceEngagement returns the engagement bytes to hand to the reader (QR, NFC, ...).
func (s *Session) DeviceEngagement() []byte { return s.engagement }

// SetHandover sets the Handover of the engagement channel (QR: null, the default).
func (s *Session) SetHandover(h cbor.RawMessage) { s.handover = h }

func status(code uint64) []byte {
	b, _ := messages.Marshal(messages.NewSessionStatus(code))
	return b
}

func (s *Session) end(send []byte, err error) Step {
	s.done = true
	if s.cipher != nil {
		s.cipher.Close()
	}
	return Step{Send: send, Done: true, Err: err}
}

// Answer is Receive for a holder actor (actors.HolderSession).
func (s *Session) Answer(msg []byte) (send []byte, done bool, err error) {
	st := s.Receive(msg)
	return st.Send, st.Done, st.Err
}

// Receive handles one message from the reader.
func (s *Session) Receive(msg []byte) Step {
	if s.done {
		return Step{Done: true}
	}
	if s.cipher == nil {
		return s.establish(msg)
	}
	sd, err := messages.DecodeSessionDataBorrowing(msg) // sd does not outlive this call
	if err != nil {
		return s.end(status(messages.StatusCBORDecodingError), err)
	}
	if sd.Data == nil {
		if *sd.Status == messages.StatusSessionTermination {
			return s.end(nil, nil)
		}
		return s.end(nil, fmt.Errorf("reader sent status %d", *sd.Status))
	}
	plain, err := s.cipher.Decrypt(sd.Data)
	if err != nil {
		return s.end(status(messages.StatusSessionEncryptionError), err)
	}
	st := s.answer(plain)
	if !st.Done && sd.Status != nil && *sd.Status == messages.StatusSessionTermination {
		return s.end(st.Send, nil)
	}
	return st
}

func (s *Session) establish(msg []byte) Step {
	se, err := messages.DecodeSessionEstablishment(msg)
	if err != nil {
		return s.end(status(messages.StatusCBORDecodingError), err)
	}
	if s.readerKey, err = se.ReaderKey(); err != nil {
		return s.end(status(messages.StatusCBORDecodingError), err)
	}
	s.transcript = messages.NewProximityTranscript(messages.NewEncodedCBOR(s.engagement), se.EReaderKey, s.handover)
	stb, err := s.transcript.Bytes()
	if err != nil {
		return s.end(status(messages.StatusSessionEncryptionError), err)
	}
	if s.cipher, err = session.Establish(session.RoleDevice, s.eKey, s.readerKey, stb.Raw()); err != nil {
		return s.end(status(messages.StatusSessionEncryptionError), err)
	}
	plain, err := s.cipher.Decrypt(se.Data)
	if err != nil {
		return s.end(status(messages.StatusSessionEncryptionError), err)
	}
	return s.answer(plain)
}

// answer builds, misbehaves on request, encrypts and returns the response to a request.
func (s *Session) answer(plainRequest []byte) Step {
	switch s.cfg.Misbehave {
	case Silent:
		return Step{}
	case TerminateEarly:
		return s.end(status(messages.StatusSessionTermination), errors.New("terminated on purpose"))
	case GarbageResponse:
		return Step{Send: Garbage()}
	}
	if s.cfg.Canned != nil {
		ct, err := s.cipher.Encrypt(s.cfg.Canned)
		if err != nil {
			return s.end(status(messages.StatusSessionTermination), err)
		}
		out, err := messages.Marshal(messages.SessionData{Data: ct})
		if err != nil {
			return s.end(status(messages.StatusSessionTermination), err)
		}
		return Step{Send: out}
	}
	resp := s.respond(plainRequest)
	if s.cfg.Misbehave == Honest {
		// encrypted straight from the encoder's scratch into the message sent
		out, err := messages.MarshalTransient(resp, func(plain []byte) ([]byte, error) {
			n := len(plain) + session.Overhead
			buf := messages.AppendSessionDataHead(make([]byte, 0, messages.SessionDataHeadMax+n), n)
			return s.cipher.EncryptTo(buf, plain)
		})
		if err != nil {
			return s.end(status(messages.StatusSessionTermination), err)
		}
		return Step{Send: out}
	}
	plain, err := messages.Marshal(resp)
	if err != nil {
		return s.end(status(messages.StatusSessionTermination), err)
	}
	ct, err := s.cipher.Encrypt(plain)
	if err != nil {
		return s.end(status(messages.StatusSessionTermination), err)
	}
	switch s.cfg.Misbehave {
	case CorruptSession:
		ct[len(ct)/2] ^= 0x40
	case SkipCounter:
		// Encrypt again: the reader has not seen counter 1, so the second ciphertext
		// (counter 2) arrives out of order.
		if ct, err = s.cipher.Encrypt(plain); err != nil {
			return s.end(status(messages.StatusSessionTermination), err)
		}
	}
	out, err := messages.Marshal(messages.SessionData{Data: ct})
	if err != nil {
		return s.end(status(messages.StatusSessionTermination), err)
	}
	return Step{Send: out}
}

// respond answers a decrypted DeviceRequest with a DeviceResponse; problems with the
// request become a response status rather than a broken session.
func (s *Session) respond(plainRequest []byte) *messages.DeviceResponse {
	req, err := messages.DecodeDeviceRequestBorrowing(plainRequest) // plainRequest is ours
	if err != nil {
		return &messages.DeviceResponse{Version: "1.0", Status: messages.ResponseCBORDecodingError}
	}
	if s.cfg.ReaderTrust != nil && !s.readerAuthentic(req) {
		return &messages.DeviceResponse{Version: "1.0", Status: messages.ResponseGeneralError}
	}
	p := holder.Presenter{Credentials: s.cfg.Credentials, Index: s.cfg.Index}
	opts := holder.PresentOptions{Rand: s.cfg.Rand}
	if s.cfg.UseMAC {
		opts.MACReaderKey = s.readerKey
	}
	if s.cfg.Misbehave == AnswerAnything {
		req = nil // BuildResponse discloses everything for a nil request
	}
	resp, err := p.BuildResponse(req, s.transcript, opts)
	if err != nil {
		return &messages.DeviceResponse{Version: "1.0", Status: messages.ResponseCBORValidationError}
	}
	s.cfg.Misbehave.Apply(resp)
	return resp
}

// Apply alters a built DeviceResponse as m does to a holder's answers: TamperElement
// alters a disclosed item, WrongDeviceKey forges the device authentication,
// RepeatDocument repeats the first document up to RepeatCount copies; the other
// misbehaviours are about the protocol, not the response's content, and change nothing.
// Simulated holders over other protocols (OpenID4VP wallets) misbehave with it too.
func (m Misbehaviour) Apply(resp *messages.DeviceResponse) {
	switch m {
	case TamperElement:
		tamper(resp)
	case WrongDeviceKey:
		forgeDeviceAuth(resp)
	case RepeatDocument:
		for len(resp.Documents) > 0 && len(resp.Documents) < RepeatCount {
			resp.Documents = append(resp.Documents, resp.Documents[0])
		}
	}
}

// RepeatCount is how many copies of its document a RepeatDocument holder sends (the
// attack of issue 14 sent 1,135; this many already cost a reader that verifies them all
// about a hundred times a normal session).
const RepeatCount = 100

// Garbage is what a GarbageResponse holder sends instead of its answer: bytes that are
// not CBOR.
func Garbage() []byte { return []byte{0xff, 0x00, 0x13, 0x37} }

func (s *Session) readerAuthentic(req *messages.DeviceRequest) bool {
	now := time.Now()
	if s.cfg.Now != nil {
		now = s.cfg.Now()
	}
	for i := range req.DocRequests {
		dr := &req.DocRequests[i]
		if dr.ReaderAuth == nil {
			return false
		}
		res := verify.VerifyReaderAuthWith(dr.ReaderAuth, s.transcript, dr.ItemsRequest, verify.ReaderAuthOptions{Trust: s.cfg.ReaderTrust,
			Now: now, Cache: s.cfg.ReaderTrustCache, Revocation: s.cfg.ReaderRevocation})
		if !res.Valid {
			return false
		}
	}
	return true
}

// forgeDeviceAuth replaces each document's device signature or MAC with one no key in
// the MSO made: what a cloned credential without its device key would send.
func forgeDeviceAuth(resp *messages.DeviceResponse) {
	for d := range resp.Documents {
		ds := resp.Documents[d].DeviceSigned
		if ds == nil {
			continue
		}
		if sig := ds.DeviceAuth.DeviceSignature; sig != nil && len(sig.Signature) > 0 {
			sig.Signature = append([]byte(nil), sig.Signature...)
			sig.Signature[len(sig.Signature)/2] ^= 0x01
		}
		if mac := ds.DeviceAuth.DeviceMac; mac != nil && len(mac.Tag) > 0 {
			mac.Tag = append([]byte(nil), mac.Tag...)
			mac.Tag[0] ^= 0x01
		}
	}
}

// tamper alters the random of the first disclosed item: still well-formed CBOR, but its
// digest no longer matches the MSO.
func tamper(resp *messages.DeviceResponse) {
	for d := range resp.Documents {
		ns := resp.Documents[d].IssuerSigned.NameSpaces
		if ns == nil {
			continue
		}
		for name, items := range ns.All() {
			if len(items) == 0 {
				continue
			}
			it, err := messages.DecodeIssuerSignedItem(items[0])
			if err != nil || len(it.Random) == 0 {
				continue
			}
			it.Random[0] ^= 0x01
			enc, err := messages.EncodeToCBOR(it)
			if err != nil {
				continue
			}
			changed := append([]messages.EncodedCBOR{enc}, items[1:]...)
			ns.Set(name, changed)
			return
		}
	}
}
