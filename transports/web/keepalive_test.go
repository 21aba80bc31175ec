package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports/web"
)

// A holder that answers pings keeps its session past several ping periods; one that
// stops reading (so never pongs) is dropped and its session ends with an error.
func TestKeepalive(t *testing.T) {
	r := startReader(t, web.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond})

	// alive: a holder reading all along, slow to answer
	e := r.engagement(t, false)
	h := reverseHolder(t, e, r.base)
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// keep reading (answers pings) while "thinking" for 6 ping periods
	next := make(chan error, 1)
	go func() {
		_, err := conn.ReadFrame(context.Background()) // status 20 or the reader's close
		next <- err
	}()
	time.Sleep(300 * time.Millisecond)
	st := h.Receive(msg)
	if err := conn.WriteFrame(context.Background(), st.Send); err != nil {
		t.Fatalf("session dropped although the holder answered pings: %v", err)
	}
	if v := r.verdict(t); v.Outcome != readersession.Accepted {
		t.Fatalf("verdict %s (%s): %s", v.Outcome, v.Reason, v.Detail)
	}
	if err := <-next; err != nil {
		t.Fatalf("after the response: %v", err)
	}
	conn.Close()

	// dead: a raw client that sends its MessageData and never reads again
	e = r.engagement(t, false)
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.SessionURL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(context.Background(), websocket.MessageBinary, reverseHolder(t, e, r.base).FirstMessage()); err != nil {
		t.Fatal(err)
	}
	v := r.verdict(t)
	if v.Outcome != readersession.Error || v.Reason != "link" {
		t.Fatalf("dead holder: verdict %s (%s): %s", v.Outcome, v.Reason, v.Detail)
	}
}
