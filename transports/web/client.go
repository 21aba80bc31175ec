package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// The holder's side: parse what the reader handed out, dial the session URL, talk.

// ParseLink decodes an engagement as handed out: an "mdoc://" deep link, the QR text
// ("mdoc:" or "mdoc://"), or a universal link "https://host/engage?re=...". It returns the
// ReaderEngagement bytes exactly as carried (for the transcript) and the URL of its HTTP
// retrieval method.
func ParseLink(link string) (readerEngagement []byte, sessionURL string, err error) {
	link = strings.TrimSpace(link)
	if low := strings.ToLower(link); strings.HasPrefix(low, "https://") || strings.HasPrefix(low, "http://") {
		if len(link) > messages.MaxEngagementURILength {
			return nil, "", errors.New("web: link too long")
		}
		u, err := url.Parse(link)
		if err != nil {
			return nil, "", fmt.Errorf("web: link: %w", err)
		}
		re := u.Query().Get("re")
		if re == "" {
			return nil, "", errors.New("web: universal link without re parameter")
		}
		link = qr.WebsiteEngagementPrefix + re
	}
	e, raw, err := qr.ParseReaderEngagementQR(link)
	if err != nil {
		return nil, "", err
	}
	for i := range e.DeviceRetrievalMethods {
		m := &e.DeviceRetrievalMethods[i]
		if m.Type != messages.RetrievalHTTP {
			continue
		}
		o, err := m.HTTP()
		if err != nil {
			return nil, "", err
		}
		u, err := url.Parse(o.URI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, "", fmt.Errorf("web: retrieval URI %q is not http(s)", o.URI)
		}
		return raw, o.URI, nil
	}
	return nil, "", errors.New("web: reader engagement has no HTTP retrieval method")
}

// FetchEngagement asks a reader at baseURL (its origin) for a new engagement
// (GET /engage; with a QR code PNG when withQR). ReaderEngagement is decoded from the
// mdoc:// link.
func FetchEngagement(ctx context.Context, hc *http.Client, baseURL string, withQR bool) (*Engagement, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	u := strings.TrimSuffix(baseURL, "/") + EngagePath
	if withQR {
		u += "?qr=png"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		return nil, fmt.Errorf("%w: %s", transports.ErrBusy, strings.TrimSpace(string(body)))
	default:
		return nil, fmt.Errorf("web: GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	var e Engagement
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("web: engagement JSON: %w", err)
	}
	if e.ReaderEngagement, _, err = ParseLink(e.MdocURI); err != nil {
		return nil, err
	}
	return &e, nil
}

// DialOptions are the holder's options for Dial.
type DialOptions struct {
	// WebSocket dials the session URL as a WebSocket (ws/wss) instead of POSTing.
	WebSocket bool
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	// IdleTimeout (HTTP) ends a ReadFrame that waits with no request outstanding: the
	// reader cannot push over HTTP, so a holder waiting for nothing gives up after it
	// (default 2 min).
	IdleTimeout time.Duration
	// ResponseTimeout bounds one POST including the reader's answer (default 3 min).
	ResponseTimeout time.Duration
}

// Dial sends the holder's first message (MessageData) to sessionURL and returns the
// holder's side of the session: its first ReadFrame returns the reader's answer. It fails
// with an error matching transports.ErrBusy when the reader is busy, and with another
// error when the reader refused the message; when the reader took the message and ended
// the session at once, the Conn is returned already closed.
func Dial(ctx context.Context, sessionURL string, firstMessage []byte, opts DialOptions) (transports.Conn, error) {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.ResponseTimeout <= 0 {
		opts.ResponseTimeout = 3 * time.Minute
	}
	if opts.WebSocket {
		return dialWebSocket(ctx, sessionURL, firstMessage, opts)
	}
	c := &httpHolderConn{hc: opts.Client, url: sessionURL, idle: opts.IdleTimeout, respTO: opts.ResponseTimeout,
		inbox: make(chan []byte, 2), done: make(chan struct{})}
	if err := c.post(ctx, firstMessage, true); err != nil {
		if errors.Is(err, errSessionGone) {
			return c, nil
		}
		return nil, err
	}
	return c, nil
}

func dialWebSocket(ctx context.Context, sessionURL string, firstMessage []byte, opts DialOptions) (transports.Conn, error) {
	u := sessionURL
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + u[len("https://"):]
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + u[len("http://"):]
	}
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: opts.Client, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			return nil, fmt.Errorf("%w: %v", transports.ErrBusy, err)
		}
		return nil, fmt.Errorf("web: dial %s: %w", u, err)
	}
	c.SetReadLimit(messages.MaxMessageSize)
	w := newWSConn(c, nil, "reader", opts.ResponseTimeout, 0, 0, nil)
	if err := w.WriteFrame(ctx, firstMessage); err != nil {
		_ = c.CloseNow()
		return nil, err
	}
	return &wsHolderConn{wsConn: w}, nil
}

// wsHolderConn maps the reader's "busy" close to transports.ErrBusy.
type wsHolderConn struct{ *wsConn }

func (w *wsHolderConn) ReadFrame(ctx context.Context) ([]byte, error) {
	b, err := w.wsConn.ReadFrame(ctx)
	if err != nil && (strings.Contains(err.Error(), "(1000 ") || strings.Contains(err.Error(), "(1001 ")) {
		return nil, fmt.Errorf("%w (%v)", ErrSessionEnded, err)
	}
	if err != nil && strings.Contains(err.Error(), "(1013 ") {
		return nil, fmt.Errorf("%w: %v", transports.ErrBusy, err)
	}
	return b, err
}

var errSessionGone = errors.New("web: session ended")

// ErrSessionEnded is the holder's read error once the reader closed the session without
// a further message: HTTP 410, or a WebSocket close 1000 or 1001. It matches
// transports.ErrClosed too.
var ErrSessionEnded = fmt.Errorf("%w: reader ended the session", transports.ErrClosed)

// httpHolderConn is the holder's side over HTTP: WriteFrame POSTs a message and queues
// the answer for ReadFrame.
type httpHolderConn struct {
	hc     *http.Client
	url    string
	idle   time.Duration
	respTO time.Duration

	inbox       chan []byte
	outstanding atomic.Int32
	ended       atomic.Bool // the reader ended the session: no DELETE needed
	done        chan struct{}
	once        sync.Once
	err         error
}

func (c *httpHolderConn) MaxFrameSize() int { return messages.MaxMessageSize }

func (c *httpHolderConn) closeWith(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
	})
}

// post sends one message and queues the answer.
func (c *httpHolderConn) post(ctx context.Context, msg []byte, first bool) error {
	c.outstanding.Add(1)
	defer c.outstanding.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, c.respTO)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: POST: %v", transports.ErrClosed, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, messages.MaxMessageSize+1))
	if err != nil {
		return fmt.Errorf("%w: reading answer: %v", transports.ErrClosed, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK && len(body) > 0 && len(body) <= messages.MaxMessageSize:
		if st := statusOf(body); st == messages.StatusSessionTermination || st == messages.StatusSessionEncryptionError ||
			st == messages.StatusCBORDecodingError {
			c.ended.Store(true)
		}
		select {
		case c.inbox <- body:
			return nil
		default:
			return errors.New("web: answers not read")
		}
	case resp.StatusCode == http.StatusGone:
		c.ended.Store(true)
		c.closeWith(ErrSessionEnded)
		return errSessionGone
	case resp.StatusCode == http.StatusServiceUnavailable:
		c.ended.Store(true)
		err := fmt.Errorf("%w: %s", transports.ErrBusy, strings.TrimSpace(string(body)))
		c.closeWith(err)
		return err
	default:
		if !first {
			c.ended.Store(true) // the reader ends the session on its own errors
		}
		err := fmt.Errorf("web: POST %s: %s: %s", c.url, resp.Status, strings.TrimSpace(string(body)))
		c.closeWith(fmt.Errorf("%w: %v", transports.ErrClosed, err))
		return err
	}
}

// WriteFrame POSTs frame and waits for the reader's answer, which the next ReadFrame
// returns.
func (c *httpHolderConn) WriteFrame(ctx context.Context, frame []byte) error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	err := c.post(ctx, frame, false)
	if errors.Is(err, errSessionGone) {
		return nil // the reader took it and ended; ReadFrame reports the end
	}
	return err
}

// ReadFrame returns the reader's next answer. With no request outstanding for
// IdleTimeout it ends the connection.
func (c *httpHolderConn) ReadFrame(ctx context.Context) ([]byte, error) {
	t := time.NewTimer(c.idle)
	defer t.Stop()
	for {
		select {
		case m := <-c.inbox:
			return m, nil
		case <-c.done:
			select {
			case m := <-c.inbox:
				return m, nil
			default:
				return nil, c.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			if c.outstanding.Load() > 0 {
				t.Reset(c.idle)
				continue
			}
			c.ended.Store(true) // the reader has given up by now as well; nothing to tell it
			c.closeWith(fmt.Errorf("%w: nothing from the reader for %s", transports.ErrClosed, c.idle))
		}
	}
}

// Close ends the holder's side; when the reader has not ended the session it is told
// with DELETE (bounded to 2 s).
func (c *httpHolderConn) Close() error {
	first := false
	c.once.Do(func() {
		first = true
		c.err = transports.ErrClosed
		close(c.done)
	})
	if first && !c.ended.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
		if err == nil {
			if resp, err := c.hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	return nil
}
