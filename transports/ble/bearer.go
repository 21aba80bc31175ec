package ble

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// OptionKeys are the options OpenBearer reads.
var OptionKeys = []string{"ble-mode", "mtu", "phy", "l2cap", "ios", "realtime", "ble-ident"}

// OpenBearer returns the BLE bearer's adapter (transports.Bearer): lanes and holders on
// one simulated radio (Sim).
//
// Options: "ble-mode" peripheral|central|both (the mdoc's offer; default central; a lane
// of a peripheral or central bearer uses that mode only, one of a both bearer either),
// "mtu" 23..517 (every device's largest ATT MTU; default 185), "phy" 1M|2M (default 2M),
// "l2cap" true|false (default false), "ios" true (devices behave like iPhones: MTU 185),
// "realtime" true (sleep the modelled air time), "ble-ident" wrong (lanes expose a wrong
// Ident in central client mode: every holder must refuse them).
func OpenBearer(opts transports.BearerOptions) (transports.Bearer, error) {
	b := &bearer{mode: "central", mtu: 185, lanes: map[string]*Listener{}}
	cfg := SimConfig{PHY: PHY2M}
	for k, v := range opts {
		if err := b.option(&cfg, k, v); err != nil {
			return nil, fmt.Errorf("ble option %s=%q: %w", k, v, err)
		}
	}
	b.sim = NewSim(cfg)
	return b, nil
}

// bearer runs lanes and holders on one simulated radio.
type bearer struct {
	sim        *Sim
	mode       string
	mtu        int
	l2cap      bool
	ios        bool
	wrongIdent bool

	mu    sync.Mutex
	lanes map[string]*Listener
}

// option applies one option.
func (b *bearer) option(cfg *SimConfig, k, v string) error {
	var err error
	switch k {
	case "ble-mode":
		switch v {
		case "peripheral", "central", "both":
			b.mode = v
		default:
			err = fmt.Errorf("want peripheral, central or both")
		}
	case "mtu":
		b.mtu, err = strconv.Atoi(v)
		if err == nil && (b.mtu < DefaultMTU || b.mtu > MaxMTU) {
			err = fmt.Errorf("want %d..%d", DefaultMTU, MaxMTU)
		}
	case "phy":
		switch strings.ToUpper(v) {
		case "1M":
			cfg.PHY = PHY1M
		case "2M":
		default:
			err = fmt.Errorf("want 1M or 2M")
		}
	case "l2cap":
		b.l2cap, err = strconv.ParseBool(v)
	case "ios":
		b.ios, err = strconv.ParseBool(v)
	case "realtime":
		cfg.RealTime, err = strconv.ParseBool(v)
	case "ble-ident":
		b.wrongIdent = v == "wrong"
		if v != "wrong" && v != "" {
			err = fmt.Errorf("want wrong")
		}
	}
	return err
}

func (b *bearer) Name() string { return Bearer }

// Capabilities: engaging waits for the simulated connection; air time is modelled.
func (b *bearer) Capabilities() transports.Capabilities {
	return transports.Capabilities{ModelsAirTime: true}
}

func (b *bearer) device(f Faults) DeviceConfig {
	return DeviceConfig{MaxMTU: b.mtu, IOS: b.ios, Faults: f}
}

func (b *bearer) Listen(lane string, backlog int) (transports.Listener, error) {
	cfg := ListenerConfig{MTU: MaxMTU, L2CAP: b.l2cap}
	switch b.mode {
	case "central":
		cfg.Mode = CentralClient
	case "peripheral":
		cfg.Mode = PeripheralServer
	}
	if b.wrongIdent {
		cfg.Ident = func([]byte) []byte { return make([]byte, 16) }
	}
	l := NewListener(b.sim.NewAdapter(b.device(Faults{})), backlog, cfg)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.lanes[lane]; ok {
		l.Close()
		return nil, fmt.Errorf("ble: lane name in use: %s", lane)
	}
	b.lanes[lane] = l
	return l, nil
}

// HolderMethods offers BLE with a fresh service UUID per holder, in the configured mode,
// with an L2CAP PSM (key 21, peripheral server mode only) when l2cap is set.
func (b *bearer) HolderMethods(int) []messages.RetrievalMethod {
	o, _ := Offer(b.mode, NewUUID()) // the mode was checked by option
	if b.l2cap && o.PeripheralServerMode {
		psm := uint64(DefaultPSM)
		o.L2CAPPSM = &psm
	}
	return []messages.RetrievalMethod{messages.NewBLEMethod(o)}
}

// Offer is what a DeviceEngagement offers for BLE in mode "central" (mdoc central
// client mode), "peripheral" (mdoc peripheral server mode) or "both", with service
// UUID u in each mode offered.
func Offer(mode string, u UUID) (messages.BLEOptions, error) {
	var o messages.BLEOptions
	switch mode {
	case "central", "peripheral", "both":
	default:
		return o, fmt.Errorf("ble: mode %q: want central, peripheral or both", mode)
	}
	if mode != "central" {
		o.PeripheralServerMode, o.PeripheralServerUUID = true, u[:]
	}
	if mode != "peripheral" {
		o.CentralClientMode, o.CentralClientUUID = true, u[:]
	}
	return o, nil
}

// Engage gives the holder its own simulated device carrying the link faults and connects
// it to the lane.
func (b *bearer) Engage(ctx context.Context, lane string, de, handover []byte, f transports.LinkFaults) (transports.Conn, error) {
	b.mu.Lock()
	l, ok := b.lanes[lane]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("ble: no lane %s", lane)
	}
	a := b.sim.NewAdapter(b.device(Faults{Drop: f.Drop, DisconnectAfter: f.DisconnectAfterFrames, Seed: f.Seed}))
	c, err := EngageHolder(ctx, l, a, de, handover, HolderOptions{MTU: MaxMTU})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (b *bearer) Framer() transports.Framer {
	if b.l2cap {
		return MessageFramer{}
	}
	return transports.ChunkFramer{}
}

func (b *bearer) AirTime() time.Duration { return b.sim.AirTime() }

func (b *bearer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, l := range b.lanes {
		l.Close()
		delete(b.lanes, name)
	}
	return nil
}
