// Package apdu encodes and decodes ISO/IEC 7816-4 command and response APDUs (short and
// extended length) and implements ISO 18013-5 NFC data retrieval on top of them: SELECT
// of the mdoc application (AID A0 00 00 02 48 04 00), session messages in a DO'53'
// carried by ENVELOPE (INS C3) with command chaining, responses fetched with GET
// RESPONSE (INS C0) on 61XX, and negotiated command and response sizes with a fallback
// to short APDUs.
//
// Guarantees: parsers never panic and never read past their input; every length field
// is checked against the bytes present; a reader never buffers more than its message
// limit nor follows more than its GET RESPONSE cap; every failure is a typed error
// (ErrMalformed, ErrTooLarge, ErrChainTooLong, *StatusError) that names the failing step.
package apdu

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Instructions and classes used here.
const (
	CLAChaining   = 0x10 // command chaining bit
	INSSelect     = 0xA4
	INSReadBinary = 0xB0
	INSUpdate     = 0xD6
	INSEnvelope   = 0xC3
	INSGetResp    = 0xC0
)

// Status words.
const (
	SWOK              uint16 = 0x9000
	SWMoreData        uint16 = 0x6100 // low byte: bytes still available (00: 256 or more)
	SWWrongLength     uint16 = 0x6700
	SWConditions      uint16 = 0x6985
	SWNotFound        uint16 = 0x6A82
	SWWrongP1P2       uint16 = 0x6B00
	SWINSNotSupported uint16 = 0x6D00
	SWCLANotSupported uint16 = 0x6E00
	SWUnknown         uint16 = 0x6F00
	SWEndOfFile       uint16 = 0x6282
	SWLastNotChained  uint16 = 0x6883 // last command of a chain expected
	SWChainNotAllowed uint16 = 0x6884
)

// Size limits of the encoding.
const (
	MaxShortData    = 255
	MaxShortNe      = 256
	MaxExtendedData = 65535
	MaxExtendedNe   = 65536
)

// MdocAID is the ISO 18013-5 NFC data retrieval application.
var MdocAID = []byte{0xA0, 0x00, 0x00, 0x02, 0x48, 0x04, 0x00}

// Errors. Decoding errors wrap ErrMalformed.
var (
	ErrMalformed    = errors.New("apdu: malformed APDU")
	ErrTooLarge     = errors.New("apdu: message exceeds the size limit")
	ErrChainTooLong = errors.New("apdu: too many GET RESPONSE or chained commands")
)

// StatusError is a response whose status word the step did not accept.
type StatusError struct {
	Step string
	SW   uint16
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("apdu: %s: status %04X (%s)", e.Step, e.SW, SWText(e.SW))
}

// SWText describes a status word.
func SWText(sw uint16) string {
	switch {
	case sw == SWOK:
		return "ok"
	case sw&0xff00 == SWMoreData:
		return "more data"
	case sw == SWWrongLength:
		return "wrong length"
	case sw == SWConditions:
		return "conditions of use not satisfied"
	case sw == SWNotFound:
		return "file or application not found"
	case sw == SWWrongP1P2:
		return "wrong parameters P1-P2"
	case sw == SWINSNotSupported:
		return "instruction not supported"
	case sw == SWCLANotSupported:
		return "class not supported"
	case sw == SWUnknown:
		return "no precise diagnosis"
	case sw == SWEndOfFile:
		return "end of file reached"
	}
	return "unexpected"
}

// Command is a command APDU. Ne is the expected response length: 0 means no Le field,
// otherwise 1..65536.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Ne               int
	// Extended forces the extended length form; it is also used whenever the data or Ne
	// do not fit the short form. The decoder sets it from the input.
	Extended bool
}

// Chained reports whether the command has the chaining bit set.
func (c *Command) Chained() bool { return c.CLA&CLAChaining != 0 }

// Encode returns the command's wire form.
func (c *Command) Encode() ([]byte, error) {
	if len(c.Data) > MaxExtendedData || c.Ne < 0 || c.Ne > MaxExtendedNe {
		return nil, fmt.Errorf("%w: data %d bytes, Ne %d", ErrTooLarge, len(c.Data), c.Ne)
	}
	ext := c.Extended || len(c.Data) > MaxShortData || c.Ne > MaxShortNe
	b := make([]byte, 0, 4+3+len(c.Data)+2)
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	switch {
	case !ext:
		if len(c.Data) > 0 {
			b = append(b, byte(len(c.Data)))
			b = append(b, c.Data...)
		}
		if c.Ne > 0 {
			b = append(b, byte(c.Ne)) // 256 → 00
		}
	default:
		if len(c.Data) > 0 {
			b = append(b, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
			b = append(b, c.Data...)
			if c.Ne > 0 {
				b = append(b, byte(c.Ne>>8), byte(c.Ne)) // 65536 → 00 00
			}
		} else if c.Ne > 0 {
			b = append(b, 0, byte(c.Ne>>8), byte(c.Ne))
		}
	}
	return b, nil
}

// ParseCommand decodes a command APDU of any ISO 7816-4 case, short or extended.
func ParseCommand(b []byte) (Command, error) {
	var c Command
	if len(b) < 4 {
		return c, fmt.Errorf("%w: command of %d bytes", ErrMalformed, len(b))
	}
	c.CLA, c.INS, c.P1, c.P2 = b[0], b[1], b[2], b[3]
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
	case len(body) == 1: // case 2S
		c.Ne = neShort(body[0])
	case body[0] != 0 || len(body) < 3: // short Lc
		lc := int(body[0])
		if lc == 0 {
			return c, fmt.Errorf("%w: short Lc 0 with %d more bytes", ErrMalformed, len(body)-1)
		}
		switch len(body) {
		case 1 + lc: // case 3S
		case 2 + lc: // case 4S
			c.Ne = neShort(body[1+lc])
		default:
			return c, fmt.Errorf("%w: Lc %d but %d data bytes", ErrMalformed, lc, len(body)-1)
		}
		c.Data = body[1 : 1+lc]
	default: // extended: body[0] == 0 and at least 3 bytes
		c.Extended = true
		n := int(binary.BigEndian.Uint16(body[1:3]))
		if len(body) == 3 { // case 2E
			c.Ne = neExt(n)
			return c, nil
		}
		if n == 0 {
			return c, fmt.Errorf("%w: extended Lc 0", ErrMalformed)
		}
		switch len(body) {
		case 3 + n: // case 3E
		case 5 + n: // case 4E
			c.Ne = neExt(int(binary.BigEndian.Uint16(body[3+n:])))
		default:
			return c, fmt.Errorf("%w: extended Lc %d but %d data bytes", ErrMalformed, n, len(body)-3)
		}
		c.Data = body[3 : 3+n]
	}
	return c, nil
}

func neShort(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

func neExt(le int) int {
	if le == 0 {
		return MaxExtendedNe
	}
	return le
}

// Response is a response APDU.
type Response struct {
	Data []byte
	SW   uint16
}

// Encode returns data followed by SW1 SW2.
func (r Response) Encode() []byte {
	b := make([]byte, 0, len(r.Data)+2)
	return binary.BigEndian.AppendUint16(append(b, r.Data...), r.SW)
}

// ParseResponse splits a response APDU into data and status word.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: response of %d bytes", ErrMalformed, len(b))
	}
	return Response{Data: b[:len(b)-2], SW: binary.BigEndian.Uint16(b[len(b)-2:])}, nil
}

// SelectAID returns SELECT by DF name (P1 04, P2 00, no Le, as Multipaz sends it).
func SelectAID(aid []byte) Command {
	return Command{CLA: 0x00, INS: INSSelect, P1: 0x04, P2: 0x00, Data: aid}
}

// SelectFile returns SELECT by file identifier (P1 00, P2 0C: no FCI).
func SelectFile(id uint16) Command {
	return Command{CLA: 0x00, INS: INSSelect, P1: 0x00, P2: 0x0C, Data: binary.BigEndian.AppendUint16(nil, id)}
}

// ReadBinary returns READ BINARY of n bytes at offset.
func ReadBinary(offset, n int) Command {
	return Command{CLA: 0x00, INS: INSReadBinary, P1: byte(offset >> 8), P2: byte(offset), Ne: n}
}

// UpdateBinary returns UPDATE BINARY of data at offset.
func UpdateBinary(offset int, data []byte) Command {
	return Command{CLA: 0x00, INS: INSUpdate, P1: byte(offset >> 8), P2: byte(offset), Data: data}
}

// EncodeDO53 wraps a message in BER-TLV data object '53'.
func EncodeDO53(msg []byte) []byte {
	n := len(msg)
	var b []byte
	switch {
	case n < 0x80:
		b = []byte{0x53, byte(n)}
	case n <= 0xff:
		b = []byte{0x53, 0x81, byte(n)}
	case n <= 0xffff:
		b = []byte{0x53, 0x82, byte(n >> 8), byte(n)}
	default:
		b = []byte{0x53, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(b, msg...)
}

// DO53Length reads the header of a DO'53' and returns the header size and the value
// length. It needs at most 5 bytes; ok is false when b is too short to tell.
func DO53Length(b []byte) (hdr, n int, ok bool, err error) {
	if len(b) < 2 {
		return 0, 0, false, nil
	}
	if b[0] != 0x53 {
		return 0, 0, false, fmt.Errorf("%w: data object tag %02X, want 53", ErrMalformed, b[0])
	}
	l := b[1]
	switch {
	case l < 0x80:
		return 2, int(l), true, nil
	case l == 0x80 || l > 0x83:
		return 0, 0, false, fmt.Errorf("%w: DO'53' length form %02X", ErrMalformed, l)
	}
	k := int(l & 0x7f)
	if len(b) < 2+k {
		return 0, 0, false, nil
	}
	for _, x := range b[2 : 2+k] {
		n = n<<8 | int(x)
	}
	return 2 + k, n, true, nil
}

// DecodeDO53 unwraps a DO'53'; the length must equal the bytes that follow.
func DecodeDO53(b []byte) ([]byte, error) {
	hdr, n, ok, err := DO53Length(b)
	if err != nil {
		return nil, err
	}
	if !ok || len(b)-hdr != n {
		return nil, fmt.Errorf("%w: DO'53' announces %d bytes, %d present", ErrMalformed, n, len(b)-hdr)
	}
	return b[hdr:], nil
}

// NextResponse cuts the next response to a command with expected length ne from the
// bytes the mdoc still has to send: all of them with 9000 when they fit, else ne bytes
// with 61XX (XX = what remains, 00 when 256 or more).
func NextResponse(remaining []byte, ne int) (chunk, rest []byte, sw uint16) {
	if ne <= 0 {
		ne = MaxShortNe
	}
	if len(remaining) <= ne {
		return remaining, nil, SWOK
	}
	chunk, rest = remaining[:ne], remaining[ne:]
	if len(rest) > 0xff {
		return chunk, rest, SWMoreData
	}
	return chunk, rest, SWMoreData | uint16(len(rest))
}
