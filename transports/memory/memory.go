// Package memory is an in-memory bearer for tests, simulations and load runs: a pair of
// connected transports.Conn with a timing model (one-way latency, bandwidth) and a fault
// model (drop, corrupt, stall, disconnect), plus a Listener that holders engage with.
//
// # Timing
//
// Every frame a Conn sends costs Latency + len(frame)/Bandwidth of modelled air time,
// accumulated per sender and reported by AirTime (transports.AirTimer); a stalled frame
// costs StallFor more. With RealTime false (the default) the delays are only accounted
// and frames are delivered at CPU speed; with RealTime true a frame is handed to the
// reader no earlier than its due time: frames of one direction are serialised on the
// link (a frame starts transmitting when the previous one has left), arrive Latency
// after they left, and are always delivered in order (a stalled frame holds back the
// frames behind it).
//
// # Queues and back-pressure
//
// Each direction has a bounded queue of QueueLen frames (default 16). WriteFrame returns
// as soon as the frame is queued; when the queue is full it blocks until the reader
// takes a frame, the context is done or the link is closed. No goroutine is started per
// frame (none at all, in fact): the reader waits for a frame's due time on a timer.
//
// # Push delivery
//
// A Conn can instead hand its frames over as they are sent (Push, transports.Pusher):
// the sender's WriteFrame or TryWriteFrame calls the receiver's deliver function, in
// order, with the same faults applied, and the close or break that ReadFrame would have
// reported goes to its end function. Links use it so that no goroutine waits on a memory
// Conn. Real-time mode declines it: its frames must wait for their due time.
//
// # Close semantics
//
// Close on one side makes that side's pending and later ReadFrame and WriteFrame calls
// return transports.ErrClosed at once; frames queued towards it are discarded. The peer can
// still read the frames that were queued towards it before the close (delivered at
// their due time) and then gets transports.ErrClosed; the peer's writes fail with
// transports.ErrClosed at once. Close is idempotent and always returns nil.
//
// When the connection was refused with Arrival.Reject, the holder side reads the queued
// frames (there are normally none) and then gets an error matching transports.ErrBusy
// (errors.Is), from ReadFrame and WriteFrame alike.
//
// # Faults
//
// Each written frame independently is dropped (silently lost, WriteFrame still
// succeeds), corrupted (one byte at a random position XORed with a random non-zero
// value) or stalled (delivered StallFor late in real-time mode, StallFor more air time
// in both modes), with the configured probabilities. Faults are drawn from a
// per-direction PCG generator seeded with Faults.Seed, so a given sequence of writes in
// each direction meets the same faults on every run; Faults.Rand, when set, is used for
// both directions instead (under the link's lock). DisconnectAfterFrames = N breaks the
// link when the N-th frame (both directions counted together, dropped frames included)
// has been written: that frame and the ones queued before it are still delivered, then
// both sides' reads return transports.ErrClosed; every write after the break fails with
// transports.ErrClosed.
package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/transports"
)

// Defaults of LinkConfig.
const (
	DefaultMaxFrame = 512
	DefaultQueueLen = 16 // a 4 KB message in 512-byte frames fits
)

// Bearer is the name the memory bearer reports in Listener.Bearer and Arrival.Bearer.
const Bearer = "memory"

// Faults is the fault model of a link. The zero value injects no faults.
type Faults struct {
	// Drop, Corrupt and Stall are per-frame probabilities in [0, 1].
	Drop, Corrupt, Stall float64
	// StallFor is how late a stalled frame arrives.
	StallFor time.Duration
	// DisconnectAfterFrames breaks the link once that many frames have been written
	// (both directions together); 0 means never.
	DisconnectAfterFrames int
	// Seed seeds the per-direction fault generators.
	Seed uint64
	// Rand, when set, replaces the seeded generators (shared by both directions; it must
	// not be used elsewhere while the link is in use).
	Rand *rand.Rand
}

// LinkConfig describes a link. The zero value is an ideal link: no latency, unlimited
// bandwidth, 512-byte frames, no faults, delays accounted but not slept.
type LinkConfig struct {
	Latency   time.Duration // one way, per frame
	Bandwidth int           // bytes per second; 0 means unlimited
	MaxFrame  int           // largest frame; 0 means DefaultMaxFrame
	QueueLen  int           // frames queued per direction; 0 means DefaultQueueLen
	// RealTime delivers frames after their modelled delay; otherwise the delay is only
	// accounted in AirTime.
	RealTime bool
	Faults   Faults
}

// frameCost is the modelled air time of an n-byte frame, stall excluded.
func (c *LinkConfig) frameCost(n int) time.Duration {
	d := c.Latency
	if c.Bandwidth > 0 {
		d += time.Duration(n) * time.Second / time.Duration(c.Bandwidth)
	}
	return d
}

func (c *LinkConfig) transmitTime(n int) time.Duration {
	if c.Bandwidth <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second / time.Duration(c.Bandwidth)
}

// Stats counts what happened to the frames a Conn sent.
type Stats struct {
	Sent      int // frames accepted by WriteFrame (dropped ones included)
	Bytes     int // bytes of those frames
	Dropped   int
	Corrupted int
	Stalled   int
}

type frame struct {
	data []byte
	due  time.Time // zero: deliver at once
}

// link is what the two Conns of a pipe share.
type link struct {
	cfg    LinkConfig
	mu     sync.Mutex // guards rng use, written, and the Conns' busyUntil
	shared *rand.Rand // Faults.Rand
	// written counts frames written in both directions, for DisconnectAfterFrames.
	written    int
	broken     chan struct{}
	breakOnce  sync.Once
	disconnect bool
}

func (l *link) breakLink() { l.breakOnce.Do(func() { close(l.broken) }) }

// Conn is one end of a memory pipe. It implements transports.Conn and
// transports.AirTimer. One goroutine may read while another writes.
type Conn struct {
	l    *link
	peer *Conn
	role string

	// in carries frames towards this Conn; slots bounds it (a writer holds a slot from
	// before it draws faults until the reader has taken the frame).
	in    chan frame
	slots chan struct{}

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error // what the peer gets once this side closed; set before closed is closed

	rng       *rand.Rand // this Conn's sending direction, guarded by l.mu
	busyUntil time.Time  // when this Conn's direction is free again, guarded by l.mu

	pending    frame // taken from in but not yet due; reader goroutine only
	hasPending bool

	// push delivery (transports.Pusher), guarded by l.mu: frames towards this Conn go to
	// deliver on the sender's goroutine instead of in; end is called once.
	deliver func([]byte)
	end     func(error)
	ended   bool
	pushing atomic.Bool // deliver is set: ReadFrame is not for this Conn

	air                               atomic.Int64
	sent, bytes, dropped, corr, stall atomic.Int64
}

var (
	_ transports.Conn      = (*Conn)(nil)
	_ transports.AirTimer  = (*Conn)(nil)
	_ transports.TryWriter = (*Conn)(nil)
	_ transports.Pusher    = (*Conn)(nil)
)

// errPushing is what ReadFrame returns on a Conn that pushes its frames.
var errPushing = errors.New("memory: frames are pushed to this Conn, not read")

// Push switches the Conn to push delivery (transports.Pusher): frames already queued are
// delivered now, later ones as they are sent. It declines in real-time mode, where frames
// wait for their due time, and once ReadFrame holds a frame.
func (c *Conn) Push(deliver func([]byte), end func(error)) bool {
	if c.l.cfg.RealTime {
		return false
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.hasPending || c.deliver != nil {
		return false
	}
	c.deliver, c.end = deliver, end
	c.pushing.Store(true)
	if c.isClosed() {
		c.ended = true
		return true
	}
	for len(c.in) > 0 { // nothing is added meanwhile: senders queue under l.mu
		f := <-c.in
		<-c.slots
		deliver(f.data)
	}
	select {
	case <-c.peer.closed:
		c.pushEnd(c.peer.closeErr)
	case <-c.l.broken:
		c.pushEnd(transports.ErrClosed)
	default:
	}
	return true
}

// pushEnd tells a pushing Conn that no frame will come; the caller holds l.mu.
func (c *Conn) pushEnd(err error) {
	if c.deliver == nil || c.ended {
		return
	}
	c.ended = true
	if !c.isClosed() {
		c.end(err)
	}
}

// Pipe returns two connected Conns: what reader writes, holder reads, and the reverse.
func Pipe(cfg LinkConfig) (reader, holder transports.Conn) {
	r, h := newPipe(cfg)
	return r, h
}

func newPipe(cfg LinkConfig) (*Conn, *Conn) {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	l := &link{cfg: cfg, shared: cfg.Faults.Rand, broken: make(chan struct{}),
		disconnect: cfg.Faults.DisconnectAfterFrames > 0}
	mk := func(role string, stream uint64) *Conn {
		c := &Conn{l: l, role: role, in: make(chan frame, cfg.QueueLen),
			slots: make(chan struct{}, cfg.QueueLen), closed: make(chan struct{})}
		if l.shared == nil {
			c.rng = rand.New(rand.NewPCG(cfg.Faults.Seed, 0x6d656d6f72790000|stream))
		} else {
			c.rng = l.shared
		}
		return c
	}
	r, h := mk("reader", 1), mk("holder", 2)
	r.peer, h.peer = h, r
	return r, h
}

// MaxFrameSize is the link's MaxFrame.
func (c *Conn) MaxFrameSize() int { return c.l.cfg.MaxFrame }

// AirTime is the modelled time of the frames this Conn has sent.
func (c *Conn) AirTime() time.Duration { return time.Duration(c.air.Load()) }

// Stats reports what happened to the frames this Conn has sent.
func (c *Conn) Stats() Stats {
	return Stats{Sent: int(c.sent.Load()), Bytes: int(c.bytes.Load()), Dropped: int(c.dropped.Load()),
		Corrupted: int(c.corr.Load()), Stalled: int(c.stall.Load())}
}

// Close closes the connection; see the package documentation for what each side sees.
func (c *Conn) Close() error {
	c.closeWith(transports.ErrClosed)
	return nil
}

func (c *Conn) closeWith(err error) {
	closed := false
	c.closeOnce.Do(func() {
		c.closeErr = err
		close(c.closed)
		closed = true
	})
	if closed {
		c.l.mu.Lock()
		c.ended = true // nothing more for this side
		c.peer.pushEnd(err)
		c.l.mu.Unlock()
	}
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// writeErr is the error a write gets when the link is no longer usable, or nil.
func (c *Conn) writeErr() error {
	select {
	case <-c.closed:
		return transports.ErrClosed
	default:
	}
	// one channel per select: a single case with a default is a plain non-blocking
	// receive, where a select of several cases locks every channel in it
	select {
	case <-c.peer.closed:
		return c.peer.closeErr
	default:
	}
	select {
	case <-c.l.broken:
		return transports.ErrClosed
	default:
		return nil
	}
}

// canWrite is what a write checks first: a usable link and a frame within MaxFrame.
func (c *Conn) canWrite(p []byte) error {
	if err := c.writeErr(); err != nil {
		return err
	}
	if len(p) > c.l.cfg.MaxFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", transports.ErrFrameTooBig, len(p), c.l.cfg.MaxFrame)
	}
	return nil
}

// WriteFrame queues a copy of frame for the peer. It blocks while the queue is full.
func (c *Conn) WriteFrame(ctx context.Context, p []byte) error {
	if err := c.canWrite(p); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := c.peer
	select {
	case dst.slots <- struct{}{}: // a free slot, the usual case: no need to wait
	default:
		select {
		case dst.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return transports.ErrClosed
		case <-dst.closed:
			return dst.closeErr
		case <-c.l.broken:
			return transports.ErrClosed
		}
	}
	return c.send(p)
}

// TryWriteFrame is WriteFrame when the peer's queue has room; sent is false, and nothing
// was sent, when it has none (transports.TryWriter).
func (c *Conn) TryWriteFrame(p []byte) (sent bool, err error) {
	if err := c.canWrite(p); err != nil {
		return false, err
	}
	select {
	case c.peer.slots <- struct{}{}:
	default:
		return false, nil
	}
	return true, c.send(p)
}

// send queues a copy of p for the peer, the caller holding a slot of the peer's queue:
// the send on its channel cannot block.
func (c *Conn) send(p []byte) error {
	dst := c.peer
	if err := c.writeErr(); err != nil {
		<-dst.slots
		return err
	}
	f := frame{data: append(make([]byte, 0, len(p)), p...)}
	cfg := &c.l.cfg
	fl := &cfg.Faults

	c.l.mu.Lock()
	drop := fl.Drop > 0 && c.rng.Float64() < fl.Drop
	corrupt := fl.Corrupt > 0 && c.rng.Float64() < fl.Corrupt
	stall := fl.Stall > 0 && c.rng.Float64() < fl.Stall
	if corrupt && len(f.data) > 0 {
		f.data[c.rng.IntN(len(f.data))] ^= byte(1 + c.rng.IntN(255))
	} else {
		corrupt = false
	}
	cost := cfg.frameCost(len(f.data))
	if stall {
		cost += fl.StallFor
	}
	if cfg.RealTime {
		now := time.Now()
		start := now
		if c.busyUntil.After(start) {
			start = c.busyUntil
		}
		c.busyUntil = start.Add(cfg.transmitTime(len(f.data)))
		f.due = c.busyUntil.Add(cfg.Latency)
		if stall {
			f.due = f.due.Add(fl.StallFor)
			// Later frames queue behind the stalled one.
			c.busyUntil = c.busyUntil.Add(fl.StallFor)
		}
	}
	c.l.written++
	disconnect := c.l.disconnect && c.l.written >= fl.DisconnectAfterFrames
	switch {
	case drop:
		<-dst.slots
	case dst.deliver != nil:
		<-dst.slots
		if !dst.ended && !dst.isClosed() {
			dst.deliver(f.data)
		}
	default:
		dst.in <- f
	}
	if disconnect {
		c.l.breakLink()
		c.pushEnd(transports.ErrClosed)
		dst.pushEnd(transports.ErrClosed)
	}
	c.l.mu.Unlock()

	c.air.Add(int64(cost))
	c.sent.Add(1)
	c.bytes.Add(int64(len(f.data)))
	if drop {
		c.dropped.Add(1)
	}
	if corrupt {
		c.corr.Add(1)
	}
	if stall {
		c.stall.Add(1)
	}
	if disconnect {
		c.l.breakLink() // done under the lock above; idempotent
	}
	return nil
}

// ReadFrame returns the next frame from the peer, no earlier than its due time in
// real-time mode.
func (c *Conn) ReadFrame(ctx context.Context) ([]byte, error) {
	if c.isClosed() {
		return nil, transports.ErrClosed
	}
	if c.pushing.Load() {
		return nil, errPushing
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !c.hasPending {
		if err := c.next(ctx); err != nil {
			return nil, err
		}
	}
	f := c.pending
	if !f.due.IsZero() {
		if d := time.Until(f.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err() // the frame stays pending for the next read
			case <-c.closed:
				t.Stop()
				return nil, transports.ErrClosed
			}
		}
	}
	c.pending, c.hasPending = frame{}, false
	return f.data, nil
}

// next waits for the next frame and makes it pending.
func (c *Conn) next(ctx context.Context) error {
	select {
	case f := <-c.in: // a frame already queued, the usual case: no need to wait
		c.take(f)
		return nil
	default:
	}
	select {
	case f := <-c.in:
		c.take(f)
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return transports.ErrClosed
	case <-c.peer.closed:
		return c.drain(c.peer.closeErr)
	case <-c.l.broken:
		return c.drain(transports.ErrClosed)
	}
	return nil
}

func (c *Conn) take(f frame) {
	c.pending, c.hasPending = f, true
	<-c.slots
}

// drain takes a frame still queued after the peer closed or the link broke, or returns
// err when there is none.
func (c *Conn) drain(err error) error {
	select {
	case f := <-c.in:
		c.take(f)
		return nil
	default:
		return err
	}
}

// busyError is the error the holder of a rejected arrival gets.
func busyError(reason error) error {
	switch {
	case reason == nil || reason == transports.ErrBusy:
		return transports.ErrBusy
	case errors.Is(reason, transports.ErrBusy):
		return reason
	default:
		return fmt.Errorf("%w: %w", transports.ErrBusy, reason)
	}
}
