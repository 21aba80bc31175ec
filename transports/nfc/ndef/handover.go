package ndef

import (
	"encoding/binary"
	"fmt"
)

// Record types of Connection Handover 1.5 and ISO 18013-5.
const (
	TypeHandoverSelect  = "Hs"
	TypeHandoverRequest = "Hr"
	TypeAltCarrier      = "ac"
	TypeCollision       = "cr"
	TypeError           = "err"

	TypeBLEOOB           = "application/vnd.bluetooth.le.oob" // TNF media
	TypeWiFiAware        = "application/vnd.wfa.nan"          // TNF media
	TypeNFC              = "iso.org:18013:nfc"                // TNF external
	TypeDeviceEngagement = "iso.org:18013:deviceengagement"   // TNF external
	TypeReaderEngagement = "iso.org:18013:readerengagement"   // TNF external

	// IDs ISO 18013-5 and Multipaz use.
	IDDeviceEngagement = "mdoc"
	IDReaderEngagement = "mdocreader"
	IDBLE              = "0"
	IDNFC              = "nfc"
	IDWiFiAware        = "W"

	// HandoverVersion is Connection Handover 1.5.
	HandoverVersion = 0x15
)

// Carrier Power States.
const (
	CPSInactive     = 0
	CPSActive       = 1
	CPSActivating   = 2
	CPSUnknownPower = 3
)

// AlternativeCarrier is an `ac` record: the carrier power state, the ID of the carrier
// configuration record and the IDs of auxiliary data records.
type AlternativeCarrier struct {
	CPS        byte
	CarrierRef []byte
	AuxRefs    [][]byte
}

// Record returns the `ac` record.
func (a AlternativeCarrier) Record() Record {
	p := []byte{a.CPS & 0x03, byte(len(a.CarrierRef))}
	p = append(p, a.CarrierRef...)
	p = append(p, byte(len(a.AuxRefs)))
	for _, x := range a.AuxRefs {
		p = append(append(p, byte(len(x))), x...)
	}
	return Record{TNF: TNFWellKnown, Type: []byte(TypeAltCarrier), Payload: p}
}

// ParseAlternativeCarrier decodes an `ac` record payload.
func ParseAlternativeCarrier(p []byte) (AlternativeCarrier, error) {
	var a AlternativeCarrier
	bad := func(what string) (AlternativeCarrier, error) {
		return a, fmt.Errorf("%w: ac record: %s", ErrMalformed, what)
	}
	if len(p) < 3 {
		return bad("too short")
	}
	a.CPS = p[0] & 0x03
	n := int(p[1])
	if len(p) < 2+n+1 {
		return bad("carrier data reference truncated")
	}
	a.CarrierRef = append([]byte{}, p[2:2+n]...)
	p = p[2+n:]
	count := int(p[0])
	p = p[1:]
	for i := 0; i < count; i++ {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return bad("auxiliary data reference truncated")
		}
		a.AuxRefs = append(a.AuxRefs, append([]byte{}, p[1:1+int(p[0])]...))
		p = p[1+int(p[0]):]
	}
	// Reserved bytes may follow (Connection Handover 1.5 §6.2); they are ignored.
	return a, nil
}

// Handover is a Handover Select or Handover Request message: the version, the
// alternative carriers of the embedded message, the collision resolution number (Hr
// only) and the records that follow the Hs/Hr record (carrier configurations, auxiliary
// data), in order.
type Handover struct {
	Select   bool // Hs; otherwise Hr
	Version  byte
	Random   uint16 // cr record (Hr)
	Carriers []AlternativeCarrier
	Records  []Record
	// Embedded, when not nil, are the records embedded in the Hs/Hr payload exactly as
	// decoded (cr, ac, err and any other); Encode uses them instead of Random and Carriers.
	Embedded Message
}

// ParseHandover decodes a Handover Select or Request message. The first record must be
// Hs or Hr; chunked records are rejected.
func ParseHandover(b []byte) (*Handover, error) {
	m, err := Parse(b)
	if err != nil {
		return nil, err
	}
	first := m[0]
	h := &Handover{}
	switch {
	case first.Is(TNFWellKnown, TypeHandoverSelect):
		h.Select = true
	case first.Is(TNFWellKnown, TypeHandoverRequest):
	default:
		return nil, fmt.Errorf("%w: first record is %q, not Hs or Hr", ErrMalformed, first.Type)
	}
	for i, r := range m {
		if r.Chunked {
			return nil, &ParseError{i, fmt.Errorf("%w: chunked record in a handover message", ErrUnsupported)}
		}
	}
	if len(first.Payload) < 1 {
		return nil, &ParseError{0, fmt.Errorf("%w: no version", ErrTruncated)}
	}
	h.Version = first.Payload[0]
	if h.Version>>4 != 1 {
		return nil, &ParseError{0, fmt.Errorf("%w: handover version %#x", ErrUnsupported, h.Version)}
	}
	if len(first.Payload) > 1 {
		emb, err := Parse(first.Payload[1:])
		if err != nil {
			return nil, fmt.Errorf("embedded message: %w", err)
		}
		h.Embedded = emb
		sawCR := false
		for _, r := range emb {
			switch {
			case r.Is(TNFWellKnown, TypeAltCarrier):
				a, err := ParseAlternativeCarrier(r.Payload)
				if err != nil {
					return nil, err
				}
				h.Carriers = append(h.Carriers, a)
			case r.Is(TNFWellKnown, TypeCollision):
				if len(r.Payload) != 2 {
					return nil, fmt.Errorf("%w: cr record of %d bytes", ErrMalformed, len(r.Payload))
				}
				h.Random, sawCR = binary.BigEndian.Uint16(r.Payload), true
			}
		}
		if !h.Select && !sawCR && h.Version >= 0x12 {
			return nil, fmt.Errorf("%w: Handover Request without a cr record", ErrMalformed)
		}
	} else if !h.Select {
		return nil, fmt.Errorf("%w: empty Handover Request", ErrMalformed)
	}
	h.Records = m[1:]
	return h, nil
}

// Encode returns the handover message. Without Embedded, the embedded message is the cr
// record (Hr) followed by the ac records.
func (h *Handover) Encode() ([]byte, error) {
	emb := h.Embedded
	if emb == nil {
		if !h.Select {
			emb = append(emb, Record{TNF: TNFWellKnown, Type: []byte(TypeCollision),
				Payload: binary.BigEndian.AppendUint16(nil, h.Random)})
		}
		for _, a := range h.Carriers {
			emb = append(emb, a.Record())
		}
	}
	v := h.Version
	if v == 0 {
		v = HandoverVersion
	}
	payload := []byte{v}
	if len(emb) > 0 {
		b, err := emb.Encode()
		if err != nil {
			return nil, err
		}
		payload = append(payload, b...)
	}
	typ := TypeHandoverRequest
	if h.Select {
		typ = TypeHandoverSelect
	}
	m := append(Message{{TNF: TNFWellKnown, Type: []byte(typ), Payload: payload}}, h.Records...)
	return m.Encode()
}

// Record returns the record with the given ID among the records after Hs/Hr.
func (h *Handover) Record(id []byte) (*Record, bool) { return Message(h.Records).ByID(id) }

// Carrier returns the configuration record an alternative carrier points at.
func (h *Handover) Carrier(a AlternativeCarrier) (*Record, bool) { return h.Record(a.CarrierRef) }

// DeviceEngagement returns the payload of the iso.org:18013:deviceengagement record:
// the one an ac record names as auxiliary data if any, else the first of that type.
func (h *Handover) DeviceEngagement() ([]byte, bool) {
	for _, a := range h.Carriers {
		for _, aux := range a.AuxRefs {
			if r, ok := h.Record(aux); ok && r.Is(TNFExternal, TypeDeviceEngagement) {
				return r.Payload, true
			}
		}
	}
	if r, ok := Message(h.Records).Find(TNFExternal, TypeDeviceEngagement); ok {
		return r.Payload, true
	}
	return nil, false
}

// ReaderEngagement returns the payload of the iso.org:18013:readerengagement record.
func (h *Handover) ReaderEngagement() ([]byte, bool) {
	if r, ok := Message(h.Records).Find(TNFExternal, TypeReaderEngagement); ok {
		return r.Payload, true
	}
	return nil, false
}

// DeviceEngagementRecord returns the iso.org:18013:deviceengagement record (ID "mdoc").
func DeviceEngagementRecord(de []byte) Record {
	return NewRecord(TNFExternal, TypeDeviceEngagement, IDDeviceEngagement, de)
}

// ReaderEngagementRecord returns the iso.org:18013:readerengagement record (ID "mdocreader").
func ReaderEngagementRecord(re []byte) Record {
	return NewRecord(TNFExternal, TypeReaderEngagement, IDReaderEngagement, re)
}
