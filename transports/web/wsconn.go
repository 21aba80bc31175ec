package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// forceCloseAfter bounds how long a WebSocket whose reader gave up stays open waiting
// for its owner's Close (which normally follows at once, after the last write).
const forceCloseAfter = 3 * time.Second

// group counts goroutines; unlike sync.WaitGroup it may be waited on while goroutines
// are still being added.
type group struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (g *group) Go(f func()) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	go func() {
		defer g.done()
		f()
	}()
}

func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 && g.zero != nil {
		close(g.zero)
		g.zero = nil
	}
}

// Wait returns once no goroutine of the group runs.
func (g *group) Wait() {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return
	}
	if g.zero == nil {
		g.zero = make(chan struct{})
	}
	ch := g.zero
	g.mu.Unlock()
	<-ch
}

// CloseCode maps the last SessionData status the reader sent to the WebSocket close
// code it closes with (see the package documentation); -1 means no status was sent.
func CloseCode(lastStatus int64) websocket.StatusCode {
	switch lastStatus {
	case messages.StatusSessionTermination:
		return websocket.StatusNormalClosure
	case messages.StatusSessionEncryptionError:
		return websocket.StatusPolicyViolation
	case messages.StatusCBORDecodingError:
		return websocket.StatusUnsupportedData
	default:
		return websocket.StatusGoingAway
	}
}

// statusOf returns the status of a status-only SessionData, or -1.
func statusOf(msg []byte) int64 {
	if len(msg) > 32 {
		return -1
	}
	sd, err := messages.DecodeSessionData(msg)
	if err != nil || sd.Data != nil || sd.Status == nil {
		return -1
	}
	return int64(*sd.Status)
}

// readError turns an error of websocket.Conn.Read into a transports error.
func readError(err error, who string) error {
	if err == nil {
		return nil
	}
	if code := websocket.CloseStatus(err); code != -1 {
		return fmt.Errorf("%w: %s closed the WebSocket (%d %s)", transports.ErrClosed, who, int(code), err)
	}
	if strings.Contains(err.Error(), "read limited at") {
		return fmt.Errorf("%w: %v", transports.ErrMessageLimit, err)
	}
	return fmt.Errorf("%w: %v", transports.ErrClosed, err)
}

// wsConn is one side of a session over WebSocket: one binary message per frame.
type wsConn struct {
	c          *websocket.Conn
	bg         *group
	peer       string // "holder" or "reader", for errors
	writeTO    time.Duration
	lastStatus atomic.Int64
	peerStatus atomic.Int64 // the last status-only SessionData the peer sent, -1 none
	closed     atomic.Bool
	onClose    func()

	pingEvery, pongTO time.Duration
	pingOnce          sync.Once
	mu                sync.Mutex // guards timer
	timer             *time.Timer

	wmu    sync.Mutex  // one write at a time: guards wtimer
	wtimer *time.Timer // bounds a write (write)
}

var _ transports.Conn = (*wsConn)(nil)

func newWSConn(c *websocket.Conn, bg *group, peer string, writeTO, pingEvery, pongTO time.Duration, onClose func()) *wsConn {
	w := &wsConn{c: c, bg: bg, peer: peer, writeTO: writeTO, pingEvery: pingEvery, pongTO: pongTO, onClose: onClose}
	w.lastStatus.Store(-1)
	w.peerStatus.Store(-1)
	return w
}

func (w *wsConn) MaxFrameSize() int { return messages.MaxMessageSize }

// ReadFrame returns the next binary message. A text message closes the connection with
// 1003 and fails with transports.ErrBadFrame; one over the read limit (on the reader's
// side the WebSocket lane's message limit) closes it with 1009 and fails with
// transports.ErrMessageLimit. A WebSocket read cannot be
// abandoned without closing the connection, and the owner that cancels a read (a link
// stopping) still writes a last message and then closes: so when ctx ends the connection
// stays open for that, ReadFrame returns ctx's error once Close came, and the connection
// is dropped after a few seconds if no Close comes. Reading also answers the peer's
// pings: a holder must keep a ReadFrame running.
func (w *wsConn) ReadFrame(ctx context.Context) ([]byte, error) {
	w.pingOnce.Do(w.armPing)
	if ctx.Done() == nil {
		typ, b, err := w.read()
		return w.frame(typ, b, err)
	}
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(forceCloseAfter, func() { w.abort() })
	})
	typ, b, err := w.read()
	if !stop() && err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return w.frame(typ, b, err)
}

// readBuffers hold messages while they are read: a message is then copied out at its
// size, instead of growing a slice of its own from 512 bytes (io.ReadAll).
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// read returns the next message, as the library's Read does. The buffer is taken once
// the message has begun, so an idle connection holds none.
func (w *wsConn) read() (websocket.MessageType, []byte, error) {
	typ, r, err := w.c.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	bp := readBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			w.putReadBuffer(bp, b)
			return 0, nil, err
		}
	}
	msg := bytes.Clone(b)
	w.putReadBuffer(bp, b)
	return typ, msg, nil
}

func (w *wsConn) putReadBuffer(bp *[]byte, b []byte) {
	if cap(b) <= 64<<10 { // a rare large message is not kept
		*bp = b[:0]
		readBuffers.Put(bp)
	}
}

func (w *wsConn) frame(typ websocket.MessageType, b []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, readError(err, w.peer)
	}
	if typ != websocket.MessageBinary {
		w.closeWith(websocket.StatusUnsupportedData, "session messages are binary")
		return nil, fmt.Errorf("%w: text message", transports.ErrBadFrame)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", transports.ErrBadFrame)
	}
	if st := statusOf(b); st >= 0 {
		w.peerStatus.Store(st)
	}
	return b, nil
}

// WriteFrame sends frame as one binary message within the write timeout.
func (w *wsConn) WriteFrame(ctx context.Context, frame []byte) error {
	if len(frame) == 0 || len(frame) > messages.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes", transports.ErrFrameTooBig, len(frame))
	}
	if w.closed.Load() {
		return transports.ErrClosed
	}
	if err := w.write(ctx, frame); err != nil {
		return fmt.Errorf("%w: write: %v", transports.ErrClosed, err)
	}
	if st := statusOf(frame); st >= 0 {
		w.lastStatus.Store(st)
	}
	return nil
}

// write sends frame within the write timeout. A write past it drops the connection, as
// the library does when a write's context ends; without a context of the caller's the
// connection's one timer bounds it, rather than a context and a timer per write (the
// library then sets no timeout of its own either).
func (w *wsConn) write(ctx context.Context, frame []byte) error {
	if ctx.Done() != nil || w.writeTO <= 0 {
		if w.writeTO > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, w.writeTO)
			defer cancel()
		}
		return w.c.Write(ctx, websocket.MessageBinary, frame)
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wtimer == nil {
		w.wtimer = time.AfterFunc(w.writeTO, func() { _ = w.c.CloseNow() })
	} else {
		w.wtimer.Reset(w.writeTO)
	}
	err := w.c.Write(context.Background(), websocket.MessageBinary, frame)
	w.wtimer.Stop()
	return err
}

// Close closes with the code of the last status sent (CloseCode). On the reader's side
// the close handshake runs in the background, on the holder's side in Close; either way
// bounded by the library's 5 s.
func (w *wsConn) Close() error {
	code := CloseCode(w.lastStatus.Load())
	reason := "session over"
	if code == websocket.StatusGoingAway {
		// the peer's own terminating status (10, 11 or 20) ended the session: close as
		// that status says, not as a session that ended without one
		if st := w.peerStatus.Load(); CloseCode(st) != websocket.StatusGoingAway {
			code, reason = CloseCode(st), fmt.Sprintf("session terminated by the %s (status %d)", w.peer, st)
		} else {
			reason = "session ended without termination status"
		}
	}
	w.closeWith(code, reason)
	return nil
}

func (w *wsConn) closeWith(code websocket.StatusCode, reason string) {
	if !w.closed.CompareAndSwap(false, true) {
		return
	}
	w.stopPing()
	if w.bg == nil {
		_ = w.c.Close(code, reason)
	} else {
		w.bg.Go(func() { _ = w.c.Close(code, reason) })
	}
	if w.onClose != nil {
		w.onClose()
	}
}

// abort drops the connection without a close handshake.
func (w *wsConn) abort() {
	if !w.closed.CompareAndSwap(false, true) {
		_ = w.c.CloseNow()
		return
	}
	w.stopPing()
	_ = w.c.CloseNow()
	if w.onClose != nil {
		w.onClose()
	}
}

func (w *wsConn) armPing() {
	if w.pingEvery <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return
	}
	w.timer = time.AfterFunc(w.pingEvery, w.ping)
}

func (w *wsConn) stopPing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// ping runs on the timer's goroutine: a missed pong drops the connection.
func (w *wsConn) ping() {
	w.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), w.pongTO)
		err := w.c.Ping(ctx)
		cancel()
		if w.closed.Load() {
			return
		}
		if err != nil {
			w.abort()
			return
		}
		w.mu.Lock()
		if !w.closed.Load() && w.timer != nil {
			w.timer.Reset(w.pingEvery)
		}
		w.mu.Unlock()
	})
}

// shutdown closes a session's WebSocket because the server stops.
func (w *wsConn) shutdown() { w.closeWith(websocket.StatusGoingAway, "reader shutting down") }

// handleWebSocket upgrades GET /session/{id} and takes the first message.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request, id string) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Allow", "POST, GET, DELETE")
		httpError(w, http.StatusMethodNotAllowed, "GET is for WebSocket; POST session messages")
		return
	}
	client := s.cfg.Prefixes.ClientOf(r.RemoteAddr)
	// busy is answered before the upgrade (and so before any key exchange)
	if err := s.refuseSession(BearerWebSocket, client); err != nil {
		busy(w, err)
		return
	}
	s.mu.Lock()
	p, err := s.lookupLocked(id)
	switch {
	case err != nil:
		s.mu.Unlock()
		s.refused(BearerWebSocket, ReasonUnknownSession, id)
		httpError(w, http.StatusNotFound, err.Error())
		return
	case p.attached:
		s.mu.Unlock()
		httpError(w, http.StatusConflict, ErrEngaged.Error())
		return
	case s.draining:
		s.mu.Unlock()
		busy(w, ErrDraining)
		return
	case !s.sessionSlotLocked(p, client):
		s.mu.Unlock()
		busy(w, fmt.Errorf("%w: this client runs %d sessions", transports.ErrBusy, s.cfg.SessionsPerClient))
		return
	}
	p.attached = true // reserved while the first message comes
	re, key := p.re, p.key
	s.mu.Unlock()
	unreserve := func() {
		s.mu.Lock()
		p.attached = false
		s.releaseSessionLocked(p)
		s.mu.Unlock()
	}
	c, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		unreserve()
		return // Accept wrote the response
	}
	c.SetReadLimit(s.wsMax.Load())
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.BodyTimeout)
	typ, msg, err := c.Read(ctx)
	cancel()
	refuse := func(code websocket.StatusCode, reason string) {
		unreserve()
		if len(reason) > 120 {
			reason = reason[:120]
		}
		_ = c.Close(code, reason)
	}
	switch {
	case err != nil:
		unreserve()
		_ = c.CloseNow()
		return
	case typ != websocket.MessageBinary:
		refuse(websocket.StatusUnsupportedData, "session messages are binary")
		return
	}
	de, _, code, err := s.firstMessage(msg)
	if err != nil {
		if code == http.StatusForbidden { // the engagement ends with a verdict
			s.mu.Lock()
			s.refuseLocked(p, BearerWebSocket, err)
			s.mu.Unlock()
		}
		refuse(websocket.StatusPolicyViolation, err.Error())
		return
	}
	wc := newWSConn(c, &s.bg, "holder", s.cfg.WriteTimeout, s.cfg.PingInterval, s.cfg.PongTimeout, nil)
	wc.onClose = func() {
		s.mu.Lock()
		delete(s.ws, wc)
		s.mu.Unlock()
		s.ended(p)
	}
	a := &transports.Arrival{DeviceEngagement: de, Handover: messages.ReaderEngagementHandover(messages.NewEncodedCBOR(re)),
		Conn: wc, Bearer: BearerWebSocket, Reject: func(error) { wc.closeWith(websocket.StatusTryAgainLater, "reader busy") },
		ReaderEngagement: re, ReaderKey: key, ID: p.id}
	s.mu.Lock()
	p.key = nil // one session per engagement
	if s.closed {
		s.mu.Unlock()
		refuse(websocket.StatusGoingAway, "reader shutting down")
		return
	}
	s.ws[wc] = struct{}{}
	s.releaseEngagementLocked(p) // a session now, counted as one
	s.mu.Unlock()
	if err := s.wsL.offer(a); err != nil {
		s.mu.Lock()
		delete(s.ws, wc)
		s.mu.Unlock()
		refuse(websocket.StatusTryAgainLater, "reader busy")
		return
	}
}

// wsBufferSize is the size of a WebSocket connection's read and write buffers on the
// reader's side. The library keeps the buffers it is given for the connection's life;
// net/http's are 4 KiB each, most of what an idle session holds. Frames longer than the
// buffer are read and written straight from and to the caller's slice, so a smaller
// buffer costs at most one more read or write for a message larger than it.
const wsBufferSize = 1 << 10

// smallBuffers hands coder/websocket the hijacked connection with buffers of
// wsBufferSize instead of net/http's (those go with the request).
type smallBuffers struct{ http.ResponseWriter }

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	n := brw.Reader.Buffered() // what the client sent after its request
	if n > wsBufferSize {
		return c, brw, nil
	}
	br := bufio.NewReaderSize(c, wsBufferSize)
	if n > 0 {
		// the library takes what is buffered (and resets the reader onto the
		// connection): the bytes go into the new buffer, read from nowhere else
		b, _ := brw.Reader.Peek(n)
		br.Reset(io.MultiReader(bytes.NewReader(bytes.Clone(b)), c))
		if _, err := br.Peek(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, bufio.NewReadWriter(br, bufio.NewWriterSize(c, wsBufferSize)), nil
}
