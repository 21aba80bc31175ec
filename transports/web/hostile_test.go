package web_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

func post(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func reverseHolder(t *testing.T, e *web.Engagement, origin string) *holdersession.Session {
	t.Helper()
	h, err := holdersession.NewReverse(getWorld(t).holder(), e.ReaderEngagement, origin)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHTTPErrors(t *testing.T) {
	r := startReader(t, web.Config{})
	e := r.engagement(t, false)
	valid := reverseHolder(t, e, r.base).FirstMessage()

	for name, tc := range map[string]struct {
		method, url, ct string
		body            []byte
		want            int
	}{
		"PUT session":        {http.MethodPut, e.SessionURL, web.ContentType, valid, http.StatusMethodNotAllowed},
		"POST engage":        {http.MethodPost, r.base + "/engage", web.ContentType, nil, http.StatusMethodNotAllowed},
		"plain GET session":  {http.MethodGet, e.SessionURL, "", nil, http.StatusMethodNotAllowed},
		"wrong content type": {http.MethodPost, e.SessionURL, "application/json", valid, http.StatusUnsupportedMediaType},
		"no content type":    {http.MethodPost, e.SessionURL, "", valid, http.StatusUnsupportedMediaType},
		"empty body":         {http.MethodPost, e.SessionURL, web.ContentType, nil, http.StatusBadRequest},
		"malformed CBOR":     {http.MethodPost, e.SessionURL, web.ContentType, []byte{0xff, 0x00, 0x13}, http.StatusBadRequest},
		"not MessageData":    {http.MethodPost, e.SessionURL, web.ContentType, []byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x41, 0}, http.StatusBadRequest},
		"bad engagement":     {http.MethodPost, e.SessionURL, web.ContentType, mustCBOR(t, map[string]any{"deviceEngagementBytes": cbor.Tag{Number: 24, Content: []byte{0xa0}}}), http.StatusBadRequest},
		"unknown session":    {http.MethodPost, r.base + "/session/nope", web.ContentType, valid, http.StatusNotFound},
		"bad universal link": {http.MethodGet, r.base + "/engage?re=AAAA", "", nil, http.StatusBadRequest},
		"oversized":          {http.MethodPost, e.SessionURL, web.ContentType, make([]byte, messages.MaxMessageSize+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.url, bytes.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: want %d (%s)", resp.Status, tc.want, b)
			}
		})
	}

	// oversized without Content-Length (chunked): cut at the limit
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for n := 0; n <= messages.MaxMessageSize; n += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, e.SessionURL, pr)
	req.Header.Set("Content-Type", web.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize: %s", resp.Status)
	}

	// after all that the engagement still works
	if err := webholder.Present(context.Background(), e.MdocURI, getWorld(t).holder(), "", web.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	expectAccepted(t, r)
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSlowClient(t *testing.T) {
	r := startReader(t, web.Config{BodyTimeout: 200 * time.Millisecond})
	e := r.engagement(t, false)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := strings.TrimPrefix(e.SessionURL, r.base)
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: 1000\r\n\r\n", path)
	conn.Write([]byte{0xa1}) // and nothing more
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || time.Since(start) > 2*time.Second {
		t.Fatalf("slow body: %s after %s", resp.Status, time.Since(start))
	}
	// meanwhile others are served
	if err := webholder.Present(context.Background(), e.MdocURI, getWorld(t).holder(), "", web.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	expectAccepted(t, r)
	hs := r.srv.HTTPServer()
	if hs.ReadHeaderTimeout <= 0 || hs.MaxHeaderBytes <= 0 {
		t.Fatal("no header timeout or limit")
	}
}

func TestReplayAndOrigin(t *testing.T) {
	r := startReader(t, web.Config{})

	// OriginInfo naming another origin: 403, and the engagement ends with a verdict (a
	// rejection under the engagement's id), so a later holder finds it gone
	e := r.engagement(t, false)
	evil := reverseHolder(t, e, "https://evil.example")
	if code, body := post(t, e.SessionURL, web.ContentType, evil.FirstMessage()); code != http.StatusForbidden {
		t.Fatalf("foreign origin: %d %s", code, body)
	}
	if v, id := r.verdict(t), <-r.ids; v.Outcome != readersession.Rejected || v.Reason != web.ReasonOriginMismatch || id != e.ID {
		t.Fatalf("refused origin: %s (%s) under %q, engagement %q", v.Outcome, v.Reason, id, e.ID)
	}
	if code, _ := post(t, e.SessionURL, web.ContentType, reverseHolder(t, e, r.base).FirstMessage()); code != http.StatusNotFound {
		t.Fatalf("after the refusal: %d", code)
	}

	e = r.engagement(t, false)
	h := reverseHolder(t, e, r.base)
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if id := <-r.ids; id != e.ID {
		t.Fatalf("session id %q, engagement %q", id, e.ID)
	}
	first, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// a retried identical first message (its answer lost) gets the very same answer, and
	// does not disturb the session
	resp, err := http.Post(e.SessionURL, web.ContentType, bytes.NewReader(h.FirstMessage()))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(again, first) {
		t.Fatalf("retried first message: %d, same answer %v", resp.StatusCode, bytes.Equal(again, first))
	}
	// a WebSocket on the same session is refused
	_, wresp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.SessionURL, "http"), nil)
	if err == nil || wresp == nil || wresp.StatusCode != http.StatusConflict {
		t.Fatalf("second bearer: %v", err)
	}
	for msg := first; ; {
		st := h.Receive(msg)
		if st.Send != nil {
			if err := conn.WriteFrame(context.Background(), st.Send); err != nil {
				t.Fatal(err)
			}
		}
		if st.Done {
			break
		}
		if msg, err = conn.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	expectAccepted(t, r)
	// and after the session, its URL is gone
	if code, _ := post(t, e.SessionURL, web.ContentType, h.FirstMessage()); code != http.StatusNotFound {
		t.Fatalf("after the session: %d", code)
	}

	// another MessageData in an engaged session: a termination status, and the session ends
	e = r.engagement(t, false)
	h = reverseHolder(t, e, r.base)
	conn2, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	<-r.ids
	if _, err := conn2.ReadFrame(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := reverseHolder(t, e, r.base).FirstMessage()
	resp, err = http.Post(e.SessionURL, web.ContentType, bytes.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sd, err := messages.DecodeSessionData(body)
	if resp.StatusCode != http.StatusOK || err != nil || sd.Status == nil || *sd.Status != messages.StatusSessionTermination {
		t.Fatalf("another MessageData: %d %x (%v)", resp.StatusCode, body, err)
	}
	if v := r.verdict(t); v.Outcome != readersession.Error {
		t.Fatalf("after another MessageData: %s (%s)", v.Outcome, v.Reason)
	}
}

// A holder answering with the transcript of another engagement: the reader cannot
// decrypt, ends the session with an error; the other session is unaffected.
func TestForeignTranscript(t *testing.T) {
	r := startReader(t, web.Config{})
	a, b := r.engagement(t, false), r.engagement(t, false)
	h := reverseHolder(t, a, r.base)                                                               // keys from a's engagement ...
	conn, err := web.Dial(context.Background(), b.SessionURL, h.FirstMessage(), web.DialOptions{}) // ... talking to b
	if err != nil {
		t.Fatal(err)
	}
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := h.Receive(msg) // cannot decrypt: status 10
	if st.Send == nil || !st.Done {
		t.Fatalf("holder step %+v", st)
	}
	_ = conn.WriteFrame(context.Background(), st.Send)
	conn.Close()
	v := r.verdict(t)
	if v.Outcome != readersession.Error {
		t.Fatalf("foreign transcript verdict %s (%s)", v.Outcome, v.Reason)
	}
	// a is still usable by its rightful holder
	if err := webholder.Present(context.Background(), a.MdocURI, getWorld(t).holder(), "", web.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	expectAccepted(t, r)
	// a reader engagement this server never made
	k, _ := keys.Generate(messages.CurveP256, nil)
	fake, _ := messages.NewEngagement(k.COSEKey(), messages.NewHTTPMethod(a.SessionURL))
	fake.Version = "1.1"
	fb, _ := messages.Marshal(fake)
	h2, _ := holdersession.NewReverse(getWorld(t).holder(), fb, r.base)
	if code, _ := post(t, a.SessionURL, web.ContentType, h2.FirstMessage()); code != http.StatusNotFound {
		t.Fatalf("used session: %d", code)
	}
}

func TestWebSocketErrors(t *testing.T) {
	r := startReader(t, web.Config{BodyTimeout: 300 * time.Millisecond})
	dial := func(e *web.Engagement) *websocket.Conn {
		for i := 0; ; i++ {
			// 409 while the previous attempt's handler still holds the session
			c, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.SessionURL, "http"), nil)
			if err == nil {
				return c
			}
			if resp == nil || resp.StatusCode != http.StatusConflict || i == 100 {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	closeCode := func(c *websocket.Conn) websocket.StatusCode {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := c.Read(ctx)
		c.CloseNow()
		return websocket.CloseStatus(err)
	}
	e := r.engagement(t, false)
	c := dial(e)
	c.Write(context.Background(), websocket.MessageText, []byte("hello"))
	if got := closeCode(c); got != websocket.StatusUnsupportedData {
		t.Fatalf("text: close %d", got)
	}
	c = dial(e)
	c.Write(context.Background(), websocket.MessageBinary, []byte{0xff, 0xff})
	if got := closeCode(c); got != websocket.StatusPolicyViolation {
		t.Fatalf("malformed: close %d", got)
	}
	c = dial(e)
	c.Write(context.Background(), websocket.MessageBinary, reverseHolder(t, e, "https://evil.example").FirstMessage())
	if got := closeCode(c); got != websocket.StatusPolicyViolation {
		t.Fatalf("origin: close %d", got)
	}
	// the refused origin ended the engagement with a verdict under its id
	if v, id := r.verdict(t), <-r.ids; v.Reason != web.ReasonOriginMismatch || id != e.ID {
		t.Fatalf("refused origin: %s (%s) under %q", v.Outcome, v.Reason, id)
	}
	e = r.engagement(t, false)
	c = dial(e)
	c.Write(context.Background(), websocket.MessageBinary, make([]byte, messages.MaxMessageSize+1))
	// 1009, or a reset when the reader closes while the client still writes
	if got := closeCode(c); got != websocket.StatusMessageTooBig && got != -1 {
		t.Fatalf("oversized: close %d", got)
	}
	c = dial(e) // silent: cut off after BodyTimeout
	start := time.Now()
	closeCode(c)
	if time.Since(start) > 3*time.Second {
		t.Fatal("silent WebSocket not cut off")
	}
	// still usable (once the last attempt's handler let go of it)
	for i := 0; ; i++ {
		err := webholder.Present(context.Background(), e.MdocURI, getWorld(t).holder(), "", web.DialOptions{WebSocket: true})
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "409") || i == 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	expectAccepted(t, r)
	// an oversized message in the middle of a session ends that session only
	e2 := r.engagement(t, false)
	h := reverseHolder(t, e2, r.base)
	conn, err := web.Dial(context.Background(), e2.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ReadFrame(context.Background()); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, messages.MaxMessageSize)
	_ = conn.WriteFrame(context.Background(), big)
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sd, err := messages.DecodeSessionData(msg); err != nil || sd.Status == nil || *sd.Status != messages.StatusCBORDecodingError {
		t.Fatalf("after garbage: %x", msg)
	}
	_, err = conn.ReadFrame(context.Background())
	if !errors.Is(err, transports.ErrClosed) || !strings.Contains(err.Error(), "(1003 ") {
		t.Fatalf("after status 11: %v", err)
	}
	conn.Close()
	if v := r.verdict(t); v.Outcome != readersession.Error || v.Reason != readersession.ReasonCBORDecoding {
		t.Fatalf("verdict %s (%s): %s", v.Outcome, v.Reason, v.Detail)
	}
}

func TestCloseCodes(t *testing.T) {
	for status, want := range map[int64]websocket.StatusCode{20: 1000, 10: 1008, 11: 1003, -1: 1001} {
		if got := web.CloseCode(status); got != want {
			t.Fatalf("status %d: %d, want %d", status, got, want)
		}
	}
}

// Flood: many engagements and half-open sessions stay bounded by MaxPending and expire.
func TestBoundedPending(t *testing.T) {
	// one client asks for all of them: no per-client rate here
	r := startReader(t, web.Config{MaxPending: 50, EngagementTTL: 200 * time.Millisecond, EngagementsPerSecond: -1})
	for i := 0; i < 50; i++ {
		r.engagement(t, false)
	}
	if _, err := web.FetchEngagement(context.Background(), nil, r.base, false); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("over MaxPending: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	e := r.engagement(t, false) // sweeps the expired ones
	if n := r.srv.Pending(); n != 1 {
		t.Fatalf("%d pending after expiry", n)
	}
	if err := webholder.Present(context.Background(), e.MdocURI, getWorld(t).holder(), "", web.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	expectAccepted(t, r)
}

// Status 10 from the holder over WebSocket terminates the session: the reader closes
// as that status says (1008, naming it), not as a session that ended without a
// terminating status (1001).
func TestWebSocketHolderStatus10(t *testing.T) {
	r := startReader(t, web.Config{})
	a, b := r.engagement(t, false), r.engagement(t, false)
	h := reverseHolder(t, a, r.base) // keys of a, talking to b: it cannot decrypt b's request
	c, _, err := websocket.Dial(context.Background(), b.WebSocketURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, h.FirstMessage()); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := h.Receive(msg)
	sd, err := messages.DecodeSessionData(st.Send)
	if err != nil || sd.Status == nil || *sd.Status != messages.StatusSessionEncryptionError {
		t.Fatalf("holder sends %x (%v), want status 10", st.Send, err)
	}
	if err := c.Write(ctx, websocket.MessageBinary, st.Send); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "status 10") {
		t.Fatalf("close %v, want 1008 naming status 10", err)
	}
	if v := r.verdict(t); v.Outcome != readersession.Error || v.Reason != readersession.ReasonPeerStatus {
		t.Fatalf("verdict %s (%s)", v.Outcome, v.Reason)
	}
}
