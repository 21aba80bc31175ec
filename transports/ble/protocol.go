package ble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// Mode is an 18013-5 BLE mode: which side is the GATT server.
type Mode int

// BLE modes.
const (
	// PeripheralServer: the mdoc is the peripheral and GATT server, advertising the
	// engagement's key-10 UUID; the reader is the central.
	PeripheralServer Mode = iota + 1
	// CentralClient: the reader is the peripheral and GATT server, advertising the
	// engagement's key-11 UUID and exposing Ident; the mdoc is the central.
	CentralClient
)

func (m Mode) String() string {
	switch m {
	case PeripheralServer:
		return "mdoc peripheral server"
	case CentralClient:
		return "mdoc central client"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Side is the party a Conn belongs to.
type Side int

// Sides.
const (
	Holder Side = iota + 1 // the mdoc
	Reader
)

// State characteristic values.
const (
	StateStart byte = 0x01 // written by the GATT client before the first message
	StateEnd   byte = 0x02 // transport-specific session termination, either side
)

// DefaultPSM is the L2CAP PSM a simulated GATT server listens on when none is given.
const DefaultPSM uint16 = 0x0081

// CharacteristicSet is the characteristic UUIDs of one mode (zero Ident: none).
type CharacteristicSet struct {
	State, Client2Server, Server2Client, Ident, L2CAP UUID
}

// Characteristic UUIDs of 18013-5 (base suffix -a123-48ce-896b-4c76973373e6).
var (
	PeripheralServerChars = CharacteristicSet{
		State:         mustUUID("00000001a12348ce896b4c76973373e6"),
		Client2Server: mustUUID("00000002a12348ce896b4c76973373e6"),
		Server2Client: mustUUID("00000003a12348ce896b4c76973373e6"),
		L2CAP:         mustUUID("0000000aa12348ce896b4c76973373e6"),
	}
	CentralClientChars = CharacteristicSet{
		State:         mustUUID("00000005a12348ce896b4c76973373e6"),
		Client2Server: mustUUID("00000006a12348ce896b4c76973373e6"),
		Server2Client: mustUUID("00000007a12348ce896b4c76973373e6"),
		Ident:         mustUUID("00000008a12348ce896b4c76973373e6"),
		L2CAP:         mustUUID("0000000ba12348ce896b4c76973373e6"),
	}
)

// Chars returns the characteristic UUIDs of m.
func (m Mode) Chars() CharacteristicSet {
	if m == CentralClient {
		return CentralClientChars
	}
	return PeripheralServerChars
}

// ChooseMode picks the mode a reader uses for a BLE retrieval method: mdoc central client
// mode whenever it is offered (18013-5 11.1.3.1), otherwise mdoc peripheral server mode.
// It returns the service UUID of that mode.
func ChooseMode(o messages.BLEOptions) (Mode, UUID, error) {
	switch {
	case o.CentralClientMode:
		u, err := UUIDFromBytes(o.CentralClientUUID)
		return CentralClient, u, err
	case o.PeripheralServerMode:
		u, err := UUIDFromBytes(o.PeripheralServerUUID)
		return PeripheralServer, u, err
	}
	return 0, UUID{}, errors.New("ble: BLE retrieval method offers no mode")
}

// Params describe one side of an 18013-5 BLE connection.
type Params struct {
	Side    Side
	Mode    Mode
	Service UUID
	// MTU is the ATT MTU the central asks for (0: 517; Multipaz asks for 515).
	MTU int
	// PSM, in peripheral server mode, is the mdoc's L2CAP PSM (engagement key 21): the
	// mdoc listens on it and the reader opens an L2CAP channel instead of using GATT.
	// In central client mode it is the PSM the reader listens on when L2CAP is set.
	PSM uint16
	// L2CAP, in central client mode on the reader side, offers an L2CAP channel (the
	// L2CAP characteristic); the mdoc uses it whenever the reader offers it.
	L2CAP bool
	// EDeviceKeyBytes are the tag-24 wrapped EDeviceKey bytes of the engagement: in
	// central client mode the reader exposes, and the mdoc checks, BLEIdent of them.
	EDeviceKeyBytes []byte
	// Ident, when set, is exposed by a central-client reader instead of BLEIdent (to
	// test the mdoc's refusal of a wrong reader).
	Ident []byte
}

func (p *Params) server() bool { return (p.Side == Holder) == (p.Mode == PeripheralServer) }

func (p *Params) usesL2CAP() bool {
	if p.Mode == PeripheralServer {
		return p.PSM != 0
	}
	return p.L2CAP
}

// Open establishes one side of an 18013-5 BLE connection and returns it once data can
// flow: for GATT when the client has subscribed and written State start (0x01), for
// L2CAP when the channel is open. The GATT server stops advertising then. Open honours
// ctx throughout; every error names the failed step.
func Open(ctx context.Context, a Adapter, p Params) (*Conn, error) {
	if p.Mode != PeripheralServer && p.Mode != CentralClient {
		return nil, fmt.Errorf("ble: open: unknown mode %d", p.Mode)
	}
	if p.Side != Holder && p.Side != Reader {
		return nil, fmt.Errorf("ble: open: unknown side %d", p.Side)
	}
	if p.server() {
		return openServer(ctx, a, p)
	}
	return openClient(ctx, a, p)
}

// untilDown returns a context that is also cancelled when the link goes down.
func untilDown(ctx context.Context, done <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func openServer(ctx context.Context, a Adapter, p Params) (c *Conn, err error) {
	chars := p.Mode.Chars()
	svc := Service{UUID: p.Service, Characteristics: []CharacteristicConfig{
		{UUID: chars.State, Props: PropNotify | PropWriteWithoutResponse},
		{UUID: chars.Client2Server, Props: PropWriteWithoutResponse},
		{UUID: chars.Server2Client, Props: PropNotify},
	}}
	if p.Mode == CentralClient {
		ident := p.Ident
		if ident == nil {
			ident = session.BLEIdent(p.EDeviceKeyBytes)
		}
		svc.Characteristics = append(svc.Characteristics, CharacteristicConfig{UUID: chars.Ident, Props: PropRead, Value: ident})
	}
	l2cap := p.usesL2CAP()
	if l2cap {
		if p.PSM == 0 {
			p.PSM = DefaultPSM
		}
		svc.L2CAPPSM = p.PSM
		svc.Characteristics = append(svc.Characteristics, CharacteristicConfig{UUID: chars.L2CAP, Props: PropRead,
			Value: binary.BigEndian.AppendUint32(nil, uint32(p.PSM))})
	}
	per, err := a.Advertise(ctx, svc)
	if err != nil {
		return nil, fmt.Errorf("ble: advertise %s: %w", p.Service, err)
	}
	var link ServerConn
	defer func() {
		if err != nil {
			if link != nil {
				link.Disconnect()
			}
			per.Close()
		}
	}()
	if link, err = per.Accept(ctx); err != nil {
		return nil, fmt.Errorf("ble: wait for the central on %s: %w", p.Service, err)
	}
	c = &Conn{mode: p.Mode, server: true, link: link, per: per, chars: chars, closed: make(chan struct{})}
	if l2cap {
		actx, cancel := untilDown(ctx, link.Done())
		c.ch, err = per.AcceptL2CAP(actx)
		cancel()
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() == nil {
				err = ErrDisconnected
			}
			return nil, fmt.Errorf("ble: wait for the L2CAP channel on PSM %#x: %w", p.PSM, err)
		}
	} else if err = c.awaitStart(ctx); err != nil {
		return nil, err
	}
	per.StopAdvertising()
	c.maxFrame = c.frameLimit()
	return c, nil
}

// awaitStart reads the client's subscriptions until it writes State start.
func (c *Conn) awaitStart(ctx context.Context) error {
	for {
		v, err := c.link.Receive(ctx)
		if err != nil {
			return fmt.Errorf("ble: wait for State start: %w", err)
		}
		switch {
		case v.Op == OpSubscribe || v.Op == OpUnsubscribe:
		case v.Op == OpWrite && v.Char == c.chars.State && bytes.Equal(v.Data, []byte{StateStart}):
			return nil
		case v.Op == OpWrite && v.Char == c.chars.State:
			return fmt.Errorf("%w: State %x before start", ErrProtocol, v.Data)
		case v.Op == OpWrite && v.Char == c.chars.Client2Server:
			return fmt.Errorf("%w: data before State start", ErrProtocol)
		default:
			return fmt.Errorf("%w: unexpected value on %s before start", ErrProtocol, v.Char)
		}
	}
}

func openClient(ctx context.Context, a Adapter, p Params) (c *Conn, err error) {
	mtu := p.MTU
	if mtu <= 0 {
		mtu = MaxMTU
	}
	link, err := a.Connect(ctx, p.Service, mtu)
	if err != nil {
		return nil, fmt.Errorf("ble: connect to %s: %w", p.Service, err)
	}
	defer func() {
		if err != nil {
			link.Disconnect()
		}
	}()
	chars := p.Mode.Chars()
	c = &Conn{mode: p.Mode, link: link, chars: chars, closed: make(chan struct{})}
	ch := func(u UUID) (Characteristic, error) { return link.Characteristic(ctx, p.Service, u) }
	psm := uint16(0)
	if p.Mode == PeripheralServer {
		psm = p.PSM // known from the engagement: no GATT needed
	} else {
		ident, err := ch(chars.Ident)
		if err != nil {
			return nil, fmt.Errorf("ble: discover Ident: %w", err)
		}
		got, err := ident.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("ble: read Ident: %w", err)
		}
		if want := session.BLEIdent(p.EDeviceKeyBytes); !bytes.Equal(got, want) {
			return nil, fmt.Errorf("%w: got %x", ErrIdentMismatch, got)
		}
		if l2c, err := ch(chars.L2CAP); err == nil {
			v, err := l2c.Read(ctx)
			if err != nil {
				return nil, fmt.Errorf("ble: read L2CAP PSM: %w", err)
			}
			if len(v) != 4 || binary.BigEndian.Uint32(v) == 0 || binary.BigEndian.Uint32(v) > 0xffff {
				return nil, fmt.Errorf("%w: L2CAP characteristic %x is not a 4-byte PSM", ErrProtocol, v)
			}
			psm = uint16(binary.BigEndian.Uint32(v))
		} else if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("ble: discover L2CAP: %w", err)
		}
	}
	if psm != 0 {
		if c.ch, err = link.OpenL2CAP(ctx, psm); err != nil {
			return nil, fmt.Errorf("ble: open L2CAP channel on PSM %#x: %w", psm, err)
		}
		c.maxFrame = c.frameLimit()
		return c, nil
	}
	var state, s2c Characteristic
	if state, err = ch(chars.State); err == nil {
		if c.c2s, err = ch(chars.Client2Server); err == nil {
			s2c, err = ch(chars.Server2Client)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ble: discover characteristics: %w", err)
	}
	c.state = state
	if err = s2c.Subscribe(ctx); err == nil {
		err = state.Subscribe(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("ble: subscribe: %w", err)
	}
	if err = state.WriteWithoutResponse(ctx, []byte{StateStart}); err != nil {
		return nil, fmt.Errorf("ble: write State start: %w", err)
	}
	c.maxFrame = c.frameLimit()
	return c, nil
}

// Conn is one side of an 18013-5 BLE connection. It implements transports.Conn and
// transports.AirTimer.
//
// On GATT every frame is one characteristic value: a write without response on
// Client2Server from the client, a notification on Server2Client from the server. Frames
// are carried as they are (the link's ChunkFramer puts the 18013-5 chunk header on), so
// MaxFrameSize is min(MTU−3, 512). State End (0x02) from the peer makes ReadFrame return
// transports.ErrClosed after the frames sent before it; a disconnect without End is an
// error wrapping ErrDisconnected. Close sends End (unless the peer ended first), then
// disconnects.
//
// On L2CAP every frame is one whole session message (use MessageFramer) and
// MaxFrameSize is messages.MaxMessageSize; Close closes the channel and disconnects.
type Conn struct {
	mode     Mode
	server   bool
	link     Link
	per      Peripheral   // server side
	ch       L2CAPChannel // L2CAP
	chars    CharacteristicSet
	c2s      Characteristic // client side, GATT
	state    Characteristic // client side, GATT
	maxFrame int

	closed    chan struct{}
	closeOnce sync.Once
	ended     atomic.Bool // the peer wrote or notified State End

	// abort, when set, reports why the session was refused (a busy reader).
	abort func() error
}

var (
	_ transports.Conn     = (*Conn)(nil)
	_ transports.AirTimer = (*Conn)(nil)
)

func (c *Conn) frameLimit() int {
	if c.ch != nil {
		return messages.MaxMessageSize
	}
	return MaxValueFor(c.link.MTU())
}

// Mode is the BLE mode of the connection.
func (c *Conn) Mode() Mode { return c.mode }

// L2CAP reports whether messages go over an L2CAP channel rather than GATT.
func (c *Conn) L2CAP() bool { return c.ch != nil }

// MTU is the negotiated ATT MTU.
func (c *Conn) MTU() int { return c.link.MTU() }

// MaxFrameSize is min(MTU−3, 512) on GATT, messages.MaxMessageSize on L2CAP.
func (c *Conn) MaxFrameSize() int { return c.maxFrame }

// AirTime is the modelled air time of the connection (0 on a real radio).
func (c *Conn) AirTime() time.Duration {
	if at, ok := c.link.(interface{ AirTime() time.Duration }); ok {
		return at.AirTime()
	}
	return 0
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// failure turns a bearer error into what the caller gets.
func (c *Conn) failure(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.abort != nil {
		if a := c.abort(); a != nil {
			return a
		}
	}
	if c.isClosed() {
		return transports.ErrClosed
	}
	if errors.Is(err, transports.ErrClosed) && !errors.Is(err, errClosedLocally) {
		return err
	}
	return fmt.Errorf("ble: %s: %w", step, err)
}

// ReadFrame returns the next frame from the peer.
func (c *Conn) ReadFrame(ctx context.Context) ([]byte, error) {
	if c.isClosed() {
		return nil, transports.ErrClosed
	}
	if c.ch != nil {
		m, err := c.ch.Receive(ctx)
		if err != nil {
			return nil, c.failure(ctx, "L2CAP receive", err)
		}
		return m, nil
	}
	dataIn, op := c.chars.Client2Server, OpWrite
	if !c.server {
		dataIn, op = c.chars.Server2Client, OpNotify
	}
	for {
		v, err := c.link.Receive(ctx)
		if err != nil {
			return nil, c.failure(ctx, "read", err)
		}
		switch {
		case v.Op == op && v.Char == dataIn:
			if len(v.Data) == 0 {
				return nil, fmt.Errorf("%w: empty value", transports.ErrBadFrame)
			}
			return v.Data, nil
		case v.Op == op && v.Char == c.chars.State && bytes.Equal(v.Data, []byte{StateEnd}):
			c.ended.Store(true)
			return nil, c.failure(ctx, "read", transports.ErrClosed)
		case v.Op == op && v.Char == c.chars.State:
			return nil, fmt.Errorf("%w: State %x during the session", ErrProtocol, v.Data)
		case v.Op == OpSubscribe || v.Op == OpUnsubscribe:
		default:
			return nil, fmt.Errorf("%w: unexpected value on %s", ErrProtocol, v.Char)
		}
	}
}

// WriteFrame sends one frame of at most MaxFrameSize bytes.
func (c *Conn) WriteFrame(ctx context.Context, frame []byte) error {
	if c.isClosed() {
		return transports.ErrClosed
	}
	if len(frame) > c.maxFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", transports.ErrFrameTooBig, len(frame), c.maxFrame)
	}
	var err error
	switch {
	case c.ch != nil:
		err = c.ch.Send(ctx, frame)
	case c.server:
		err = c.link.(ServerConn).Notify(ctx, c.chars.Server2Client, frame)
	default:
		err = c.c2s.WriteWithoutResponse(ctx, frame)
	}
	if err != nil {
		return c.failure(ctx, "write", err)
	}
	return nil
}

// closeEndTimeout bounds how long Close waits to queue State End.
const closeEndTimeout = time.Second

// Close ends the session: State End (GATT, unless the peer ended first) after the frames
// already written, then disconnect. Pending and later calls return transports.ErrClosed.
// It is idempotent and returns nil.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.ch != nil {
			c.ch.Close()
		} else if !c.ended.Load() {
			select {
			case <-c.link.Done():
			default:
				ctx, cancel := context.WithTimeout(context.Background(), closeEndTimeout)
				if c.server {
					_ = c.link.(ServerConn).Notify(ctx, c.chars.State, []byte{StateEnd})
				} else {
					_ = c.state.WriteWithoutResponse(ctx, []byte{StateEnd})
				}
				cancel()
			}
		}
		c.link.Disconnect()
		if c.per != nil {
			c.per.Close()
		}
	})
	return nil
}

// failedConn is the connection of an arrival whose BLE connection could not be set up:
// every call fails with the setup error, so that the session ends with an error verdict.
type failedConn struct {
	err    error
	closed atomic.Bool
}

func (f *failedConn) err2() error {
	if f.closed.Load() {
		return transports.ErrClosed
	}
	return f.err
}

func (f *failedConn) ReadFrame(ctx context.Context) ([]byte, error) { return nil, f.err2() }
func (f *failedConn) WriteFrame(context.Context, []byte) error      { return f.err2() }
func (f *failedConn) MaxFrameSize() int                             { return MaxValue }
func (f *failedConn) Close() error                                  { f.closed.Store(true); return nil }
