package ble

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Errors of the GATT layer. Every error a connection reports wraps one of these or a
// transports error, so that callers can tell the failing step with errors.Is.
var (
	// ErrNotSupported is returned by an adapter for an operation its platform lacks
	// (L2CAP channels on the tinygo adapter, for instance).
	ErrNotSupported = errors.New("ble: not supported by this adapter")
	// ErrDisconnected is an unexpected end of the radio link: the peer went away, the
	// link was broken by a fault, or the supervision timeout expired.
	ErrDisconnected = errors.New("ble: disconnected")
	// ErrNotFound is a service, characteristic or L2CAP PSM the peer does not offer.
	ErrNotFound = errors.New("ble: not found")
	// ErrNotSubscribed is a notification on a characteristic the client has not
	// subscribed to.
	ErrNotSubscribed = errors.New("ble: client not subscribed")
	// ErrTooLong is a value longer than the connection allows (MTU−3 for writes and
	// notifications).
	ErrTooLong = errors.New("ble: value too long for the MTU")
	// ErrInUse is a service UUID another peripheral already advertises.
	ErrInUse = errors.New("ble: service UUID already advertised")
	// ErrIdentMismatch is a reader whose Ident characteristic does not match BLEIdent of
	// the holder's EDeviceKeyBytes: the wrong reader, refused.
	ErrIdentMismatch = errors.New("ble: reader Ident does not match BLEIdent")
	// ErrProtocol is a peer breaking the 18013-5 BLE state rules (data before State
	// start, unknown State value, value on an unexpected characteristic).
	ErrProtocol = errors.New("ble: protocol violation")
)

// ATT limits.
const (
	// DefaultMTU is the ATT MTU of a connection without an MTU exchange.
	DefaultMTU = 23
	// MaxMTU is the largest ATT MTU (a 512-byte value plus the 3-byte ATT header, plus 2).
	MaxMTU = 517
	// MaxValue is the largest characteristic value.
	MaxValue = 512
)

// MaxValueFor is the largest write or notification value on a connection with ATT MTU
// mtu: min(mtu−3, 512).
func MaxValueFor(mtu int) int { return min(max(mtu, DefaultMTU)-3, MaxValue) }

// UUID is a 128-bit Bluetooth UUID in big-endian (RFC 4122 network) byte order, as
// carried in a DeviceEngagement.
type UUID [16]byte

// NewUUID returns a random (version 4) UUID.
func NewUUID() UUID {
	var u UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// UUIDFromBytes converts the 16 bytes of an engagement option.
func UUIDFromBytes(b []byte) (UUID, error) {
	var u UUID
	if len(b) != 16 {
		return u, fmt.Errorf("ble: UUID of %d bytes, want 16", len(b))
	}
	copy(u[:], b)
	return u, nil
}

// ParseUUID reads a UUID written as 32 hex digits, dashes allowed anywhere.
func ParseUUID(s string) (UUID, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return UUID{}, fmt.Errorf("ble: UUID %q: want 16 bytes as 32 hex digits", s)
	}
	return UUID(b), nil
}

func mustUUID(s string) UUID {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		panic("ble: bad UUID constant " + s)
	}
	return UUID(b)
}

// String formats u as 8-4-4-4-12 lowercase hex.
func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Property is a set of characteristic properties.
type Property uint8

// Characteristic properties used by 18013-5.
const (
	PropRead Property = 1 << iota
	PropWriteWithoutResponse
	PropNotify
)

// CharacteristicConfig describes one characteristic of a served service. Value is what a
// read returns (read-only characteristics keep one fixed value).
type CharacteristicConfig struct {
	UUID  UUID
	Props Property
	Value []byte
}

// Service is a GATT service a Peripheral serves and advertises. L2CAPPSM, when not zero,
// also opens an LE credit-based L2CAP server on that PSM (dynamic range 0x0080–0x00FF).
type Service struct {
	UUID            UUID
	Characteristics []CharacteristicConfig
	L2CAPPSM        uint16
}

func (s *Service) char(u UUID) (*CharacteristicConfig, bool) {
	for i := range s.Characteristics {
		if s.Characteristics[i].UUID == u {
			return &s.Characteristics[i], true
		}
	}
	return nil, false
}

// Op says what a Value is.
type Op uint8

// Value operations.
const (
	OpWrite       Op = iota + 1 // a client's write without response (server side)
	OpNotify                    // a server's notification (client side)
	OpSubscribe                 // a client enabled notifications (CCCD 01 00; server side)
	OpUnsubscribe               // a client disabled notifications (CCCD 00 00; server side)
)

// Value is one attribute operation received from the peer.
type Value struct {
	Op   Op
	Char UUID
	Data []byte // owned by the receiver
}

// Central is the central (GATT client) role of an adapter.
type Central interface {
	// Connect scans for a connectable peripheral advertising service, connects to it
	// and, when mtu > DefaultMTU, exchanges the ATT MTU (asking for mtu). It waits until
	// such a peripheral is found or ctx is done.
	Connect(ctx context.Context, service UUID, mtu int) (Connection, error)
}

// Adapter is one local BLE controller, in both roles.
type Adapter interface {
	Central
	// Advertise publishes svc as a GATT server and advertises its UUID (connectable)
	// until the Peripheral stops advertising or is closed.
	Advertise(ctx context.Context, svc Service) (Peripheral, error)
}

// Peripheral is a published service: the peripheral (GATT server) role.
type Peripheral interface {
	// Accept returns the next central that connected.
	Accept(ctx context.Context) (ServerConn, error)
	// AcceptL2CAP returns the next L2CAP channel opened on the service's PSM.
	AcceptL2CAP(ctx context.Context) (L2CAPChannel, error)
	// StopAdvertising stops advertising; connected centrals stay connected.
	StopAdvertising() error
	// Close stops advertising and unpublishes the service. Connections already
	// accepted are not closed.
	Close() error
}

// Link is what both ends of a connection offer.
type Link interface {
	// MTU is the negotiated ATT MTU; it does not change once the connection is handed out.
	MTU() int
	// Receive returns the next value from the peer: writes and subscription changes on
	// the server side, notifications on the client side. Values arrive in the order the
	// peer sent them, across characteristics. After a disconnect the values already
	// received are still returned, then ErrDisconnected (or the local close error).
	Receive(ctx context.Context) (Value, error)
	// Disconnect ends the link. It is idempotent.
	Disconnect() error
	// Done is closed when the link is down.
	Done() <-chan struct{}
}

// Connection is the central's (GATT client's) side of a connection.
type Connection interface {
	Link
	// Characteristic discovers a characteristic of a service of the peer.
	Characteristic(ctx context.Context, service, char UUID) (Characteristic, error)
	// OpenL2CAP opens an LE credit-based L2CAP channel to the peer's psm.
	OpenL2CAP(ctx context.Context, psm uint16) (L2CAPChannel, error)
}

// ServerConn is the peripheral's (GATT server's) side of a connection.
type ServerConn interface {
	Link
	// Notify sends a notification of char; the client must have subscribed.
	Notify(ctx context.Context, char UUID, data []byte) error
}

// Characteristic is a remote characteristic, as seen by a GATT client.
type Characteristic interface {
	UUID() UUID
	// Read returns the characteristic's value.
	Read(ctx context.Context) ([]byte, error)
	// WriteWithoutResponse writes at most MTU−3 bytes; it blocks while the link's
	// queue towards the peer is full (flow control).
	WriteWithoutResponse(ctx context.Context, data []byte) error
	// Subscribe enables notifications (writes 01 00 to the CCCD 0x2902); they arrive
	// through the connection's Receive.
	Subscribe(ctx context.Context) error
	// Unsubscribe disables notifications (writes 00 00 to the CCCD).
	Unsubscribe(ctx context.Context) error
}

// L2CAPChannel is an LE credit-based connection-oriented channel carrying whole
// messages, each framed as a 4-byte big-endian length followed by the message (the
// Multipaz framing, see the package documentation).
type L2CAPChannel interface {
	PSM() uint16
	// Send sends one message; it blocks while the peer's credits are used up.
	Send(ctx context.Context, msg []byte) error
	// Receive returns the next whole message. After the peer closed the channel the
	// queued messages are still returned, then transports.ErrClosed.
	Receive(ctx context.Context) ([]byte, error)
	// Close closes the channel. It is idempotent.
	Close() error
}
