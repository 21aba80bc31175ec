package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// outQueue bounds the reader messages waiting for the holder's next POST.
const outQueue = 4

// httpConn is the reader's side of an HTTP session: holder POST bodies come out of
// ReadFrame; frames written are the answers to those POSTs, queued until a POST collects
// them.
type httpConn struct {
	in      chan []byte
	out     chan []byte
	done    chan struct{}
	once    sync.Once
	err     error // why the conn closed; set before done is closed
	onClose func()
}

var _ transports.Conn = (*httpConn)(nil)

func newHTTPConn(onClose func()) *httpConn {
	return &httpConn{in: make(chan []byte, 1), out: make(chan []byte, outQueue), done: make(chan struct{}), onClose: onClose}
}

func (c *httpConn) MaxFrameSize() int { return messages.MaxMessageSize }

// ReadFrame returns the next message the holder POSTed.
func (c *httpConn) ReadFrame(ctx context.Context) ([]byte, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// WriteFrame queues the answer to the holder's next (or waiting) POST.
func (c *httpConn) WriteFrame(ctx context.Context, frame []byte) error {
	if len(frame) == 0 || len(frame) > messages.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes", transports.ErrFrameTooBig, len(frame))
	}
	select {
	case <-c.done:
		return c.err
	default:
	}
	select {
	case c.out <- frame:
		return nil
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *httpConn) Close() error {
	c.closeWith(transports.ErrClosed)
	return nil
}

func (c *httpConn) closeWith(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
		if c.onClose != nil {
			c.onClose()
		}
	})
}

// deliver hands a holder message to ReadFrame.
func (c *httpConn) deliver(msg []byte) error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	select {
	case c.in <- msg:
		return nil
	default:
		return errors.New("the previous message is not read yet")
	}
}

// answer waits for the reader's next message; after the conn closed, messages written
// before still come out first.
func (c *httpConn) answer(ctx context.Context) ([]byte, error) {
	select {
	case m := <-c.out:
		return m, nil
	case <-c.done:
		select {
		case m := <-c.out:
			return m, nil
		default:
			return nil, c.err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errBodyTooLarge is readBody's failure for a body over the HTTP lane's message limit.
var errBodyTooLarge = errors.New("body too large")

// readBody reads a bounded application/cbor body within BodyTimeout: one over the HTTP
// lane's message limit is refused by its Content-Length before it is read, or once the
// limit is passed. On failure it has written the error response; err is
// errBodyTooLarge for a body over the limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != ContentType {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be "+ContentType)
		return nil, errors.New("content type")
	}
	limit := int(s.httpMax.Load())
	tooLarge := "body over " + strconv.Itoa(limit) + " bytes, the limit of this lane"
	if r.ContentLength > int64(limit) {
		httpError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, errBodyTooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		httpError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, errBodyTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		httpError(w, http.StatusRequestTimeout, "body too slow")
		return nil, err
	case err != nil:
		httpError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return nil, err
	case len(body) == 0:
		httpError(w, http.StatusBadRequest, "empty body")
		return nil, errors.New("empty body")
	}
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.ResponseTimeout + s.cfg.BodyTimeout))
	return body, nil
}

// handlePost takes one holder message and answers with the reader's next message.
func (s *Server) handlePost(w http.ResponseWriter, r *http.Request, id string) {
	client := s.cfg.Prefixes.ClientOf(r.RemoteAddr)
	s.mu.Lock()
	p, err := s.lookupLocked(id)
	first := err == nil && !p.attached
	var running *httpConn
	if err == nil {
		running = p.hc
	}
	s.mu.Unlock()
	if first {
		// a session would start: busy is answered before the body is read
		if err := s.refuseSession(BearerHTTP, client); err != nil {
			busy(w, err)
			return
		}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) && running != nil {
			// the session's message was refused unread: the session ends on it
			running.closeWith(fmt.Errorf("%w: a POST body over %d bytes", transports.ErrMessageLimit, s.httpMax.Load()))
		}
		return
	}
	// decode outside the lock: a valid first message, or (err set) anything else
	de, isMD, code, firstErr := s.firstMessage(body)
	s.mu.Lock()
	p, err = s.lookupLocked(id)
	if err != nil {
		s.mu.Unlock()
		s.refused(BearerHTTP, ReasonUnknownSession, id)
		httpError(w, http.StatusNotFound, err.Error())
		return
	}
	if p.inflight {
		s.mu.Unlock()
		httpError(w, http.StatusConflict, "a request of this session is still being answered")
		return
	}
	var c *httpConn
	if !p.attached {
		if s.draining {
			s.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, ErrDraining.Error())
			return
		}
		if firstErr != nil {
			if code == http.StatusForbidden {
				s.refuseLocked(p, BearerHTTP, firstErr)
			}
			s.mu.Unlock()
			httpError(w, code, firstErr.Error())
			return
		}
		if !s.sessionSlotLocked(p, client) {
			s.mu.Unlock()
			busy(w, fmt.Errorf("%w: this client runs %d sessions", transports.ErrBusy, s.cfg.SessionsPerClient))
			return
		}
		c = newHTTPConn(func() { s.ended(p) })
		a := &transports.Arrival{DeviceEngagement: de, Handover: messages.ReaderEngagementHandover(messages.NewEncodedCBOR(p.re)),
			Conn: c, Bearer: BearerHTTP, Reject: c.closeWith, ReaderEngagement: p.re, ReaderKey: p.key, ID: p.id}
		p.key = nil // one session per engagement
		if err := s.httpL.offer(a); err != nil {
			s.releaseSessionLocked(p)
			s.mu.Unlock()
			busy(w, fmt.Errorf("reader busy: %w", err))
			return
		}
		p.attached, p.hc, p.first = true, c, body
		s.releaseEngagementLocked(p) // a session now, counted as one
	} else {
		c = p.hc
		if c == nil {
			s.mu.Unlock()
			httpError(w, http.StatusConflict, "session is engaged over WebSocket")
			return
		}
		if isMD {
			// the holder's first message again: a retry whose answer was lost gets that
			// answer again; any other MessageData ends the session
			reply := p.firstReply
			same := reply != nil && bytes.Equal(body, p.first)
			s.mu.Unlock()
			if same {
				writeMessage(w, reply)
				return
			}
			c.closeWith(fmt.Errorf("%w: the holder sent another MessageData in an engaged session", transports.ErrClosed))
			writeMessage(w, statusMessage(messages.StatusSessionTermination))
			return
		}
		p.first, p.firstReply = nil, nil // the holder went on: no retry of the first message now
		if err := c.deliver(body); err != nil {
			s.mu.Unlock()
			httpError(w, http.StatusConflict, err.Error())
			return
		}
	}
	p.inflight = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		p.inflight = false
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ResponseTimeout)
	defer cancel()
	msg, err := c.answer(ctx)
	switch {
	case err == nil:
		if isMD {
			s.mu.Lock()
			if p.first != nil {
				p.firstReply = msg
			}
			s.mu.Unlock()
		}
		writeMessage(w, msg)
	case errors.Is(err, transports.ErrBusy):
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "reader busy")
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		c.closeWith(fmt.Errorf("%w: no answer within %s", transports.ErrClosed, s.cfg.ResponseTimeout))
		httpError(w, http.StatusGatewayTimeout, "no answer from the reader in time; session ended")
	case r.Context().Err() != nil:
		// the holder went away while waiting: the answer cannot be delivered
		c.closeWith(fmt.Errorf("%w: holder disconnected while waiting for an answer", transports.ErrClosed))
	default:
		httpError(w, http.StatusGone, "session ended")
	}
}

// writeMessage answers with one session message.
func writeMessage(w http.ResponseWriter, msg []byte) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	_, _ = w.Write(msg)
}

// statusMessage is a status-only SessionData.
func statusMessage(status uint64) []byte {
	b, _ := messages.Marshal(messages.NewSessionStatus(status))
	return b
}

// handleDelete is the holder ending the session.
func (s *Server) handleDelete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	p, err := s.lookupLocked(id)
	var c *httpConn
	if err == nil {
		c = p.hc
		if !p.attached {
			s.dropLocked(p)
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.refused(BearerHTTP, ReasonUnknownSession, id)
		httpError(w, http.StatusNotFound, err.Error())
		return
	}
	if c != nil {
		c.closeWith(fmt.Errorf("%w: holder ended the session", transports.ErrClosed))
	}
	w.WriteHeader(http.StatusNoContent)
}
