package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// BenchmarkWebSocketSessionsOpen opens WEB_BENCH_SESSIONS (default 50,000) concurrent
// WebSocket sessions in this process and keeps them idle: each holder has sent its
// MessageData and waits; the reader side holds each arrival the way the engine's link
// does (one goroutine blocked in ReadFrame), without running the session crypto. It
// reports the heap and stacks per session (holder and reader sides together, both being
// in this process) and the RSS growth per session. Over TCP on loopback (the default),
// clients dial from 127.0.0.2-9 so that the ephemeral ports of one source address do not
// run out, and RLIMIT_NOFILE is raised for the two descriptors per session; when the
// hard limit forbids that (no CAP_SYS_RESOURCE), or with WEB_BENCH_NET=pipe, the
// connections are in-memory pipes (net.Pipe) under the same HTTP and WebSocket stacks,
// which leaves out the kernel's socket buffers. Run with -benchtime=1x.
// WEB_BENCH_HEAP_PROFILE=FILE writes a heap profile while the sessions are open.
func BenchmarkWebSocketSessionsOpen(b *testing.B) {
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("WEB_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	pipes := os.Getenv("WEB_BENCH_NET") == "pipe"
	if !pipes {
		want := uint64(2*n + 1000)
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < want {
			lim.Cur = max(want, lim.Cur)
			if lim.Max < want {
				lim.Max = want
			}
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
				// no CAP_SYS_RESOURCE: go as high as the hard limit allows, or use pipes
				_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
				lim.Cur = lim.Max
				_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
				b.Logf("RLIMIT_NOFILE cannot be raised to %d (%v); hard limit %d: sessions over in-memory pipes", want, err, lim.Max)
				pipes = true
			}
		}
	}
	for range b.N {
		openSessions(b, n, pipes)
	}
}

// pipeListener is a net.Listener whose connections are in-memory pipes: the HTTP and
// WebSocket stacks run unchanged, without file descriptors.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func openSessions(b *testing.B, n int, pipes bool) {
	var ln net.Listener
	var pl *pipeListener
	if pipes {
		pl = newPipeListener()
		ln = pl
	} else {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := web.NewServer(web.Config{Origin: "http://" + ln.Addr().String(), Backlog: 4096, MaxPending: n + 10,
		EngagementTTL: time.Hour, PingInterval: -1, SessionsPerClient: -1}) // 8 client addresses hold them all
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()

	// reader side: hold every arrival in ReadFrame until it closes
	var readers sync.WaitGroup
	var arrived atomic.Int64
	readers.Add(1)
	go func() {
		defer readers.Done()
		l := srv.WebSocketListener()
		for {
			a, err := l.Accept(context.Background())
			if err != nil {
				return
			}
			arrived.Add(1)
			readers.Add(1)
			go func(c transports.Conn) {
				defer readers.Done()
				for {
					if _, err := c.ReadFrame(context.Background()); err != nil {
						c.Close()
						return
					}
				}
			}(a.Conn)
		}
	}()

	k, _ := keys.Generate(messages.CurveP256, nil)
	de, _ := messages.NewEngagement(k.COSEKey())
	deb, _ := messages.Marshal(de)
	md, _ := messages.Marshal(messages.MessageData{DeviceEngagementBytes: messages.NewEncodedCBOR(deb)})

	clients := make([]*http.Client, 8)
	for i := range clients {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		dial := d.DialContext
		if pipes {
			dial = pl.dial
		}
		clients[i] = &http.Client{Transport: &http.Transport{DialContext: dial}}
	}
	engagements := make([]*web.Engagement, n)
	for i := range engagements {
		if engagements[i], err = srv.NewEngagement(); err != nil {
			b.Fatal(err)
		}
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := rss()
	goBefore := runtime.NumGoroutine()
	start := time.Now()
	b.ResetTimer()

	conns := make([]transports.Conn, n)
	var holders sync.WaitGroup
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var dialers sync.WaitGroup
	for w := 0; w < 128; w++ {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := web.Dial(context.Background(), engagements[i].SessionURL, md,
					web.DialOptions{WebSocket: true, Client: clients[i%len(clients)]})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c
				holders.Add(1)
				go func() { // the holder waits for the reader, answering pings
					defer holders.Done()
					for {
						if _, err := c.ReadFrame(context.Background()); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	dialers.Wait()
	for arrived.Load()+failed.Load() < int64(n) && time.Since(start) < time.Minute {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	open := arrived.Load()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rssAfter := rss()
	if f := os.Getenv("WEB_BENCH_HEAP_PROFILE"); f != "" { // what holds the sessions' memory, by side
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(out); err != nil {
			b.Fatal(err)
		}
		out.Close()
	}
	mem := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	if open > 0 {
		b.ReportMetric(mem/float64(open), "B/session")
		b.ReportMetric(float64(rssAfter-rssBefore)/float64(open), "RSS-B/session")
		b.ReportMetric(float64(runtime.NumGoroutine()-goBefore)/float64(open), "goroutines/session")
		b.ReportMetric(float64(open), "sessions")
		b.ReportMetric(float64(open)/elapsed.Seconds(), "opened/s")
	}
	if failed.Load() > 0 {
		b.Errorf("%d of %d dials failed, first: %v", failed.Load(), n, firstErr.Load())
	}
	b.Logf("%d sessions open (pipes %v) in %s: heap+stack %.0f B/session, RSS %.0f B/session, goroutines %d",
		open, pipes, elapsed.Round(time.Millisecond), mem/float64(max(open, 1)), float64(rssAfter-rssBefore)/float64(max(open, 1)),
		runtime.NumGoroutine())

	// tear down
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	srv.Close()
	<-served
	readers.Wait()
	holders.Wait()
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return kb * 1024
		}
	}
	return 0
}
