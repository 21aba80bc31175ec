package wifiaware

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
)

// FrameBytes is the TCP payload of one modelled 802.11 frame on the data path: the IPv6
// MSS of a 1500-byte MTU. Faults.DisconnectAfterFrames counts in these units.
const FrameBytes = 1440

// errLinkDown is what the holder's side of a faulted data path reports.
var errLinkDown = errors.New("wifiaware: data path broken by fault injection")

// Faults are the faults injected on one holder's data path (on the holder's server side
// of the real TCP connection). The zero value injects none.
type Faults struct {
	// Drop is the probability, per session message (each POST body the holder receives
	// and each answer it sends), that the TCP connection is reset part-way through that
	// body: a received body is dropped after it arrived, an answer is cut at a random
	// offset.
	Drop float64
	// DisconnectAfterFrames resets the TCP connection once that many frames have crossed
	// it, both directions together: each send or receive of n bytes of TCP payload (HTTP
	// headers and bodies) is ceil(n/FrameBytes) frames. The frame that reaches the limit
	// is the last one passed on, then the connection is reset (the peer may lose data
	// still in flight, as with a real reset). 0 means never.
	DisconnectAfterFrames int
	// Seed seeds the Drop decisions and cut offsets.
	Seed uint64
}

// faultModel applies Faults to one data path.
type faultModel struct {
	f      Faults
	mu     sync.Mutex
	rng    *rand.Rand
	budget int64 // frames left before the disconnect; <0 means unlimited
	conn   *faultConn
}

func newFaultModel(f Faults) *faultModel {
	m := &faultModel{f: f, rng: rand.New(rand.NewPCG(f.Seed, 0x77696669)), budget: -1}
	if f.DisconnectAfterFrames > 0 {
		m.budget = int64(f.DisconnectAfterFrames)
	}
	return m
}

func (m *faultModel) wrap(c net.Conn) net.Conn {
	fc := &faultConn{Conn: c, m: m}
	m.mu.Lock()
	m.conn = fc
	m.mu.Unlock()
	return fc
}

// dropBody decides whether a received body is dropped.
func (m *faultModel) dropBody() bool {
	if m.f.Drop <= 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rng.Float64() < m.f.Drop
}

// cut decides whether an n-byte answer is cut, and after how many bytes.
func (m *faultModel) cut(n int) (int, bool) {
	if m.f.Drop <= 0 || n == 0 {
		return n, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rng.Float64() >= m.f.Drop {
		return n, false
	}
	return m.rng.IntN(n), true
}

// take accounts a send or receive of n bytes, which is ceil(n/FrameBytes) frames (the
// kernel cuts one send into MSS-sized segments), and reports how many bytes may pass:
// all of them until the frame that reaches the limit, none after.
func (m *faultModel) take(n int) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.budget < 0 {
		return n, true
	}
	frames := int64((n + FrameBytes - 1) / FrameBytes)
	if frames < m.budget {
		m.budget -= frames
		return n, true
	}
	ok := min(int64(n), m.budget*FrameBytes)
	m.budget = 0
	return int(ok), false
}

// killConn resets the data path's TCP connection.
func (m *faultModel) killConn() {
	m.mu.Lock()
	c := m.conn
	m.mu.Unlock()
	if c != nil {
		c.kill()
	}
}

// faultConn is the holder's end of the data path with the disconnect budget applied.
type faultConn struct {
	net.Conn
	m    *faultModel
	once sync.Once
}

func (c *faultConn) kill() {
	c.once.Do(func() {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, as a vanished peer looks
		}
		_ = c.Conn.Close()
	})
}

func (c *faultConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if k, ok := c.m.take(n); !ok {
			c.kill()
			return k, errLinkDown
		}
	}
	return n, err
}

func (c *faultConn) Write(p []byte) (int, error) {
	k, ok := c.m.take(len(p))
	if !ok {
		n, _ := c.Conn.Write(p[:k])
		c.kill()
		return n, errLinkDown
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() { err = c.Conn.Close() })
	return err
}
