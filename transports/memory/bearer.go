package memory

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// OptionKeys are the options OpenBearer reads.
var OptionKeys = []string{"memory-frame"}

// OpenBearer returns the memory bearer's adapter (transports.Bearer): lanes on a
// Network of its own. Its option "memory-frame" is the largest frame in bytes (default
// DefaultMaxFrame).
func OpenBearer(opts transports.BearerOptions) (transports.Bearer, error) {
	b := &bearer{network: &Network{}}
	for k, v := range opts {
		switch k {
		case "memory-frame":
			n, err := strconv.Atoi(v)
			if err != nil || n < 2 || n > messages.MaxMessageSize {
				return nil, fmt.Errorf("memory option memory-frame=%q: want 2..%d bytes", v, messages.MaxMessageSize)
			}
			b.link.MaxFrame = n
		}
	}
	return b, nil
}

// bearer runs lanes on the in-memory bearer.
type bearer struct {
	network *Network
	link    LinkConfig
}

func (m *bearer) Name() string { return Bearer }

// Capabilities: Engage never waits (Listener.Engage answers busy instead), and links
// account their delays without a radio model.
func (m *bearer) Capabilities() transports.Capabilities {
	return transports.Capabilities{EngagesAtOnce: true}
}

func (m *bearer) Listen(lane string, backlog int) (transports.Listener, error) {
	return m.network.Listen(lane, backlog)
}

func (m *bearer) HolderMethods(int) []messages.RetrievalMethod { return nil }

func (m *bearer) Engage(ctx context.Context, lane string, de, handover []byte, f transports.LinkFaults) (transports.Conn, error) {
	link := m.link
	link.Faults.Drop, link.Faults.DisconnectAfterFrames, link.Faults.Seed = f.Drop, f.DisconnectAfterFrames, f.Seed
	return m.network.Engage(ctx, lane, de, handover, link)
}

func (m *bearer) Framer() transports.Framer { return transports.ChunkFramer{} }

func (m *bearer) AirTime() time.Duration { return 0 }

func (m *bearer) Close() error { return nil }
