package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/wifiaware"
)

// Options of the wifiaware bearer (LoadConfig.BearerOptions): "ipv4" = "true" forces the
// 127.0.0.1 data path; "discovery_timeout" and "response_timeout" are Go durations;
// "nan_drop" is the probability that a NAN discovery frame is lost.
func init() {
	RegisterBearer(wifiaware.Bearer, func(opts BearerOptions) (Bearer, error) {
		var cfg wifiaware.Config
		var err error
		if v, ok := opts["ipv4"]; ok {
			if cfg.IPv4, err = strconv.ParseBool(v); err != nil {
				return nil, err
			}
		}
		if v, ok := opts["discovery_timeout"]; ok {
			if cfg.DiscoveryTimeout, err = time.ParseDuration(v); err != nil {
				return nil, err
			}
		}
		if v, ok := opts["response_timeout"]; ok {
			if cfg.ResponseTimeout, err = time.ParseDuration(v); err != nil {
				return nil, err
			}
		}
		if v, ok := opts["nan_drop"]; ok {
			if cfg.NAN.Drop, err = strconv.ParseFloat(v, 64); err != nil {
				return nil, err
			}
		}
		return &wifiAwareBearer{network: wifiaware.NewNetwork(cfg)}, nil
	})
}

// wifiAwareBearer runs lanes on the Wi-Fi Aware bearer: simulated NAN discovery, real
// HTTP over TCP on loopback. Air time is not modelled (AirTime is 0): the data path is a
// real socket whose cost shows in the latencies.
type wifiAwareBearer struct{ network *wifiaware.Network }

func (b *wifiAwareBearer) Name() string { return wifiaware.Bearer }

func (b *wifiAwareBearer) Listen(lane string, backlog int) (transports.Listener, error) {
	return b.network.Listen(lane, backlog)
}

// HolderMethods offers Wi-Fi Aware with 2.4 and 5 GHz bands; even holders carry an
// explicit random passphrase (as Multipaz does for NFC engagement), odd holders none, so
// both sides derive it from EDeviceKeyBytes.
func (b *wifiAwareBearer) HolderMethods(holder int) []messages.RetrievalMethod {
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
// after that many frames of TCP payload (a send of n bytes is ceil(n/1440) frames).
func (b *wifiAwareBearer) Engage(ctx context.Context, lane string, de, handover []byte, f LinkFaults) (transports.Conn, error) {
	return b.network.Engage(ctx, lane, de, handover,
		wifiaware.Faults{Drop: f.Drop, DisconnectAfterFrames: f.DisconnectAfterFrames, Seed: f.Seed})
}

func (b *wifiAwareBearer) Framer() transports.Framer { return wifiaware.WholeMessage{} }

func (b *wifiAwareBearer) AirTime() time.Duration { return 0 }

func (b *wifiAwareBearer) Close() error { return b.network.Close() }
