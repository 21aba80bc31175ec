package transports

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/messages"
)

// Bearer is a transport as a gate or a load run uses it: lanes to listen on, and a way
// for a simulated holder to engage with a lane. Each bearer package has its adapter
// (memory, nfc, ble, wifiaware, web); transports/bearers opens them by name.
type Bearer interface {
	// Name is the bearer's name (memory, nfc, nfc-pcsc, ble, wifiaware, http, websocket).
	Name() string
	// Capabilities says what callers may rely on.
	Capabilities() Capabilities
	// Listen opens a lane's listener.
	Listen(lane string, backlog int) (Listener, error)
	// HolderMethods returns the device retrieval methods holder number holder puts in its
	// engagement (none where the engagement itself names the way: NFC, the web).
	HolderMethods(holder int) []messages.RetrievalMethod
	// Engage connects a holder's engagement to a lane and returns the holder's side. The
	// Conn may also be a HandoverConn or a ReverseEngagedConn: the holder must then
	// build its SessionTranscript from what they return.
	Engage(ctx context.Context, lane string, deviceEngagement, handover []byte, faults LinkFaults) (Conn, error)
	// Framer is the message framing on this bearer.
	Framer() Framer
	// AirTime is the modelled air time of everything sent so far (0 if not modelled).
	AirTime() time.Duration
	Close() error
}

// Capabilities are what a bearer promises beyond the Bearer interface.
type Capabilities struct {
	// EngagesAtOnce: Engage never waits (an in-process bearer's), so a holder may call
	// it from its actor instead of on a goroutine of its own.
	EngagesAtOnce bool
	// ModelsAirTime: AirTime reports modelled air time (radio bit rates, connection
	// events), not 0.
	ModelsAirTime bool
}

// LinkFaults are the faults a load run asks a bearer to inject on one holder's link;
// each bearer maps them onto what can go wrong on it.
type LinkFaults struct {
	Drop                  float64 // per-frame probability
	DisconnectAfterFrames int     // 0 means never
	Seed                  uint64
}

// BearerOptions are the bearer-specific knobs (BLE mode, MTU, NFC bit rate, ...), by
// name. Each bearer package lists the keys it reads (OptionKeys); a key the chosen
// bearer does not read is an error (Check), never silently ignored.
type BearerOptions map[string]string

// UnknownOptionError is a bearer option that the bearers it was given to do not read.
type UnknownOptionError struct {
	Bearer string   // the bearer (or bearers, comma-separated)
	Key    string   // the option
	Known  []string // the keys they read, sorted
}

func (e *UnknownOptionError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("bearer option %q: %s has no such option (its options: %s)", e.Key, e.Bearer, known)
}

// Check returns an *UnknownOptionError for the first key (in sorted order) that is not
// among known, the keys bearer reads.
func (o BearerOptions) Check(bearer string, known []string) error {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return &UnknownOptionError{Bearer: bearer, Key: k, Known: slices.Sorted(slices.Values(known))}
		}
	}
	return nil
}

// Only returns the options whose keys are among known.
func (o BearerOptions) Only(known []string) BearerOptions {
	out := BearerOptions{}
	for k, v := range o {
		if slices.Contains(known, k) {
			out[k] = v
		}
	}
	return out
}

// HandoverConn is a holder's side whose engagement channel has a Handover of its own
// (NFC: the Handover Select and Request messages): the holder puts it in its
// SessionTranscript instead of the QR handover.
type HandoverConn interface {
	Conn
	Handover() []byte
}

// ReverseEngagedConn is a holder's side engaged by reverse engagement (the web): the
// reader showed ReaderEngagement (these bytes exactly as received) and the bearer sent
// the holder's MessageData. The holder derives its session keys from it before the
// reader's first message.
type ReverseEngagedConn interface {
	Conn
	ReaderEngagement() []byte
}
