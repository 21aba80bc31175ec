package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// The gate bench's memory phase: WebSocket sessions held in flight at the gate, each
// waiting on its holder, and what the gate holds for each.

// blockInflight is the loopback /16 the held sessions' holders come from.
const blockInflight = 79

// Where the in-flight memory figures come from (GateBenchReport.InflightMemoryFrom).
const (
	InflightForcedGC   = "heap+stack in use after forced GCs"
	InflightNoForcedGC = "heap+stack in use, no forced GC (the gate's config has no pprof: true)"
)

// gateMemory is one reading of the gate's memory and goroutines.
type gateMemory struct {
	bytes, goroutines, inFlight float64
}

// readGateMemory reads the gate's heap and stacks in use, its goroutines and its
// sessions in flight, after two forced GCs when its ops listener serves pprof (gc): the
// first moves what sync.Pools hold to their victim caches, the second frees it.
func readGateMemory(ctx context.Context, g *gateProcess, gc bool) (gateMemory, error) {
	for range 2 {
		if !gc {
			break
		}
		if err := forceGateGC(ctx, g); err != nil {
			return gateMemory{}, err
		}
	}
	m, err := g.metrics(ctx)
	if err != nil {
		return gateMemory{}, err
	}
	return gateMemory{bytes: m.sum("go_memstats_heap_inuse_bytes", nil) + m.sum("go_memstats_stack_inuse_bytes", nil),
		goroutines: m.sum(metricGoroutines, nil), inFlight: m.sum("mdocgate_sessions_in_flight", nil)}, nil
}

// forceGateGC asks the gate for a heap profile after a GC (/debug/pprof/heap?gc=1);
// errNoPprof when its ops listener does not serve pprof.
func forceGateGC(ctx context.Context, g *gateProcess) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.ops+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w (%s)", errNoPprof, resp.Status)
	}
	return nil
}

var errNoPprof = errors.New("the gate's ops listener serves no /debug/pprof/")

// inflightResult is one in-flight measurement.
type inflightResult struct {
	bytesPerSession, goroutinesPerSession float64
	lost                                  int64
}

// measureInflight opens n WebSocket sessions at the gate, concurrency at a time, each
// holder from its own loopback address (GET /engage, the upgrade with its first message,
// the reader's request read and never answered, so each waits in the gate until its
// inactivity timeout), reads the gate's memory and goroutines per session against a
// reading before, then closes them and checks that each got its verdict. warm sessions
// are held and closed first, so that what the gate makes once, on its first sessions, is
// not counted. keepEngage leaves each holder's engagement connection open (HTTP
// keep-alive) instead of closing it before the upgrade.
func measureInflight(ctx context.Context, g *gateProcess, cred *issuer.Credential, n, warm, concurrency int, gc, keepEngage bool) (
	*inflightResult, error) {
	m0, err := scrapeGate(ctx, g.client, g.ops+"/metrics")
	if err != nil {
		return nil, err
	}
	if warm > 0 {
		h, err := holdSessions(ctx, g, cred, n, warm, concurrency, keepEngage)
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		h.close()
	}
	if err := g.waitIdle(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // the previous sessions' connections and timers wind down
	before, err := readGateMemory(ctx, g, gc)
	if err != nil {
		return nil, err
	}
	h, err := holdSessions(ctx, g, cred, 0, n, concurrency, keepEngage)
	if err != nil {
		return nil, err
	}
	defer h.close()
	// the lower of two readings a few seconds apart: a GC cycle may be under way
	time.Sleep(2 * time.Second)
	after, err := readGateMemory(ctx, g, gc)
	if err != nil {
		return nil, err
	}
	time.Sleep(3 * time.Second)
	if again, err := readGateMemory(ctx, g, gc); err == nil && again.bytes < after.bytes {
		after = again
	}
	if held := after.inFlight - before.inFlight; held < float64(n) {
		return nil, fmt.Errorf("the gate holds %.0f of the %d sessions opened (sessions ended early)", held, n)
	}
	r := &inflightResult{bytesPerSession: round3((after.bytes - before.bytes) / float64(n)),
		goroutinesPerSession: round3((after.goroutines - before.goroutines) / float64(n))}
	h.close()
	if err := g.waitIdle(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	m1, err := awaitVerdicts(ctx, g.client, g.ops+"/metrics", m0, int64(n+warm))
	if err != nil {
		return nil, err
	}
	r.lost = max(0, int64(n+warm)-int64(m1.verdicts()-m0.verdicts()))
	return r, nil
}

// heldSessions are sessions holdSessions opened, and their holders' clients.
type heldSessions struct {
	conns   []transports.Conn
	clients []*http.Client
	readers sync.WaitGroup // one per session, reading until it is closed
}

// holdSessions opens n sessions at the gate (holdSession), concurrency at a time, the
// holders from the loopback addresses first to first+n-1 of blockInflight. On an error
// it closes those it opened.
func holdSessions(ctx context.Context, g *gateProcess, cred *issuer.Credential, first, n, concurrency int, keepEngage bool) (
	*heldSessions, error) {
	h := &heldSessions{conns: make([]transports.Conn, n), clients: make([]*http.Client, n)}
	var base *http.Client
	if keepEngage { // no client-side idle timeout: the gate's idle_timeout closes them
		base = &http.Client{Transport: &http.Transport{DisableCompression: true}}
	}
	errs := make([]error, n)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.clients[i] = sourceClientLike(base, loopbackSource(blockInflight, first+i), 2)
			c, err := holdSession(ctx, g.origin, h.clients[i], cred, keepEngage)
			h.conns[i], errs[i] = c, err
			if c != nil {
				h.readers.Add(1)
				go func() { // read on (the gate's pings) until the session is closed
					defer h.readers.Done()
					for {
						if _, err := c.ReadFrame(context.Background()); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		h.close()
		return nil, fmt.Errorf("holding %d sessions: %w", n, err)
	}
	return h, nil
}

// holdSession opens one session at the gate at origin and reads the reader's request.
func holdSession(ctx context.Context, origin string, hc *http.Client, cred *issuer.Credential, keepEngage bool) (transports.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e, err := web.FetchEngagement(ctx, hc, origin, false)
	if err != nil {
		return nil, err
	}
	if !keepEngage {
		hc.CloseIdleConnections()
	}
	re, sessionURL, err := web.ParseLink(e.MdocURI)
	if err != nil {
		return nil, err
	}
	h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{cred}}, re, origin)
	if err != nil {
		return nil, err
	}
	c, err := web.Dial(ctx, sessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true, Client: hc})
	if err != nil {
		return nil, err
	}
	if _, err := c.ReadFrame(ctx); err != nil { // the reader's request
		c.Close()
		return nil, fmt.Errorf("the reader's request: %w", err)
	}
	return c, nil
}

// close closes the held sessions (a close handshake each, a few at a time) and their
// clients, and waits for their readers; a second call does nothing.
func (h *heldSessions) close() {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i, c := range h.conns {
		if c == nil {
			continue
		}
		h.conns[i] = nil
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.Close()
		}()
	}
	wg.Wait()
	for i, hc := range h.clients {
		if hc != nil {
			hc.CloseIdleConnections()
			h.clients[i] = nil
		}
	}
	h.readers.Wait()
}

// firstError is the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// gateFileLimit is the open file limit of a gate holding inflight sessions (two
// connections each at most), within this process's hard limit, which the gate inherits.
func gateFileLimit(inflight int) int {
	want := max(4096, 2*inflight+1024)
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Max < uint64(want) {
		return max(4096, int(lim.Max))
	}
	return want
}
