package nfc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/nfc/apdu"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
)

// Bearer is the name of the in-memory NFC bearer; PCSCBearer of the PC/SC one.
const (
	Bearer     = "nfc"
	PCSCBearer = "nfc-pcsc"
)

// Type 4 Tag constants.
var ndefAID = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

const (
	fileCC       = 0xE103
	fileNDEF     = 0xE104
	ndefFileSize = 0x7FFF
)

// Errors of the NFC link. Link errors end the session they belong to with an error
// verdict; see LinkError for their classification.
var (
	ErrCardRemoved  = errors.New("nfc: card left the field")
	ErrFieldOff     = errors.New("nfc: reader switched the field off")
	ErrNoNFCCarrier = errors.New("nfc: the mdoc offers no NFC data retrieval carrier")
	ErrNoReader     = errors.New("nfc: PC/SC reader not available")
	ErrNotEngaged   = errors.New("nfc: card not engaged yet")
	ErrPCSCMissing  = errors.New("nfc: pcscd with vpcd is not available")
	ErrEngagement   = errors.New("nfc: engagement failed")
)

// HandoverConn is the holder's side of an NFC connection: it also knows the encoded
// Handover its engagement produced (messages.NFCHandover(hs, hr or nil)), which the
// holder must use in its SessionTranscript.
type HandoverConn = transports.HandoverConn

// CardConfig describes a simulated mdoc acting as a contactless card.
type CardConfig struct {
	// DeviceEngagement goes into the Hs's iso.org:18013:deviceengagement record.
	DeviceEngagement []byte
	// Negotiated offers TNEP negotiated handover (Tp in the initial NDEF file) instead
	// of a static Handover Select.
	Negotiated bool
	// Offer lists the carriers the mdoc offers, in its order; default NFC only, or the
	// kinds of Carriers when those are given. A BLE or Wi-Fi Aware kind without a
	// Carrier gets a placeholder record (carrier selection tests).
	Offer []ndef.Kind
	// Carriers are the mdoc's offers for carriers other than NFC (handoff.Offer): the
	// records of its Handover Select for them. The engagement then ends when the reader
	// has read the Hs (Handed), and the session continues on the carrier the reader
	// picked, outside the card.
	Carriers []Carrier
	// MaxCommand and MaxResponse are the mdoc's NFC carrier values (default 65535 and
	// 65536); MaxCommand ≤ 255 makes the reader use short APDUs.
	MaxCommand, MaxResponse int
	// TNEPWaits is how many reads of the NDEF file after the Hr find it empty (NLEN 0,
	// "wait") before the Hs is there; at most the Tp's N_wait.
	TNEPWaits int
	// NoExtended makes the card refuse extended-length APDUs with 6700 (a phone, or a
	// reader front end, that cannot carry them) while still announcing MaxCommand and
	// MaxResponse: what a reader's extended_apdu auto probe must cope with.
	NoExtended bool
	// MaxHold bounds how long the card withholds the response to a last ENVELOPE while
	// its holder has no message yet (default DefaultMaxHold). Past it the phone is taken
	// away: the card leaves the field. 18013-5 sets no bound: the mdoc withholds the
	// response until it is ready, and the reader waits (ISO-DEP waiting-time extensions).
	MaxHold time.Duration
	// MaxMessage bounds a reassembled reader message (default messages.MaxMessageSize).
	MaxMessage int
	// LeaveAfterMessages, when > 0, takes the card out of the field as soon as it has
	// received that many session messages from the reader, before answering (a phone
	// pulled away mid-session).
	LeaveAfterMessages int
	// Trace, when set, receives the card's events on the PC/SC path (VirtualCard).
	Trace Trace
}

// Carrier is a data carrier other than NFC that a simulated mdoc offers in its Handover
// Select (handoff.Offer is one).
type Carrier interface {
	// CarrierKind is the kind of the carrier configuration record.
	CarrierKind() ndef.Kind
	// Select returns the record for the Hs: for static handover (hr nil) the mdoc's
	// offer, for negotiated handover its answer to the reader's record of that kind.
	Select(hr *ndef.Record) (ndef.Record, error)
}

// DefaultMaxHold is how long a simulated phone withholds a response for its holder
// before it is taken away (CardConfig.MaxHold).
const DefaultMaxHold = 10 * time.Second

// Card is a simulated mdoc: a Type 4 Tag with the NDEF application (static or negotiated
// handover) and the 18013-5 data retrieval application. Process answers one command
// APDU; the holder talks through Conn. Process is called by one goroutine at a time.
type Card struct {
	cfg CardConfig

	mu       sync.Mutex
	app      int // appNone, appNDEF, appMdoc
	file     uint16
	ndefFile []byte // NLEN + message
	wbuf     []byte
	tnep     int
	waits    int
	hs, hr   []byte
	applet   apdu.Applet
	handover cbor.RawMessage

	engaged      chan struct{}
	engagedOnce  sync.Once
	handed       chan struct{}
	handedOnce   sync.Once
	inbox        chan []byte
	outbox       chan []byte
	fieldOff     chan struct{}
	fieldErr     error
	fieldOnce    sync.Once
	holderClosed chan struct{}
	closeOnce    sync.Once
	conn         *cardConn
	received     int
}

const (
	appNone = iota
	appNDEF
	appMdoc
)

const (
	tnepOffer    = iota // Tp in the file
	tnepSelected        // Te in the file
	tnepHs              // Hs in the file (after waits)
)

// NewCard returns a card for cfg.
func NewCard(cfg CardConfig) (*Card, error) {
	if len(cfg.DeviceEngagement) == 0 {
		return nil, errors.New("nfc: card without a DeviceEngagement")
	}
	if len(cfg.Offer) == 0 {
		for _, c := range cfg.Carriers {
			cfg.Offer = append(cfg.Offer, c.CarrierKind())
		}
	}
	if len(cfg.Offer) == 0 {
		cfg.Offer = []ndef.Kind{ndef.KindNFC}
	}
	if cfg.MaxCommand <= 0 {
		cfg.MaxCommand = apdu.MaxExtendedData
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = apdu.MaxExtendedNe
	}
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = messages.MaxMessageSize
	}
	cfg.TNEPWaits = min(max(cfg.TNEPWaits, 0), 15)
	c := &Card{cfg: cfg, engaged: make(chan struct{}), handed: make(chan struct{}), inbox: make(chan []byte, 4), outbox: make(chan []byte, 4),
		fieldOff: make(chan struct{}), holderClosed: make(chan struct{})}
	c.applet = apdu.Applet{MaxCommand: cfg.MaxCommand, MaxResponse: cfg.MaxResponse, ShortOnly: cfg.NoExtended,
		MaxMessage: cfg.MaxMessage}
	c.conn = &cardConn{c: c}
	if cfg.Negotiated {
		c.setFile(ndef.Message{ndef.ServiceParameter{URI: ndef.ServiceHandover, WTInt: 0, NWait: 15, MaxNDEFSize: 0xFFFF}.Record()}.MustEncode())
	} else {
		hs, err := c.buildHs(nil)
		if err != nil {
			return nil, err
		}
		c.hs, c.handover = hs, messages.NFCHandover(hs, nil)
		c.setFile(hs)
	}
	return c, nil
}

func (c *Card) setFile(msg []byte) {
	c.ndefFile = binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	c.ndefFile = append(c.ndefFile, msg...)
}

// carrierRecord returns the configuration record the mdoc offers for kind: its Carrier's
// for that kind (answering hr, the reader's record, in negotiated handover), else a
// placeholder (BLE, Wi-Fi Aware) or its NFC sizes.
func (c *Card) carrierRecord(k ndef.Kind, hr *ndef.Record) (ndef.Record, error) {
	for _, cr := range c.cfg.Carriers {
		if cr.CarrierKind() == k {
			return cr.Select(hr)
		}
	}
	return c.placeholder(k), nil
}

func (c *Card) placeholder(k ndef.Kind) ndef.Record {
	switch k {
	case ndef.KindBLE:
		role := byte(ndef.RoleCentral)
		return ndef.BLECarrier{Role: &role, UUIDs: [][16]byte{{0x45, 0xef, 0xef, 0x74, 0x2b, 0x2c, 0x4e, 0x5f, 0x99, 0x88, 0x2f, 0x1a, 0x3c, 0x74, 0x61, 0x2b}}}.Record()
	case ndef.KindWiFiAware:
		return ndef.WiFiAwareCarrier{CipherSuites: []byte{0x01}, Bands: []byte{0x14}}.Record()
	default:
		return ndef.NFCCarrier{MaxCommand: c.cfg.MaxCommand, MaxResponse: c.cfg.MaxResponse, HasSizes: true}.Record()
	}
}

// buildHs returns the Handover Select: for static handover every offered carrier, for
// negotiated handover the first carrier of the Hr the mdoc offers (the reader's
// preference), each with the DeviceEngagement as auxiliary data.
func (c *Card) buildHs(hr *ndef.Handover) ([]byte, error) {
	var records []ndef.Record
	if hr == nil {
		for _, k := range c.cfg.Offer {
			r, err := c.carrierRecord(k, nil)
			if err != nil {
				return nil, err
			}
			records = append(records, r)
		}
	} else {
		for _, a := range hr.Carriers {
			hrr, ok := hr.Carrier(a)
			if !ok {
				continue
			}
			if k := ndef.KindOf(hrr); k != "" && containsKind(c.cfg.Offer, k) {
				if r, err := c.carrierRecord(k, hrr); err == nil {
					records = []ndef.Record{r}
					break
				}
			}
		}
		if records == nil {
			return nil, fmt.Errorf("%w: no carrier of the Hr is offered", ErrEngagement)
		}
	}
	h := &ndef.Handover{Select: true, Version: ndef.HandoverVersion}
	for _, r := range records {
		h.Carriers = append(h.Carriers, ndef.AlternativeCarrier{CPS: ndef.CPSActive, CarrierRef: r.ID,
			AuxRefs: [][]byte{[]byte(ndef.IDDeviceEngagement)}})
		h.Records = append(h.Records, r)
	}
	h.Records = append(h.Records, ndef.DeviceEngagementRecord(c.cfg.DeviceEngagement))
	return h.Encode()
}

func containsKind(ks []ndef.Kind, k ndef.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// Engaged is closed when the reader selected the data retrieval application after
// reading the Handover Select.
func (c *Card) Engaged() <-chan struct{} { return c.engaged }

// HandoverMessages returns the Handover Select and Request (nil for static handover)
// messages once the reader read the final Hs, else nils.
func (c *Card) HandoverMessages() (hs, hr []byte) {
	if c.Handover() == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hs, c.hr
}

// Handed is closed when the reader has read the whole final Handover Select: the
// engagement is over, whatever carrier the session continues on.
func (c *Card) Handed() <-chan struct{} { return c.handed }

// Handover returns messages.NFCHandover(hs, hr or nil) once the reader read the final Hs
// (or selected the data retrieval application), else nil.
func (c *Card) Handover() []byte {
	select {
	case <-c.engaged:
	case <-c.handed:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handover
}

// Conn returns the holder's side of the data retrieval connection.
func (c *Card) Conn() HandoverConn { return c.conn }

// FieldOff tells the card the reader deactivated it (err says why; nil means
// ErrFieldOff): the holder's pending and later reads and writes fail.
func (c *Card) FieldOff(err error) {
	c.fieldOnce.Do(func() {
		if err == nil {
			err = ErrFieldOff
		}
		c.fieldErr = err
		close(c.fieldOff)
	})
}

// Gone reports whether the card has left the field (the field went off, or it was
// taken away).
func (c *Card) Gone() bool {
	select {
	case <-c.fieldOff:
		return true
	default:
		return false
	}
}

// Finished reports whether the holder closed its side and everything it wrote has been
// fetched: the phone has nothing more to say and stays in the field until the reader
// switches it off.
func (c *Card) Finished() bool {
	select {
	case <-c.holderClosed:
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.outbox) == 0 && !c.applet.Pending()
	default:
		return false
	}
}

// Process answers one command APDU. It returns ErrCardRemoved when the card has left
// the field (the link then reports the card as gone). The last ENVELOPE of a message is
// answered once the holder has its next message (18013-5: the response is withheld until
// ready); ctx ending, the field going off or MaxHold passing end the wait. Once the
// holder has finished, every command gets 6F00 (as Multipaz answers after its transport
// closed) until the reader switches the field off.
func (c *Card) Process(ctx context.Context, raw []byte) ([]byte, error) {
	if c.Gone() {
		return nil, ErrCardRemoved
	}
	if c.Finished() {
		return apdu.Response{SW: apdu.SWUnknown}.Encode(), nil
	}
	cmd, err := apdu.ParseCommand(raw)
	if err != nil || (cmd.Extended && c.cfg.NoExtended) {
		return apdu.Response{SW: apdu.SWWrongLength}.Encode(), nil
	}
	c.mu.Lock()
	if cmd.INS == apdu.INSSelect && cmd.P1 == 0x04 {
		switch {
		case bytes.Equal(cmd.Data, ndefAID):
			c.app, c.file = appNDEF, 0
			c.mu.Unlock()
			return ok(), nil
		case bytes.Equal(cmd.Data, apdu.MdocAID):
			if c.hs == nil || (c.cfg.Negotiated && c.tnep != tnepHs) {
				c.mu.Unlock()
				return apdu.Response{SW: apdu.SWConditions}.Encode(), nil
			}
			c.app = appMdoc
			c.applet.Command(cmd)
			c.mu.Unlock()
			c.engagedOnce.Do(func() { close(c.engaged) })
			return ok(), nil
		default:
			c.app = appNone
			c.mu.Unlock()
			return apdu.Response{SW: apdu.SWNotFound}.Encode(), nil
		}
	}
	switch c.app {
	case appNDEF:
		r := c.tag(cmd)
		c.mu.Unlock()
		return r.Encode(), nil
	case appMdoc:
		st := c.applet.Command(cmd)
		c.mu.Unlock()
		if !st.Await {
			return st.Response.Encode(), nil
		}
		return c.await(ctx, st)
	default:
		c.mu.Unlock()
		return apdu.Response{SW: apdu.SWConditions}.Encode(), nil
	}
}

func ok() []byte { return []byte{0x90, 0x00} }

// await delivers a reader message to the holder and withholds the response until the
// holder's next message is there. A holder that ends without one takes the phone away.
func (c *Card) await(ctx context.Context, st apdu.AppletStep) ([]byte, error) {
	c.mu.Lock()
	c.received++
	leave := c.cfg.LeaveAfterMessages > 0 && c.received >= c.cfg.LeaveAfterMessages
	c.mu.Unlock()
	if leave {
		c.FieldOff(ErrCardRemoved)
		return nil, ErrCardRemoved
	}
	select {
	case c.inbox <- st.Message:
	default:
		return apdu.Response{SW: apdu.SWUnknown}.Encode(), nil // holder not reading
	}
	t := time.NewTimer(c.cfg.MaxHold)
	defer t.Stop()
	var out []byte
	select {
	case out = <-c.outbox:
	case <-t.C:
		c.FieldOff(ErrCardRemoved)
		return nil, ErrCardRemoved
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.fieldOff:
		return nil, ErrCardRemoved
	case <-c.holderClosed:
		select {
		case out = <-c.outbox:
		default: // the holder ended without an answer: 6F00
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applet.Answer(out, st.Ne).Encode(), nil
}

// tag handles a command to the NDEF application (T4T mapping 2.0). Called with mu held.
func (c *Card) tag(cmd apdu.Command) apdu.Response {
	switch cmd.INS {
	case apdu.INSSelect:
		if cmd.P1 != 0x00 || len(cmd.Data) != 2 {
			return apdu.Response{SW: apdu.SWNotFound}
		}
		switch id := binary.BigEndian.Uint16(cmd.Data); id {
		case fileCC, fileNDEF:
			c.file = id
			return apdu.Response{SW: apdu.SWOK}
		}
		return apdu.Response{SW: apdu.SWNotFound}
	case apdu.INSReadBinary:
		var content []byte
		switch c.file {
		case fileCC:
			write := byte(0xFF)
			if c.cfg.Negotiated {
				write = 0x00
			}
			content = []byte{0x00, 0x0F, 0x20, 0x7F, 0xFF, 0x7F, 0xFF, 0x04, 0x06, 0xE1, 0x04, 0x7F, 0xFF, 0x00, write}
		case fileNDEF:
			content = c.readNDEF(int(cmd.P1)<<8 | int(cmd.P2))
		default:
			return apdu.Response{SW: apdu.SWConditions}
		}
		off := int(cmd.P1)<<8 | int(cmd.P2)
		if off > len(content) {
			return apdu.Response{SW: apdu.SWWrongP1P2}
		}
		end := min(off+max(cmd.Ne, 1), len(content))
		if c.file == fileNDEF && len(content) > 2 && end == len(content) && c.finalHs() { // not a TNEP wait's NLEN 0
			c.handedOnce.Do(func() { close(c.handed) })
		}
		return apdu.Response{Data: content[off:end], SW: apdu.SWOK}
	case apdu.INSUpdate:
		if c.file != fileNDEF || !c.cfg.Negotiated {
			return apdu.Response{SW: apdu.SWConditions}
		}
		off := int(cmd.P1)<<8 | int(cmd.P2)
		if off+len(cmd.Data) > ndefFileSize {
			return apdu.Response{SW: apdu.SWWrongLength}
		}
		if len(c.wbuf) < off+len(cmd.Data) {
			c.wbuf = append(c.wbuf, make([]byte, off+len(cmd.Data)-len(c.wbuf))...)
		}
		copy(c.wbuf[off:], cmd.Data)
		if len(c.wbuf) >= 2 {
			n := int(binary.BigEndian.Uint16(c.wbuf))
			if n > 0 && len(c.wbuf) >= 2+n {
				msg := c.wbuf[2 : 2+n]
				c.wbuf = nil
				if err := c.written(msg); err != nil {
					c.setFile(ndef.Message{ndef.StatusRecord(ndef.TNEPStatusTimeout)}.MustEncode())
				}
			}
		}
		return apdu.Response{SW: apdu.SWOK}
	}
	return apdu.Response{SW: apdu.SWINSNotSupported}
}

// finalHs reports whether the NDEF file holds the final Handover Select (not the TNEP
// offer, status or wait). Called with mu held.
func (c *Card) finalHs() bool {
	return c.hs != nil && (!c.cfg.Negotiated || (c.tnep == tnepHs && c.waits == 0))
}

// readNDEF returns the NDEF file as a read at off sees it: during the TNEP wait an NLEN
// of 0.
func (c *Card) readNDEF(off int) []byte {
	if c.tnep == tnepHs && c.waits > 0 {
		if off == 0 {
			c.waits--
		}
		return []byte{0, 0}
	}
	return c.ndefFile
}

// written handles a complete NDEF message written by the reader (TNEP).
func (c *Card) written(msg []byte) error {
	m, err := ndef.Parse(msg)
	if err != nil {
		return err
	}
	switch {
	case m[0].Is(ndef.TNFWellKnown, ndef.TypeServiceSelect):
		uri, err := ndef.ParseServiceSelect(m[0].Payload)
		if err != nil || uri != ndef.ServiceHandover {
			return fmt.Errorf("service %q not offered", uri)
		}
		c.tnep = tnepSelected
		c.setFile(ndef.Message{ndef.StatusRecord(ndef.TNEPStatusSuccess)}.MustEncode())
		return nil
	case m[0].Is(ndef.TNFWellKnown, ndef.TypeHandoverRequest) && c.tnep >= tnepSelected:
		hr, err := ndef.ParseHandover(msg)
		if err != nil {
			return err
		}
		hs, err := c.buildHs(hr)
		if err != nil {
			return err
		}
		c.hr, c.hs = bytes.Clone(msg), hs
		c.handover = messages.NFCHandover(c.hs, c.hr)
		c.tnep, c.waits = tnepHs, c.cfg.TNEPWaits
		c.setFile(hs)
		return nil
	}
	return fmt.Errorf("unexpected NDEF message %q", m[0].Type)
}

// cardConn is the holder's side: messages from ENVELOPEs in, the holder's messages out
// through the responses.
type cardConn struct{ c *Card }

func (h *cardConn) ReadFrame(ctx context.Context) ([]byte, error) {
	c := h.c
	select {
	case m := <-c.inbox:
		return m, nil
	default:
	}
	select {
	case m := <-c.inbox:
		return m, nil
	case <-c.fieldOff:
		return nil, h.fieldError()
	case <-c.holderClosed:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *cardConn) fieldError() error {
	if errors.Is(h.c.fieldErr, transports.ErrBusy) {
		return h.c.fieldErr
	}
	return fmt.Errorf("%w (%w)", transports.ErrClosed, h.c.fieldErr)
}

func (h *cardConn) WriteFrame(ctx context.Context, msg []byte) error {
	c := h.c
	if len(msg) > c.cfg.MaxMessage {
		return transports.ErrFrameTooBig
	}
	select {
	case <-c.holderClosed:
		return transports.ErrClosed
	case <-c.fieldOff:
		return h.fieldError()
	default:
	}
	select {
	case c.outbox <- bytes.Clone(msg):
		return nil
	case <-c.fieldOff:
		return h.fieldError()
	case <-c.holderClosed:
		return transports.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *cardConn) MaxFrameSize() int { return h.c.cfg.MaxMessage }

func (h *cardConn) Close() error {
	h.c.closeOnce.Do(func() { close(h.c.holderClosed) })
	return nil
}

func (h *cardConn) Handover() []byte { return h.c.Handover() }
