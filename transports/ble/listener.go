package ble

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// Bearer is the name BLE arrivals and listeners report.
const Bearer = "ble"

// DefaultConnectTimeout bounds the connection set-up of one engagement.
const DefaultConnectTimeout = 5 * time.Second

// ListenerConfig configures a reader lane's BLE side.
type ListenerConfig struct {
	// MTU is the ATT MTU the lane asks for as a central (0: 517).
	MTU int
	// L2CAP offers an L2CAP channel in mdoc central client mode (on PSM, default
	// DefaultPSM). In mdoc peripheral server mode the engagement decides: the lane uses
	// L2CAP exactly when the engagement carries a PSM (option key 21).
	L2CAP bool
	PSM   uint16
	// ConnectTimeout bounds the set-up of each connection (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// Ident, when set, gives the Ident the lane exposes in central client mode instead
	// of BLEIdent(EDeviceKeyBytes): a test knob for a wrong reader.
	Ident func(eDeviceKeyBytes []byte) []byte
	// Mode, when set, is the only mode the lane uses: an engagement that does not offer
	// it fails set-up. Zero takes either, central client mode first (ChooseMode).
	Mode Mode
}

// Listener is a reader lane on BLE. Holders queue their engagement with Engage (the lane
// "scans their QR code"); Accept takes the next engagement, reads its BLE retrieval
// method, connects in the mode it offers (central client mode when both are offered) and
// yields the arrival. It implements transports.Listener.
//
// Accept connects before it returns, so the lane sets up one connection at a time, each
// bounded by ConnectTimeout. A connection that cannot be set up (no BLE method, wrong
// reader refused by the mdoc, timeout) still yields an arrival, whose Conn fails every
// call with the set-up error: its session ends with exactly one error verdict.
type Listener struct {
	a       Adapter
	cfg     ListenerConfig
	backlog chan *Ticket
	done    chan struct{}
	base    context.Context
	stop    context.CancelFunc

	mu     sync.Mutex // orders Engage against Close
	closed bool
}

var _ transports.Listener = (*Listener)(nil)

// NewListener returns a lane using adapter a, queueing at most backlog (at least 1)
// engagements not yet accepted.
func NewListener(a Adapter, backlog int, cfg ListenerConfig) *Listener {
	if backlog < 1 {
		backlog = 1
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	base, stop := context.WithCancel(context.Background())
	return &Listener{a: a, cfg: cfg, backlog: make(chan *Ticket, backlog), done: make(chan struct{}), base: base, stop: stop}
}

// Bearer is "ble".
func (l *Listener) Bearer() string { return Bearer }

// Ticket is one queued engagement, shared by the holder and the lane to cancel each
// other's connection set-up and to carry the lane's busy answer.
type Ticket struct {
	de, handover []byte
	at           time.Time // when the holder showed its engagement

	mu      sync.Mutex
	failErr error // why the lane gave up on the holder (busy, closed)
	gone    bool  // the holder gave up
	cancelH context.CancelFunc
	cancelR context.CancelFunc
}

// fail records the lane's answer and stops the holder's set-up.
func (t *Ticket) fail(err error) {
	t.mu.Lock()
	if t.failErr == nil {
		t.failErr = err
	}
	cancel := t.cancelH
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// abandon records that the holder gave up and stops the lane's set-up.
func (t *Ticket) abandon() {
	t.mu.Lock()
	t.gone = true
	cancel := t.cancelR
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (t *Ticket) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failErr
}

// watch registers cancel to run when the other side gives up (at once if it has).
func (t *Ticket) watch(holder bool, cancel context.CancelFunc) {
	t.mu.Lock()
	already := false
	if holder {
		t.cancelH, already = cancel, t.failErr != nil
	} else {
		t.cancelR, already = cancel, t.gone
	}
	t.mu.Unlock()
	if already {
		cancel()
	}
}

// Engage queues a holder's engagement (copies of deviceEngagement and handover). It never
// waits: with the backlog full it returns transports.ErrBusy, with the lane closed
// transports.ErrClosed.
func (l *Listener) Engage(deviceEngagement, handover []byte) (*Ticket, error) {
	t := &Ticket{de: append([]byte(nil), deviceEngagement...), handover: append([]byte(nil), handover...), at: time.Now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, transports.ErrClosed
	}
	select {
	case l.backlog <- t:
		return t, nil
	default:
		return nil, transports.ErrBusy
	}
}

// Accept takes the next engagement and connects to its holder (see Listener). It returns
// an error only when ctx is done or the listener is closed.
func (l *Listener) Accept(ctx context.Context) (*transports.Arrival, error) {
	var t *Ticket
	select {
	case <-l.done:
		return nil, transports.ErrClosed
	default:
	}
	select {
	case t = <-l.backlog:
	case <-l.done:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	octx, cancel := context.WithTimeout(ctx, l.cfg.ConnectTimeout)
	stop := context.AfterFunc(l.base, cancel)
	t.watch(false, cancel)
	conn, err := l.open(octx, t)
	stop()
	cancel()
	if ctx.Err() != nil || l.base.Err() != nil {
		if conn != nil {
			conn.Close()
		}
		t.fail(transports.ErrClosed)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, transports.ErrClosed
	}
	a := &transports.Arrival{DeviceEngagement: t.de, Handover: t.handover, Bearer: Bearer, EngagedAt: t.at}
	if err != nil {
		a.Conn = &failedConn{err: err}
		a.Reject = func(reason error) { t.fail(busyError(reason)) }
		return a, nil
	}
	a.Conn = conn
	a.Reject = func(reason error) {
		t.fail(busyError(reason))
		conn.Close()
	}
	return a, nil
}

// ReaderParams are the parameters the lane connects with for a DeviceEngagement.
func ReaderParams(deviceEngagement []byte, cfg ListenerConfig) (Params, error) {
	de, err := messages.DecodeEngagement(deviceEngagement)
	if err != nil {
		return Params{}, fmt.Errorf("ble: decode engagement: %w", err)
	}
	var o messages.BLEOptions
	found := false
	for i := range de.DeviceRetrievalMethods {
		m := &de.DeviceRetrievalMethods[i]
		if m.Type != messages.RetrievalBLE {
			continue
		}
		if o, err = m.BLE(); err != nil {
			return Params{}, fmt.Errorf("ble: engagement BLE options: %w", err)
		}
		found = true
		break
	}
	if !found {
		return Params{}, errors.New("ble: engagement offers no BLE retrieval method")
	}
	switch cfg.Mode {
	case CentralClient:
		o.PeripheralServerMode = false
	case PeripheralServer:
		o.CentralClientMode = false
	}
	if cfg.Mode != 0 && !o.CentralClientMode && !o.PeripheralServerMode {
		return Params{}, fmt.Errorf("ble: engagement does not offer %s mode, the only mode of this lane", cfg.Mode)
	}
	mode, svc, err := ChooseMode(o)
	if err != nil {
		return Params{}, err
	}
	p := Params{Side: Reader, Mode: mode, Service: svc, MTU: cfg.MTU, EDeviceKeyBytes: de.Security.KeyBytes.Raw()}
	switch mode {
	case PeripheralServer:
		if o.L2CAPPSM != nil {
			if *o.L2CAPPSM == 0 || *o.L2CAPPSM > 0xffff {
				return Params{}, fmt.Errorf("ble: engagement L2CAP PSM %d out of range", *o.L2CAPPSM)
			}
			p.PSM = uint16(*o.L2CAPPSM)
		}
	case CentralClient:
		p.L2CAP, p.PSM = cfg.L2CAP, cfg.PSM
		if cfg.Ident != nil {
			p.Ident = cfg.Ident(p.EDeviceKeyBytes)
		}
	}
	return p, nil
}

func (l *Listener) open(ctx context.Context, t *Ticket) (*Conn, error) {
	p, err := ReaderParams(t.de, l.cfg)
	if err != nil {
		return nil, err
	}
	return Open(ctx, l.a, p)
}

// Close stops the lane: pending and later Accept and Engage calls return
// transports.ErrClosed, a connection being set up is cancelled, and the holders still
// queued are told the lane closed. It is idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.stop()
	l.mu.Unlock()
	for {
		select {
		case t := <-l.backlog:
			t.fail(transports.ErrClosed)
		default:
			return nil
		}
	}
}

// HolderOptions configure the holder's side of EngageHolder.
type HolderOptions struct {
	// MTU is the ATT MTU the holder asks for as a central (0: 517).
	MTU int
	// ConnectTimeout bounds the set-up (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
}

// HolderParams are the parameters a holder connects with for its own DeviceEngagement. A
// holder offering both modes follows the reader's rule (central client mode) instead of
// serving both at once.
func HolderParams(deviceEngagement []byte, o HolderOptions) (Params, error) {
	p, err := ReaderParams(deviceEngagement, ListenerConfig{})
	if err != nil {
		return Params{}, err
	}
	p.Side, p.MTU = Holder, o.MTU
	return p, nil
}

// EngageHolder is a simulated holder showing its engagement to lane l and connecting
// with adapter a as the engagement says. It returns once the connection is set up (or
// the lane refused: transports.ErrBusy when its backlog is full, transports.ErrClosed
// when it is closed). When the lane later rejects the arrival as busy, the returned
// Conn's calls fail with an error matching transports.ErrBusy.
func EngageHolder(ctx context.Context, l *Listener, a Adapter, deviceEngagement, handover []byte, o HolderOptions) (*Conn, error) {
	p, err := HolderParams(deviceEngagement, o)
	if err != nil {
		return nil, err
	}
	t, err := l.Engage(deviceEngagement, handover)
	if err != nil {
		return nil, err
	}
	timeout := o.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t.watch(true, cancel)
	conn, err := Open(octx, a, p)
	if err != nil {
		t.abandon()
		if lane := t.err(); lane != nil {
			return nil, lane
		}
		return nil, err
	}
	conn.abort = t.err
	return conn, nil
}

// busyError is the error the holder of a rejected arrival gets.
func busyError(reason error) error {
	switch {
	case reason == nil || errors.Is(reason, transports.ErrBusy):
		if reason == nil {
			return transports.ErrBusy
		}
		return reason
	default:
		return fmt.Errorf("%w: %w", transports.ErrBusy, reason)
	}
}
