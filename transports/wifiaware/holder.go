package wifiaware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// Path and ContentType of the HTTP exchange on the data path.
const (
	Path        = "/mdoc"
	ContentType = "application/cbor"
)

// Messages exchanged over NAN follow-ups (as in Multipaz, plus "busy" for a refusal).
var (
	msgHelloPub = []byte("helloPub") // subscriber → publisher after discovery
	msgHelloSub = []byte("helloSub") // publisher → subscriber once its server is up
	msgBusy     = []byte("busy")     // subscriber → publisher: the reader will not serve it
)

// inbound is a POSTed message waiting for the holder to read it.
type inbound struct{ msg []byte }

// exchange is one POST waiting for the holder's answer.
type exchange struct {
	reply chan []byte   // capacity 1
	gone  chan struct{} // closed when the handler stopped waiting
}

// holderConn is the mdoc's side: a NAN publication and, once a reader subscribed, an
// HTTP/1.1 server on the data path. ReadFrame returns POSTed bodies; WriteFrame answers
// the POST being served.
type holderConn struct {
	cfg    *Config
	pub    *Publication
	faults *faultModel

	reqs    chan inbound   // POSTed messages for ReadFrame, capacity 1
	waiting chan *exchange // the POST awaiting an answer, capacity 1
	serving atomic.Bool    // a POST is being handled
	srvMu   sync.Mutex     // guards srv
	srv     *http.Server   // nil until the reader said hello
	connSet atomic.Pointer[net.Conn]
	connEnd chan struct{} // closed when the data path's TCP connection has closed
	endOnce sync.Once

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error // set before closed is closed
	wg        sync.WaitGroup
}

var _ transports.Conn = (*holderConn)(nil)

func newHolderConn(cfg *Config, pub *Publication, f Faults) *holderConn {
	h := &holderConn{cfg: cfg, pub: pub, faults: newFaultModel(f), reqs: make(chan inbound, 1),
		waiting: make(chan *exchange, 1), closed: make(chan struct{}), connEnd: make(chan struct{})}
	h.wg.Add(1)
	go h.run()
	return h
}

func (h *holderConn) MaxFrameSize() int { return messages.MaxMessageSize }

// closeWith ends the connection with err for later calls; it only signals, the run
// goroutine tears down the server and the publication.
func (h *holderConn) closeWith(err error) {
	h.closeOnce.Do(func() {
		h.closeErr = err
		close(h.closed)
	})
}

// Close ends the connection: an answer already given is still sent, a POST waiting for
// one gets 204, the data path and the publication end. It waits for the server.
func (h *holderConn) Close() error {
	h.closeWith(transports.ErrClosed)
	h.wg.Wait()
	return nil
}

// run handles NAN events until the connection closes, then shuts the server down
// (gracefully, within IOTimeout) before ending the publication, so that the reader
// gets the last answer before it sees the data path go.
func (h *holderConn) run() {
	defer h.wg.Done()
	defer h.pub.Close()
	defer h.shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.NewTimer(2 * h.cfg.DiscoveryTimeout)
	defer timer.Stop()
	events := make(chan Event)
	errs := make(chan error, 1)
	h.wg.Add(1)
	go func() { // the publication's event pump
		defer h.wg.Done()
		for {
			ev, err := h.pub.Next(ctx)
			if err != nil {
				errs <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	var lost <-chan struct{}
	var path DataPath
	for {
		select {
		case <-h.closed:
			return
		case <-timer.C:
			h.closeWith(fmt.Errorf("wifiaware: holder: no reader set up a data path: %w", ErrDiscoveryTimeout))
			return
		case err := <-errs:
			h.closeWith(fmt.Errorf("wifiaware: holder: NAN: %w", err))
			return
		case <-lost:
			// The reader tore the data path down. Let its TCP connection end by itself
			// first: a message it sent just before is still read and delivered.
			if h.connSet.Load() != nil {
				t := time.NewTimer(h.cfg.IOTimeout)
				select {
				case <-h.connEnd:
				case <-h.closed:
				case <-t.C:
				}
				t.Stop()
			}
			h.shutdown()
			if r := path.Reason(); errors.Is(r, transports.ErrBusy) {
				h.closeWith(r)
				return
			}
			h.closeWith(fmt.Errorf("%w: %w", transports.ErrClosed, ErrDataPathLost))
			return
		case ev := <-events:
			switch ev.Kind {
			case MessageReceived:
				switch string(ev.Payload) {
				case string(msgHelloPub):
					if err := h.serve(ev.Peer); err != nil {
						h.closeWith(err)
						return
					}
				case string(msgBusy):
					h.closeWith(transports.ErrBusy)
					return
				}
			case DataPathConfirmed:
				timer.Stop()
				path = ev.Path
				lost = path.Lost()
			case DataPathFailed:
				h.closeWith(fmt.Errorf("wifiaware: holder: data path: %w", ev.Err))
				return
			}
		}
	}
}

// serve opens the TCP server socket, offers the data path and says hello.
func (h *holderConn) serve(peer Peer) error {
	h.srvMu.Lock()
	if h.srv != nil {
		h.srvMu.Unlock()
		return h.pub.FollowUp(peer, msgHelloSub) // the subscriber asked again: answer again
	}
	ln, err := h.cfg.listen()
	if err != nil {
		h.srvMu.Unlock()
		return fmt.Errorf("wifiaware: holder: TCP listen: %w", err)
	}
	one := &oneConnListener{Listener: ln, closed: make(chan struct{}), wrap: h.faults.wrap}
	srv := &http.Server{
		Handler:           http.HandlerFunc(h.handle),
		ReadHeaderTimeout: h.cfg.IOTimeout,
		IdleTimeout:       h.cfg.ResponseTimeout + h.cfg.IOTimeout,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState:         h.connState,
	}
	h.srv = srv
	h.srvMu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		_ = srv.Serve(one)
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	h.pub.OfferDataPath(peer, addr)
	if err := h.pub.FollowUp(peer, msgHelloSub); err != nil {
		return fmt.Errorf("wifiaware: holder: %w", err)
	}
	return nil
}

func (h *holderConn) shutdown() {
	h.srvMu.Lock()
	srv := h.srv
	h.srvMu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.IOTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// connState ends the session when the data path's TCP connection goes away.
func (h *holderConn) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		h.connSet.CompareAndSwap(nil, &c)
	case http.StateClosed, http.StateHijacked:
		if p := h.connSet.Load(); p != nil && *p == c {
			h.endOnce.Do(func() { close(h.connEnd) })
			h.closeWith(fmt.Errorf("%w: data path TCP connection closed", transports.ErrClosed))
		}
	}
}

// handle serves POST /mdoc: one message in, at most one message out.
func (h *holderConn) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ContentType {
		http.Error(w, "want Content-Type "+ContentType, http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > messages.MaxMessageSize {
		w.Header().Set("Connection", "close")
		http.Error(w, "message too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !h.serving.CompareAndSwap(false, true) {
		http.Error(w, "an exchange is in progress", http.StatusConflict)
		return
	}
	defer h.serving.Store(false)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.cfg.IOTimeout)) // slow clients: bound the body
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, messages.MaxMessageSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "message too large", http.StatusRequestEntityTooLarge)
			return
		}
		// The body never fully arrived (slow client or broken connection): say so if
		// the connection still takes it, and hang up.
		w.Header().Set("Connection", "close")
		http.Error(w, "request body incomplete", http.StatusRequestTimeout)
		return
	}
	if len(body) == 0 {
		http.Error(w, "empty message", http.StatusBadRequest)
		return
	}
	if h.faults.dropBody() { // the link dies while the body arrives
		h.faults.killConn()
		panic(http.ErrAbortHandler)
	}
	ex := &exchange{reply: make(chan []byte, 1), gone: make(chan struct{})}
	defer close(ex.gone)
	select {
	case h.waiting <- ex:
	default:
		http.Error(w, "an exchange is in progress", http.StatusConflict)
		return
	}
	defer func() { // a holder that never answered leaves no stale exchange behind
		select {
		case <-h.waiting:
		default:
		}
	}()
	select {
	case h.reqs <- inbound{msg: body}:
	case <-h.closed:
		noContent(w)
		return
	}
	timer := time.NewTimer(h.cfg.ResponseTimeout)
	defer timer.Stop()
	var reply []byte
	select {
	case reply = <-ex.reply:
	case <-h.closed:
		select { // an answer given just before the close still goes out
		case reply = <-ex.reply:
		default:
			noContent(w)
			return
		}
	case <-timer.C:
		noContent(w)
		return
	case <-r.Context().Done():
		panic(http.ErrAbortHandler) // the client is gone: no answer, no default 200
	}
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.IOTimeout))
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(http.StatusOK)
	if n, cut := h.faults.cut(len(reply)); cut {
		_, _ = w.Write(reply[:n])
		_ = rc.Flush()
		h.faults.killConn()
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(reply)
}

func noContent(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusNoContent)
}

// ReadFrame returns the next POSTed message. Messages delivered before a close are
// still returned.
func (h *holderConn) ReadFrame(ctx context.Context) ([]byte, error) {
	select {
	case in := <-h.reqs:
		return in.msg, nil
	default:
	}
	select {
	case in := <-h.reqs:
		return in.msg, nil
	case <-h.closed:
		select {
		case in := <-h.reqs:
			return in.msg, nil
		default:
			return nil, h.closeErr
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// WriteFrame answers the POST being served; it blocks until a POST waits for an answer.
func (h *holderConn) WriteFrame(ctx context.Context, frame []byte) error {
	if len(frame) > messages.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, limit %d", transports.ErrFrameTooBig, len(frame), messages.MaxMessageSize)
	}
	if len(frame) == 0 {
		return fmt.Errorf("%w: empty message", transports.ErrBadFrame)
	}
	select {
	case <-h.closed:
		return h.closeErr
	default:
	}
	select {
	case ex := <-h.waiting:
		select {
		case ex.reply <- append([]byte(nil), frame...):
			return nil
		case <-ex.gone:
			return fmt.Errorf("wifiaware: holder: answer: %w: the reader's POST ended first", transports.ErrClosed)
		}
	case <-h.closed:
		return h.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// oneConnListener accepts the data path's single TCP connection, then closes the socket.
type oneConnListener struct {
	net.Listener
	once   sync.Once
	done   atomic.Bool
	closed chan struct{}
	wrap   func(net.Conn) net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if l.done.Swap(true) {
		<-l.closed
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	_ = l.Listener.Close() // one data path, one connection
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
