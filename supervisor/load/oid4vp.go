package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
	"github.com/mdocgate/mdocgate/transports/web"
)

// TransportOID4VP is the transport name of OpenID4VP runs.
const TransportOID4VP = "oid4vp"

// oid4vpBehaviours are the holder behaviours an OpenID4VP run can simulate; others in
// a mix are refused.
var oid4vpBehaviours = map[Behaviour]bool{Valid: true, Slow: true, Tampered: true, Expired: true, Untrusted: true,
	WrongKey: true, Silent: true, Garbage: true, Dropping: true}

// RunOID4VP drives simulated wallets at in-process online lanes: an engine whose lanes
// are transports/online's, as a gate's oid4vp and dcapi lanes are (cfg.Lanes lanes,
// oid4vp and dcapi in turn), served over HTTP on loopback. On an oid4vp lane a wallet
// begins a transaction, fetches and checks the signed request object (GET, or POST on
// every other oid4vp lane) and posts its answer (direct_post.jwt on the first of each
// pair of lanes, direct_post on the next; the client_id prefixes x509_san_dns and
// x509_hash alternate likewise); on a dcapi lane it answers the page's request for each
// protocol in turn (dc_api.jwt and dc_api alternate likewise). cfg.Timeout is the
// transaction lifetime (default 2 s). The verdict of each holder is its transaction's,
// as the gate reports it: the engine's verdict on its answer, or expired (timeout) for
// a holder that never answered; it is checked against the behaviour's expected verdict,
// and every answer the gate took must have had exactly one verdict.
//
// Behaviours: valid, slow, expired, untrusted, tampered and wrong_key (the
// DeviceResponse altered as a proximity holder alters it: holdersession.Misbehaviour's
// Apply), silent (never answers), garbage (holdersession.Garbage instead of a
// DeviceResponse: an error verdict) and dropping (the answer cut in half: refused as
// malformed before any verdict, an error for the holder).
func RunOID4VP(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Holders <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("give a number of holders or a duration")
	}
	for _, m := range cfg.Mix {
		if !oid4vpBehaviours[m.Behaviour] {
			return nil, fmt.Errorf("behaviour %q is not simulated over %s", m.Behaviour, TransportOID4VP)
		}
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 1
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	w, err := newWorld()
	if err != nil {
		return nil, err
	}
	g, err := startOnlineGate(w, cfg)
	if err != nil {
		return nil, err
	}
	client, err := newOnlineGate(g.origin, g.origin, cfg.Concurrency, cfg.Timeout+5*time.Second)
	if err != nil {
		g.stop()
		return nil, err
	}

	start := time.Now()
	b := newBuilder(start, cfg.Interval)
	stopSampling := sampleEvery(b, SampleResources, sampleThisProcess)
	defer stopSampling()

	var answered atomic.Int64
	pace := newPacer(start, cfg.Concurrency, cfg.Holders, cfg.Rate, cfg.Duration, cfg.Progress)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for i := 0; pace.next(ctx, i); i++ {
		beh := pick(cfg.Mix, rng)
		l := g.lanes[i%len(g.lanes)]
		cred := w.valid[i%len(w.valid)]
		var mutate func([]byte) []byte
		switch beh {
		case Expired:
			cred = w.expired
		case Untrusted:
			cred = w.untrusted
		case Tampered:
			mutate = misbehave(holdersession.TamperElement)
		case WrongKey:
			mutate = misbehave(holdersession.WrongDeviceKey)
		case Garbage:
			mutate = func([]byte) []byte { return holdersession.Garbage() }
		}
		h := &onlineHolder{lane: l, wallet: onlineWallet(cred, w.holderIndex, w.readerRoot, client.client, mutate), behaviour: beh, think: cfg.Think}
		if beh == Slow {
			h.think = cfg.Think*20 + cfg.Timeout/4
		}
		if len(l.Protocols) > 0 {
			h.protocol = l.Protocols[(i/len(g.lanes))%len(l.Protocols)]
		}
		go func() {
			defer pace.done()
			hctx, cancel := context.WithTimeout(ctx, cfg.Timeout+5*time.Second)
			defer cancel()
			t0 := time.Now()
			o, reason, took := client.present(hctx, h)
			if o == "" {
				b.busy(beh)
				return
			}
			if took {
				answered.Add(1)
			}
			b.session(l.Bearer, l.Lane, o, reason, time.Since(t0), time.Now())
			b.holder(beh, o, true, l.Lane, reason, "")
		}()
	}
	pace.wait()
	end := time.Now()
	stopSampling()
	client.close()
	verdicts, counters, shutdownErr := g.stop()

	if lost := answered.Load() - verdicts; lost != 0 {
		b.lost("", max(lost, -lost), fmt.Sprintf("%d answers taken by the gate, %d verdicts", answered.Load(), verdicts))
	}
	for _, t := range g.timing {
		b.timed(t.bearer, t.fromEngagement, 0)
	}
	rep := b.finish(end)
	rep.Transport = TransportOID4VP
	rep.NotMeasured["air_time_seconds"] = "not modelled on " + TransportOID4VP
	rep.Restarts, rep.Panics = counters.Restarts.Load(), counters.Panics.Load()
	runtime.GC()
	rep.GoroutinesEnd = runtime.NumGoroutine()
	rep.PeakRSSBytes = peakRSS()
	rep.ResourcesOf = ResourcesThisProcess
	return rep, shutdownErr
}

// inProcessGate is an engine with online lanes served over HTTP on loopback.
type inProcessGate struct {
	origin   string
	lanes    []*onlineLane
	eng      *supervisor.Engine
	srv      *online.Server
	http     *http.Server
	served   chan struct{}
	verdicts atomic.Int64
	unsub    func()
	// timing: each verdict's bearer and time from its transaction's start (engagement)
	timingMu sync.Mutex
	timing   []gateTiming
}

type gateTiming struct {
	bearer         string
	fromEngagement time.Duration
}

// startOnlineGate starts the engine and its online lanes: the default session shape's
// request, reader authentication with the world's reader certificate (its DNS name is
// localhost, the origin's host).
func startOnlineGate(w *world, cfg Config) (*inProcessGate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &inProcessGate{origin: fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), served: make(chan struct{})}
	ident, err := oid4vp.NewIdentity(w.readerAuth.Key, w.readerAuth.Chain)
	if err != nil {
		ln.Close()
		return nil, err
	}
	readerCfg := defaultReaderConfig(w)
	var lanes []online.LaneConfig
	for i := 0; i < cfg.Lanes; i++ {
		bearer := []string{online.BearerOID4VP, online.BearerDCAPI}[i%2]
		lc := online.LaneConfig{Name: fmt.Sprintf("%s-%d", bearer, i/2+1), Bearer: bearer, Docs: readerCfg.Request, Identity: ident,
			Encrypted: (i/2)%2 == 0, TTL: cfg.Timeout, Backlog: max(64, 4*cfg.Concurrency)}
		if bearer == online.BearerOID4VP {
			lc.ClientIDPrefix = []string{oid4vp.PrefixX509SanDNS, oid4vp.PrefixX509Hash}[(i/2)%2]
			if (i/2)%2 == 1 {
				lc.RequestURIMethod = "post"
			}
		}
		lanes = append(lanes, lc)
	}
	g.srv, err = online.NewServer(online.Config{Origin: g.origin, Lanes: lanes, PendingPerClient: -1, ResponseTimeout: cfg.Timeout + 5*time.Second})
	if err != nil {
		ln.Close()
		return nil, err
	}
	g.eng = supervisor.Start(supervisor.Config{Workers: cfg.Workers, Log: cfg.Log})
	g.unsub = g.eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		g.verdicts.Add(1)
		g.timingMu.Lock()
		g.timing = append(g.timing, gateTiming{v.Bearer, v.FromEngagement()})
		g.timingMu.Unlock()
		state := oid4vp.StateError
		switch v.Outcome {
		case readersession.Accepted:
			state = oid4vp.StateAccepted
		case readersession.Rejected:
			state = oid4vp.StateRejected
		}
		body, _ := json.Marshal(map[string]string{"session": v.SessionID, "outcome": string(v.Outcome), "reason": v.Reason})
		g.srv.Complete(v.Lane, v.SessionID, online.Verdict{State: state, Reason: v.Reason, Body: body})
	})
	for _, lc := range lanes {
		if err := g.eng.AddLane(&actors.LaneConfig{Name: lc.Name, Listener: g.srv.Listener(lc.Name), MaxInFlight: lc.Backlog,
			Sessions: actors.SessionSettings{Reader: readerCfg, EngagementTimeout: cfg.Timeout, InactivityTimeout: cfg.Timeout,
				Framer: web.WholeMessage{}}}); err != nil {
			g.eng.Shutdown(context.Background())
			g.srv.Close()
			ln.Close()
			return nil, err
		}
		l := &onlineLane{Lane: lc.Name, Bearer: lc.Bearer, Origin: g.origin}
		if lc.Bearer == online.BearerDCAPI {
			l.Protocols, l.Origins = online.Protocols, []string{g.origin}
		}
		g.lanes = append(g.lanes, l)
	}
	g.http = &http.Server{Handler: g.srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(g.served)
		_ = g.http.Serve(ln)
	}()
	return g, nil
}

// stop drains the engine, stops the server and returns the verdicts published.
func (g *inProcessGate) stop() (verdicts int64, counters *actors.Counters, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drainErr := g.eng.Drain(ctx)
	httpErr := g.http.Shutdown(ctx)
	<-g.served
	counters = g.eng.Counters()
	shutdownErr := g.eng.Shutdown(context.Background())
	g.unsub()
	g.srv.Close()
	return g.verdicts.Load(), counters, errors.Join(drainErr, httpErr, shutdownErr)
}

// misbehave alters a DeviceResponse as the simulated holder's misbehaviour m does.
func misbehave(m holdersession.Misbehaviour) func([]byte) []byte {
	return func(dr []byte) []byte {
		resp, err := messages.DecodeDeviceResponse(dr)
		if err != nil {
			return dr
		}
		m.Apply(resp)
		out, err := messages.Marshal(resp)
		if err != nil {
			return dr
		}
		return out
	}
}

func shortReason(err error) string {
	if err == nil {
		return ""
	}
	s := strings.TrimPrefix(err.Error(), "oid4vp: ")
	if i := strings.IndexAny(s, ":("); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
