package transports

import (
	"context"
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
// name. Each bearer reads its own and leaves the others alone.
type BearerOptions map[string]string

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
