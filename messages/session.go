package messages

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// SessionData status codes (18013-5 Table 20).
const (
	StatusSessionEncryptionError = 10
	StatusCBORDecodingError      = 11
	StatusSessionTermination     = 20
)

// SessionEstablishment is the reader's first message: its ephemeral key and the encrypted
// DeviceRequest.
type SessionEstablishment struct {
	EReaderKey EncodedCBOR `cbor:"eReaderKey"`
	Data       []byte      `cbor:"data"`
}

// UnmarshalCBOR decodes the map in any key order; data must be a byte string (an array
// of small integers or null is refused). Unknown text keys are ignored; presence is
// checked by DecodeSessionEstablishment.
func (s *SessionEstablishment) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(s, data)
}

func (s *SessionEstablishment) topMap() bool { return true }

func (s *SessionEstablishment) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("SessionEstablishment", data, t); err != nil {
		return err
	}
	f.own("eReaderKey", &s.EReaderKey, false)
	f.bytes("data", &s.Data, false)
	return f.err
}

// DecodeSessionEstablishment decodes and checks that both fields are present.
func DecodeSessionEstablishment(data []byte) (*SessionEstablishment, error) {
	var s SessionEstablishment
	if err := decodeAs("SessionEstablishment", data, &s); err != nil {
		return nil, err
	}
	if s.EReaderKey.IsZero() {
		return nil, &DecodeError{"SessionEstablishment", errors.New("eReaderKey missing")}
	}
	if len(s.Data) == 0 {
		return nil, &DecodeError{"SessionEstablishment", errors.New("data missing or empty")}
	}
	return &s, nil
}

// ReaderKey decodes EReaderKey.
func (s *SessionEstablishment) ReaderKey() (*COSEKey, error) {
	var k COSEKey
	if err := s.EReaderKey.decodeInto(&k); err != nil {
		return nil, fmt.Errorf("eReaderKey: %w", err)
	}
	return &k, nil
}

// SessionData is every later session message: encrypted data, a status, or both.
type SessionData struct {
	Data   []byte  `cbor:"data,omitempty"`
	Status *uint64 `cbor:"status,omitempty"`
}

// appendCBOR writes data then status, each only when present (the struct tags' encoding).
func (s SessionData) appendCBOR(dst []byte) ([]byte, error) {
	n := uint64(0)
	if len(s.Data) > 0 {
		n++
	}
	if s.Status != nil {
		n++
	}
	dst = appendHead(dst, majorMap, n)
	if len(s.Data) > 0 {
		dst = appendHead(append(appendHead(dst, majorText, 4), "data"...), majorBytes, uint64(len(s.Data)))
		dst = append(dst, s.Data...)
	}
	if s.Status != nil {
		dst = appendHead(append(appendHead(dst, majorText, 6), "status"...), majorUint, *s.Status)
	}
	return dst, nil
}

// SessionDataHeadMax is the most bytes AppendSessionDataHead appends.
const SessionDataHeadMax = 1 + 5 + 9

// AppendSessionDataHead appends the encoding of a SessionData holding only data of
// dataLen bytes (dataLen > 0), up to and not including those bytes: the caller appends
// exactly dataLen bytes to complete it, as Marshal(SessionData{Data: data}) would write
// it. A sender can so encrypt straight into the message it sends.
func AppendSessionDataHead(dst []byte, dataLen int) []byte {
	dst = appendHead(dst, majorMap, 1)
	return appendHead(append(appendHead(dst, majorText, 4), "data"...), majorBytes, uint64(dataLen))
}

// UnmarshalCBOR decodes the map in any key order; data must be a byte string and status
// an unsigned integer, neither null. Unknown text keys are ignored; presence is checked
// by DecodeSessionData.
func (s *SessionData) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(s, data)
}

func (s *SessionData) topMap() bool { return true }

func (s *SessionData) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("SessionData", data, t); err != nil {
		return err
	}
	f.bytes("data", &s.Data, false)
	if raw, ok := f.take("status", false); ok {
		status := new(uint64)
		if f.fail("status", decodeUint(raw, status)) {
			s.Status = status
		}
	}
	return f.err
}

// NewSessionStatus builds a SessionData carrying only a status.
func NewSessionStatus(status uint64) SessionData { return SessionData{Status: &status} }

// DecodeSessionData decodes a SessionData; at least one of data and status must be present.
func DecodeSessionData(data []byte) (*SessionData, error) {
	return decodeSessionData(data, false)
}

// DecodeSessionDataBorrowing is DecodeSessionData whose result may share data's memory
// instead of copying it: data must stay unchanged while the result is in use.
func DecodeSessionDataBorrowing(data []byte) (*SessionData, error) {
	return decodeSessionData(data, true)
}

func decodeSessionData(data []byte, borrow bool) (*SessionData, error) {
	var s SessionData
	if err := decodeAsFrom("SessionData", data, &s, borrow); err != nil {
		return nil, err
	}
	if s.Data == nil && s.Status == nil {
		return nil, &DecodeError{"SessionData", errors.New("neither data nor status")}
	}
	return &s, nil
}

// IsTermination reports a status 10, 11 or 20: each ends the session.
func (s *SessionData) IsTermination() bool {
	return s.Status != nil && (*s.Status == StatusSessionTermination ||
		*s.Status == StatusSessionEncryptionError || *s.Status == StatusCBORDecodingError)
}

// MessageData is the mdoc's first message in reverse engagement.
type MessageData struct {
	DeviceEngagementBytes EncodedCBOR `cbor:"deviceEngagementBytes"`
}

// SessionTranscript is [DeviceEngagementBytes / null, EReaderKeyBytes / null, Handover].
type SessionTranscript struct {
	DeviceEngagementBytes *EncodedCBOR // nil encodes as null (OpenID4VP and DC API)
	EReaderKeyBytes       *EncodedCBOR
	Handover              cbor.RawMessage // encoded Handover; see the New*Handover functions
}

type transcriptArray struct {
	_                     struct{} `cbor:",toarray"`
	DeviceEngagementBytes *EncodedCBOR
	EReaderKeyBytes       *EncodedCBOR
	Handover              cbor.RawMessage
}

// MarshalCBOR writes the 3-element array (the form embedded in ReaderAuthentication and
// DeviceAuthentication).
func (t SessionTranscript) MarshalCBOR() ([]byte, error) { return t.appendCBOR(nil) }

func (t SessionTranscript) appendCBOR(dst []byte) ([]byte, error) {
	if len(t.Handover) == 0 {
		return nil, errors.New("SessionTranscript: handover missing")
	}
	dst = appendHead(dst, majorArray, 3)
	var err error
	for _, e := range []*EncodedCBOR{t.DeviceEngagementBytes, t.EReaderKeyBytes} {
		if e == nil {
			dst = append(dst, 0xf6)
		} else if dst, err = e.appendCBOR(dst); err != nil {
			return nil, err
		}
	}
	return appendRaw(dst, t.Handover)
}

// UnmarshalCBOR reads the array; null elements become nil.
func (t *SessionTranscript) UnmarshalCBOR(data []byte) error {
	return t.decode(data, 0)
}

// decode goes through the decode mode, which copies what it keeps.
func (t *SessionTranscript) decode(data []byte, _ trust) error {
	var a transcriptArray
	if err := decMode.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("SessionTranscript: %w", err)
	}
	*t = SessionTranscript{DeviceEngagementBytes: a.DeviceEngagementBytes,
		EReaderKeyBytes: a.EReaderKeyBytes, Handover: a.Handover}
	return nil
}

func (t *SessionTranscript) viaDecMode() {}

// Bytes returns SessionTranscriptBytes = #6.24(bstr .cbor SessionTranscript), the input
// to the session key salt and EMacKey.
func (t SessionTranscript) Bytes() (EncodedCBOR, error) { return EncodeToCBOR(t) }

// DecodeSessionTranscript accepts either the array or SessionTranscriptBytes (tag 24).
func DecodeSessionTranscript(data []byte) (*SessionTranscript, error) {
	var t SessionTranscript
	if isTag24(data) {
		e, err := ParseEncodedCBOR(data)
		if err != nil {
			return nil, &DecodeError{"SessionTranscriptBytes", err}
		}
		data = e.Content()
	}
	if err := decodeAs("SessionTranscript", data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// NewProximityTranscript builds the transcript of a proximity or reverse engagement.
func NewProximityTranscript(deviceEngagementBytes, eReaderKeyBytes EncodedCBOR, handover cbor.RawMessage) SessionTranscript {
	return SessionTranscript{DeviceEngagementBytes: &deviceEngagementBytes,
		EReaderKeyBytes: &eReaderKeyBytes, Handover: handover}
}

// QRHandover is the Handover of a QR engagement: null.
func QRHandover() cbor.RawMessage { return cbor.RawMessage{0xf6} }

// NFCHandover is [HandoverSelect message, HandoverRequest message or null]; pass a nil
// request for static handover.
func NFCHandover(handoverSelect, handoverRequest []byte) cbor.RawMessage {
	var hr any
	if handoverRequest != nil {
		hr = handoverRequest
	}
	return mustMarshal([]any{handoverSelect, hr})
}

// ReaderEngagementHandover is the Handover of a reverse engagement: ReaderEngagementBytes.
func ReaderEngagementHandover(readerEngagementBytes EncodedCBOR) cbor.RawMessage {
	return cbor.RawMessage(readerEngagementBytes.Raw())
}

// OpenID4VPHandover is the OpenID4VP 1.0 (redirect) handover:
// ["OpenID4VPHandover", SHA-256(CBOR([client_id, nonce, jwk_thumbprint / null, response_uri]))].
// A nil thumbprint encodes as null (response not encrypted).
func OpenID4VPHandover(clientID, nonce string, jwkThumbprint []byte, responseURI string) cbor.RawMessage {
	info := mustMarshal([]any{clientID, nonce, nilIfEmpty(jwkThumbprint), responseURI})
	h := sha256.Sum256(info)
	return mustMarshal([]any{"OpenID4VPHandover", h[:]})
}

// OpenID4VPHandoverInfo returns the CBOR the OpenID4VP handover hashes.
func OpenID4VPHandoverInfo(clientID, nonce string, jwkThumbprint []byte, responseURI string) []byte {
	return mustMarshal([]any{clientID, nonce, nilIfEmpty(jwkThumbprint), responseURI})
}

// OpenID4VPDCAPIHandover is the OpenID4VP 1.0 DC API handover:
// ["OpenID4VPDCAPIHandover", SHA-256(CBOR([origin, nonce, jwk_thumbprint / null]))].
func OpenID4VPDCAPIHandover(origin, nonce string, jwkThumbprint []byte) cbor.RawMessage {
	h := sha256.Sum256(OpenID4VPDCAPIHandoverInfo(origin, nonce, jwkThumbprint))
	return mustMarshal([]any{"OpenID4VPDCAPIHandover", h[:]})
}

// OpenID4VPDCAPIHandoverInfo returns the CBOR the DC API handover hashes.
func OpenID4VPDCAPIHandoverInfo(origin, nonce string, jwkThumbprint []byte) []byte {
	return mustMarshal([]any{origin, nonce, nilIfEmpty(jwkThumbprint)})
}

// ISO18013_7AnnexBHandover is the handover of ISO/IEC 18013-7:2024 Annex B (the
// OpenID4VP draft profile that came before OpenID4VP 1.0; not OpenID4VPHandover):
// [SHA-256(CBOR([client_id, mdocGeneratedNonce])), SHA-256(CBOR([response_uri, mdocGeneratedNonce])), nonce].
func ISO18013_7AnnexBHandover(clientID, responseURI, nonce, mdocGeneratedNonce string) cbor.RawMessage {
	c := sha256.Sum256(mustMarshal([]any{clientID, mdocGeneratedNonce}))
	r := sha256.Sum256(mustMarshal([]any{responseURI, mdocGeneratedNonce}))
	return mustMarshal([]any{c[:], r[:], nonce})
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
