package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// Behaviour is what a simulated holder does, and so which verdict the reader should reach.
type Behaviour string

// Simulated holder behaviours.
const (
	Valid     Behaviour = "valid"
	Slow      Behaviour = "slow"      // answers after a long think time: still accepted
	Tampered  Behaviour = "tampered"  // an element altered after issuance
	Expired   Behaviour = "expired"   // MSO validity over
	Untrusted Behaviour = "untrusted" // issued under an IACA the reader does not trust
	WrongKey  Behaviour = "wrong_key" // device authentication with a key not in the MSO
	Silent    Behaviour = "silent"    // never answers
	Dropping  Behaviour = "dropping"  // the link breaks mid-message
	Garbage   Behaviour = "garbage"   // answers with bytes that are not CBOR
)

// Expected is the verdict the reader must reach for a behaviour.
func (b Behaviour) Expected() readersession.Outcome {
	switch b {
	case Valid, Slow:
		return readersession.Accepted
	case Tampered, Expired, Untrusted, WrongKey:
		return readersession.Rejected
	case Silent:
		return readersession.Timeout
	default:
		return readersession.Error
	}
}

// Weighted is one behaviour of a mix.
type Weighted struct {
	Behaviour Behaviour
	Weight    float64
}

// DemoMix is the demo's mixed crowd.
var DemoMix = []Weighted{
	{Valid, 60}, {Slow, 8}, {Tampered, 6}, {Expired, 6}, {Untrusted, 6},
	{WrongKey, 4}, {Silent, 2}, {Dropping, 4}, {Garbage, 4},
}

// ParseMix reads "valid=60,tampered=5,...".
func ParseMix(s string) ([]Weighted, error) {
	var out []Weighted
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("mix entry %q: want behaviour=weight", part)
		}
		f, err := strconv.ParseFloat(w, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("mix entry %q: bad weight", part)
		}
		b := Behaviour(name)
		if _, ok := behaviourNames[b]; !ok {
			return nil, fmt.Errorf("mix entry %q: unknown behaviour", part)
		}
		out = append(out, Weighted{b, f})
	}
	return out, nil
}

var behaviourNames = map[Behaviour]bool{Valid: true, Slow: true, Tampered: true, Expired: true, Untrusted: true,
	WrongKey: true, Silent: true, Dropping: true, Garbage: true}

// LoadConfig describes a run of simulated holders against in-process lanes.
type LoadConfig struct {
	Transport   string   // "memory"; see Bearers()
	Transports  []string // several bearers at once (Lanes lanes each); overrides Transport
	Lanes       int
	Holders     int           // total holders; 0 with Duration means no limit
	Concurrency int           // holders active at once
	Duration    time.Duration // stop starting holders after this; 0 means run Holders
	Rate        float64       // holders started per second; 0 means as fast as Concurrency allows
	Chaos       float64       // probability of link faults per holder and of worker panics per job
	Mix         []Weighted    // nil means all valid
	Workers     int
	// Think is the normal holder's think time; Slow holders think 20 times longer.
	Think time.Duration
	// Timeout is the lane's engagement and inactivity timeout (default 2 s).
	Timeout time.Duration
	// MaxInFlightPerLane bounds each lane (default 4×Concurrency/Lanes, at least 64).
	MaxInFlightPerLane int
	// BearerOptions are passed to the bearer (e.g. BLE mode, MTU).
	BearerOptions BearerOptions
	Log           *zap.Logger
	Progress      func(done, total int64)
}

// Report is the outcome of a run. Field names follow the CLI's JSON contract.
type Report struct {
	Transport         string             `json:"transport"`
	Sessions          int64              `json:"sessions"`
	Accepted          int64              `json:"accepted"`
	Rejected          int64              `json:"rejected"`
	Errors            int64              `json:"errors"`
	Timeouts          int64              `json:"timeouts"`
	Lost              int64              `json:"lost"`
	Mismatched        int64              `json:"mismatched"`
	Busy              int64              `json:"busy"`
	Seconds           float64            `json:"seconds"`
	SessionsPerSecond float64            `json:"sessions_per_second"`
	LatencyMs         Latency            `json:"latency_ms"`
	ByTransport       map[string]*Counts `json:"by_transport"`
	ByLane            map[string]*Counts `json:"by_lane"`
	ByBehaviour       map[string]*Counts `json:"by_behaviour"`
	Reasons           map[string]int64   `json:"reasons"`
	Restarts          int64              `json:"restarts"`
	Panics            int64              `json:"panics"`
	PeakRSSBytes      int64              `json:"peak_rss_bytes"`
	GoroutinesEnd     int                `json:"goroutines_end"`
	Mismatches        []string           `json:"mismatch_examples,omitempty"`
	// Losses says, for the first few lost sessions, what was left unmatched.
	Losses []string `json:"lost_examples,omitempty"`
	// AirTimeSeconds is the modelled air time of all sessions on the bearer (0 if not modelled).
	AirTimeSeconds float64 `json:"air_time_seconds,omitempty"`
	// FloorSessionsPerSecond is the floor's rate on this machine (loadtest --floor, see
	// MeasureFloor) and FloorRatio the run's sessions_per_second over it.
	FloorSessionsPerSecond float64 `json:"floor_sessions_per_second,omitempty"`
	FloorRatio             float64 `json:"floor_ratio,omitempty"`
	// VerdictsFrom says where a remote run (loadtest --target) took its outcomes from:
	// "target_metrics" (the gate's own verdicts) or "holders" (what the simulated holders
	// could see: a completed session counts as accepted). Empty for in-process runs.
	VerdictsFrom string `json:"verdicts_from,omitempty"`
}

// Counts are per-outcome counts.
type Counts struct {
	Sessions   int64 `json:"sessions"`
	Accepted   int64 `json:"accepted"`
	Rejected   int64 `json:"rejected"`
	Errors     int64 `json:"errors"`
	Timeouts   int64 `json:"timeouts"`
	Lost       int64 `json:"lost"`
	Mismatched int64 `json:"mismatched,omitempty"`
}

func (c *Counts) add(o readersession.Outcome) {
	c.Sessions++
	switch o {
	case readersession.Accepted:
		c.Accepted++
	case readersession.Rejected:
		c.Rejected++
	case readersession.Error:
		c.Errors++
	case readersession.Timeout:
		c.Timeouts++
	}
}

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// world is the PKI and credentials of a simulation.
type world struct {
	trust      *verify.TrustStore
	readerAuth *issuer.ReaderSigner
	readerRoot *verify.TrustStore
	valid      []*issuer.Credential
	expired    *issuer.Credential
	untrusted  *issuer.Credential
	// holderCache is shared by the simulated holders: they all meet the same readers.
	holderCache *verify.ChainCache
	// holderIndex is the simulated holders' wallet index of the credentials above.
	holderIndex *holder.Index
}

func newWorld() (*world, error) {
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "sim IACA", NotBefore: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		return nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "sim DS", NotBefore: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	rogue, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "rogue IACA"})
	if err != nil {
		return nil, err
	}
	rogueDS, err := rogue.NewDocumentSigner(issuer.DSOptions{CommonName: "rogue DS"})
	if err != nil {
		return nil, err
	}
	rroot, err := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: "sim reader root"})
	if err != nil {
		return nil, err
	}
	rcert, err := rroot.NewReaderCert(issuer.ReaderOptions{CommonName: "sim gate"})
	if err != nil {
		return nil, err
	}
	w := &world{trust: verify.NewTrustStore(iaca.Certificate), readerAuth: rcert, readerRoot: verify.NewTrustStore(rroot.Certificate),
		holderCache: verify.NewChainCache(16), holderIndex: holder.NewIndex()}
	issue := func(s *issuer.Signer, from, until time.Time) (*issuer.Credential, error) {
		dk, err := keys.Generate(messages.CurveP256, nil)
		if err != nil {
			return nil, err
		}
		c, err := s.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil),
			DeviceKey: dk.COSEKey(), Signed: from, ValidFrom: from, ValidUntil: until})
		if err != nil {
			return nil, err
		}
		c.DevicePrivateKey = dk
		return c, nil
	}
	now := time.Now().Truncate(time.Second)
	for i := 0; i < 8; i++ {
		c, err := issue(ds, now.Add(-time.Hour), now.Add(365*24*time.Hour))
		if err != nil {
			return nil, err
		}
		w.valid = append(w.valid, c)
	}
	if w.expired, err = issue(ds, now.Add(-3*time.Hour), now.Add(-2*time.Hour)); err != nil {
		return nil, err
	}
	if w.untrusted, err = issue(rogueDS, now.Add(-time.Hour), now.Add(365*24*time.Hour)); err != nil {
		return nil, err
	}
	return w, nil
}

func pick(mix []Weighted, r *rand.Rand) Behaviour {
	if len(mix) == 0 {
		return Valid
	}
	total := 0.0
	for _, w := range mix {
		total += w.Weight
	}
	x := r.Float64() * total
	for _, w := range mix {
		if x < w.Weight {
			return w.Behaviour
		}
		x -= w.Weight
	}
	return mix[len(mix)-1].Behaviour
}

// RunLoad runs simulated holders against in-process lanes and reports the verdicts.
// Every verdict is matched with the holder that caused it.
func RunLoad(ctx context.Context, cfg LoadConfig) (*Report, error) {
	if r, ok := LookupRunner(cfg.Transport); ok && len(cfg.Transports) <= 1 {
		return r(ctx, cfg) // flows that are not sessions over a Conn (OpenID4VP)
	}
	if cfg.Transport == "" {
		cfg.Transport = "memory"
	}
	if len(cfg.Transports) == 0 {
		cfg.Transports = []string{cfg.Transport}
	}
	var opened []Bearer
	defer func() {
		for _, b := range opened {
			b.Close()
		}
	}()
	for _, name := range cfg.Transports {
		b, err := openBearer(name, cfg.BearerOptions)
		if err != nil {
			return nil, err
		}
		opened = append(opened, b)
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 1
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Holders <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("give a number of holders or a duration")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxInFlightPerLane <= 0 {
		cfg.MaxInFlightPerLane = max(64, 4*cfg.Concurrency/cfg.Lanes)
	}
	w, err := newWorld()
	if err != nil {
		return nil, err
	}
	eng := Start(Config{Workers: cfg.Workers, Log: cfg.Log, ChaosPanic: cfg.Chaos / 4})
	readerCfg := defaultReaderConfig(w)
	type laneRef struct {
		name   string
		bearer Bearer
	}
	var lanes []laneRef
	for _, bearer := range opened {
		for i := 0; i < cfg.Lanes; i++ {
			name := fmt.Sprintf("%s-%d", bearer.Name(), i+1)
			l, err := bearer.Listen(name, cfg.MaxInFlightPerLane)
			if err == nil {
				err = eng.AddLane(&actors.LaneConfig{Name: name, Listener: l, MaxInFlight: cfg.MaxInFlightPerLane,
					Sessions: actors.SessionSettings{Reader: readerCfg, EngagementTimeout: cfg.Timeout, InactivityTimeout: cfg.Timeout,
						Framer: bearer.Framer()}})
			}
			if err != nil {
				eng.Shutdown(context.Background())
				return nil, fmt.Errorf("lane %s: %w", name, err)
			}
			lanes = append(lanes, laneRef{name, bearer})
		}
	}

	t := newTally(cfg.Chaos == 0)
	unsub := eng.Results().Subscribe(t.verdict)
	defer unsub()

	pace := newPacer(cfg)
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var doneCount atomic.Int64
	total := int64(cfg.Holders)
	for i := 0; pace.next(ctx, i); i++ {
		b := pick(cfg.Mix, rng)
		hc := holderConfigFor(b, w, i, cfg, rng)
		lane := lanes[i%len(lanes)]
		hc.Session.Methods = lane.bearer.HolderMethods(i)
		hc.Framer = lane.bearer.Framer()
		var faults LinkFaults
		if b == Dropping {
			faults.DisconnectAfterFrames = 3
		}
		if cfg.Chaos > 0 && rng.Float64() < cfg.Chaos {
			faults.Drop = 0.2
			faults.Seed = rng.Uint64()
		}
		hc.Engage = func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
			return lane.bearer.Engage(ctx, lane.name, de, handover, faults)
		}
		_, hc.EngageAtOnce = lane.bearer.(interface{ engagesAtOnce() })
		hc.Retries, hc.RetryAfter = 50, 20*time.Millisecond
		wg.Add(1)
		hc.Done = func(r actors.HolderReport) {
			t.holder(b, r)
			d := doneCount.Add(1)
			if cfg.Progress != nil {
				cfg.Progress(d, total)
			}
			pace.done()
			wg.Done()
		}
		eng.SpawnHolder(hc)
	}
	wg.Wait()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Timeout*3+5*time.Second)
	t.waitForVerdicts(drainCtx)
	drainErr := eng.Drain(drainCtx)
	cancel()
	elapsed := time.Since(pace.start)
	counters := eng.Counters()

	unsub() // a verdict arriving after a timed-out drain must not race with the tally's read
	rep := t.finish()
	rep.Transport = strings.Join(cfg.Transports, ",")
	if unended := counters.Started.Load() - counters.Ended.Load(); unended > 0 {
		rep.Lost += unended
		rep.Losses = append(rep.Losses, fmt.Sprintf("%d sessions started and never ended", unended))
	}
	rep.Seconds = elapsed.Seconds()
	if rep.Seconds > 0 {
		rep.SessionsPerSecond = float64(rep.Sessions) / rep.Seconds
	}
	for _, b := range opened {
		rep.AirTimeSeconds += b.AirTime().Seconds()
	}
	rep.Restarts = counters.Restarts.Load()
	rep.Panics = counters.Panics.Load()
	shutdownErr := eng.Shutdown(context.Background())
	runtime.GC()
	rep.GoroutinesEnd = runtime.NumGoroutine()
	rep.PeakRSSBytes = peakRSS()
	return rep, errors.Join(drainErr, shutdownErr)
}

func bucket(m map[string]*Counts, k string) *Counts {
	c, ok := m[k]
	if !ok {
		c = &Counts{}
		m[k] = c
	}
	return c
}

func holderConfigFor(b Behaviour, w *world, i int, cfg LoadConfig, rng *rand.Rand) *actors.HolderConfig {
	hs := &holdersession.Config{Credentials: []*issuer.Credential{w.valid[i%len(w.valid)]}, UseMAC: i%2 == 0,
		ReaderTrust: w.readerRoot, ReaderTrustCache: w.holderCache, Index: w.holderIndex}
	think := cfg.Think
	switch b {
	case Slow:
		think = cfg.Think*20 + cfg.Timeout/4
	case Tampered:
		hs.Misbehave = holdersession.TamperElement
	case Expired:
		hs.Credentials = []*issuer.Credential{w.expired}
	case Untrusted:
		hs.Credentials = []*issuer.Credential{w.untrusted}
	case WrongKey:
		hs.Misbehave = holdersession.WrongDeviceKey
	case Silent:
		hs.Misbehave = holdersession.Silent
	case Garbage:
		hs.Misbehave = holdersession.GarbageResponse
	}
	return &actors.HolderConfig{Session: hs, Think: think}
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// peakRSS reads the process's peak resident set size (VmHWM) on Linux; 0 elsewhere.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// defaultReaderConfig asks for five mDL elements with reader authentication and trusts
// the simulation's IACA: the default session shape.
func defaultReaderConfig(w *world) *readersession.Config {
	return &readersession.Config{
		Request: []request.Doc{{DocType: issuer.DocTypeMDL, NameSpaces: []request.NameSpace{{
			Name: issuer.NamespaceMDL, Elements: []string{"family_name", "given_name", "portrait", "age_over_18", "document_number"},
		}}}},
		ReaderAuth: w.readerAuth,
		Trust:      w.trust,
		Cache:      verify.NewChainCache(64),
	}
}
