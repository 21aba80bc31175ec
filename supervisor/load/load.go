package load

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/bearers"
)

// Config describes a run of simulated holders against in-process lanes.
type Config struct {
	// Transport is a bearer ("memory"; see Transports()), or ENGAGEMENT>DATA for
	// sessions engaged on one and handed to another ("nfc>ble-central": the nfc bearer
	// with the handoff option).
	Transport   string
	Transports  []string // several at once (Lanes lanes each); overrides Transport
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
	// BearerOptions are passed to the bearer (e.g. BLE mode, MTU); with several
	// Transports each gets the keys it reads. A key no chosen bearer reads is an error.
	BearerOptions transports.BearerOptions
	Log           *zap.Logger
	Progress      func(done, total int64)
	// Interval is the length of the report's Series points; 0 picks one that suits the
	// run's length (at most 80 points).
	Interval time.Duration
}

// Transports lists what Config.Transport can name: every bearer, and OpenID4VP.
func Transports() []string {
	return slices.Sorted(slices.Values(append(bearers.Names(), TransportOID4VP)))
}

// Run runs simulated holders against in-process lanes and reports the verdicts. Every
// verdict is matched with the holder that caused it. OpenID4VP (Transport "oid4vp"
// alone) is not a session over a bearer: RunOID4VP runs it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Transport == TransportOID4VP && len(cfg.Transports) <= 1 {
		if err := cfg.BearerOptions.Check(TransportOID4VP, nil); err != nil {
			return nil, err
		}
		return RunOID4VP(ctx, cfg)
	}
	if cfg.Transport == "" {
		cfg.Transport = "memory"
	}
	if len(cfg.Transports) == 0 {
		cfg.Transports = []string{cfg.Transport}
	}
	var opened []transports.Bearer
	defer func() {
		for _, b := range opened {
			b.Close()
		}
	}()
	engagedOn := make([]string, len(cfg.Transports)) // the bearers, without hand-off
	for i, name := range cfg.Transports {
		engagedOn[i], _, _ = strings.Cut(name, ">")
	}
	opts := map[string]transports.BearerOptions{engagedOn[0]: cfg.BearerOptions}
	if len(cfg.Transports) > 1 { // each bearer takes its own options; one none reads is an error
		var err error
		if opts, err = bearers.Split(engagedOn, cfg.BearerOptions); err != nil {
			return nil, err
		}
	}
	for i, name := range cfg.Transports {
		o := opts[engagedOn[i]]
		if _, data, ok := strings.Cut(name, ">"); ok {
			o = maps.Clone(o)
			o["handoff"] = data
		}
		b, err := bearers.Open(engagedOn[i], o)
		if err != nil {
			return nil, fmt.Errorf("transport %s: %w", name, err)
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
	eng := supervisor.Start(supervisor.Config{Workers: cfg.Workers, Log: cfg.Log, ChaosPanic: cfg.Chaos / 4})
	readerCfg := defaultReaderConfig(w)
	type laneRef struct {
		name   string
		bearer transports.Bearer
	}
	var lanes []laneRef
	for j, bearer := range opened {
		for i := 0; i < cfg.Lanes; i++ {
			name := fmt.Sprintf("%s-%d", cfg.Transports[j], i+1)
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

	start := time.Now()
	b := newBuilder(start, cfg.Interval)
	t := newTally(b, cfg.Chaos == 0)
	unsub := eng.Results().Subscribe(t.verdict)
	defer unsub()
	stopSampling := sampleEvery(b, SampleResources, sampleThisProcess)

	pace := newPacer(start, cfg.Concurrency, cfg.Holders, cfg.Rate, cfg.Duration, cfg.Progress)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; pace.next(ctx, i); i++ {
		beh := pick(cfg.Mix, rng)
		lane := lanes[i%len(lanes)]
		hc := holderConfigFor(beh, w, i, cfg, lane.bearer.HolderMethods(i))
		hc.Framer = lane.bearer.Framer()
		var faults transports.LinkFaults
		if beh == Dropping {
			faults.DisconnectAfterFrames = 3
		}
		if cfg.Chaos > 0 && rng.Float64() < cfg.Chaos {
			faults.Drop = 0.2
			faults.Seed = rng.Uint64()
		}
		hc.Engage = func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
			return lane.bearer.Engage(ctx, lane.name, de, handover, faults)
		}
		hc.EngageAtOnce = lane.bearer.Capabilities().EngagesAtOnce
		hc.Retries, hc.RetryAfter = 50, 20*time.Millisecond
		hc.Done = func(r actors.HolderReport) {
			t.holder(beh, r)
			pace.done()
		}
		eng.SpawnHolder(hc)
	}
	pace.wait()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Timeout*3+5*time.Second)
	t.waitForVerdicts(drainCtx)
	drainErr := eng.Drain(drainCtx)
	cancel()
	end := time.Now()
	stopSampling()
	counters := eng.Counters()

	unsub() // a verdict arriving after a timed-out drain must not race with the tally's read
	t.finish()
	if unended := counters.Started.Load() - counters.Ended.Load(); unended > 0 {
		b.lost("", unended, fmt.Sprintf("%d sessions started and never ended", unended))
	}
	rep := b.finish(end)
	rep.Transport = strings.Join(cfg.Transports, ",")
	airTime := false
	for _, b := range opened {
		rep.AirTimeSeconds += b.AirTime().Seconds()
		airTime = airTime || b.Capabilities().ModelsAirTime
	}
	if !airTime {
		rep.NotMeasured["air_time_seconds"] = "not modelled on " + rep.Transport
	}
	if cfg.Chaos > 0 {
		rep.NotMeasured["mismatched"] = "not checked: injected faults change the verdicts holders should get"
	}
	rep.Restarts = counters.Restarts.Load()
	rep.Panics = counters.Panics.Load()
	shutdownErr := eng.Shutdown(context.Background())
	runtime.GC()
	rep.GoroutinesEnd = runtime.NumGoroutine()
	rep.PeakRSSBytes = peakRSS()
	rep.ResourcesOf = ResourcesThisProcess
	return rep, errors.Join(drainErr, shutdownErr)
}
