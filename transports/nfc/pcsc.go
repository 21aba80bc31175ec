package nfc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pcsc "github.com/gballet/go-libpcsclite"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/handoff"
)

// DefaultVPCDPort is vpcd's first card port; a vpcd entry has two slots (P and P+1).
const DefaultVPCDPort = 35963

// PCSCSocket is pcscd's client socket.
var PCSCSocket = pcsc.PCSCDSockName

// Slot is one vpcd reader slot: the PC/SC reader name and the TCP port its virtual card
// dials.
type Slot struct {
	Reader string
	Port   int
}

// PCSCError is an error from pcscd, with its SCARD code when one was reported.
type PCSCError struct {
	Op   string
	Code uint32 // 0 when the failure was not a pcscd return code (socket error)
	Err  error
}

func (e *PCSCError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("pcsc: %s: %s (0x%08X)", e.Op, scardText(e.Code), e.Code)
	}
	return fmt.Sprintf("pcsc: %s: %v", e.Op, e.Err)
}

// Unwrap classifies the code: a card that left, or an unusable reader or daemon.
func (e *PCSCError) Unwrap() []error {
	switch e.Code {
	case 0x80100069, 0x8010000C, 0x80100016, 0x80100068, 0x80100067, 0x80100066:
		return []error{e.Err, ErrCardRemoved}
	}
	return []error{e.Err, ErrNoReader}
}

func scardText(code uint32) string {
	switch code {
	case 0x80100069:
		return "card removed"
	case 0x8010000C:
		return "no card in the reader"
	case 0x80100016:
		return "transaction failed (card gone)"
	case 0x80100068:
		return "card reset"
	case 0x80100067:
		return "card unpowered"
	case 0x80100066:
		return "card unresponsive"
	case 0x80100017:
		return "reader unavailable"
	case 0x80100009:
		return "unknown reader"
	case 0x8010000F:
		return "protocol mismatch (ATR without T=1?)"
	case 0x8010002E:
		return "no readers available"
	case 0x8010001D:
		return "pcscd not running"
	case 0x8010000B:
		return "sharing violation"
	}
	return "pcscd error"
}

var codeRE = regexp.MustCompile(`(?i)invalid return code: ([0-9a-f]{8})|\(8010[0-9a-f]{4}\)|got (\d+)`)

// pcscErr maps an error of go-libpcsclite (untyped strings) onto a *PCSCError.
func pcscErr(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &PCSCError{Op: op, Err: err}
	if m := codeRE.FindStringSubmatch(err.Error()); m != nil {
		if m[1] != "" {
			v, _ := strconv.ParseUint(m[1], 16, 32)
			e.Code = uint32(v)
		} else if m[2] != "" {
			v, _ := strconv.ParseUint(m[2], 10, 32)
			e.Code = uint32(v)
		}
	}
	return e
}

// absent reports whether a pcscd error says the slot has no card.
func absent(err error) bool {
	var pe *PCSCError
	return errors.As(pcscErr("", err), &pe) && pe.Code == 0x8010000C
}

// establish opens a pcscd client, retrying while pcscd's listen backlog is full.
func establish(ctx context.Context) (*pcsc.Client, error) {
	if _, err := os.Stat(PCSCSocket); err != nil {
		return nil, fmt.Errorf("%w: no pcscd socket %s (start pcscd with vpcd, e.g. .ci/pcscd.sh)", ErrPCSCMissing, PCSCSocket)
	}
	for i := 0; ; i++ {
		c, err := pcsc.EstablishContext(PCSCSocket, pcsc.ScopeSystem)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EAGAIN) && !strings.Contains(err.Error(), "resource temporarily unavailable") || i >= 100 {
			return nil, fmt.Errorf("%w: %w", ErrPCSCMissing, pcscErr("EstablishContext", err))
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

var slotRE = regexp.MustCompile(`^Virtual PCD(?: (\d+))? ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{2})$`)

// readerSlot is a reader name as pcscd lists it (NUL-padded), with the port of its
// virtual card when it is a vpcd slot (Port 0 otherwise).
func readerSlot(name string) Slot {
	s := Slot{Reader: strings.TrimRight(name, "\x00")}
	if m := slotRE.FindStringSubmatch(s.Reader); m != nil {
		base := DefaultVPCDPort
		if m[1] != "" {
			base, _ = strconv.Atoi(m[1])
		}
		y, _ := strconv.ParseUint(m[3], 16, 8)
		s.Port = base + int(y)
	}
	return s
}

// VPCDSlots lists the vpcd slots pcscd offers, in port order. It fails with
// ErrPCSCMissing when pcscd is not running or has no vpcd readers.
func VPCDSlots(ctx context.Context) ([]Slot, error) {
	c, err := establish(ctx)
	if err != nil {
		return nil, err
	}
	defer c.ReleaseContext()
	names, err := c.ListReaders()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPCSCMissing, pcscErr("ListReaders", err))
	}
	var slots []Slot
	for _, n := range names {
		if s := readerSlot(n); s.Port != 0 {
			slots = append(slots, s)
		}
	}
	if len(slots) == 0 {
		return nil, fmt.Errorf("%w: pcscd has no vpcd reader (readers: %q)", ErrPCSCMissing, names)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].Port < slots[j].Port })
	return slots, nil
}

// Lane is a reader lane on one PC/SC reader slot, with its own pcscd client. Accept
// waits for a card (polling Connect), runs NFC engagement and selects the data retrieval
// application; it yields one arrival at a time and waits for that connection to be
// closed (the card is then unpowered) before looking for the next card. A card that
// fails engagement is disconnected and skipped.
type Lane struct {
	slot Slot
	opts ReaderOptions
	// client is the lane's pcscd client; a new one replaces it when pcscd went away
	// (restarted) and answers again.
	mu          sync.Mutex
	client      *pcsc.Client
	reconnected time.Time // the last attempt at a new client
	// Poll is the Connect polling interval (default 20 ms).
	Poll time.Duration
	// EngagementTimeout bounds engagement of one card (default 5 s).
	EngagementTimeout time.Duration
	// Failed counts cards that failed engagement.
	Failed int
	// Trace, when set before the first Accept, receives the lane's events.
	Trace Trace

	busy   chan struct{} // holds a token while a session is open
	closed chan struct{}
	once   sync.Once
}

// OpenLane opens a pcscd client for slot.
func OpenLane(ctx context.Context, slot Slot, o ReaderOptions) (*Lane, error) {
	o.defaults()
	// vpcd's 16-bit length prefix: a command APDU ≤ 65535 bytes, response data ≤ 65533.
	o.MaxCommand = min(o.MaxCommand, 65535-9)
	o.MaxResponse = min(o.MaxResponse, 65533)
	c, err := establish(ctx)
	if err != nil {
		return nil, err
	}
	return &Lane{slot: slot, opts: o, client: c, Poll: 20 * time.Millisecond, EngagementTimeout: 5 * time.Second,
		busy: make(chan struct{}, 1), closed: make(chan struct{})}, nil
}

// Slot returns the lane's slot.
func (l *Lane) Slot() Slot { return l.slot }

// Bearer returns "nfc-pcsc".
func (l *Lane) Bearer() string { return PCSCBearer }

// Close ends the lane; a waiting Accept returns transports.ErrClosed.
func (l *Lane) Close() error {
	l.once.Do(func() {
		close(l.closed)
		go func() { // after a running session's card is released
			select {
			case l.busy <- struct{}{}:
			case <-time.After(5 * time.Second):
			}
			l.pcscClient().ReleaseContext()
		}()
	})
	return nil
}

// Accept returns the next engaged card.
func (l *Lane) Accept(ctx context.Context) (*transports.Arrival, error) {
	select {
	case l.busy <- struct{}{}:
	case <-l.closed:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		select {
		case <-l.closed:
			<-l.busy
			return nil, transports.ErrClosed
		case <-ctx.Done():
			<-l.busy
			return nil, ctx.Err()
		default:
		}
		card, err := l.pcscClient().Connect(l.slot.Reader, pcsc.ShareExclusive, pcsc.ProtocolT1)
		if err != nil {
			l.reconnect(ctx, err)
			wait := l.Poll
			if errors.Is(pcscErr("Connect", err), ErrCardRemoved) && !absent(err) {
				// a card is there, not powered yet (vpcd swapped the card behind a slot
				// pcscd still sees as occupied): the next Connect powers it
				wait = time.Millisecond
			}
			if sleepCtx(ctx, wait) != nil {
				<-l.busy
				return nil, ctx.Err()
			}
			continue
		}
		l.Trace.event(TraceReader, TraceConnected, 0, 0)
		a, err := l.engage(ctx, card, time.Now())
		if err != nil {
			l.Failed++
			card.Disconnect(pcsc.UnpowerCard)
			continue
		}
		return a, nil
	}
}

func (l *Lane) pcscClient() *pcsc.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client
}

// reconnect replaces the lane's pcscd client after a Connect failed without a pcscd
// return code (the daemon's socket is gone: pcscd stopped or restarted), at most twice
// a second; the old client is released. A lane thus takes cards again once pcscd is
// back, without a restart of the gate.
func (l *Lane) reconnect(ctx context.Context, connectErr error) {
	var pe *PCSCError
	if !errors.As(pcscErr("Connect", connectErr), &pe) || pe.Code != 0 {
		return // pcscd answered: no card, or no such reader (yet)
	}
	l.mu.Lock()
	if time.Since(l.reconnected) < 500*time.Millisecond {
		l.mu.Unlock()
		return
	}
	l.reconnected = time.Now()
	l.mu.Unlock()
	c, err := establish(ctx)
	if err != nil {
		return
	}
	l.mu.Lock()
	old := l.client
	l.client = c
	l.mu.Unlock()
	old.ReleaseContext()
}

// engage runs engagement on a card found at tapped. A session continuing on another
// carrier leaves the NFC reader at once: the card is switched off and the lane looks for
// the next one while the session goes on over BLE or Wi-Fi Aware.
func (l *Lane) engage(ctx context.Context, card *pcsc.Card, tapped time.Time) (*transports.Arrival, error) {
	t := &pcscCard{card: card, trace: l.Trace}
	ectx, cancel := context.WithTimeout(ctx, l.EngagementTimeout)
	defer cancel()
	e, err := Engage(ectx, t, l.opts)
	if err == nil && e.Target != nil {
		l.Trace.event(TraceReader, TraceEngaged, 0, 0)
		card.Disconnect(pcsc.UnpowerCard)
		l.Trace.event(TraceReader, TraceReleased, 0, 0)
		<-l.busy
		conn := l.opts.Handoff.Dial(*e.Target, nil)
		return &transports.Arrival{DeviceEngagement: e.DeviceEngagement, Handover: e.Handover, Conn: conn,
			Bearer: handoff.Label(PCSCBearer, e.Target.Kind), EngagedAt: tapped, Reject: conn.Reject}, nil
	}
	if err == nil {
		err = SelectData(ectx, t, e, l.opts)
	}
	if err != nil {
		return nil, err
	}
	l.Trace.event(TraceReader, TraceEngaged, 0, 0)
	conn := NewReaderConn(t, e, l.opts, nil, func() {
		l.Trace.event(TraceReader, TraceClose, 0, 0)
		card.Disconnect(pcsc.UnpowerCard)
		l.Trace.event(TraceReader, TraceReleased, 0, 0)
		<-l.busy
	})
	return &transports.Arrival{DeviceEngagement: e.DeviceEngagement, Handover: e.Handover, Conn: conn, Bearer: PCSCBearer,
		EngagedAt: tapped, Reject: func(error) { conn.Close() }}, nil
}

// pcscCard is an apdu.Transceiver on a pcscd card handle. go-libpcsclite cannot cancel a
// Transmit: one waiting for a response the mdoc withholds runs on its own goroutine, so
// that the caller can give up when ctx ends; the card handle (and the lane) stays busy
// until the response or the card's removal ends it.
type pcscCard struct {
	card  *pcsc.Card
	trace Trace
}

type transmitted struct {
	out []byte
	err error
}

func (p *pcscCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	done := make(chan transmitted, 1)
	go func() {
		p.trace.event(TraceReader, TraceTransmit, insOf(cmd), len(cmd))
		out, _, err := p.card.Transmit(cmd)
		p.trace.event(TraceReader, TraceTransmitted, insOf(cmd), len(out))
		done <- transmitted{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, pcscErr("Transmit", r.err)
		}
		return r.out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Readers lists every reader pcscd offers, vpcd or not, in pcscd's order. A vpcd slot
// carries the port its virtual card dials; other readers have Port 0. It fails with
// ErrPCSCMissing when pcscd is not running.
func Readers(ctx context.Context) ([]Slot, error) {
	c, err := establish(ctx)
	if err != nil {
		return nil, err
	}
	defer c.ReleaseContext()
	names, err := c.ListReaders()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPCSCMissing, pcscErr("ListReaders", err))
	}
	out := make([]Slot, 0, len(names))
	for _, n := range names {
		if s := readerSlot(n); s.Reader != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// FindReader returns the reader named name: the reader of exactly that name, otherwise
// the only reader whose name contains name (case-insensitively). No match and several
// matches are errors listing the readers.
func FindReader(ctx context.Context, name string) (Slot, error) {
	if name == "" {
		return Slot{}, errors.New("pcsc: no reader name given")
	}
	readers, err := Readers(ctx)
	if err != nil {
		return Slot{}, err
	}
	var found []Slot
	all := make([]string, len(readers))
	for i, r := range readers {
		all[i] = r.Reader
		if r.Reader == name {
			return r, nil
		}
		if strings.Contains(strings.ToLower(r.Reader), strings.ToLower(name)) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Slot{}, fmt.Errorf("%w: no PC/SC reader matches %q (readers: %q)", ErrNoReader, name, all)
	}
	matches := make([]string, len(found))
	for i, r := range found {
		matches[i] = r.Reader
	}
	return Slot{}, fmt.Errorf("pcsc: %q matches several readers %q: give more of the name", name, matches)
}
