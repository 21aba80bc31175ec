package handoff

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/wifiaware"
)

// DefaultConnectTimeout bounds the set-up of a handed-off connection.
const DefaultConnectTimeout = 5 * time.Second

// Reader opens the reader's side of handed-off sessions at one lane.
type Reader struct {
	// BLE is the lane's BLE device (nil: no BLE); NAN the Wi-Fi Aware network (nil: none).
	BLE ble.Adapter
	NAN *wifiaware.Network
	// Allowed are the carriers the lane may hand off to, in its order of preference.
	Allowed []Kind
	// L2CAP offers an L2CAP channel in mdoc central client mode.
	L2CAP bool
	// MTU is the ATT MTU the lane asks for as a central (0: 517).
	MTU int
	// ConnectTimeout bounds each set-up (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// refuse, set by Radio, tells a simulated holder that the lane refused it.
	refuse func(Target, error)
}

// Dial opens the reader's side of t and returns at once: the connection is set up in
// the background, and the returned Conn's reads and writes wait for it (or fail with the
// set-up's error, which names the carrier and the step, so that the session ends in one
// error verdict). Its frames are whole session messages (transports.WholeMessages over
// GATT); its AirTime adds engagementAir (the NFC engagement's, nil for none) to the
// carrier's. Reject tells the holder, where the radio can, that the lane will not serve
// it, and closes the connection.
func (r *Reader) Dial(t Target, engagementAir func() time.Duration) *Conn {
	timeout := r.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	c := &Conn{target: t, ready: make(chan struct{}), cancel: cancel, engagementAir: engagementAir, refuse: r.refuse}
	go func() {
		conn, err := r.connect(ctx, t)
		cancel()
		c.arrive(conn, err)
	}()
	return c
}

func (r *Reader) connect(ctx context.Context, t Target) (transports.Conn, error) {
	switch t.Kind {
	case WiFiAware:
		if r.NAN == nil {
			return nil, fmt.Errorf("handoff: %s: this lane has no Wi-Fi Aware", t.Kind)
		}
		c, err := r.NAN.Dial(ctx, t.NAN)
		if err != nil {
			return nil, fmt.Errorf("handoff: %s: %w", t.Kind, err)
		}
		return c, nil
	default:
		if r.BLE == nil {
			return nil, fmt.Errorf("handoff: %s: this lane has no BLE", t.Kind)
		}
		p := t.BLE
		p.Side, p.MTU = ble.Reader, r.MTU
		c, err := ble.Open(ctx, r.BLE, p)
		if err != nil {
			return nil, fmt.Errorf("handoff: %s: %w", t.Kind, err)
		}
		return wholeBLE(c), nil
	}
}

// wholeBLE gives a BLE connection whole-message frames: GATT values carry 18013-5 chunks,
// an L2CAP channel whole messages already.
func wholeBLE(c *ble.Conn) transports.Conn {
	if c.L2CAP() {
		return c
	}
	return transports.WholeMessages(c, transports.ChunkFramer{}, messages.MaxMessageSize)
}

// Conn is the reader's side of a handed-off session (see Reader.Dial).
type Conn struct {
	target        Target
	ready         chan struct{}
	cancel        context.CancelFunc
	engagementAir func() time.Duration
	refuse        func(Target, error)

	mu     sync.Mutex
	conn   transports.Conn
	err    error
	closed bool
	once   sync.Once
}

var (
	_ transports.Conn     = (*Conn)(nil)
	_ transports.AirTimer = (*Conn)(nil)
)

// Kind is the carrier the session was handed to.
func (c *Conn) Kind() Kind { return c.target.Kind }

func (c *Conn) arrive(conn transports.Conn, err error) {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.conn, c.err = conn, err
	}
	c.mu.Unlock()
	if closed && conn != nil {
		conn.Close()
	}
	close(c.ready)
}

// wait returns the connection once it is set up.
func (c *Conn) wait(ctx context.Context) (transports.Conn, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, transports.ErrClosed
	case c.err != nil:
		return nil, c.err
	}
	return c.conn, nil
}

func (c *Conn) ReadFrame(ctx context.Context) ([]byte, error) {
	conn, err := c.wait(ctx)
	if err != nil {
		return nil, err
	}
	return conn.ReadFrame(ctx)
}

func (c *Conn) WriteFrame(ctx context.Context, frame []byte) error {
	conn, err := c.wait(ctx)
	if err != nil {
		return err
	}
	return conn.WriteFrame(ctx, frame)
}

// MaxFrameSize: frames are whole messages.
func (c *Conn) MaxFrameSize() int { return messages.MaxMessageSize }

// Close stops a set-up under way or closes the connection.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		conn := c.conn
		c.mu.Unlock()
		c.cancel()
		if conn != nil {
			conn.Close()
		}
	})
	return nil
}

// Reject tells the holder the lane will not serve it and closes the connection.
func (c *Conn) Reject(reason error) {
	err := busyError(reason)
	if c.refuse != nil {
		c.refuse(c.target, err)
	}
	c.mu.Lock()
	nan, _ := c.conn.(*wifiaware.ReaderConn)
	c.mu.Unlock()
	if nan != nil {
		nan.Reject(err) // over NAN, as a Wi-Fi Aware lane refuses
	}
	c.Close()
}

// AirTime is the engagement's modelled air time and the carrier's.
func (c *Conn) AirTime() time.Duration {
	var d time.Duration
	if c.engagementAir != nil {
		d = c.engagementAir()
	}
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if a, ok := conn.(transports.AirTimer); ok {
		d += a.AirTime()
	}
	return d
}

func busyError(reason error) error {
	switch {
	case reason == nil:
		return transports.ErrBusy
	case errors.Is(reason, transports.ErrBusy):
		return reason
	}
	return fmt.Errorf("%w: %w", transports.ErrBusy, reason)
}

// RadioConfig configures a simulated Radio.
type RadioConfig struct {
	BLE ble.SimConfig
	// MTU is every simulated device's largest ATT MTU (0: 185, an iPhone's).
	MTU       int
	WiFiAware wifiaware.Config
}

// Radio is the simulated BLE radio and Wi-Fi Aware network shared by the lanes and the
// simulated holders of one bearer. A lane refusing a holder (Conn.Reject) tells it over
// the radio: the holder's side then fails with transports.ErrBusy, whether it was still
// setting up or already connected.
type Radio struct {
	sim *ble.Sim
	mtu int
	nan *wifiaware.Network

	mu       sync.Mutex
	holders  map[string]*waiter // simulated holders' sides, by target
	refusals map[string]error   // refusals that came before their holder's side (bounded)
}

// maxEarlyRefusals bounds the refusals a Radio keeps for holders not yet there.
const maxEarlyRefusals = 4096

// waiter is a simulated holder's side as the radio knows it: where a refusal goes.
type waiter struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelCauseFunc // stops a set-up under way
}

func (w *waiter) refuse(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	cancel := w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel(err)
	}
}

func (w *waiter) refusal() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// NewRadio returns a simulated radio.
func NewRadio(cfg RadioConfig) *Radio {
	if cfg.MTU <= 0 {
		cfg.MTU = ble.IOSMTU
	}
	return &Radio{sim: ble.NewSim(cfg.BLE), mtu: cfg.MTU, nan: wifiaware.NewNetwork(cfg.WiFiAware), holders: map[string]*waiter{},
		refusals: map[string]error{}}
}

// Reader returns a lane's side on the radio: a BLE device of its own and the network.
func (r *Radio) Reader(allowed []Kind, l2cap bool) *Reader {
	return &Reader{BLE: r.sim.NewAdapter(ble.DeviceConfig{MaxMTU: r.mtu}), NAN: r.nan, Allowed: allowed, L2CAP: l2cap,
		MTU: ble.MaxMTU, refuse: r.refused}
}

// AirTime is the modelled BLE air time of every connection so far (Wi-Fi Aware's is not
// modelled).
func (r *Radio) AirTime() time.Duration { return r.sim.AirTime() }

// Close ends the Wi-Fi Aware network.
func (r *Radio) Close() error { return r.nan.Close() }

func (r *Radio) refused(t Target, err error) {
	r.mu.Lock()
	w := r.holders[t.key()]
	if w == nil { // the holder has not started its side yet: it finds this when it does
		if len(r.refusals) >= maxEarlyRefusals {
			for k := range r.refusals {
				delete(r.refusals, k)
				break
			}
		}
		r.refusals[t.key()] = err
	}
	r.mu.Unlock()
	if w != nil {
		w.refuse(err)
	}
}

// Holder opens a simulated holder's side of t on its own BLE device (carrying the link
// faults) or on the Wi-Fi Aware network. It returns once the BLE connection is set up
// (a Wi-Fi Aware holder at once: its Conn is usable when the data path is up). A lane
// refusing the holder makes this, or the Conn's later calls, fail with
// transports.ErrBusy. The Conn's frames are whole messages.
func (r *Radio) Holder(ctx context.Context, t Target, f transports.LinkFaults) (transports.Conn, error) {
	key := t.key()
	w := &waiter{}
	r.mu.Lock()
	r.holders[key] = w
	if err, ok := r.refusals[key]; ok {
		delete(r.refusals, key)
		w.err = err
	}
	r.mu.Unlock()
	forget := func() {
		r.mu.Lock()
		if r.holders[key] == w {
			delete(r.holders, key)
		}
		r.mu.Unlock()
	}
	conn, err := r.open(ctx, t, f, w)
	if err != nil {
		forget()
		if busy := w.refusal(); busy != nil {
			return nil, busy
		}
		return nil, err
	}
	return &holderConn{Conn: conn, w: w, forget: forget}, nil
}

func (r *Radio) open(ctx context.Context, t Target, f transports.LinkFaults, w *waiter) (transports.Conn, error) {
	if t.Kind == WiFiAware {
		return r.nan.Publish(t.NAN, wifiaware.Faults{Drop: f.Drop, DisconnectAfterFrames: f.DisconnectAfterFrames, Seed: f.Seed})
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, DefaultConnectTimeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.mu.Lock()
	w.cancel = cancel
	refused := w.err
	w.mu.Unlock()
	if refused != nil {
		return nil, refused
	}
	a := r.sim.NewAdapter(ble.DeviceConfig{MaxMTU: r.mtu, Faults: ble.Faults{Drop: f.Drop, DisconnectAfter: f.DisconnectAfterFrames, Seed: f.Seed}})
	p := t.BLE
	p.Side, p.MTU = ble.Holder, ble.MaxMTU
	c, err := ble.Open(ctx, a, p)
	w.mu.Lock()
	w.cancel = nil
	w.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("handoff: holder %s: %w", t.Kind, err)
	}
	return wholeBLE(c), nil
}

// holderConn is a simulated holder's side: a refusal by the lane replaces the error its
// reads and writes meet.
type holderConn struct {
	transports.Conn
	w      *waiter
	forget func()
	once   sync.Once
}

func (h *holderConn) ReadFrame(ctx context.Context) ([]byte, error) {
	m, err := h.Conn.ReadFrame(ctx)
	if err != nil {
		if busy := h.w.refusal(); busy != nil {
			return nil, busy
		}
	}
	return m, err
}

func (h *holderConn) WriteFrame(ctx context.Context, frame []byte) error {
	err := h.Conn.WriteFrame(ctx, frame)
	if err != nil {
		if busy := h.w.refusal(); busy != nil {
			return busy
		}
	}
	return err
}

func (h *holderConn) Close() error {
	h.once.Do(h.forget)
	return h.Conn.Close()
}
