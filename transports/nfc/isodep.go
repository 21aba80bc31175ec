package nfc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Timing is the ISO-DEP timing model of an in-memory link (see the package doc).
type Timing struct {
	// BitRate in kbit/s: 106 (default), 212, 424 or 848.
	BitRate int
	// FSC and FSD are the largest frames (prologue and CRC included) the card and the
	// reader accept; default 256 (FSCI/FSDI 8), at least 16.
	FSC, FSD int
	// FWT is the frame waiting time (default 38.7 ms, FWI 7).
	FWT time.Duration
	// RealTime sleeps the modelled air time in Transmit; otherwise it is only accounted.
	RealTime bool
}

// Frame-level constants of the model.
const (
	frameOverhead = 3                     // PCB + CRC_A
	bitsPerByte   = 9                     // 8 data bits and parity
	frameDelay    = 86 * time.Microsecond // FDT
	defaultFWT    = 38660 * time.Microsecond
)

func (t *Timing) defaults() error {
	switch t.BitRate {
	case 0:
		t.BitRate = 106
	case 106, 212, 424, 848:
	default:
		return fmt.Errorf("nfc: bit rate %d kbit/s (want 106, 212, 424 or 848)", t.BitRate)
	}
	if t.FSC == 0 {
		t.FSC = 256
	}
	if t.FSD == 0 {
		t.FSD = 256
	}
	if t.FSC < 16 || t.FSD < 16 || t.FSC > 4096 || t.FSD > 4096 {
		return fmt.Errorf("nfc: frame sizes FSC %d FSD %d out of 16..4096", t.FSC, t.FSD)
	}
	if t.FWT <= 0 {
		t.FWT = defaultFWT
	}
	return nil
}

// frame is the air time of one frame with inf bytes of information field.
func (t *Timing) frame(inf int) time.Duration {
	bits := (inf + frameOverhead) * bitsPerByte
	return time.Duration(bits)*time.Second/time.Duration(t.BitRate*1000) + frameDelay
}

// blocks is the air time of an n-byte APDU in chained I-blocks of at most fs bytes,
// with the peer's R(ACK) after every block but the last.
func (t *Timing) blocks(n, fs int) time.Duration {
	per := fs - frameOverhead
	k := max(1, (n+per-1)/per)
	d := time.Duration(k-1) * (t.frame(per) + t.frame(0))
	return d + t.frame(n-(k-1)*per)
}

// Exchange is the modelled air time of one command/response exchange whose card took
// think to answer.
func (t *Timing) Exchange(cmd, resp int, think time.Duration) time.Duration {
	d := t.blocks(cmd, t.FSC) + t.blocks(resp, t.FSD)
	if wtx := int(think / t.FWT); wtx > 0 {
		d += time.Duration(wtx) * 2 * t.frame(1)
	}
	return d
}

// Faults are the faults of an in-memory link.
type Faults struct {
	// Drop is the probability that an exchange loses the card (it leaves the field).
	Drop float64
	// RemoveAfter takes the card out of the field after that many data retrieval
	// exchanges (after engagement); 0 means never.
	RemoveAfter int
	Seed        uint64
}

// Link is an in-memory ISO-DEP link between a reader and a Card. It implements
// apdu.Transceiver (the reader's side) and transports.AirTimer. Transmit calls are
// serialised.
type Link struct {
	card   *Card
	timing Timing
	faults Faults
	rng    *rand.Rand

	xmu       sync.Mutex // serialises Transmit
	exchanges int
	due       time.Time
	removed   atomic.Bool

	mu  sync.Mutex
	air time.Duration
}

// NewLink puts card in the field of an in-memory reader.
func NewLink(card *Card, t Timing, f Faults) (*Link, error) {
	if err := t.defaults(); err != nil {
		return nil, err
	}
	return &Link{card: card, timing: t, faults: f, rng: rand.New(rand.NewPCG(f.Seed, 0x6e6663))}, nil
}

// Transmit sends a command APDU to the card and returns its response.
func (l *Link) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	l.xmu.Lock()
	defer l.xmu.Unlock()
	if l.removed.Load() {
		return nil, ErrCardRemoved
	}
	select {
	case <-l.card.Engaged():
		l.exchanges++
		if (l.faults.RemoveAfter > 0 && l.exchanges > l.faults.RemoveAfter) || (l.faults.Drop > 0 && l.rng.Float64() < l.faults.Drop) {
			l.remove()
			return nil, ErrCardRemoved
		}
	default:
	}
	start := time.Now()
	resp, err := l.card.Process(ctx, cmd)
	think := time.Since(start)
	if err != nil {
		if errors.Is(err, ErrCardRemoved) {
			l.removed.Store(true)
		}
		return nil, err
	}
	d := l.timing.Exchange(len(cmd), len(resp), think)
	l.mu.Lock()
	l.air += d
	l.mu.Unlock()
	if l.timing.RealTime {
		// the think time overlapped with the wait; sleep the rest of the air time
		now := time.Now()
		if l.due.Before(start) {
			l.due = start
		}
		l.due = l.due.Add(d + think)
		if wait := l.due.Sub(now); wait > 0 {
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
	return resp, nil
}

func (l *Link) remove() {
	l.removed.Store(true)
	l.card.FieldOff(ErrCardRemoved)
}

// Remove takes the card out of the field: the reader's next Transmit and the holder's
// reads and writes fail.
func (l *Link) Remove() { l.remove() }

// FieldOff deactivates the card (the reader is done with it).
func (l *Link) FieldOff(err error) { l.card.FieldOff(err) }

// AirTime is the modelled air time of all exchanges so far.
func (l *Link) AirTime() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.air
}
