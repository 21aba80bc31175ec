package wifiaware

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/messages"
)

func FuzzNANMessages(f *testing.F) {
	fr := Frame{Type: FrameFollowUp, Service: ServiceIDOf("svc"), Src: NMI{2, 0, 0, 0, 0, 1}, Dst: NMI{2, 0, 0, 0, 0, 2},
		SrcInstance: 1, DstInstance: 2, Payload: msgHelloPub}
	b, _ := fr.Marshal()
	f.Add(b)
	req := ndpRequest{}
	fr.Type, fr.Payload = FrameNDPRequest, req.marshal()
	b, _ = fr.Marshal()
	f.Add(b)
	resp := ndpResponse{Status: ndpAccepted}
	fr.Type, fr.Payload = FrameNDPResponse, resp.marshal()
	b, _ = fr.Marshal()
	f.Add(b)
	f.Add([]byte{})
	f.Add(make([]byte, nanHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ParseFrame(data)
		if err != nil {
			return
		}
		out, err := fr.Marshal()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("frame does not round-trip: %v", err)
		}
		if r, err := parseNDPRequest(fr.Payload); err == nil && !bytes.Equal(r.marshal(), fr.Payload) {
			t.Fatal("NDP request does not round-trip")
		}
		if r, err := parseNDPResponse(fr.Payload); err == nil {
			r2, err := parseNDPResponse(r.marshal())
			if err != nil || r2 != r {
				t.Fatalf("NDP response not stable: %v", err)
			}
		}
	})
}

// FuzzHTTPExchange feeds raw bytes to the holder's HTTP server over a real TCP
// connection (the client half-closes after the input) with an echoing holder behind it,
// and checks what comes back: every 200 carries application/cbor and a message the
// holder actually read; nothing the holder reads is empty or over the limit.
func FuzzHTTPExchange(f *testing.F) {
	post := func(path, ct, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: [::1]:1\r\nContent-Type: " + ct + "\r\nContent-Length: " +
			itoa(len(body)) + "\r\n\r\n" + body
	}
	f.Add([]byte(post("/mdoc", "application/cbor", "\xa1\x01\x02")))
	f.Add([]byte(post("/mdoc", "application/cbor", "\xa1") + post("/mdoc", "application/CBOR", "\xa2")))
	f.Add([]byte(post("/x", "application/cbor", "\xa1")))
	f.Add([]byte(post("/mdoc", "text/plain", "hi")))
	f.Add([]byte(post("/mdoc", "application/cbor", "")))
	f.Add([]byte("GET /mdoc HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /mdoc HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("POST /mdoc HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: 99999999\r\n\r\nab"))
	f.Add([]byte("\x00\xff garbage\r\n\r\n"))

	cfg := Config{DiscoveryTimeout: time.Hour, ResponseTimeout: 200 * time.Millisecond, IOTimeout: 200 * time.Millisecond}
	c := cfg.withDefaults()
	pub, err := NewCluster(NANConfig{}).Publish("fuzz", "pw")
	if err != nil {
		f.Fatal(err)
	}
	h := newHolderConn(&c, pub, Faults{})
	defer h.Close()
	var mu sync.Mutex
	seen := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	echoDone := make(chan struct{})
	go func() { // the holder echoes every message
		defer close(echoDone)
		for {
			m, err := h.ReadFrame(ctx)
			if err != nil {
				return
			}
			if len(m) == 0 || len(m) > messages.MaxMessageSize {
				panic("holder read a message out of bounds")
			}
			mu.Lock()
			seen[string(m)] = true
			mu.Unlock()
			_ = h.WriteFrame(ctx, m)
		}
	}()
	defer func() { cancel(); <-echoDone }()

	f.Fuzz(func(t *testing.T, data []byte) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skip(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(h.handle), ReadHeaderTimeout: c.IOTimeout, MaxHeaderBytes: 8 << 10}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ln) }()
		defer func() { srv.Close(); <-done }()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		go func() {
			_, _ = conn.Write(data)
			_ = conn.(*net.TCPConn).CloseWrite()
		}()
		br := bufio.NewReader(conn)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return
			}
			switch {
			case resp.StatusCode == http.StatusOK:
				if resp.Header.Get("Content-Type") != ContentType || len(body) == 0 {
					t.Fatalf("200 with %q and %d bytes", resp.Header.Get("Content-Type"), len(body))
				}
				mu.Lock()
				ok := seen[string(body)]
				mu.Unlock()
				if !ok {
					t.Fatalf("200 with a body the holder never read: %x", body)
				}
			case resp.StatusCode == http.StatusNoContent:
				if len(body) != 0 {
					t.Fatal("204 with a body")
				}
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
			case resp.StatusCode == 501 || resp.StatusCode == 505: // net/http's own refusals
			default:
				t.Fatalf("unexpected status %s", resp.Status)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
