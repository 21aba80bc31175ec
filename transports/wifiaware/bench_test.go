package wifiaware

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/messages"
)

// BenchmarkSessionTCP runs whole sessions over the real TCP path: discovery, data path
// (PBKDF2 on both sides), a 900-byte request, a 3 KB answer, a termination, teardown.
func BenchmarkSessionTCP(b *testing.B) {
	n := NewNetwork(testConfig())
	defer n.Close()
	l, err := n.Listen("bench", 4)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	req, ans, term := bytes.Repeat([]byte{1}, 900), bytes.Repeat([]byte{2}, 3000), []byte{0xa1, 0x66, 0x14}
	de, _ := engagementBytes(b, messages.WiFiAwareOptions{})
	ctx := context.Background()
	start := time.Now()
	sessions := 0
	for b.Loop() {
		h, err := n.Engage(ctx, "bench", de, []byte{0xf6}, Faults{})
		if err != nil {
			b.Fatal(err)
		}
		a, err := l.Accept(ctx)
		if err != nil {
			b.Fatal(err)
		}
		r := a.Conn
		if err := r.WriteFrame(ctx, req); err != nil {
			b.Fatal(err)
		}
		if _, err := h.ReadFrame(ctx); err != nil {
			b.Fatal(err)
		}
		if err := h.WriteFrame(ctx, ans); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadFrame(ctx); err != nil {
			b.Fatal(err)
		}
		if err := r.WriteFrame(ctx, term); err != nil {
			b.Fatal(err)
		}
		if _, err := h.ReadFrame(ctx); err != nil {
			b.Fatal(err)
		}
		h.Close()
		r.Close()
		sessions++
	}
	b.ReportMetric(float64(sessions)/time.Since(start).Seconds(), "sessions/s")
}
