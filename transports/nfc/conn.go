package nfc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/nfc/apdu"
)

// LinkError is a failure of the NFC link on the reader's side, naming the step. It
// matches (errors.Is) its cause and one transports class: transports.ErrMessageLimit for
// an oversized message, transports.ErrBadFrame for a protocol violation by the mdoc
// (malformed APDU, DO'53', status word, endless 61XX, an empty final response),
// transports.ErrClosed for a card
// that left, a field switched off or a closed connection.
type LinkError struct {
	Step string
	Err  error
}

func (e *LinkError) Error() string { return fmt.Sprintf("nfc: %s: %v", e.Step, e.Err) }

// Unwrap returns the cause and the transports class.
func (e *LinkError) Unwrap() []error {
	var se *apdu.StatusError
	switch {
	case errors.Is(e.Err, apdu.ErrTooLarge):
		return []error{e.Err, transports.ErrMessageLimit}
	case errors.Is(e.Err, apdu.ErrMalformed), errors.Is(e.Err, apdu.ErrChainTooLong), errors.Is(e.Err, apdu.ErrEmptyResponse),
		errors.As(e.Err, &se):
		return []error{e.Err, transports.ErrBadFrame}
	case errors.Is(e.Err, transports.ErrClosed):
		return []error{e.Err}
	}
	return []error{e.Err, transports.ErrClosed}
}

// WholeMessage is the framing of NFC connections: a frame is a whole session message
// (APDU chaining does the fragmentation).
type WholeMessage = transports.WholeMessageFramer

// readerConn is the reader's side of data retrieval: WriteFrame sends a message in
// ENVELOPEs and waits for the response the mdoc withholds until its answer is ready (an
// exchange is one message each way); ReadFrame returns the answers. APDU exchanges are
// serialised.
type readerConn struct {
	r       *apdu.Reader
	xmu     sync.Mutex // one APDU exchange at a time
	air     transports.AirTimer
	onClose func()
	maxMsg  int

	mu     sync.Mutex
	inbox  [][]byte
	err    error
	wake   chan struct{} // signalled on a new message or a failure
	closed chan struct{}
	once   sync.Once
	// closeCtx is cancelled by Close, cancelling a running exchange.
	closeCtx    context.Context
	closeCancel context.CancelFunc
}

// NewReaderConn returns the reader's data retrieval connection over t with the sizes of
// e, in the APDU form SelectData chose (after it succeeded). onClose runs once on Close
// (deactivate the field, disconnect the card); air, when not nil, supplies AirTime.
func NewReaderConn(t apdu.Transceiver, e *Engagement, o ReaderOptions, air transports.AirTimer, onClose func()) transports.Conn {
	o.defaults()
	c := &readerConn{
		r: &apdu.Reader{T: t, MaxCommand: min(o.MaxCommand, e.NFC.MaxCommand), MaxResponse: min(o.MaxResponse, e.NFC.MaxResponse),
			Short: !e.Extended, MaxMessage: o.MaxMessage},
		air: air, onClose: onClose, maxMsg: o.MaxMessage, wake: make(chan struct{}, 1), closed: make(chan struct{}),
	}
	c.closeCtx, c.closeCancel = context.WithCancel(context.Background())
	if air != nil {
		return &airReaderConn{c}
	}
	return c
}

func (c *readerConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *readerConn) fail(step string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		select {
		case <-c.closed:
			c.err = transports.ErrClosed
		default:
			c.err = &LinkError{Step: step, Err: err}
		}
	}
	c.signal()
	return c.err
}

func (c *readerConn) exchange(ctx context.Context, msg []byte) ([]byte, error) {
	c.xmu.Lock()
	defer c.xmu.Unlock()
	select {
	case <-c.closed:
		return nil, transports.ErrClosed
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.closeCtx, cancel)
	defer stop()
	return c.r.Send(ctx, msg)
}

func (c *readerConn) deliver(reply []byte) {
	c.mu.Lock()
	c.inbox = append(c.inbox, reply)
	c.mu.Unlock()
	c.signal()
}

func (c *readerConn) WriteFrame(ctx context.Context, msg []byte) error {
	if len(msg) == 0 || len(msg) > c.maxMsg {
		return transports.ErrFrameTooBig
	}
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	reply, err := c.exchange(ctx, msg)
	if err != nil {
		return c.fail("send message", err)
	}
	c.deliver(reply)
	return nil
}

// ReadFrame returns the mdoc's next message: the answer to a message written before.
func (c *readerConn) ReadFrame(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.inbox) > 0 {
			m := c.inbox[0]
			c.inbox = c.inbox[1:]
			c.mu.Unlock()
			return m, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-c.wake:
		case <-c.closed:
			return nil, transports.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *readerConn) MaxFrameSize() int { return c.maxMsg }

func (c *readerConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.closeCancel()
		if c.onClose != nil {
			go func() {
				c.xmu.Lock() // wait for a running exchange to end
				defer c.xmu.Unlock()
				c.onClose()
			}()
		}
	})
	return nil
}

// airReaderConn adds AirTime to a readerConn.
type airReaderConn struct{ *readerConn }

func (c *airReaderConn) AirTime() time.Duration { return c.air.AirTime() }
