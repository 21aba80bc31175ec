package nfc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// OpenBearer returns the adapter (transports.Bearer) of the in-memory NFC bearer
// ("nfc"), OpenPCSCBearer that of pcscd + vpcd ("nfc-pcsc"). Their options:
//   - "bitrate" 106|212|424|848 (kbit/s, in-memory only; default 106)
//   - "fsc" / "fsd" ISO-DEP frame sizes (in-memory; default 256)
//   - "realtime" true: the in-memory link sleeps the modelled air time
//   - "handover" static|negotiated|alternate (default alternate: even holders static)
//   - "short" true: the mdoc announces 255/256-byte sizes, so the reader uses short APDUs
//   - "reader" NAME (nfc-pcsc only): the one PC/SC reader the bearer's lane uses, by name
//     or unique substring (FindReader), vpcd or not; without it the lanes take the
//     vpcd slots in port order. Simulated holders reach a vpcd reader only.
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
			if !pcsc {
				err = errors.New("only the nfc-pcsc bearer has readers")
			}
			b.reader = v
		case "handover":
			if v != "static" && v != "negotiated" && v != "alternate" {
				err = errors.New("want static, negotiated or alternate")
			}
			b.mode = v
		default:
			continue // options of other bearers
		}
		if err != nil {
			return nil, fmt.Errorf("nfc option %s=%q: %w", k, v, err)
		}
	}
	if pcsc {
		b.name = PCSCBearer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if b.reader != "" {
			slot, err := FindReader(ctx, b.reader)
			if err != nil {
				return nil, fmt.Errorf("transport nfc-pcsc: %w", err)
			}
			b.slots = []Slot{slot}
		} else {
			slots, err := VPCDSlots(ctx)
			if err != nil {
				return nil, fmt.Errorf("transport nfc-pcsc: %w", err)
			}
			b.slots = slots
		}
	}
	return b, nil
}

func (b *bearer) Name() string { return b.name }

// Capabilities: a tap waits for the reader's polling; air time is modelled in memory,
// not over PC/SC.
func (b *bearer) Capabilities() transports.Capabilities {
	return transports.Capabilities{ModelsAirTime: !b.pcsc}
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
		l, err := OpenLane(context.Background(), slot, ReaderOptions{})
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
	return cfg
}

// Engage taps the lane with a simulated phone. Frames are whole messages on NFC, so
// LinkFaults map onto the card leaving the field mid-session: with DisconnectAfterFrames
// > 0, or with probability Drop, the card is pulled when the reader's first session
// message has reached it, before it answers.
func (b *bearer) Engage(ctx context.Context, lane string, de, _ []byte, f transports.LinkFaults) (transports.Conn, error) {
	return b.engage(ctx, lane, de, f)
}

func (b *bearer) engage(ctx context.Context, lane string, de []byte, f transports.LinkFaults) (HandoverConn, error) {
	cfg := b.cardConfig(de)
	if f.DisconnectAfterFrames > 0 || (f.Drop > 0 && rand.New(rand.NewPCG(f.Seed, 1)).Float64() < f.Drop) {
		cfg.LeaveAfterMessages = 1
	}
	if !b.pcsc {
		return b.network.Engage(ctx, lane, cfg, Faults{})
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
	case <-vc.Done():
		return nil, fmt.Errorf("nfc-pcsc: card left before engagement: %v", vc.Err())
	case <-ctx.Done():
		vc.Remove()
		return nil, fmt.Errorf("nfc-pcsc: engagement at %s: %w", slot.Reader, ctx.Err())
	}
	return card.Conn(), nil
}

func (b *bearer) Framer() transports.Framer { return WholeMessage{} }

func (b *bearer) AirTime() time.Duration {
	if b.pcsc {
		return 0
	}
	return b.network.AirTime()
}

func (b *bearer) Close() error { return nil }
