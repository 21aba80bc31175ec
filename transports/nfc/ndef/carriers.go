package ndef

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Kind is the carrier a configuration record describes.
type Kind string

// Carrier kinds.
const (
	KindNFC       Kind = "nfc"
	KindBLE       Kind = "ble"
	KindWiFiAware Kind = "wifiaware"
)

// KindOf returns the carrier kind of a configuration record, or "" if unknown.
func KindOf(r *Record) Kind {
	switch {
	case r.Is(TNFExternal, TypeNFC):
		return KindNFC
	case r.Is(TNFMedia, TypeBLEOOB):
		return KindBLE
	case r.Is(TNFMedia, TypeWiFiAware):
		return KindWiFiAware
	}
	return ""
}

// NFCCarrier is the iso.org:18013:nfc carrier configuration (18013-5 8.2.2.2). In a
// Handover Request the payload is just the version; HasSizes is then false.
type NFCCarrier struct {
	MaxCommand  int // max command data length, 1..0xFFFFFF
	MaxResponse int // max response data length, 1..0xFFFFFF
	HasSizes    bool
}

// NFC TLV types.
const (
	nfcTLVMaxCommand  = 0x01
	nfcTLVMaxResponse = 0x02
)

// Record returns the carrier record with ID "nfc".
func (c NFCCarrier) Record() Record {
	p := []byte{0x01}
	if c.HasSizes {
		p = appendSizeTLV(p, nfcTLVMaxCommand, c.MaxCommand)
		p = appendSizeTLV(p, nfcTLVMaxResponse, c.MaxResponse)
	}
	return NewRecord(TNFExternal, TypeNFC, IDNFC, p)
}

func appendSizeTLV(p []byte, typ byte, v int) []byte {
	var val []byte
	switch {
	case v <= 0xff:
		val = []byte{byte(v)}
	case v <= 0xffff:
		val = binary.BigEndian.AppendUint16(nil, uint16(v))
	default:
		val = []byte{byte(v >> 16), byte(v >> 8), byte(v)}
	}
	return append(append(p, byte(1+len(val)), typ), val...)
}

// ParseNFCCarrier decodes an iso.org:18013:nfc payload.
func ParseNFCCarrier(p []byte) (NFCCarrier, error) {
	var c NFCCarrier
	if len(p) < 1 || p[0] != 0x01 {
		return c, fmt.Errorf("%w: NFC carrier record version", ErrUnsupported)
	}
	p = p[1:]
	var haveCmd, haveResp bool
	for len(p) > 0 {
		n := int(p[0])
		if n < 2 || n > 4 || len(p) < 1+n {
			return c, fmt.Errorf("%w: NFC carrier TLV length %d", ErrMalformed, n)
		}
		v := 0
		for _, x := range p[2 : 1+n] {
			v = v<<8 | int(x)
		}
		if v == 0 {
			return c, fmt.Errorf("%w: NFC carrier size 0", ErrMalformed)
		}
		switch p[1] {
		case nfcTLVMaxCommand:
			c.MaxCommand, haveCmd = v, true
		case nfcTLVMaxResponse:
			c.MaxResponse, haveResp = v, true
		}
		p = p[1+n:]
	}
	if haveCmd != haveResp {
		return c, fmt.Errorf("%w: NFC carrier has only one of the two sizes", ErrMalformed)
	}
	c.HasSizes = haveCmd
	return c, nil
}

// BLE AD types in the OOB payload.
const (
	adUUID128Complete = 0x07
	adAddress         = 0x1B
	adRole            = 0x1C
	adPSM             = 0x77
)

// LE roles (from the sender's side).
const (
	RolePeripheral          = 0x00
	RoleCentral             = 0x01
	RoleBothPeripheralFirst = 0x02
	RoleBothCentralFirst    = 0x03
)

// BLECarrier is the application/vnd.bluetooth.le.oob carrier configuration. UUIDs are
// held in their usual (big-endian) byte order and written little-endian on the wire.
// Unknown AD structures are kept in order in Other and written after the known ones.
type BLECarrier struct {
	Address     []byte // 6 bytes
	AddressType *byte  // present when the address AD had 7 bytes (Annex D), nil for 6 (Multipaz)
	Role        *byte
	UUIDs       [][16]byte
	PSM         *uint32
	Other       [][]byte // raw AD structures (type + data)
}

// Record returns the carrier record with ID "0".
func (c BLECarrier) Record() Record {
	var p []byte
	if c.Address != nil {
		d := append([]byte{}, c.Address...)
		if c.AddressType != nil {
			d = append(d, *c.AddressType)
		}
		p = appendAD(p, adAddress, d)
	}
	if c.Role != nil {
		p = appendAD(p, adRole, []byte{*c.Role})
	}
	if len(c.UUIDs) > 0 {
		var d []byte
		for _, u := range c.UUIDs {
			le := u
			slices.Reverse(le[:])
			d = append(d, le[:]...)
		}
		p = appendAD(p, adUUID128Complete, d)
	}
	if c.PSM != nil {
		p = appendAD(p, adPSM, binary.BigEndian.AppendUint32(nil, *c.PSM))
	}
	for _, o := range c.Other {
		p = append(append(p, byte(len(o))), o...)
	}
	return NewRecord(TNFMedia, TypeBLEOOB, IDBLE, p)
}

func appendAD(p []byte, typ byte, data []byte) []byte {
	return append(append(p, byte(1+len(data)), typ), data...)
}

// ParseBLECarrier decodes the AD structures of a BLE OOB payload. Addresses of 6 or 7
// bytes are accepted.
func ParseBLECarrier(p []byte) (BLECarrier, error) {
	var c BLECarrier
	for len(p) > 0 {
		n := int(p[0])
		if n == 0 { // early termination of the AD list
			break
		}
		if len(p) < 1+n {
			return c, fmt.Errorf("%w: BLE AD structure truncated", ErrMalformed)
		}
		typ, d := p[1], p[2:1+n]
		switch typ {
		case adAddress:
			if len(d) != 6 && len(d) != 7 {
				return c, fmt.Errorf("%w: BLE address of %d bytes", ErrMalformed, len(d))
			}
			c.Address = append([]byte{}, d[:6]...)
			if len(d) == 7 {
				t := d[6]
				c.AddressType = &t
			}
		case adRole:
			if len(d) != 1 {
				return c, fmt.Errorf("%w: LE role of %d bytes", ErrMalformed, len(d))
			}
			r := d[0]
			c.Role = &r
		case adUUID128Complete:
			if len(d)%16 != 0 {
				return c, fmt.Errorf("%w: 128-bit UUID list of %d bytes", ErrMalformed, len(d))
			}
			for i := 0; i < len(d); i += 16 {
				var u [16]byte
				copy(u[:], d[i:i+16])
				slices.Reverse(u[:])
				c.UUIDs = append(c.UUIDs, u)
			}
		case adPSM:
			if len(d) != 4 {
				return c, fmt.Errorf("%w: PSM of %d bytes", ErrMalformed, len(d))
			}
			v := binary.BigEndian.Uint32(d)
			c.PSM = &v
		default:
			c.Other = append(c.Other, append([]byte{}, p[1:1+n]...))
		}
		p = p[1+n:]
	}
	return c, nil
}

// Wi-Fi Aware TLV types.
const (
	nanCipherSuites = 0x01
	nanDH           = 0x02
	nanPassphrase   = 0x03
	nanBands        = 0x04
)

// WiFiAwareCarrier is the application/vnd.wfa.nan carrier configuration.
type WiFiAwareCarrier struct {
	CipherSuites []byte
	DHGroup      uint16 // with DHKey; 0 if absent
	DHKey        []byte
	Passphrase   string
	Bands        []byte
}

// Record returns the carrier record with ID "W".
func (c WiFiAwareCarrier) Record() Record {
	var p []byte
	if len(c.CipherSuites) > 0 {
		p = appendAD(p, nanCipherSuites, c.CipherSuites)
	}
	if len(c.DHKey) > 0 {
		p = appendAD(p, nanDH, append(binary.BigEndian.AppendUint16(nil, c.DHGroup), c.DHKey...))
	}
	if c.Passphrase != "" {
		p = appendAD(p, nanPassphrase, []byte(c.Passphrase))
	}
	if len(c.Bands) > 0 {
		p = appendAD(p, nanBands, c.Bands)
	}
	return NewRecord(TNFMedia, TypeWiFiAware, IDWiFiAware, p)
}

// ParseWiFiAwareCarrier decodes a Wi-Fi Aware carrier payload; unknown TLVs are skipped.
func ParseWiFiAwareCarrier(p []byte) (WiFiAwareCarrier, error) {
	var c WiFiAwareCarrier
	for len(p) > 0 {
		n := int(p[0])
		if n < 1 || len(p) < 1+n {
			return c, fmt.Errorf("%w: Wi-Fi Aware TLV truncated", ErrMalformed)
		}
		typ, d := p[1], p[2:1+n]
		switch typ {
		case nanCipherSuites:
			c.CipherSuites = append([]byte{}, d...)
		case nanDH:
			if len(d) < 2 {
				return c, fmt.Errorf("%w: Wi-Fi Aware DH info of %d bytes", ErrMalformed, len(d))
			}
			c.DHGroup, c.DHKey = binary.BigEndian.Uint16(d), append([]byte{}, d[2:]...)
		case nanPassphrase:
			c.Passphrase = string(d)
		case nanBands:
			c.Bands = append([]byte{}, d...)
		}
		p = p[1+n:]
	}
	return c, nil
}
