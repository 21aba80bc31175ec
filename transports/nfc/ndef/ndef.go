// Package ndef encodes and decodes NDEF messages (NFC Forum NDEF 1.0) and the records
// ISO 18013-5 NFC engagement uses: Connection Handover 1.5 Handover Select and Request
// (Hs, Hr, ac, cr), carrier configuration records for BLE, NFC and Wi-Fi Aware, the
// DeviceEngagement and ReaderEngagement records, and the TNEP records (Tp, Ts, Te).
//
// Guarantees: decoding is bounded (at most MaxRecords records per message, no record
// longer than the input, nested messages one level deep only) and never panics on any
// input; a message that decodes re-encodes to the same bytes (record flags, short/long
// form, chunking and ID presence are kept), so Annex D handover messages round-trip
// byte for byte.
package ndef

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// TNF is a record's Type Name Format.
type TNF uint8

// Type Name Formats.
const (
	TNFEmpty     TNF = 0
	TNFWellKnown TNF = 1
	TNFMedia     TNF = 2
	TNFURI       TNF = 3
	TNFExternal  TNF = 4
	TNFUnknown   TNF = 5
	TNFUnchanged TNF = 6 // middle and last chunks of a chunked record
	TNFReserved  TNF = 7
)

// Record header flags.
const (
	flagMB = 0x80
	flagME = 0x40
	flagCF = 0x20
	flagSR = 0x10
	flagIL = 0x08
)

// Limits of the decoder.
const (
	// MaxRecords is the largest number of records in one message.
	MaxRecords = 256
	// MaxPayload is the largest payload of one record (the input bounds it too).
	MaxPayload = 1 << 20
)

// Errors of the decoder; they wrap into *ParseError values that name the record.
var (
	ErrTruncated   = errors.New("ndef: truncated record")
	ErrMalformed   = errors.New("ndef: malformed record")
	ErrTooMany     = errors.New("ndef: too many records")
	ErrTooLarge    = errors.New("ndef: payload too large")
	ErrNotFound    = errors.New("ndef: record not found")
	ErrUnsupported = errors.New("ndef: unsupported content")
)

// ParseError says which record of a message failed to decode and why.
type ParseError struct {
	Record int // index of the record, 0-based
	Err    error
}

func (e *ParseError) Error() string { return fmt.Sprintf("ndef: record %d: %v", e.Record, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Record is one NDEF record as it appears on the wire. MB and ME are not stored: they
// follow from the record's position in its Message.
type Record struct {
	TNF     TNF
	Type    []byte
	ID      []byte // nil: no ID field (IL clear); empty non-nil: IL set with length 0
	Payload []byte
	// Chunked is the CF flag: this record is a chunk and more chunks follow.
	Chunked bool
	// Long forces the 4-byte payload length (SR clear) even for payloads under 256
	// bytes; set by the decoder when the input used it.
	Long bool
}

// NewRecord returns a record with a short-form header where the payload allows.
func NewRecord(tnf TNF, typ string, id string, payload []byte) Record {
	r := Record{TNF: tnf, Type: []byte(typ), Payload: payload}
	if id != "" {
		r.ID = []byte(id)
	}
	return r
}

// Is reports whether the record has the given TNF and type.
func (r *Record) Is(tnf TNF, typ string) bool { return r.TNF == tnf && string(r.Type) == typ }

// Message is an NDEF message: its records in order.
type Message []Record

// Parse decodes an NDEF message. The records keep the input's wire form (see Record).
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, &ParseError{0, ErrTruncated}
	}
	var m Message
	for i := 0; len(b) > 0; i++ {
		if i >= MaxRecords {
			return nil, &ParseError{i, ErrTooMany}
		}
		r, n, last, err := parseRecord(b, i == 0)
		if err != nil {
			return nil, &ParseError{i, err}
		}
		m = append(m, r)
		b = b[n:]
		if last {
			if len(b) != 0 {
				return nil, &ParseError{i, fmt.Errorf("%w: %d bytes after the ME record", ErrMalformed, len(b))}
			}
			return m, m.checkChunks()
		}
	}
	return nil, &ParseError{len(m), fmt.Errorf("%w: no ME record", ErrTruncated)}
}

func parseRecord(b []byte, first bool) (r Record, n int, last bool, err error) {
	hdr := b[0]
	if (hdr&flagMB != 0) != first {
		return r, 0, false, fmt.Errorf("%w: MB flag %v on record that is first=%v", ErrMalformed, hdr&flagMB != 0, first)
	}
	r.TNF = TNF(hdr & 0x07)
	r.Chunked = hdr&flagCF != 0
	p := 1
	need := func(k int) bool { return len(b)-p >= k }
	if !need(1) {
		return r, 0, false, ErrTruncated
	}
	typeLen := int(b[p])
	p++
	var payloadLen uint64
	if hdr&flagSR != 0 {
		if !need(1) {
			return r, 0, false, ErrTruncated
		}
		payloadLen = uint64(b[p])
		p++
	} else {
		if !need(4) {
			return r, 0, false, ErrTruncated
		}
		payloadLen = uint64(binary.BigEndian.Uint32(b[p:]))
		p += 4
		r.Long = payloadLen < 256
	}
	idLen := -1
	if hdr&flagIL != 0 {
		if !need(1) {
			return r, 0, false, ErrTruncated
		}
		idLen = int(b[p])
		p++
	}
	if payloadLen > MaxPayload {
		return r, 0, false, fmt.Errorf("%w: %d bytes", ErrTooLarge, payloadLen)
	}
	if !need(typeLen) {
		return r, 0, false, ErrTruncated
	}
	r.Type = bytes.Clone(b[p : p+typeLen])
	p += typeLen
	if idLen >= 0 {
		if !need(idLen) {
			return r, 0, false, ErrTruncated
		}
		r.ID = append([]byte{}, b[p:p+idLen]...)
		p += idLen
	}
	if !need(int(payloadLen)) {
		return r, 0, false, fmt.Errorf("%w: payload of %d bytes, %d left", ErrTruncated, payloadLen, len(b)-p)
	}
	r.Payload = bytes.Clone(b[p : p+int(payloadLen)])
	if r.Payload == nil {
		r.Payload = []byte{}
	}
	p += int(payloadLen)
	switch r.TNF {
	case TNFEmpty:
		if typeLen != 0 || idLen > 0 || payloadLen != 0 {
			return r, 0, false, fmt.Errorf("%w: empty record with content", ErrMalformed)
		}
	case TNFUnknown, TNFUnchanged:
		if typeLen != 0 {
			return r, 0, false, fmt.Errorf("%w: TNF %d with a type", ErrMalformed, r.TNF)
		}
	case TNFReserved:
		return r, 0, false, fmt.Errorf("%w: reserved TNF 7", ErrMalformed)
	default:
		if typeLen == 0 {
			return r, 0, false, fmt.Errorf("%w: TNF %d without a type", ErrMalformed, r.TNF)
		}
	}
	return r, p, hdr&flagME != 0, nil
}

// checkChunks verifies the chunking rules: a chunk sequence starts with a typed record
// with CF set, continues with TNF Unchanged records without ID, and ends with a CF-clear
// Unchanged record; Unchanged appears nowhere else.
func (m Message) checkChunks() error {
	in := false
	for i, r := range m {
		switch {
		case in && r.TNF != TNFUnchanged:
			return &ParseError{i, fmt.Errorf("%w: chunk with TNF %d", ErrMalformed, r.TNF)}
		case in && r.ID != nil:
			return &ParseError{i, fmt.Errorf("%w: ID on a middle chunk", ErrMalformed)}
		case !in && r.TNF == TNFUnchanged:
			return &ParseError{i, fmt.Errorf("%w: TNF Unchanged outside a chunk sequence", ErrMalformed)}
		}
		in = r.Chunked
	}
	if in {
		return &ParseError{len(m) - 1, fmt.Errorf("%w: last record has CF set", ErrMalformed)}
	}
	return nil
}

// Encode returns the wire form: MB on the first record, ME on the last, SR where the
// payload fits in one byte and Long is not set, IL where ID is not nil.
func (m Message) Encode() ([]byte, error) {
	if len(m) == 0 {
		return nil, errors.New("ndef: empty message")
	}
	var out []byte
	for i, r := range m {
		if len(r.Type) > 255 || len(r.ID) > 255 || uint64(len(r.Payload)) > 0xffffffff {
			return nil, fmt.Errorf("ndef: record %d: type, ID or payload too long", i)
		}
		if r.TNF > TNFReserved-1 {
			return nil, fmt.Errorf("ndef: record %d: bad TNF %d", i, r.TNF)
		}
		hdr := byte(r.TNF)
		if i == 0 {
			hdr |= flagMB
		}
		if i == len(m)-1 {
			hdr |= flagME
		}
		if r.Chunked {
			hdr |= flagCF
		}
		short := len(r.Payload) < 256 && !r.Long
		if short {
			hdr |= flagSR
		}
		if r.ID != nil {
			hdr |= flagIL
		}
		out = append(out, hdr, byte(len(r.Type)))
		if short {
			out = append(out, byte(len(r.Payload)))
		} else {
			out = binary.BigEndian.AppendUint32(out, uint32(len(r.Payload)))
		}
		if r.ID != nil {
			out = append(out, byte(len(r.ID)))
		}
		out = append(out, r.Type...)
		out = append(out, r.ID...)
		out = append(out, r.Payload...)
	}
	return out, nil
}

// MustEncode is Encode for messages built by this package's constructors.
func (m Message) MustEncode() []byte {
	b, err := m.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// Join returns the message with every chunk sequence merged into one record (the first
// chunk's TNF, type and ID, all payloads concatenated). The result is bounded by
// MaxPayload per record.
func (m Message) Join() (Message, error) {
	var out Message
	for i := 0; i < len(m); i++ {
		r := m[i]
		if !r.Chunked {
			out = append(out, r)
			continue
		}
		joined := Record{TNF: r.TNF, Type: r.Type, ID: r.ID, Payload: bytes.Clone(r.Payload)}
		for r.Chunked {
			i++
			if i >= len(m) {
				return nil, &ParseError{i - 1, fmt.Errorf("%w: unterminated chunk sequence", ErrMalformed)}
			}
			r = m[i]
			if len(joined.Payload)+len(r.Payload) > MaxPayload {
				return nil, &ParseError{i, ErrTooLarge}
			}
			joined.Payload = append(joined.Payload, r.Payload...)
		}
		out = append(out, joined)
	}
	return out, nil
}

// Chunk splits r into chunks of at most size payload bytes (size ≥ 1).
func Chunk(r Record, size int) Message {
	if size < 1 || len(r.Payload) <= size {
		return Message{r}
	}
	var out Message
	for off := 0; off < len(r.Payload); off += size {
		end := min(off+size, len(r.Payload))
		c := Record{TNF: TNFUnchanged, Payload: r.Payload[off:end], Chunked: end < len(r.Payload)}
		if off == 0 {
			c.TNF, c.Type, c.ID = r.TNF, r.Type, r.ID
		}
		out = append(out, c)
	}
	return out
}

// Find returns the first record with the given TNF and type.
func (m Message) Find(tnf TNF, typ string) (*Record, bool) {
	for i := range m {
		if m[i].Is(tnf, typ) {
			return &m[i], true
		}
	}
	return nil, false
}

// ByID returns the first record whose ID is id.
func (m Message) ByID(id []byte) (*Record, bool) {
	for i := range m {
		if m[i].ID != nil && bytes.Equal(m[i].ID, id) {
			return &m[i], true
		}
	}
	return nil, false
}
