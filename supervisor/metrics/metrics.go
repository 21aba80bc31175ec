// Package metrics exports an engine's verdicts and counters to Prometheus.
//
// Metric families (all prefixed mdocgate_):
//
//	sessions_total{lane,bearer,outcome,reason}       counter: one per published verdict
//	session_duration_seconds{lane,bearer,stage}      histogram: arrival → verdict
//	sessions_started_total, sessions_ended_total     counters read from the engine
//	sessions_in_flight                               gauge: admitted and not yet ended
//	busy_rejections_total                            counter: arrivals refused for capacity
//	actor_restarts_total, actor_panics_total         counters: supervision decisions, contained panics
//	crypto_queue_depth                               gauge: verification jobs waiting for a worker
//	crypto_busy_total                                counter: jobs refused, their lane's queue full
//	crypto_dropped_total                             counter: jobs dropped unrun, their session over
//
// With a status client (NewRevocationCollector), kind being status_list or crl:
//
//	revocation_fetches_total{kind}                   counter: downloads started
//	revocation_fetch_failures_total{kind}            counter: downloads that failed
//	revocation_cache_hits_total{kind}                counter: lookups answered from a fresh copy
//	revocation_stale_answers_total{kind}             counter: lookups answered from a stale copy
//	revocation_fail_open_total{kind}                 counter: checks passed with nothing usable (on_stale: open)
//	revocation_list_age_seconds{kind,uri}            gauge: since the last successful fetch or load
//	revocation_list_usable{kind,uri}                 gauge: 1 fresh or stale within bounds, 0 not
//
// Stages: a verdict carries only its arrival and end times, so the one stage exported
// today is stage="total" (arrival to verdict, the session's whole latency). The label is
// there so that engagement, transfer and verification stages can be added without
// renaming the family once verdicts carry their timings.
//
// Label cardinality is bounded: reason is one of the known check and reason names
// (KnownReasons), "none" for an empty reason, or "other"; lane and bearer keep their
// first MaxLabelValues distinct values each and fold later ones into "other". Reasons
// never include Detail text, and no label ever carries element values.
package metrics

import (
	"errors"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/web"
)

// Source is what the metrics read: a verdict stream and the engine-wide counters.
// FromEngine adapts a *supervisor.Engine; tests can fake it.
type Source interface {
	// Subscribe registers f for every verdict published from now on and returns a
	// function that removes it. f is called from the publisher's goroutine.
	Subscribe(f func(*actors.SessionVerdict)) (unsubscribe func())
	// Counters returns the engine-wide counters; they are read at scrape time.
	Counters() *actors.Counters
}

// Engine is the part of *supervisor.Engine that FromEngine needs.
type Engine interface {
	Results() *actors.Results
	Counters() *actors.Counters
}

// FromEngine adapts a running engine (a *supervisor.Engine) to a Source.
func FromEngine(e Engine) Source { return engineSource{e} }

type engineSource struct{ e Engine }

func (s engineSource) Subscribe(f func(*actors.SessionVerdict)) func() {
	return s.e.Results().Subscribe(f)
}
func (s engineSource) Counters() *actors.Counters { return s.e.Counters() }

// MaxLabelValues bounds the distinct lane and bearer label values (each); later ones
// are exported as "other".
const MaxLabelValues = 64

// Label values used when a value is folded.
const (
	OtherValue = "other" // unknown reason, or a lane/bearer past MaxLabelValues
	NoReason   = "none"  // a verdict without a reason (accepted sessions)
)

// KnownReasons are the reason label values exported as themselves: the verify and
// profile check names, the reader session's reasons, the gate's reasons and the
// engine's own (timeouts, crypto worker crash, shutdown, lost session).
var KnownReasons = []string{
	// readersession
	readersession.ReasonEngagement, readersession.ReasonSessionEncryption, readersession.ReasonCBORDecoding,
	readersession.ReasonResponseDecoding, readersession.ReasonPeerStatus, readersession.ReasonPeerTerminated,
	readersession.ReasonProtocol, readersession.ReasonInternal, readersession.ReasonNotValid,
	readersession.ReasonResponseStatus, readersession.ReasonUnrequestedDoc, readersession.ReasonRepeatedDocType,
	readersession.ReasonCryptoBudget,
	// engine (actors)
	"engagement_timeout", "inactivity_timeout", "crypto_worker", "shutdown", "session_lost", "decision",
	actors.ReasonCryptoBusy, actors.ReasonLinkClosed, actors.ReasonLink, actors.ReasonLinkFraming, actors.ReasonMessageTooLarge,
	// issuer data authentication
	verify.CheckIssuerAuthAlg, verify.CheckIssuerAuthX5Chain, verify.CheckIssuerAuthSignature,
	verify.CheckIssuerAuthChain, verify.CheckIssuerAuthProfile, verify.CheckIssuerAuthEncoding,
	verify.CheckIssuerAuthScope, verify.CheckIssuerAuthPurpose, verify.CheckIssuerAuthCountry,
	verify.CheckIssuerAuthIACA, verify.CheckIssuingCountry, verify.CheckMSODecode, verify.CheckMSODigestAlgorithm, verify.CheckMSODocType, verify.CheckMSOValidity,
	verify.CheckMSOSigned, verify.CheckMSOEncoding, verify.CheckValueDigests,
	// revocation
	verify.CheckIssuerAuthRevocation, verify.CheckMSOStatus, verify.CheckRevocationEncoding, verify.CheckReaderAuthRevocation,
	// mdoc authentication
	verify.CheckDeviceSigned, verify.CheckDeviceSignature, verify.CheckDeviceMac, verify.CheckDeviceAuthEncoding,
	verify.CheckKeyAuthorizations, verify.CheckDeviceNameSpaces, verify.CheckTranscriptAvailable, verify.CheckDeviceKey,
	verify.CheckDeviceAuthNotVerified,
	// reader authentication
	verify.CheckReaderAuthX5Chain, verify.CheckReaderAuthSignature, verify.CheckReaderAuthChain,
	verify.CheckReaderAuthProfile, verify.CheckReaderAuthPurpose, verify.CheckReaderAuthEncoding,
	// profiles
	profile.CheckVerification, profile.CheckDocType, profile.CheckMandatory, profile.CheckElementType,
	profile.CheckEvidence, profile.CheckDeviceAuth, profile.CheckCurve, profile.CheckSignedAge,
	profile.CheckValidFromAge, profile.CheckExpectedUpdate, profile.CheckStatus, profile.CheckRule,
	// gate
	gate.ReasonNoMatch, gate.ReasonUndecided, gate.ReasonNoPortrait, gate.ReasonNoMatcher,
	gate.ReasonMatchError, gate.ReasonActuator,
	// online presentations (transports/oid4vp) and holders refused by the web transport
	oid4vp.ReasonWalletError, oid4vp.ReasonMalformed, oid4vp.ReasonDecrypt, oid4vp.ReasonDCQL,
	web.ReasonOriginMismatch, web.ReasonNoOrigin,
	gate.ReasonAntiPassback, gate.ReasonDenyList, gate.ReasonNoCredentialKey, gate.ReasonVenueUnavailable,
}

var knownReasons = func() map[string]bool {
	m := make(map[string]bool, len(KnownReasons))
	for _, r := range KnownReasons {
		m[r] = true
	}
	return m
}()

// Reason returns the label value exported for a verdict reason.
func Reason(r string) string {
	switch {
	case r == "":
		return NoReason
	case knownReasons[r]:
		return r
	default:
		return OtherValue
	}
}

// DurationBuckets are the histogram bounds of session_duration_seconds.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics holds the collectors of one engine. Create it before the engine's lanes
// start so that sessions_total counts every verdict that sessions_ended_total does.
type Metrics struct {
	gatherer prometheus.Gatherer
	sessions *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lanes    bounded
	bearers  bounded
	unsub    func()
	once     sync.Once
}

// New registers the collectors with reg (the Go and process collectors too, unless
// already there) and subscribes to src's verdicts. A nil reg
// means a fresh private registry. Like promauto, it panics when a collector cannot be
// registered (e.g. two Metrics on one registry): that is a wiring bug.
//
// The verdict subscriber never blocks: it updates atomic Prometheus counters only.
func New(reg prometheus.Registerer, src Source) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		g = prometheus.DefaultGatherer
	}
	m := &Metrics{
		gatherer: g,
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_sessions_total",
			Help: "Sessions ended, by lane, bearer, outcome (accepted, rejected, error, timeout) and reason (failing check)."},
			[]string{"lane", "bearer", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mdocgate_session_duration_seconds",
			Help:    "Session latency by stage; stage=\"total\" is arrival to verdict.",
			Buckets: DurationBuckets}, []string{"lane", "bearer", "stage"}),
		lanes:   bounded{seen: map[string]bool{}},
		bearers: bounded{seen: map[string]bool{}},
	}
	c := src.Counters()
	counterFunc := func(name, help string, v interface{ Load() int64 }) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	gaugeFunc := func(name, help string, v interface{ Load() int64 }) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	// the runtime's and the process's families, unless the registry has them already
	// (prometheus.DefaultRegisterer does)
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			panic(err)
		}
	}
	reg.MustRegister(m.sessions, m.duration,
		counterFunc("mdocgate_sessions_started_total", "Sessions admitted by a lane.", &c.Started),
		counterFunc("mdocgate_sessions_ended_total", "Verdicts published.", &c.Ended),
		gaugeFunc("mdocgate_sessions_in_flight", "Sessions admitted and not yet ended.", &c.InFlight),
		counterFunc("mdocgate_busy_rejections_total", "Arrivals refused for lack of capacity.", &c.Busy),
		counterFunc("mdocgate_actor_restarts_total", "Actor restarts and stops decided by supervision.", &c.Restarts),
		counterFunc("mdocgate_actor_panics_total", "Panics contained in any actor.", &c.Panics),
		gaugeFunc("mdocgate_crypto_queue_depth", "Verification jobs waiting for a crypto worker.", &c.CryptoQueue),
		counterFunc("mdocgate_crypto_busy_total", "Verification jobs refused because their lane's queue was full (the session ends with an error verdict).", &c.CryptoBusy),
		counterFunc("mdocgate_crypto_dropped_total", "Verification jobs dropped unrun because their session had ended.", &c.CryptoDropped),
	)
	m.unsub = src.Subscribe(m.observe)
	return m
}

func (m *Metrics) observe(v *actors.SessionVerdict) {
	lane, bearer := m.lanes.value(v.Lane), m.bearers.value(v.Bearer)
	m.sessions.WithLabelValues(lane, bearer, string(v.Outcome), Reason(v.Reason)).Inc()
	if d := v.Latency(); d >= 0 {
		m.duration.WithLabelValues(lane, bearer, "total").Observe(d.Seconds())
	}
}

// Handler serves the Prometheus text exposition of the registry given to New (when it
// is a Gatherer, as a *prometheus.Registry is; otherwise prometheus.DefaultGatherer).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// Close stops counting verdicts. Collectors stay registered and keep their values.
func (m *Metrics) Close() { m.once.Do(m.unsub) }

// bounded keeps the first MaxLabelValues distinct values of a label.
type bounded struct {
	mu   sync.RWMutex
	seen map[string]bool
}

func (b *bounded) value(s string) string {
	b.mu.RLock()
	ok := b.seen[s]
	n := len(b.seen)
	b.mu.RUnlock()
	if ok {
		return s
	}
	if n >= MaxLabelValues {
		return OtherValue
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) < MaxLabelValues {
		b.seen[s] = true
		return s
	}
	if b.seen[s] {
		return s
	}
	return OtherValue
}
