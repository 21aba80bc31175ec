package nfc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ATR of the virtual card: T=1, the usual contactless ATR.
var ATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// vpcd control messages (1-byte payloads).
const (
	vpcdPowerOff = 0
	vpcdPowerOn  = 1
	vpcdReset    = 2
	vpcdGetATR   = 4
)

// VirtualCard puts a Card into a vpcd slot: it speaks the card side of vpcd's TCP
// protocol (2-byte big-endian length, then payload; 1-byte payloads are control
// messages) and sets TCP_QUICKACK before every read. The card leaves the slot (closes
// the connection) when the reader powers it off after engagement, when the Card reports
// it gone, LeaveAfter after its holder finished, or on Remove.
type VirtualCard struct {
	card  *Card
	addr  string
	trace Trace
	mu    sync.Mutex
	conn  *net.TCPConn
	done  chan struct{}
	err   error
	// Retaps counts re-dials of a card that pcscd did not power on in time.
	Retaps  int
	removed atomic.Bool
	talked  atomic.Bool // an APDU arrived on the current connection
}

// LeaveAfter is how long a virtual card whose holder has finished stays in the field
// for a reader that does not switch it off (the phone is then taken away).
var LeaveAfter = time.Second

// RetapAfter is how long a virtual card waits for its first APDU before it leaves the
// slot and dials again (pcscd sometimes misses an insertion right after a removal).
var RetapAfter = 1500 * time.Millisecond

// DialVirtualCard connects card to the vpcd slot at addr ("127.0.0.1:35963"), retrying
// until vpcd listens or ctx ends.
func DialVirtualCard(ctx context.Context, addr string, card *Card) (*VirtualCard, error) {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			v := &VirtualCard{card: card, addr: addr, trace: card.cfg.Trace, conn: c.(*net.TCPConn), done: make(chan struct{})}
			v.trace.event(TraceCard, TraceDial, 0, 0)
			go v.serve()
			return v, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("nfc: virtual card: dial vpcd %s: %w", addr, err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("nfc: virtual card: dial vpcd %s: %w", addr, err)
		}
	}
}

// Done is closed when the card has left the slot.
func (v *VirtualCard) Done() <-chan struct{} { return v.done }

// Err is why the card left (nil for a normal power-off), valid after Done.
func (v *VirtualCard) Err() error { return v.err }

// Remove pulls the card out of the reader at once.
func (v *VirtualCard) Remove() {
	v.removed.Store(true)
	v.card.FieldOff(ErrCardRemoved)
	v.mu.Lock()
	v.conn.Close()
	v.mu.Unlock()
}

// retap closes the current connection and dials again; false when the card is removed
// or the dial fails.
func (v *VirtualCard) retap(ctx context.Context) bool {
	v.current().Close()
	if v.removed.Load() || v.card.Gone() {
		return false
	}
	select {
	case <-time.After(500 * time.Millisecond): // long enough for pcscd to see the removal
	case <-ctx.Done():
		return false
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", v.addr)
	if err != nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.conn = c.(*net.TCPConn)
	if v.removed.Load() {
		v.conn.Close()
		return false
	}
	v.Retaps++
	return true
}

func (v *VirtualCard) current() *net.TCPConn {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.conn
}

func quickAck(c *net.TCPConn) {
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 12 /* TCP_QUICKACK */, 1)
		})
	}
}

func (v *VirtualCard) serve() {
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		v.card.FieldOff(ErrCardRemoved)
		v.current().Close()
		v.trace.event(TraceCard, TraceLeave, 0, 0)
		close(v.done)
	}()
	go func() { // a reader that never switches the field off: the phone is taken away
		select {
		case <-v.card.holderClosed:
		case <-ctx.Done():
			return
		}
		for !v.card.Finished() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(LeaveAfter):
			v.removed.Store(true)
			v.current().Close()
		}
	}()
	for {
		v.talked.Store(false)
		conn := v.current()
		watchdog := time.AfterFunc(RetapAfter, func() {
			if !v.talked.Load() {
				conn.Close()
			}
		})
		err := v.session(ctx, conn)
		watchdog.Stop()
		if err == nil || v.talked.Load() || !v.retap(ctx) {
			v.setErr(err)
			return
		}
	}
}

// session serves one vpcd connection; nil means the card left normally (power-off).
func (v *VirtualCard) session(ctx context.Context, conn *net.TCPConn) error {
	hdr := make([]byte, 2)
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(hdr))
		buf := make([]byte, n)
		quickAck(conn)
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
		if n == 1 {
			switch buf[0] {
			case vpcdPowerOff:
				v.trace.event(TraceCard, TracePowerOff, 0, 0)
				select {
				case <-v.card.Engaged():
					v.card.FieldOff(ErrFieldOff)
					return nil // the phone is taken away after its transaction
				case <-v.card.Handed():
					v.card.FieldOff(ErrFieldOff)
					return nil // engaged: the session goes on over another carrier
				default:
				}
			case vpcdGetATR:
				v.trace.event(TraceCard, TraceATR, 0, 0)
				if err := write(conn, ATR); err != nil {
					return err
				}
			case vpcdPowerOn, vpcdReset:
				v.trace.event(TraceCard, TracePowerOn, 0, 0)
			}
			continue
		}
		v.talked.Store(true)
		if v.trace != nil {
			v.trace(TraceEvent{At: time.Now(), Where: TraceCard, What: TraceCommand, INS: insOf(buf), Bytes: n, APDU: bytes.Clone(buf)})
		}
		resp, err := v.card.Process(ctx, buf)
		if err != nil {
			return err
		}
		if len(resp) > 0xffff {
			return errors.New("nfc: virtual card: response over vpcd's 65535-byte limit")
		}
		if err := write(conn, resp); err != nil {
			return err
		}
		v.trace.event(TraceCard, TraceResponse, insOf(buf), len(resp))
	}
}

func (v *VirtualCard) setErr(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	v.err = err
}

func write(conn *net.TCPConn, p []byte) error {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(p)), uint16(len(p)))
	_, err := conn.Write(append(b, p...))
	return err
}
