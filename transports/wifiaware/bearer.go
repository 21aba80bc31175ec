package wifiaware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// OptionKeys are the options OpenBearer reads.
var OptionKeys = []string{"ipv4", "discovery_timeout", "response_timeout", "nan_drop"}

// OpenBearer returns the Wi-Fi Aware bearer's adapter (transports.Bearer): simulated NAN
// discovery, real HTTP over TCP on loopback. Options: "ipv4" = "true" forces the
// 127.0.0.1 data path; "discovery_timeout" and "response_timeout" are Go durations;
// "nan_drop" is the probability that a NAN discovery frame is lost.
func OpenBearer(opts transports.BearerOptions) (transports.Bearer, error) {
	var cfg Config
	var err error
	for k, v := range opts {
		switch k {
		case "ipv4":
			cfg.IPv4, err = strconv.ParseBool(v)
		case "discovery_timeout":
			cfg.DiscoveryTimeout, err = time.ParseDuration(v)
		case "response_timeout":
			cfg.ResponseTimeout, err = time.ParseDuration(v)
		case "nan_drop":
			cfg.NAN.Drop, err = strconv.ParseFloat(v, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("wifiaware option %s=%q: %w", k, v, err)
		}
	}
	return &bearer{network: NewNetwork(cfg)}, nil
}

// bearer runs lanes on the Wi-Fi Aware bearer. Air time is not modelled (AirTime is 0):
// the data path is a real socket whose cost shows in the latencies.
type bearer struct{ network *Network }

func (b *bearer) Name() string { return Bearer }

// Capabilities: engaging waits for discovery and a TCP connection; no air time model.
func (b *bearer) Capabilities() transports.Capabilities { return transports.Capabilities{} }

func (b *bearer) Listen(lane string, backlog int) (transports.Listener, error) {
	return b.network.Listen(lane, backlog)
}

// HolderMethods offers Wi-Fi Aware with 2.4 and 5 GHz bands; even holders carry an
// explicit random passphrase (as Multipaz does for NFC engagement), odd holders none, so
// both sides derive it from EDeviceKeyBytes.
func (b *bearer) HolderMethods(holder int) []messages.RetrievalMethod {
	o := messages.WiFiAwareOptions{SupportedBands: []byte{0x14}}
	if holder%2 == 0 {
		var p [16]byte
		_, _ = rand.Read(p[:])
		o.Passphrase = hex.EncodeToString(p[:])
	}
	return []messages.RetrievalMethod{messages.NewWiFiAwareMethod(o)}
}

// Engage maps LinkFaults onto the holder's end of the TCP data path: Drop resets the
// connection mid-body with that probability per message, DisconnectAfterFrames resets it
// after that many frames of TCP payload (a send of n bytes is ceil(n/FrameBytes) frames).
func (b *bearer) Engage(ctx context.Context, lane string, de, handover []byte, f transports.LinkFaults) (transports.Conn, error) {
	return b.network.Engage(ctx, lane, de, handover, Faults{Drop: f.Drop, DisconnectAfterFrames: f.DisconnectAfterFrames, Seed: f.Seed})
}

func (b *bearer) Framer() transports.Framer { return WholeMessage{} }

func (b *bearer) AirTime() time.Duration { return 0 }

func (b *bearer) Close() error { return b.network.Close() }
