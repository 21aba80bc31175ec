// Package transports moves session messages between a holder and a reader over a bearer
// (in memory here; NFC, BLE, Wi-Fi Aware, HTTP and WebSocket in their own packages). It
// knows nothing of requests or keys: a bearer carries frames, a Framer cuts whole session
// messages into frames and puts them back together. Bearer is what a gate or a load run
// needs of a bearer; each bearer package has its adapter, and transports/bearers opens
// them by name.
package transports

import (
	"context"
	"errors"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Errors a connection reports. Link errors end the session they belong to with an error
// verdict; they never take the lane down.
var (
	ErrClosed       = errors.New("transports: connection closed")
	ErrFrameTooBig  = errors.New("transports: frame exceeds the bearer's frame size")
	ErrMessageLimit = errors.New("transports: message exceeds the size limit")
	ErrBadFrame     = errors.New("transports: malformed frame")
	ErrBusy         = errors.New("transports: reader busy")
)

// Conn is one bearer connection carrying frames in both directions. ReadFrame and
// WriteFrame may block; a Conn is used by one reader goroutine and one writer goroutine
// at a time.
type Conn interface {
	// ReadFrame returns the next frame from the peer.
	ReadFrame(ctx context.Context) ([]byte, error)
	// WriteFrame sends one frame of at most MaxFrameSize bytes.
	WriteFrame(ctx context.Context, frame []byte) error
	// MaxFrameSize is the largest frame WriteFrame takes.
	MaxFrameSize() int
	// Close ends the connection; pending and later calls return ErrClosed.
	Close() error
}

// TryWriter is a Conn that can tell whether a frame can be sent without waiting.
// TryWriteFrame sends frame, as WriteFrame would, only when that does not block: sent
// false (with a nil error) means nothing was sent and WriteFrame would have waited. A
// link writes on its own goroutine only the frames such a Conn could not take at once.
// It is used by the same goroutine as WriteFrame, never concurrently with it.
type TryWriter interface {
	TryWriteFrame(frame []byte) (sent bool, err error)
}

// Pusher is a Conn that can hand frames over as they arrive instead of having a
// goroutine wait for them in ReadFrame. After Push returns true, deliver gets every frame
// (those already waiting first) in order, on whichever goroutine sent it, never two at a
// time; then end gets, once, the error ReadFrame would have returned when no frame will
// come any more (the peer closed, the link broke). Neither is called once the Conn is
// closed on this side, and ReadFrame is no longer used. deliver and end must not block
// or call into the Conn. Push returns false, changing nothing, when the Conn cannot push
// in its configuration; ReadFrame is then used as usual.
type Pusher interface {
	Push(deliver func(frame []byte), end func(err error)) bool
}

// Arrival is a holder that engaged with a reader: the engagement bytes exactly as
// received, the Handover of the engagement channel, and the connection to talk over.
type Arrival struct {
	DeviceEngagement []byte
	Handover         []byte // encoded Handover (CBOR null for QR)
	Conn             Conn
	Bearer           string // "memory", "nfc", "ble", ...; ENGAGEMENT>DATA when handed off ("nfc-pcsc>ble-central")
	// EngagedAt is when the engagement began (a card found in the field, a QR code
	// read); zero when it began with the arrival.
	EngagedAt time.Time
	// ReaderEngagement and ReaderKey are set for reverse engagement: the reader showed
	// ReaderEngagement (exactly these bytes) carrying the public half of ReaderKey, and
	// the session must use that key. Handover is then ReaderEngagementBytes.
	ReaderEngagement []byte
	ReaderKey        *keys.PrivateKey
	// Reject, when not nil, tells the holder the reader will not serve it (busy) and
	// closes the connection.
	Reject func(reason error)
	// ID, when set, is the id the transport already gave the holder's attempt (an
	// engagement's or a transaction's): the session, its verdict and its logs use it, so
	// that one id follows the attempt from its start to its verdict. Transports make
	// such ids random and unique.
	ID string
	// Online, when set, is a presentation that arrived whole over the Internet
	// (OpenID4VP, the Digital Credentials API): Conn is nil, no message is exchanged,
	// the session verifies it and ends.
	Online *Presentation
	// Refused, when set, is a holder the transport turned away once it had engaged (an
	// origin the reader does not serve): Conn is nil and the session ends at once with
	// a rejection naming the reason, so that the attempt has its verdict, metrics and
	// log line.
	Refused *Refusal
}

// Presentation is a presentation that arrived whole: the DeviceResponse (several, from
// one answer, merged into one) and the SessionTranscript the reader rebuilt for it,
// never taken from the wallet. Alternate, when set, is a second transcript accepted
// when mdoc authentication alone fails under the first (an 18013-7:2024 Annex B wallet
// on a lane that allows them). A presentation that could not be read (a wallet error,
// a response that does not decrypt or decode) has Err and Reason instead of Response:
// the session ends in an error naming Reason.
type Presentation struct {
	Response   *messages.DeviceResponse
	Transcript messages.SessionTranscript
	Alternate  *messages.SessionTranscript
	Err        error
	Reason     string
}

// Refusal is why a transport turned a holder away: a machine-readable reason and a
// detail for the log.
type Refusal struct {
	Reason, Detail string
}

// Listener yields arrivals at one lane.
type Listener interface {
	Accept(ctx context.Context) (*Arrival, error)
	Close() error
	Bearer() string
}

// AirTimer is implemented by connections that model air time (bit rate, latency).
type AirTimer interface {
	AirTime() time.Duration
}
