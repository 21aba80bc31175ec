package reference

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
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
	f, err := newFieldMap[string]("SessionEstablishment", data)
	if err != nil {
		return err
	}
	var out SessionEstablishment
	f.opt("eReaderKey", &out.EReaderKey)
	f.opt("data", &out.Data)
	if f.err != nil {
		return f.err
	}
	*s = out
	return nil
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

// SessionData is every later session message: encrypted data, a status, or both.
type SessionData struct {
	Data   []byte  `cbor:"data,omitempty"`
	Status *uint64 `cbor:"status,omitempty"`
}

// UnmarshalCBOR decodes the map in any key order; data must be a byte string and status
// an unsigned integer, neither null. Unknown text keys are ignored; presence is checked
// by DecodeSessionData.
func (s *SessionData) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("SessionData", data)
	if err != nil {
		return err
	}
	var out SessionData
	f.opt("data", &out.Data)
	var status uint64
	if f.opt("status", &status) {
		out.Status = &status
	}
	if f.err != nil {
		return f.err
	}
	*s = out
	return nil
}

// DecodeSessionData decodes a SessionData; at least one of data and status must be present.
func DecodeSessionData(data []byte) (*SessionData, error) {
	var s SessionData
	if err := decodeAs("SessionData", data, &s); err != nil {
		return nil, err
	}
	if s.Data == nil && s.Status == nil {
		return nil, &DecodeError{"SessionData", errors.New("neither data nor status")}
	}
	return &s, nil
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

// UnmarshalCBOR reads the array; null elements become nil.
func (t *SessionTranscript) UnmarshalCBOR(data []byte) error {
	var a transcriptArray
	if err := decMode.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("SessionTranscript: %w", err)
	}
	*t = SessionTranscript{DeviceEngagementBytes: a.DeviceEngagementBytes,
		EReaderKeyBytes: a.EReaderKeyBytes, Handover: a.Handover}
	return nil
}

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
