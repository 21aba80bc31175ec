package nfc

import "time"

// Trace receives timestamped events of NFC sessions on the PC/SC path, so that a
// session's time can be taken apart: pcscd noticing a card, APDUs in flight through
// pcscd and vpcd, the reader's and the card's own work, the holder's think time, the
// card leaving. It is called synchronously from the goroutine where the event happens
// and must not block. Nil traces nothing.
type Trace func(TraceEvent)

// TraceEvent is one event; APDU events carry the instruction and the length.
type TraceEvent struct {
	At    time.Time
	Where string // TraceCard or TraceReader
	What  string
	INS   byte
	Bytes int
	// APDU is the command APDU of a TraceCommand event (a copy).
	APDU []byte
}

// Where events happen.
const (
	TraceCard   = "card"   // the virtual card (VirtualCard)
	TraceReader = "reader" // the PC/SC lane (Lane)
)

// Events. On the card: TraceDial (connected to vpcd), TraceATR (vpcd asked for the ATR:
// pcscd's presence poll, or a power-up), TracePowerOn (pcscd powered the slot), TraceCommand (a command APDU arrived) and TraceResponse (its
// response was written), TracePowerOff, TraceLeave (the card closed its vpcd
// connection). On the reader: TraceConnected (Connect found the card), TraceEngaged
// (engagement and SELECT done), TraceTransmit and TraceTransmitted (around one APDU
// exchange), TraceClose (the session closed its connection), TraceReleased (the card
// was disconnected; the lane looks for the next one).
const (
	TraceDial        = "dial"
	TracePowerOn     = "power-on"
	TraceATR         = "atr"
	TraceCommand     = "command"
	TraceResponse    = "response"
	TracePowerOff    = "power-off"
	TraceLeave       = "leave"
	TraceConnected   = "connected"
	TraceEngaged     = "engaged"
	TraceTransmit    = "transmit"
	TraceTransmitted = "transmitted"
	TraceClose       = "close"
	TraceReleased    = "released"
)

func (t Trace) event(where, what string, ins byte, n int) {
	if t != nil {
		t(TraceEvent{At: time.Now(), Where: where, What: what, INS: ins, Bytes: n})
	}
}

// insOf returns the instruction byte of a command APDU (0 if too short).
func insOf(cmd []byte) byte {
	if len(cmd) < 2 {
		return 0
	}
	return cmd[1]
}
