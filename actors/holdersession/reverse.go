package holdersession

import (
	"errors"
	"fmt"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
)

// Reverse engagement (18013-7 "website", 23220-4 QR reverse engagement): the holder got
// the reader's ReaderEngagement (mdoc:// link, QR code, universal link) and speaks first.
// Its first message is MessageData {"deviceEngagementBytes": DeviceEngagementBytes}; the
// SessionTranscript is [DeviceEngagementBytes, EReaderKeyBytes from the ReaderEngagement,
// ReaderEngagementBytes], so the session keys exist before the reader's first message.
// The reader's first message may be a SessionEstablishment (its eReaderKey is ignored) or
// a plain SessionData.

// NewReverse starts a holder session answering the ReaderEngagement readerEngagement
// (bytes exactly as received). The ephemeral device key is made on the curve of the
// reader's key; cfg.Curve is ignored. The DeviceEngagement is version "1.1" with
// cfg.Methods and one website OriginInfo (category receive) naming origin, the origin the
// engagement came from as the holder saw it; an empty origin gives an empty OriginInfos
// array. Send FirstMessage to the reader, then feed its answers to Receive.
func NewReverse(cfg *Config, readerEngagement []byte, origin string) (*Session, error) {
	re, err := messages.DecodeEngagement(readerEngagement)
	if err != nil {
		return nil, fmt.Errorf("holder: reader engagement: %w", err)
	}
	if re.Security.CipherSuite != messages.CipherSuite1 {
		return nil, fmt.Errorf("holder: reader engagement: unsupported cipher suite %d", re.Security.CipherSuite)
	}
	readerKey, err := re.Security.Key()
	if err != nil {
		return nil, fmt.Errorf("holder: reader engagement: %w", err)
	}
	k, err := keys.Generate(readerKey.Crv, cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("holder: EDeviceKey: %w", err)
	}
	de, err := messages.NewEngagement(k.COSEKey(), cfg.Methods...)
	if err != nil {
		return nil, err
	}
	de.Version = "1.1"
	de.OriginInfos = []messages.OriginInfo{}
	if origin != "" {
		de.OriginInfos = append(de.OriginInfos, messages.NewWebsiteOriginInfo(messages.OriginCatReceive, origin))
	}
	b, err := messages.Marshal(de)
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, eKey: k, engagement: b}
	if err := s.bindReverse(readerEngagement); err != nil {
		return nil, err
	}
	return s, nil
}

// FirstMessage is the holder's first message in reverse engagement:
// MessageData {"deviceEngagementBytes": #6.24(DeviceEngagement)}.
func (s *Session) FirstMessage() []byte {
	b, _ := messages.Marshal(messages.MessageData{DeviceEngagementBytes: messages.NewEncodedCBOR(s.engagement)})
	return b
}

// Transcript returns the SessionTranscript once the session keys exist.
func (s *Session) Transcript() messages.SessionTranscript { return s.transcript }

// bindReverse derives the session keys from a ReaderEngagement.
func (s *Session) bindReverse(readerEngagement []byte) error {
	re, err := messages.DecodeEngagement(readerEngagement)
	if err != nil {
		return fmt.Errorf("holder: reader engagement: %w", err)
	}
	if s.readerKey, err = re.Security.Key(); err != nil {
		return fmt.Errorf("holder: reader engagement: %w", err)
	}
	s.handover = messages.ReaderEngagementHandover(messages.NewEncodedCBOR(readerEngagement))
	s.transcript = messages.NewProximityTranscript(messages.NewEncodedCBOR(s.engagement), re.Security.KeyBytes, s.handover)
	stb, err := s.transcript.Bytes()
	if err != nil {
		return err
	}
	if s.cipher, err = session.Establish(session.RoleDevice, s.eKey, s.readerKey, stb.Raw()); err != nil {
		return fmt.Errorf("holder: %w", err)
	}
	return nil
}

// BindReverse makes a session built with New answer a reverse engagement: its transport
// (the web bearer's Engage, a transports.ReverseEngagedConn) fetched readerEngagement
// (bytes exactly as received) and sent the MessageData with this session's
// DeviceEngagement itself. The session derives its keys from readerEngagement as
// NewReverse does, instead of taking the reader key from a SessionEstablishment; call it
// before the reader's first message reaches Receive.
func (s *Session) BindReverse(readerEngagement []byte) error {
	if s.cipher != nil {
		return errors.New("holder: session keys already established")
	}
	if len(readerEngagement) == 0 {
		return errors.New("holder: empty reader engagement")
	}
	return s.bindReverse(readerEngagement)
}
