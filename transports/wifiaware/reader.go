package wifiaware

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// readerConn is the reader's side of the data path: an HTTP/1.1 client of the mdoc's
// server on one TCP connection, dialled at the first message. WriteFrame writes one
// POST; the next ReadFrame reads its answer. The client is hand-rolled so that
// WriteFrame returns only once the whole request is in the kernel's hands.
type readerConn struct {
	cfg  *Config
	sub  *Subscription
	peer Peer
	addr string // host:port of the holder's server, [::1]:port or 127.0.0.1:port

	// turn holds a token while a POST may be written; outstanding holds one while its
	// answer is to be read. WriteFrame moves the token from turn to outstanding,
	// ReadFrame back.
	turn        chan struct{}
	outstanding chan struct{}

	mu     sync.Mutex // guards conn and failed
	conn   net.Conn
	br     *bufio.Reader // ReadFrame's
	bw     *bufio.Writer // WriteFrame's
	failed error         // sticky once the connection is unusable

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error // set before closed is closed
}

var _ transports.Conn = (*readerConn)(nil)

func newReaderConn(cfg *Config, sub *Subscription, peer Peer, addr netip.AddrPort) *readerConn {
	c := &readerConn{cfg: cfg, sub: sub, peer: peer, addr: addr.String(), turn: make(chan struct{}, 1),
		outstanding: make(chan struct{}, 1), closed: make(chan struct{})}
	c.turn <- struct{}{}
	return c
}

func (c *readerConn) MaxFrameSize() int { return messages.MaxMessageSize }

func (c *readerConn) stateErr() error {
	select {
	case <-c.closed:
		return c.closeErr
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *readerConn) fail(err error) error {
	c.mu.Lock()
	if c.failed == nil {
		c.failed = err
	}
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	return err
}

// dial opens the data path's TCP connection on first use.
func (c *readerConn) dial(ctx context.Context) (net.Conn, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	d := net.Dialer{Timeout: c.cfg.IOTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: wifiaware: dial %s: %w", transports.ErrClosed, c.addr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		conn.Close()
		return nil, c.closeErr
	default:
	}
	c.conn, c.br, c.bw = conn, bufio.NewReaderSize(conn, 16<<10), bufio.NewWriterSize(conn, 16<<10)
	return conn, nil
}

// WriteFrame POSTs one message and returns once the request is written. It waits for
// the previous POST's answer to have been read.
func (c *readerConn) WriteFrame(ctx context.Context, frame []byte) error {
	if err := c.stateErr(); err != nil {
		return err
	}
	if len(frame) > messages.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, limit %d", transports.ErrFrameTooBig, len(frame), messages.MaxMessageSize)
	}
	if len(frame) == 0 {
		return fmt.Errorf("%w: empty message", transports.ErrBadFrame)
	}
	select {
	case <-c.turn:
	case <-c.closed:
		return c.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := c.post(ctx, frame); err != nil {
		c.turn <- struct{}{}
		return c.fail(fmt.Errorf("wifiaware: POST %s: write: %w", Path, err))
	}
	c.outstanding <- struct{}{}
	return nil
}

func (c *readerConn) post(ctx context.Context, body []byte) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(c.cfg.IOTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	bw := c.bw
	bw.WriteString("POST " + Path + " HTTP/1.1\r\nHost: " + c.addr + "\r\nContent-Type: " + ContentType +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	bw.Write(body)
	if err := bw.Flush(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", transports.ErrClosed, err)
	}
	return nil
}

// ReadFrame returns the holder's answer to the last POST, waiting for a POST when none
// is outstanding. A 204 answer is no message: it waits for the next one, or returns an
// error matching transports.ErrClosed when the holder ended the session. When the
// holder tears the data path down, an answer still on its way is returned first.
func (c *readerConn) ReadFrame(ctx context.Context) ([]byte, error) {
	for {
		if err := c.stateErr(); err != nil {
			return nil, err
		}
		select {
		case <-c.outstanding:
		case <-c.closed:
			return nil, c.closeErr
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.sub.Lost():
			select {
			case <-c.outstanding:
			default:
				return nil, c.fail(fmt.Errorf("%w: %w", transports.ErrClosed, ErrDataPathLost))
			}
		}
		msg, err := c.answer(ctx)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, c.fail(err)
		}
		c.turn <- struct{}{}
		if msg != nil {
			return msg, nil
		}
	}
}

func (c *readerConn) answer(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	conn, br := c.conn, c.br
	c.mu.Unlock()
	// The holder answers within ResponseTimeout (or says 204); the body within IOTimeout.
	_ = conn.SetReadDeadline(time.Now().Add(c.cfg.ResponseTimeout + c.cfg.IOTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: wifiaware: POST %s: answer: %w", transports.ErrClosed, Path, err)
	}
	defer resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(c.cfg.IOTimeout))
	msg, err := readAnswer(resp)
	if err != nil {
		return nil, fmt.Errorf("wifiaware: POST %s: answer: %w", Path, err)
	}
	if resp.Close && msg != nil {
		// The holder hangs up after this answer: nothing more can be posted.
		c.mu.Lock()
		if c.failed == nil {
			c.failed = fmt.Errorf("%w: holder closed the data path", transports.ErrClosed)
		}
		c.mu.Unlock()
	}
	return msg, nil
}

// readAnswer checks and reads the holder's answer: a message for 200, nil for 204.
func readAnswer(resp *http.Response) ([]byte, error) {
	switch resp.StatusCode {
	case http.StatusNoContent:
		if resp.Close {
			return nil, fmt.Errorf("%w: holder ended the session", transports.ErrClosed)
		}
		return nil, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("%w: holder answered %s", transports.ErrBadFrame, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != ContentType {
		return nil, fmt.Errorf("%w: answer Content-Type %q", transports.ErrBadFrame, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength > messages.MaxMessageSize {
		return nil, fmt.Errorf("%w: answer of %d bytes", transports.ErrMessageLimit, resp.ContentLength)
	}
	msg, err := io.ReadAll(io.LimitReader(resp.Body, messages.MaxMessageSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", transports.ErrClosed, err)
	}
	if len(msg) > messages.MaxMessageSize {
		return nil, fmt.Errorf("%w: answer over %d bytes", transports.ErrMessageLimit, messages.MaxMessageSize)
	}
	if len(msg) == 0 {
		return nil, fmt.Errorf("%w: empty answer", transports.ErrBadFrame)
	}
	return msg, nil
}

// Close closes the TCP connection (aborting a POST in progress) and ends the
// subscription, which terminates the data path for the holder too. It is idempotent.
func (c *readerConn) Close() error {
	c.closeWith(transports.ErrClosed, nil)
	return nil
}

func (c *readerConn) closeWith(err, reason error) {
	c.closeOnce.Do(func() {
		c.closeErr = err
		close(c.closed)
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
		c.sub.Terminate(reason)
	})
}

// reject tells the holder the reader will not serve it: "busy" over a NAN follow-up,
// and as the reason of the data path's termination.
func (c *readerConn) reject(reason error) {
	err := busyError(reason)
	_ = c.sub.Send(c.peer, msgBusy)
	c.closeWith(err, err)
}

func busyError(reason error) error {
	switch {
	case reason == nil || reason == transports.ErrBusy:
		return transports.ErrBusy
	case errors.Is(reason, transports.ErrBusy):
		return reason
	default:
		return fmt.Errorf("%w: %w", transports.ErrBusy, reason)
	}
}

// failedConn is the reader's side of an engagement whose discovery failed: the session
// starts and ends at once with the error naming the failed step.
type failedConn struct{ err error }

func (f failedConn) ReadFrame(context.Context) ([]byte, error) { return nil, f.err }
func (f failedConn) WriteFrame(context.Context, []byte) error  { return f.err }
func (f failedConn) MaxFrameSize() int                         { return messages.MaxMessageSize }
func (f failedConn) Close() error                              { return nil }
