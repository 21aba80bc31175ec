package ndef

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// TNEP record types and the handover service name.
const (
	TypeServiceParameter = "Tp"
	TypeServiceSelect    = "Ts"
	TypeStatus           = "Te"
	ServiceHandover      = "urn:nfc:sn:handover"
	TNEPVersion          = 0x10
	TNEPStatusSuccess    = 0x00
	TNEPStatusTimeout    = 0x01 // "protocol error/timeout"
)

// ServiceParameter is a TNEP Service Parameter record (Tp): the tag's offer of a service.
type ServiceParameter struct {
	Version     byte
	URI         string
	Mode        byte // communication mode: 0 single response
	WTInt       byte // minimum waiting time: 2^(WTInt/4 − 1) ms
	NWait       byte // maximum number of waiting time extensions
	MaxNDEFSize uint16
}

// MinWait is the minimum waiting time the tag asks for between a write and the read of
// its answer.
func (s ServiceParameter) MinWait() time.Duration {
	ms := math.Pow(2, float64(s.WTInt)/4-1)
	return time.Duration(ms * float64(time.Millisecond))
}

// Record returns the Tp record.
func (s ServiceParameter) Record() Record {
	v := s.Version
	if v == 0 {
		v = TNEPVersion
	}
	p := []byte{v, byte(len(s.URI))}
	p = append(p, s.URI...)
	p = append(p, s.Mode, s.WTInt, s.NWait)
	p = binary.BigEndian.AppendUint16(p, s.MaxNDEFSize)
	return NewRecord(TNFWellKnown, TypeServiceParameter, "", p)
}

// ParseServiceParameter decodes a Tp payload.
func ParseServiceParameter(p []byte) (ServiceParameter, error) {
	var s ServiceParameter
	if len(p) < 2 || len(p) != 2+int(p[1])+5 {
		return s, fmt.Errorf("%w: Tp record of %d bytes", ErrMalformed, len(p))
	}
	n := int(p[1])
	s.Version, s.URI = p[0], string(p[2:2+n])
	q := p[2+n:]
	s.Mode, s.WTInt, s.NWait = q[0], q[1], q[2]
	s.MaxNDEFSize = binary.BigEndian.Uint16(q[3:])
	if s.WTInt > 63 || s.NWait > 15 {
		return s, fmt.Errorf("%w: Tp waiting time WT_INT %d N_wait %d", ErrMalformed, s.WTInt, s.NWait)
	}
	return s, nil
}

// ServiceSelectRecord returns a TNEP Service Select record (Ts) for the service uri.
func ServiceSelectRecord(uri string) Record {
	return NewRecord(TNFWellKnown, TypeServiceSelect, "", append([]byte{byte(len(uri))}, uri...))
}

// ParseServiceSelect decodes a Ts payload and returns the service name.
func ParseServiceSelect(p []byte) (string, error) {
	if len(p) < 1 || len(p) != 1+int(p[0]) {
		return "", fmt.Errorf("%w: Ts record of %d bytes", ErrMalformed, len(p))
	}
	return string(p[1:]), nil
}

// StatusRecord returns a TNEP Status record (Te).
func StatusRecord(status byte) Record {
	return NewRecord(TNFWellKnown, TypeStatus, "", []byte{status})
}

// ParseStatus decodes a Te payload.
func ParseStatus(p []byte) (byte, error) {
	if len(p) != 1 {
		return 0, fmt.Errorf("%w: Te record of %d bytes", ErrMalformed, len(p))
	}
	return p[0], nil
}
