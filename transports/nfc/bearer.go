package nfc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/handoff"
)

// OptionKeys are the options OpenBearer reads, PCSCOptionKeys those OpenPCSCBearer reads.
var (
	OptionKeys     = []string{"bitrate", "fsc", "fsd", "realtime", "handover", "short", "extended", "handoff", "handoff_to", "l2cap"}
	PCSCOptionKeys = []string{"reader", "handover", "short", "extended", "handoff", "handoff_to", "l2cap"}
)

// OpenBearer returns the adapter (transports.Bearer) of the in-memory NFC bearer
// ("nfc"), OpenPCSCBearer that of pcscd + vpcd ("nfc-pcsc"). Their options:
//   - "bitrate" 106|212|424|848 (kbit/s, in-memory only; default 106)
//   - "fsc" / "fsd" ISO-DEP frame sizes (in-memory; default 256)
//   - "realtime" true: the in-memory link sleeps the modelled air time
//   - "handover" static|negotiated|alternate (default alternate: even holders static)
//   - "short" true: the mdoc announces 255/256-byte sizes, so the reader uses short APDUs
//   - "extended" auto|on|off: when the lanes use extended-length APDUs (ExtendedMode;
//     default auto: probe, short APDUs with chaining and GET RESPONSE when refused)
//   - "reader" NAME (nfc-pcsc only): the one PC/SC reader the bearer's lane uses, by name
//     or unique substring (FindReader), vpcd or not; without it the lanes take the
//     vpcd slots in port order. Simulated holders reach a vpcd reader only.
//   - "handoff" ble-central|ble-peripheral|wifiaware: the simulated holders' Handover
//     Select offers only that carrier, so every session is handed off to it (its bearer
//     is then e.g. "nfc-pcsc>ble-central"); the lanes may hand off to it
//   - "handoff_to" a comma-separated list of ble, ble-central, ble-peripheral, wifiaware:
//     the carriers the lanes may hand off to, in their order (default: handoff's carrier;
//     none without handoff: an Hs offering only BLE or Wi-Fi Aware then fails)
//   - "l2cap" true: handed-off BLE sessions use an L2CAP channel (the lanes offer one in
//     mdoc central client mode, the holders a PSM in peripheral server mode)
//
// Handed-off sessions run on a simulated BLE radio and Wi-Fi Aware network (handoff.Radio)
// that the bearer's lanes and holders share.
func OpenBearer(o transports.BearerOptions) (transports.Bearer, error) { return openBearer(o, false) }

// OpenPCSCBearer: see OpenBearer.
func OpenPCSCBearer(o transports.BearerOptions) (transports.Bearer, error) {
	return openBearer(o, true)
}

// bearer runs lanes on the in-memory ISO-DEP link (nfc) or on pcscd + vpcd
// (nfc-pcsc). HolderMethods is nil: the methods travel in the Handover Select; each
// holder's engagement is a simulated NFC tap, static or negotiated.
//
// Transcript handover: the reader uses messages.NFCHandover(hs, hr) from the engagement;
// the holder's side (HandoverConn) offers the same bytes through Handover(), which
// the engine's holder actor hands to its session.
type bearer struct {
	name    string
	pcsc    bool
	network *Network
	mode    string
	short   bool
	reader  string // nfc-pcsc: the configured reader name, "" for the vpcd slots
	slots   []Slot
	slotSem map[string]chan struct{}
	slotOf  map[string]Slot
	mu      sync.Mutex

	offer   handoff.Kind   // what holders offer besides nothing: "" for NFC
	allowed []handoff.Kind // where lanes may hand off to
	l2cap   bool
	radio   *handoff.Radio // when lanes may hand off
}

func openBearer(o transports.BearerOptions, pcsc bool) (transports.Bearer, error) {
	b := &bearer{name: Bearer, pcsc: pcsc, network: &Network{}, mode: "alternate",
		slotSem: map[string]chan struct{}{}, slotOf: map[string]Slot{}}
	for k, v := range o {
		var err error
		switch k {
		case "bitrate":
			b.network.Timing.BitRate, err = strconv.Atoi(v)
		case "fsc":
			b.network.Timing.FSC, err = strconv.Atoi(v)
		case "fsd":
			b.network.Timing.FSD, err = strconv.Atoi(v)
		case "realtime":
			b.network.Timing.RealTime, err = strconv.ParseBool(v)
		case "short":
			b.short, err = strconv.ParseBool(v)
		case "reader":
			b.reader = v
		case "extended":
			b.network.Reader.Extended, err = ParseExtendedMode(v)
		case "handover":
			if v != "static" && v != "negotiated" && v != "alternate" {
				err = errors.New("want static, negotiated or alternate")
			}
			b.mode = v
		case "handoff":
			var ks []handoff.Kind
			if ks, err = handoff.ParseKinds([]string{v}); err == nil && len(ks) != 1 {
				err = errors.New("want ble-central, ble-peripheral or wifiaware")
			}
			if err == nil {
				b.offer = ks[0]
			}
		case "handoff_to":
			b.allowed, err = handoff.ParseKinds(strings.Split(v, ","))
		case "l2cap":
			b.l2cap, err = strconv.ParseBool(v)
		}
		if err != nil {
			return nil, fmt.Errorf("nfc option %s=%q: %w", k, v, err)
		}
	}
	if b.offer != "" && len(b.allowed) == 0 {
		b.allowed = []handoff.Kind{b.offer}
	}
	if len(b.allowed) > 0 {
		b.radio = handoff.NewRadio(handoff.RadioConfig{})
		b.network.Reader.Handoff = b.radio.Reader(b.allowed, b.l2cap)
	}
	if pcsc {
		b.name = PCSCBearer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if b.reader != "" {
			slot, err := FindReader(ctx, b.reader)
			if err != nil {
				b.Close()
				return nil, fmt.Errorf("transport nfc-pcsc: %w", err)
			}
			b.slots = []Slot{slot}
		} else {
			slots, err := VPCDSlots(ctx)
			if err != nil {
				b.Close()
				return nil, fmt.Errorf("transport nfc-pcsc: %w", err)
			}
			b.slots = slots
		}
	}
	return b, nil
}

func (b *bearer) Name() string { return b.name }

// Capabilities: a tap waits for the reader's polling; air time is modelled in memory,
// not over PC/SC, and on the simulated BLE radio of handed-off sessions.
func (b *bearer) Capabilities() transports.Capabilities {
	models := !b.pcsc
	for _, k := range b.allowed {
		models = models || k != handoff.WiFiAware
	}
	return transports.Capabilities{ModelsAirTime: models}
}

func (b *bearer) Listen(lane string, backlog int) (transports.Listener, error) {
	var inner transports.Listener
	if b.pcsc {
		b.mu.Lock()
		i := len(b.slotOf)
		if i >= len(b.slots) {
			b.mu.Unlock()
			return nil, fmt.Errorf("transport nfc-pcsc: lane %s: only %d vpcd slots", lane, len(b.slots))
		}
		slot := b.slots[i]
		b.slotOf[lane] = slot
		b.slotSem[lane] = make(chan struct{}, 1)
		b.mu.Unlock()
		l, err := OpenLane(context.Background(), slot, b.network.Reader)
		if err != nil {
			return nil, err
		}
		inner = l
	} else {
		l, err := b.network.Listen(lane, backlog)
		if err != nil {
			return nil, err
		}
		inner = l
	}
	return inner, nil
}

func (b *bearer) HolderMethods(int) []messages.RetrievalMethod { return nil }

var holderSeq atomic.Uint64

func (b *bearer) cardConfig(de []byte) CardConfig {
	cfg := CardConfig{DeviceEngagement: de}
	switch b.mode {
	case "negotiated":
		cfg.Negotiated = true
	case "alternate":
		cfg.Negotiated = holderSeq.Add(1)%2 == 0
	}
	if b.short {
		cfg.MaxCommand, cfg.MaxResponse = 255, 256
	}
	if b.offer != "" {
		cfg.Carriers = []Carrier{handoff.NewOffer(b.offer, b.l2cap)}
	}
	return cfg
}

// Engage taps the lane with a simulated phone. Frames are whole messages on NFC, so
// LinkFaults map onto the card leaving the field mid-session: with DisconnectAfterFrames
// > 0, or with probability Drop, the card is pulled when the reader's first session
// message has reached it, before it answers. A handed-off session carries them on its
// BLE or Wi-Fi Aware link instead.
func (b *bearer) Engage(ctx context.Context, lane string, de, _ []byte, f transports.LinkFaults) (transports.Conn, error) {
	return b.engage(ctx, lane, de, f)
}

func (b *bearer) engage(ctx context.Context, lane string, de []byte, f transports.LinkFaults) (HandoverConn, error) {
	cfg := b.cardConfig(de)
	if b.offer == "" && (f.DisconnectAfterFrames > 0 || (f.Drop > 0 && rand.New(rand.NewPCG(f.Seed, 1)).Float64() < f.Drop)) {
		cfg.LeaveAfterMessages = 1
	}
	if !b.pcsc {
		card, err := NewCard(cfg)
		if err != nil {
			return nil, err
		}
		if err := b.network.Tap(ctx, lane, card, Faults{}); err != nil {
			return nil, err
		}
		return b.holderSide(ctx, card, f)
	}
	b.mu.Lock()
	sem, slot := b.slotSem[lane], b.slotOf[lane]
	b.mu.Unlock()
	if sem == nil {
		return nil, fmt.Errorf("nfc-pcsc: no lane %q", lane)
	}
	if slot.Port == 0 {
		return nil, fmt.Errorf("nfc-pcsc: reader %q is not a vpcd slot: no simulated card can reach it", slot.Reader)
	}
	select { // one card per reader slot: queue at the lane
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, transports.ErrBusy
	}
	card, err := NewCard(cfg)
	if err != nil {
		<-sem
		return nil, err
	}
	vc, err := DialVirtualCard(ctx, fmt.Sprintf("127.0.0.1:%d", slot.Port), card)
	if err != nil {
		<-sem
		return nil, err
	}
	go func() { <-vc.Done(); <-sem }()
	select {
	case <-card.Engaged():
	case <-card.Handed():
	case <-vc.Done():
		if card.Handover() == nil {
			return nil, fmt.Errorf("nfc-pcsc: card left before engagement: %v", vc.Err())
		}
	case <-ctx.Done():
		vc.Remove()
		return nil, fmt.Errorf("nfc-pcsc: engagement at %s: %w", slot.Reader, ctx.Err())
	}
	return b.holderSide(ctx, card, f)
}

// holderSide is the simulated holder's connection once its card is engaged: the card
// itself, or the carrier of its Handover Select (the reader never selected the data
// retrieval application, it read the Hs and switched the card off).
func (b *bearer) holderSide(ctx context.Context, card *Card, f transports.LinkFaults) (HandoverConn, error) {
	select {
	case <-card.Engaged():
		return card.Conn(), nil
	default:
	}
	if b.offer == "" {
		return card.Conn(), nil
	}
	hs, hr := card.HandoverMessages()
	t, err := handoff.FromHandover(card.cfg.DeviceEngagement, hs, hr, []handoff.Kind{b.offer}, b.l2cap)
	if err != nil {
		return nil, err
	}
	conn, err := b.radio.Holder(ctx, t, f)
	if err != nil {
		return nil, err
	}
	return handedConn{conn, card.Handover()}, nil
}

// handedConn is a holder's handed-off connection with the handover of its NFC
// engagement, for its SessionTranscript.
type handedConn struct {
	transports.Conn
	handover []byte
}

func (h handedConn) Handover() []byte { return h.handover }

func (b *bearer) Framer() transports.Framer { return WholeMessage{} }

func (b *bearer) AirTime() time.Duration {
	var d time.Duration
	if !b.pcsc {
		d = b.network.AirTime()
	}
	if b.radio != nil {
		d += b.radio.AirTime()
	}
	return d
}

func (b *bearer) Close() error {
	if b.radio != nil {
		return b.radio.Close()
	}
	return nil
}
