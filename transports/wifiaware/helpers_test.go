package wifiaware

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// TestMain checks for leaked goroutines. net/http keeps a connection it closed after an
// error answer for up to 500 ms (rstAvoidanceDelay), so goleak retries for a few seconds.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if err = goleak.Find(); err == nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// engagementBytes builds a DeviceEngagement offering Wi-Fi Aware with o, and returns it
// with its EDeviceKeyBytes.
func engagementBytes(t testing.TB, o messages.WiFiAwareOptions) (de, ek []byte) {
	t.Helper()
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := messages.EncodeToCBOR(k.COSEKey())
	if err != nil {
		t.Fatal(err)
	}
	e := messages.Engagement{Version: "1.0", Security: messages.Security{CipherSuite: messages.CipherSuite1, KeyBytes: enc},
		DeviceRetrievalMethods: []messages.RetrievalMethod{messages.NewWiFiAwareMethod(o)}}
	b, err := e.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b, enc.Raw()
}

func testConfig() Config {
	return Config{DiscoveryTimeout: 2 * time.Second, ResponseTimeout: 5 * time.Second, IOTimeout: 2 * time.Second}
}

// pair engages one holder with a fresh lane and accepts it.
func pair(t testing.TB, n *Network, o messages.WiFiAwareOptions, f Faults) (*transports.Arrival, transports.Conn) {
	t.Helper()
	lane := t.Name()
	l, err := n.Listen(lane, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	de, _ := engagementBytes(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := n.Engage(ctx, lane, de, []byte{0xf6}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	a, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Conn.Close() })
	return a, h
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustWrite(t testing.TB, c transports.Conn, msg []byte) {
	t.Helper()
	if err := c.WriteFrame(ctxT(t), msg); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func mustRead(t testing.TB, c transports.Conn) []byte {
	t.Helper()
	m, err := c.ReadFrame(ctxT(t))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
