package ble

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// PHY is an LE physical layer.
type PHY int

// LE PHYs (coded PHYs are not modelled).
const (
	PHY1M PHY = 1
	PHY2M PHY = 2
)

// Defaults of SimConfig.
const (
	DefaultConnInterval    = 30 * time.Millisecond
	DefaultPacketsPerEvent = 6
	DefaultDataLength      = 251
	DefaultQueueLen        = 32
	// IOSMTU is the ATT MTU an iOS device always ends up with.
	IOSMTU = 185
	// tIFS is the inter frame space between two packets of a connection event.
	tIFS = 150 * time.Microsecond
)

// SimConfig is the radio model shared by every device of a Sim. The zero value is a 2M
// PHY, a 30 ms connection interval carrying at most 6 data packets per event, 251-byte
// LL payloads (data length extension) and air time accounted but not slept.
type SimConfig struct {
	PHY             PHY
	ConnInterval    time.Duration
	PacketsPerEvent int // data packets per connection event
	DataLength      int // LL data payload bytes per packet, 27..251
	QueueLen        int // values queued per direction before the sender blocks
	// RealTime delivers every value no earlier than its modelled arrival; otherwise
	// the time is only accounted in AirTime.
	RealTime bool
}

func (c SimConfig) withDefaults() SimConfig {
	if c.PHY != PHY1M {
		c.PHY = PHY2M
	}
	if c.ConnInterval <= 0 {
		c.ConnInterval = DefaultConnInterval
	}
	if c.PacketsPerEvent <= 0 {
		c.PacketsPerEvent = DefaultPacketsPerEvent
	}
	if c.DataLength <= 0 {
		c.DataLength = DefaultDataLength
	}
	c.DataLength = min(max(c.DataLength, 27), 251)
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	return c
}

// PacketTime is the on-air time of one LL data packet carrying n payload bytes:
// preamble (1 byte on 1M, 2 on 2M) + access address 4 + LL header 2 + n + CRC 3, at
// 1 or 2 Mbit/s. Packets are not encrypted (18013-5 BLE does not pair), so no MIC.
func (c SimConfig) PacketTime(n int) time.Duration {
	c = c.withDefaults()
	pre, nsPerBit := 1, 1000
	if c.PHY == PHY2M {
		pre, nsPerBit = 2, 500
	}
	return time.Duration((pre+4+2+n+3)*8*nsPerBit) * time.Nanosecond
}

// ExchangeTime is the connection-event time one data packet of n payload bytes takes:
// the packet, T_IFS (150 µs), the peer's empty acknowledging packet, T_IFS.
func (c SimConfig) ExchangeTime(n int) time.Duration {
	return c.PacketTime(n) + tIFS + c.PacketTime(0) + tIFS
}

// Faults is the fault model of a device's connections. The zero value injects none.
type Faults struct {
	// Drop is the probability that a write without response or notification is lost
	// (the sender is not told). L2CAP segments are never dropped (the channel is
	// reliable; a lost segment would desynchronise its framing).
	Drop float64
	// Stall is the probability that a value or L2CAP segment is held up StallFor.
	Stall    float64
	StallFor time.Duration
	// DisconnectAfter breaks the link once that many writes without response,
	// notifications and L2CAP segments have been sent on it (both directions
	// together); 0 means never. The value that reaches the count is still delivered.
	DisconnectAfter int
	// Seed seeds the connection's fault generator.
	Seed uint64
}

func (f Faults) isZero() bool { return f == Faults{} }

// DeviceConfig describes one simulated device.
type DeviceConfig struct {
	// MaxMTU is the largest ATT MTU the device accepts (0: MaxMTU, 517).
	MaxMTU int
	// IOS makes the device behave like an iPhone: whatever is asked, it offers an ATT
	// MTU of exactly 185 (IOSMTU).
	IOS bool
	// Faults apply to the device's connections. A connection uses the central's
	// faults, or the peripheral's when the central has none.
	Faults Faults
}

// offer is the ATT MTU the device puts in an MTU exchange when it wants asked (0: as
// large as it can).
func (d DeviceConfig) offer(asked int) int {
	if d.IOS {
		return IOSMTU
	}
	m := MaxMTU
	if d.MaxMTU > 0 {
		m = d.MaxMTU
	}
	if asked > 0 {
		m = min(m, asked)
	}
	return min(max(m, DefaultMTU), MaxMTU)
}

// Sim is a simulated radio shared by any number of simulated devices (SimAdapter) in
// one process. It starts no goroutines. See the package documentation for the model.
type Sim struct {
	cfg     SimConfig
	mu      sync.Mutex
	adverts map[UUID]*simPeripheral
	changed chan struct{} // closed and replaced whenever adverts gain an entry
	air     atomic.Int64
}

// NewSim returns an empty radio.
func NewSim(cfg SimConfig) *Sim {
	return &Sim{cfg: cfg.withDefaults(), adverts: map[UUID]*simPeripheral{}, changed: make(chan struct{})}
}

// Config is the radio model in use (defaults applied).
func (s *Sim) Config() SimConfig { return s.cfg }

// AirTime is the modelled air time of every connection so far (see the package
// documentation).
func (s *Sim) AirTime() time.Duration { return time.Duration(s.air.Load()) }

// NewAdapter adds a device to the radio.
func (s *Sim) NewAdapter(cfg DeviceConfig) *SimAdapter { return &SimAdapter{sim: s, cfg: cfg} }

func (s *Sim) publish(p *simPeripheral) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.adverts[p.svc.UUID]; ok {
		return fmt.Errorf("%w: %s", ErrInUse, p.svc.UUID)
	}
	s.adverts[p.svc.UUID] = p
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *Sim) unpublish(p *simPeripheral) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adverts[p.svc.UUID] == p {
		delete(s.adverts, p.svc.UUID)
	}
}

// scan waits for a peripheral advertising u.
func (s *Sim) scan(ctx context.Context, u UUID) (*simPeripheral, error) {
	for {
		s.mu.Lock()
		p, ok := s.adverts[u]
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return p, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("ble: scan for %s: %w", u, ctx.Err())
		}
	}
}

// SimAdapter is one simulated device. It implements Adapter.
type SimAdapter struct {
	sim *Sim
	cfg DeviceConfig
}

var _ Adapter = (*SimAdapter)(nil)

// Advertise publishes svc and advertises its UUID. The service must have a non-zero UUID
// and, when L2CAPPSM is set, a PSM in the LE dynamic range 0x0080–0x00FF.
func (a *SimAdapter) Advertise(ctx context.Context, svc Service) (Peripheral, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if svc.UUID == (UUID{}) {
		return nil, fmt.Errorf("%w: service without a UUID", ErrNotFound)
	}
	if svc.L2CAPPSM != 0 && (svc.L2CAPPSM < 0x80 || svc.L2CAPPSM > 0xff) {
		return nil, fmt.Errorf("ble: L2CAP PSM %#x outside the LE dynamic range", svc.L2CAPPSM)
	}
	cp := svc
	cp.Characteristics = make([]CharacteristicConfig, len(svc.Characteristics))
	for i, c := range svc.Characteristics {
		c.Value = append([]byte(nil), c.Value...)
		cp.Characteristics[i] = c
	}
	q := a.sim.cfg.QueueLen
	p := &simPeripheral{a: a, svc: cp, accept: make(chan *simLink, q), l2: make(chan *simChanEnd, q),
		closed: make(chan struct{})}
	if err := a.sim.publish(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Connect scans for service, connects and exchanges the MTU. The negotiated MTU is the
// smaller of the two devices' offers (see DeviceConfig); without an exchange (mtu ≤ 23
// and not iOS) it is 23.
func (a *SimAdapter) Connect(ctx context.Context, service UUID, mtu int) (Connection, error) {
	p, err := a.sim.scan(ctx, service)
	if err != nil {
		return nil, err
	}
	negotiated := DefaultMTU
	exchange := mtu > DefaultMTU || a.cfg.IOS
	if exchange {
		negotiated = min(a.cfg.offer(mtu), p.a.cfg.offer(0))
	}
	faults := a.cfg.Faults
	if faults.isZero() {
		faults = p.a.cfg.Faults
	}
	l := newSimLink(a.sim, p, negotiated, faults)
	if exchange { // Exchange MTU Request and Response: 3-byte ATT PDUs
		l.mu.Lock()
		l.accountLocked(4 + 3)
		l.accountLocked(4 + 3)
		l.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return nil, fmt.Errorf("ble: connect to %s: %w", service, ErrDisconnected)
	}
	select {
	case p.accept <- l:
	default:
		return nil, fmt.Errorf("ble: connect to %s: peripheral not accepting: %w", service, ErrDisconnected)
	}
	return &simClient{l: l}, nil
}

type simPeripheral struct {
	a      *SimAdapter
	svc    Service
	accept chan *simLink
	l2     chan *simChanEnd
	closed chan struct{}

	mu       sync.Mutex // orders Connect and OpenL2CAP against Close
	isClosed bool
}

func (p *simPeripheral) Accept(ctx context.Context) (ServerConn, error) {
	select {
	case l := <-p.accept:
		return &simServer{l: l}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closed:
		return nil, transports.ErrClosed
	}
}

func (p *simPeripheral) AcceptL2CAP(ctx context.Context) (L2CAPChannel, error) {
	if p.svc.L2CAPPSM == 0 {
		return nil, fmt.Errorf("%w: service has no L2CAP PSM", ErrNotFound)
	}
	select {
	case c := <-p.l2:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closed:
		return nil, transports.ErrClosed
	}
}

func (p *simPeripheral) StopAdvertising() error {
	p.a.sim.unpublish(p)
	return nil
}

func (p *simPeripheral) Close() error {
	p.a.sim.unpublish(p)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return nil
	}
	p.isClosed = true
	close(p.closed)
	for {
		select {
		case l := <-p.accept:
			l.disconnect(sidePeripheral)
		case c := <-p.l2:
			c.Close()
		default:
			return nil
		}
	}
}

// Link sides.
const (
	sideCentral    = 0
	sidePeripheral = 1
	sideFault      = -1
)

// errClosedLocally is what an end gets after it disconnected or closed itself.
var errClosedLocally = fmt.Errorf("ble: closed locally: %w", transports.ErrClosed)

type pdu struct {
	v   Value
	due time.Time
}

// queue is one bounded direction: a sender holds a slot from before it draws faults
// until the receiver has taken the value, so the send under the link lock never blocks.
type queue struct {
	in         chan pdu
	slots      chan struct{}
	pending    pdu // taken but not yet due (real time); receiver goroutine only
	hasPending bool
}

func newQueue(n int) *queue { return &queue{in: make(chan pdu, n), slots: make(chan struct{}, n)} }

// simLink is one connection: the model clock, faults and the two directions.
type simLink struct {
	sim   *Sim
	cfg   SimConfig
	p     *simPeripheral
	mtu   int
	fault Faults
	q     [2]*queue // towards the central, towards the peripheral

	mu         sync.Mutex // guards everything below
	rng        *rand.Rand
	clock      time.Duration // modelled time this link has used
	evUsed     time.Duration // time used in the current connection event
	evPkts     int           // data packets in the current connection event
	values     int           // for Faults.DisconnectAfter
	subscribed map[UUID]bool
	due        time.Time // real time: when the radio is free again

	down     chan struct{}
	downOnce sync.Once
	downBy   int // written before down is closed
}

func newSimLink(s *Sim, p *simPeripheral, mtu int, f Faults) *simLink {
	return &simLink{sim: s, cfg: s.cfg, p: p, mtu: mtu, fault: f,
		q:   [2]*queue{newQueue(s.cfg.QueueLen), newQueue(s.cfg.QueueLen)},
		rng: rand.New(rand.NewPCG(f.Seed, 0x626c652d73696d)), subscribed: map[UUID]bool{},
		down: make(chan struct{})}
}

// accountLocked adds the air time of one L2CAP PDU of n bytes (basic header included):
// it is cut into LL packets of at most DataLength bytes, which fill connection events
// of at most PacketsPerEvent packets and ConnInterval length; a full event makes the
// next packet wait for the next event. It returns the time added.
func (l *simLink) accountLocked(n int) time.Duration {
	start := l.clock
	for rem := n; ; {
		size := min(rem, l.cfg.DataLength)
		rem -= size
		tx := l.cfg.ExchangeTime(size)
		if l.evPkts > 0 && (l.evPkts >= l.cfg.PacketsPerEvent || l.evUsed+tx > l.cfg.ConnInterval) {
			l.clock += l.cfg.ConnInterval - l.evUsed
			l.evUsed, l.evPkts = 0, 0
		}
		l.clock += tx
		l.evUsed += tx
		l.evPkts++
		if rem <= 0 {
			break
		}
	}
	d := l.clock - start
	l.sim.air.Add(int64(d))
	return d
}

func (l *simLink) isDown() bool {
	select {
	case <-l.down:
		return true
	default:
		return false
	}
}

func (l *simLink) breakLocked(by int) {
	l.downOnce.Do(func() {
		l.downBy = by
		close(l.down)
	})
}

func (l *simLink) disconnect(side int) {
	l.mu.Lock()
	l.breakLocked(side)
	l.mu.Unlock()
}

// downErr is what side gets once the link is down.
func (l *simLink) downErr(side int) error {
	if l.downBy == side {
		return errClosedLocally
	}
	if l.downBy == sideFault {
		return fmt.Errorf("%w (fault injected)", ErrDisconnected)
	}
	return ErrDisconnected
}

// sendKind says which faults a PDU meets.
type sendKind int

const (
	control sendKind = iota // MTU, CCCD, reads: no faults
	value                   // write without response, notification: all faults
	segment                 // L2CAP segment: stall and disconnect, never dropped
)

// send queues v on q (the direction away from side from), accounting n bytes at the
// L2CAP layer. stop, when not nil, aborts the send (a closed L2CAP channel).
func (l *simLink) send(ctx context.Context, from int, q *queue, stop <-chan struct{}, stopErr func() error,
	v Value, n int, kind sendKind) error {
	if l.isDown() {
		return l.downErr(from)
	}
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.down:
		return l.downErr(from)
	case <-stop:
		return stopErr()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isDown() {
		<-q.slots
		return l.downErr(from)
	}
	if stop != nil {
		select {
		case <-stop:
			<-q.slots
			return stopErr()
		default:
		}
	}
	cost := l.accountLocked(n)
	drop, brk := false, false
	if kind != control {
		f := &l.fault
		drop = kind == value && f.Drop > 0 && l.rng.Float64() < f.Drop
		if f.Stall > 0 && l.rng.Float64() < f.Stall {
			l.clock += f.StallFor
			cost += f.StallFor
			l.sim.air.Add(int64(f.StallFor))
		}
		l.values++
		brk = f.DisconnectAfter > 0 && l.values >= f.DisconnectAfter
	}
	p := pdu{v: v}
	if l.cfg.RealTime {
		start := time.Now()
		if l.due.After(start) {
			start = l.due
		}
		l.due = start.Add(cost)
		p.due = l.due
	}
	if drop {
		<-q.slots
	} else {
		q.in <- p
	}
	if brk {
		l.breakLocked(sideFault)
	}
	return nil
}

// recv takes the next value of q for side. stop, when not nil, ends the wait like a
// link down (closed L2CAP channel); stopErr says what to return then.
func (l *simLink) recv(ctx context.Context, side int, q *queue, stop <-chan struct{}, stopErr func() error) (Value, error) {
	if !q.hasPending {
		select {
		case p := <-q.in:
			q.take(p)
		case <-ctx.Done():
			return Value{}, ctx.Err()
		case <-l.down:
			if l.downBy == side || !q.drain() {
				return Value{}, l.downErr(side)
			}
		case <-stop:
			if err := stopErr(); err != nil || !q.drain() {
				if err == nil {
					err = transports.ErrClosed
				}
				return Value{}, err
			}
		}
	}
	if !q.pending.due.IsZero() {
		if d := time.Until(q.pending.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Value{}, ctx.Err() // the value stays pending
			}
		}
	}
	v := q.pending.v
	q.pending, q.hasPending = pdu{}, false
	return v, nil
}

func (q *queue) take(p pdu) {
	q.pending, q.hasPending = p, true
	<-q.slots
}

func (q *queue) drain() bool {
	select {
	case p := <-q.in:
		q.take(p)
		return true
	default:
		return false
	}
}

// simClient is the central's end of a simLink.
type simClient struct{ l *simLink }

func (c *simClient) MTU() int               { return c.l.mtu }
func (c *simClient) Done() <-chan struct{}  { return c.l.down }
func (c *simClient) Disconnect() error      { c.l.disconnect(sideCentral); return nil }
func (c *simClient) AirTime() time.Duration { c.l.mu.Lock(); defer c.l.mu.Unlock(); return c.l.clock }
func (c *simClient) Receive(ctx context.Context) (Value, error) {
	return c.l.recv(ctx, sideCentral, c.l.q[sideCentral], nil, nil)
}

func (c *simClient) Characteristic(ctx context.Context, service, char UUID) (Characteristic, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.l.isDown() {
		return nil, c.l.downErr(sideCentral)
	}
	if service != c.l.p.svc.UUID {
		return nil, fmt.Errorf("%w: service %s", ErrNotFound, service)
	}
	cfg, ok := c.l.p.svc.char(char)
	if !ok {
		return nil, fmt.Errorf("%w: characteristic %s", ErrNotFound, char)
	}
	return &simChar{l: c.l, cfg: cfg}, nil
}

func (c *simClient) OpenL2CAP(ctx context.Context, psm uint16) (L2CAPChannel, error) {
	l := c.l
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if psm == 0 || psm != l.p.svc.L2CAPPSM {
		return nil, fmt.Errorf("%w: no L2CAP server on PSM %#x", ErrNotFound, psm)
	}
	l.mu.Lock()
	if l.isDown() {
		l.mu.Unlock()
		return nil, l.downErr(sideCentral)
	}
	// LE Credit Based Connection Request and Response: 4 + 4 + 10 and 4 + 4 + 10 bytes.
	l.accountLocked(18)
	l.accountLocked(18)
	l.mu.Unlock()
	ch := &simChan{l: l, psm: psm, closed: make(chan struct{})}
	for side := range ch.ends {
		ch.ends[side] = &simChanEnd{c: ch, side: side, q: newQueue(l.cfg.QueueLen),
			parser: NewL2CAPParser(messages.MaxMessageSize)}
	}
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return nil, fmt.Errorf("%w: L2CAP server closed", ErrNotFound)
	}
	select {
	case p.l2 <- ch.ends[sidePeripheral]:
	default:
		return nil, fmt.Errorf("ble: L2CAP PSM %#x not accepting: %w", psm, ErrDisconnected)
	}
	return ch.ends[sideCentral], nil
}

// simServer is the peripheral's end of a simLink.
type simServer struct{ l *simLink }

func (s *simServer) MTU() int               { return s.l.mtu }
func (s *simServer) Done() <-chan struct{}  { return s.l.down }
func (s *simServer) Disconnect() error      { s.l.disconnect(sidePeripheral); return nil }
func (s *simServer) AirTime() time.Duration { s.l.mu.Lock(); defer s.l.mu.Unlock(); return s.l.clock }
func (s *simServer) Receive(ctx context.Context) (Value, error) {
	return s.l.recv(ctx, sidePeripheral, s.l.q[sidePeripheral], nil, nil)
}

func (s *simServer) Notify(ctx context.Context, char UUID, data []byte) error {
	l := s.l
	cfg, ok := l.p.svc.char(char)
	if !ok || cfg.Props&PropNotify == 0 {
		return fmt.Errorf("%w: notifiable characteristic %s", ErrNotFound, char)
	}
	if len(data) > MaxValueFor(l.mtu) {
		return fmt.Errorf("%w: %d bytes, MTU %d", ErrTooLong, len(data), l.mtu)
	}
	l.mu.Lock()
	sub := l.subscribed[char]
	l.mu.Unlock()
	if !sub {
		return fmt.Errorf("%w: %s", ErrNotSubscribed, char)
	}
	v := Value{Op: OpNotify, Char: char, Data: append([]byte(nil), data...)}
	return l.send(ctx, sidePeripheral, l.q[sideCentral], nil, nil, v, 4+3+len(data), value)
}

// simChar is a remote characteristic on a simLink.
type simChar struct {
	l   *simLink
	cfg *CharacteristicConfig
}

func (c *simChar) UUID() UUID { return c.cfg.UUID }

func (c *simChar) Read(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.cfg.Props&PropRead == 0 {
		return nil, fmt.Errorf("%w: readable characteristic %s", ErrNotFound, c.cfg.UUID)
	}
	v := c.cfg.Value[:min(len(c.cfg.Value), c.l.mtu-1)]
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isDown() {
		return nil, l.downErr(sideCentral)
	}
	l.accountLocked(4 + 3)          // Read Request
	l.accountLocked(4 + 1 + len(v)) // Read Response
	return append([]byte(nil), v...), nil
}

func (c *simChar) WriteWithoutResponse(ctx context.Context, data []byte) error {
	if c.cfg.Props&PropWriteWithoutResponse == 0 {
		return fmt.Errorf("%w: writable characteristic %s", ErrNotFound, c.cfg.UUID)
	}
	if len(data) > MaxValueFor(c.l.mtu) {
		return fmt.Errorf("%w: %d bytes, MTU %d", ErrTooLong, len(data), c.l.mtu)
	}
	v := Value{Op: OpWrite, Char: c.cfg.UUID, Data: append([]byte(nil), data...)}
	return c.l.send(ctx, sideCentral, c.l.q[sidePeripheral], nil, nil, v, 4+3+len(data), value)
}

func (c *simChar) Subscribe(ctx context.Context) error   { return c.cccd(ctx, true) }
func (c *simChar) Unsubscribe(ctx context.Context) error { return c.cccd(ctx, false) }

// cccd writes the Client Characteristic Configuration descriptor (Write Request of 2
// bytes, Write Response) and tells the server.
func (c *simChar) cccd(ctx context.Context, on bool) error {
	if c.cfg.Props&PropNotify == 0 {
		return fmt.Errorf("%w: notifiable characteristic %s", ErrNotFound, c.cfg.UUID)
	}
	l := c.l
	l.mu.Lock()
	if l.isDown() {
		l.mu.Unlock()
		return l.downErr(sideCentral)
	}
	l.subscribed[c.cfg.UUID] = on
	l.accountLocked(4 + 1) // Write Response
	l.mu.Unlock()
	op := OpUnsubscribe
	if on {
		op = OpSubscribe
	}
	return l.send(ctx, sideCentral, l.q[sidePeripheral], nil, nil, Value{Op: op, Char: c.cfg.UUID}, 4+3+2, control)
}

// simChan is an L2CAP channel on a simLink.
type simChan struct {
	l         *simLink
	psm       uint16
	ends      [2]*simChanEnd
	closed    chan struct{}
	closeOnce sync.Once
	closedBy  int // written before closed is closed
}

type simChanEnd struct {
	c      *simChan
	side   int
	q      *queue // towards this end
	sendMu sync.Mutex
	parser *L2CAPParser // receiver goroutine only
}

func (e *simChanEnd) PSM() uint16 { return e.c.psm }

func (e *simChanEnd) Close() error {
	e.c.closeOnce.Do(func() {
		e.c.closedBy = e.side
		close(e.c.closed)
	})
	return nil
}

func (e *simChanEnd) closedErr() error {
	if e.c.closedBy == e.side {
		return errClosedLocally
	}
	return transports.ErrClosed
}

// Send cuts the length-prefixed message into segments of DataLength−4 bytes (one
// K-frame, basic L2CAP header included, per LL packet) and queues them in order.
func (e *simChanEnd) Send(ctx context.Context, msg []byte) error {
	if len(msg) == 0 {
		return fmt.Errorf("%w: empty message", transports.ErrBadFrame)
	}
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	l, peer := e.c.l, e.c.ends[1-e.side]
	stream := AppendL2CAPMessage(make([]byte, 0, l2capPrefix+len(msg)), msg)
	mps := l.cfg.DataLength - 4
	for len(stream) > 0 {
		n := min(mps, len(stream))
		seg := stream[:n:n]
		stream = stream[n:]
		if err := l.send(ctx, e.side, peer.q, e.c.closed, e.closedErr, Value{Data: seg}, 4+n, segment); err != nil {
			return fmt.Errorf("ble: L2CAP send: %w", err)
		}
	}
	return nil
}

// Receive returns the next whole message; a channel or link that ends in the middle of
// a message is an error, not a clean close.
func (e *simChanEnd) Receive(ctx context.Context) ([]byte, error) {
	l := e.c.l
	for {
		if m, ok := e.parser.Next(); ok {
			return m, nil
		}
		v, err := l.recv(ctx, e.side, e.q, e.c.closed, func() error {
			if e.c.closedBy == e.side {
				return errClosedLocally
			}
			return nil
		})
		if err != nil {
			if err == transports.ErrClosed && e.parser.Pending() {
				return nil, fmt.Errorf("%w: L2CAP channel closed mid-message", ErrDisconnected)
			}
			return nil, err
		}
		if err := e.parser.Feed(v.Data); err != nil {
			return nil, fmt.Errorf("ble: L2CAP framing: %w", err)
		}
	}
}
