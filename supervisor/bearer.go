package supervisor

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// LinkFaults are the faults a load run asks a bearer to inject on one holder's link.
type LinkFaults struct {
	Drop                  float64 // per-frame probability
	DisconnectAfterFrames int     // 0 means never
	Seed                  uint64
}

// Bearer is what a load run needs of a transport: lanes to listen on and a way for a
// simulated holder to engage with a lane. Implementations for simulated radios live
// next to their transports; the registry below names them for the CLI.
type Bearer interface {
	Name() string
	// Listen opens a lane's listener.
	Listen(lane string, backlog int) (transports.Listener, error)
	// HolderMethods returns the device retrieval methods a holder puts in its engagement.
	HolderMethods(holder int) []messages.RetrievalMethod
	// Engage connects a holder's engagement to a lane and returns the holder's side.
	Engage(ctx context.Context, lane string, deviceEngagement, handover []byte, faults LinkFaults) (transports.Conn, error)
	// Framer is the message framing on this bearer.
	Framer() transports.Framer
	// AirTime is the modelled air time of everything sent so far (0 if not modelled).
	AirTime() time.Duration
	Close() error
}

// BearerOptions are the bearer-specific knobs of a load run (BLE mode, MTU, PHY, ...).
type BearerOptions map[string]string

var (
	bearersMu sync.Mutex
	bearers   = map[string]func(BearerOptions) (Bearer, error){}
)

// RegisterBearer makes a bearer available to RunLoad under name.
func RegisterBearer(name string, open func(BearerOptions) (Bearer, error)) {
	bearersMu.Lock()
	defer bearersMu.Unlock()
	bearers[name] = open
}

// Bearers lists the registered bearer names.
func Bearers() []string {
	bearersMu.Lock()
	defer bearersMu.Unlock()
	out := make([]string, 0, len(bearers))
	for n := range bearers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// OpenBearer opens a registered bearer with its options (see each bearer's file for the
// options it reads), for a caller that runs its own lanes on it, such as serve. Every
// lane listens with b.Listen; simulated holders reach a lane with b.Engage.
func OpenBearer(name string, opts BearerOptions) (Bearer, error) { return openBearer(name, opts) }

func openBearer(name string, opts BearerOptions) (Bearer, error) {
	bearersMu.Lock()
	open, ok := bearers[name]
	bearersMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("transport %q is not available (this build has: %v)", name, Bearers())
	}
	return open(opts)
}

func init() {
	RegisterBearer(memory.Bearer, func(opts BearerOptions) (Bearer, error) {
		b := &memoryBearer{network: &memory.Network{}}
		for k, v := range opts {
			switch k {
			case "memory-frame": // largest frame in bytes (default memory.DefaultMaxFrame)
				n, err := strconv.Atoi(v)
				if err != nil || n < 2 || n > messages.MaxMessageSize {
					return nil, fmt.Errorf("memory option memory-frame=%q: want 2..%d bytes", v, messages.MaxMessageSize)
				}
				b.Link.MaxFrame = n
			default: // options of other bearers
			}
		}
		return b, nil
	})
}

// memoryBearer runs lanes on the in-memory bearer.
type memoryBearer struct {
	network *memory.Network
	Link    memory.LinkConfig
}

func (m *memoryBearer) Name() string { return memory.Bearer }

func (m *memoryBearer) Listen(lane string, backlog int) (transports.Listener, error) {
	return m.network.Listen(lane, backlog)
}

func (m *memoryBearer) HolderMethods(int) []messages.RetrievalMethod { return nil }

// engagesAtOnce: Engage on the memory bearer never waits (memory.Listener.Engage), so a
// holder may call it from its actor.
func (m *memoryBearer) engagesAtOnce() {}

func (m *memoryBearer) Engage(ctx context.Context, lane string, de, handover []byte, f LinkFaults) (transports.Conn, error) {
	link := m.Link
	link.Faults.Drop, link.Faults.DisconnectAfterFrames, link.Faults.Seed = f.Drop, f.DisconnectAfterFrames, f.Seed
	return m.network.Engage(ctx, lane, de, handover, link)
}

func (m *memoryBearer) Framer() transports.Framer { return transports.ChunkFramer{} }

func (m *memoryBearer) AirTime() time.Duration { return 0 }

func (m *memoryBearer) Close() error { return nil }
