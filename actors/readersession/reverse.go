package readersession

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Reverse engagement (18013-7 "website", 23220-4 QR reverse engagement): the reader hands
// out a ReaderEngagement carrying its EReaderKey before any holder shows up, so the key
// must exist before the session does. The holder's first message carries its
// DeviceEngagement, and the SessionTranscript is
// [DeviceEngagementBytes, EReaderKeyBytes (from the ReaderEngagement), ReaderEngagementBytes].
//
// Transports that cannot reach the Session (the engine's session actor calls Start with
// the arrival's engagement and handover) register the key of each ReaderEngagement they
// hand out with RegisterReverse; Start recognises a ReaderEngagementBytes handover and
// takes the registered key.

// reverseKeys maps the bytes of a ReaderEngagement handed out by this process to its
// private EReaderKey.
// ErrUnknownReaderEngagement is the engagement error of a session started with a
// ReaderEngagementBytes handover but without the reader key that engagement carries.
var ErrUnknownReaderEngagement = errors.New("reverse engagement without its reader key: use StartReverse")

// reverseHandover reports whether handover is ReaderEngagementBytes (#6.24 bstr) and
// returns the ReaderEngagement bytes it wraps.
func reverseHandover(handover cbor.RawMessage) ([]byte, bool) {
	if len(handover) < 3 || handover[0] != 0xd8 || handover[1] != 0x18 {
		return nil, false
	}
	e, err := messages.ParseEncodedCBOR(handover)
	if err != nil {
		return nil, false
	}
	return e.Content(), true
}

// startFromHandover is Start's reverse-engagement branch: ok is false for any other
// handover (QR null, NFC arrays).
func (s *Session) startFromHandover(deviceEngagement []byte, handover cbor.RawMessage) (Step, bool) {
	re, ok := reverseHandover(handover)
	if !ok {
		return Step{}, false
	}
	_ = re
	return s.end(Verdict{Outcome: Error, Reason: ReasonEngagement, Detail: ErrUnknownReaderEngagement.Error()}), true
}

// StartReverse engages by reverse engagement: readerKey is the private EReaderKey whose
// public key is in the ReaderEngagement readerEngagement (bytes exactly as handed out),
// deviceEngagement the holder's DeviceEngagement bytes exactly as received in its
// MessageData. The transcript is [DeviceEngagementBytes, EReaderKeyBytes as carried in
// the ReaderEngagement, ReaderEngagementBytes]. The returned step sends a
// SessionEstablishment whose eReaderKey repeats the engagement's key (an mdoc ignores it
// in reverse engagement; sending it keeps forward-only holders working). A key that does
// not match the engagement, a cipher suite other than 1 or a device key on another curve
// end the session with an engagement error.
func (s *Session) StartReverse(readerKey *keys.PrivateKey, readerEngagement, deviceEngagement []byte) Step {
	if s.state != stateNew {
		return s.end(Verdict{Outcome: Error, Reason: ReasonProtocol, Detail: "Start called twice"})
	}
	step, err := s.startReverse(readerKey, readerEngagement, deviceEngagement)
	if err != nil {
		return s.end(Verdict{Outcome: Error, Reason: ReasonEngagement, Detail: err.Error()})
	}
	return step
}

func (s *Session) startReverse(readerKey *keys.PrivateKey, readerEngagement, deviceEngagement []byte) (Step, error) {
	if readerKey == nil {
		return Step{}, errors.New("reverse engagement without a reader key")
	}
	re, err := messages.DecodeEngagement(readerEngagement)
	if err != nil {
		return Step{}, fmt.Errorf("reader engagement: %w", err)
	}
	reKey, err := re.Security.Key()
	if err != nil {
		return Step{}, err
	}
	if !readerKey.COSEKey().Equal(reKey) {
		return Step{}, errors.New("reader key does not match the reader engagement")
	}
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
	if deviceKey.Crv != readerKey.Curve() {
		return Step{}, fmt.Errorf("EDeviceKey on curve %d, EReaderKey on curve %d", deviceKey.Crv, readerKey.Curve())
	}
	s.readerKey = readerKey
	eReaderKeyBytes := re.Security.KeyBytes
	handover := messages.ReaderEngagementHandover(messages.NewEncodedCBOR(readerEngagement))
	s.transcript = messages.NewProximityTranscript(messages.NewEncodedCBOR(deviceEngagement), eReaderKeyBytes, handover)
	return s.establish(deviceKey, eReaderKeyBytes)
}
