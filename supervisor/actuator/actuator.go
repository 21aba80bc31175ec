// Package actuator carries a gate lane's actions (open, deny, call staff) out into the
// world: a webhook (an HTTP POST of the event, signed with HMAC-SHA256), an MQTT
// message (eclipse/paho.mqtt.golang), or a command run with the action in its
// environment (a GPIO or relay script). An Actuator is a gate.Actuator: each action
// becomes one Event, sent to its Sink and tried again with exponential backoff up to
// Attempts times, every delivery counted in Metrics.
//
// An Event carries the gate, lane, session, bearer, outcome, reason, action and time,
// and never element values unless the caller adds them (Elements, for the gate's
// log_element_values debug setting).
package actuator

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/actors/gate"
)

// Event is what a webhook posts and an MQTT message carries (as JSON), and what a
// command finds in its environment and on its standard input.
type Event struct {
	Gate    string    `json:"gate"`
	Lane    string    `json:"lane"`
	Session string    `json:"session"`
	Bearer  string    `json:"bearer"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason"`
	Action  string    `json:"action"`
	Time    time.Time `json:"time"`
	// Elements are the disclosed element values: set only under the gate's
	// log_element_values debug setting, absent otherwise.
	Elements map[string]map[string]any `json:"elements,omitempty"`
}

// Sink delivers events, one attempt per Send. Implementations bound each attempt by
// their own timeout and are safe for use by one goroutine at a time.
type Sink interface {
	// Kind names the sink in metrics and logs: webhook, mqtt or exec.
	Kind() string
	// Send makes one attempt at delivering e, whose JSON encoding is body.
	Send(ctx context.Context, e *Event, body []byte) error
	// Close releases the sink (an MQTT connection).
	Close() error
}

// Defaults of an Actuator.
const (
	DefaultAttempts   = 3
	DefaultBackoff    = 200 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// Actuator is a gate.Actuator that delivers every action to a Sink. The session's
// details (gate, bearer, outcome, elements) come from the context (WithEvent); the
// action, reason, lane and session from the gate.
type Actuator struct {
	Sink Sink
	// Attempts is how many times one event is tried (default DefaultAttempts).
	Attempts int
	// Backoff is the wait after the first failed attempt, doubling after each one up
	// to MaxBackoff, with ±20 % jitter (defaults DefaultBackoff, DefaultMaxBackoff).
	Backoff, MaxBackoff time.Duration
	// Metrics, when set, counts the deliveries.
	Metrics *Metrics
}

type eventKey struct{}

// WithEvent returns ctx carrying the event template an Actuator completes.
func WithEvent(ctx context.Context, e Event) context.Context {
	return context.WithValue(ctx, eventKey{}, e)
}

// Open implements gate.Actuator.
func (a *Actuator) Open(ctx context.Context, laneID, sessionID string) error {
	return a.Deliver(ctx, gate.ActionOpen, laneID, sessionID, "")
}

// Deny implements gate.Actuator.
func (a *Actuator) Deny(ctx context.Context, laneID, sessionID, reason string) error {
	return a.Deliver(ctx, gate.ActionDeny, laneID, sessionID, reason)
}

// CallStaff implements gate.Actuator.
func (a *Actuator) CallStaff(ctx context.Context, laneID, sessionID, reason string) error {
	return a.Deliver(ctx, gate.ActionCallStaff, laneID, sessionID, reason)
}

// Deliver sends one action's event, trying again after failures until it is delivered,
// Attempts are spent or ctx ends. The error is the last attempt's.
func (a *Actuator) Deliver(ctx context.Context, action gate.Action, laneID, sessionID, reason string) error {
	e, _ := ctx.Value(eventKey{}).(Event)
	e.Lane, e.Session, e.Action, e.Reason = laneID, sessionID, string(action), reason
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	body, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("%s: event: %w", a.Sink.Kind(), err)
	}
	attempts := a.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	wait, maxWait := a.Backoff, a.MaxBackoff
	if wait <= 0 {
		wait = DefaultBackoff
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxBackoff
	}
	kind := a.Sink.Kind()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err = a.Sink.Send(ctx, &e, body)
		if err == nil {
			a.Metrics.delivered(laneID, kind, "delivered", time.Since(start))
			return nil
		}
		a.Metrics.attemptFailed(laneID, kind)
		if attempt >= attempts || ctx.Err() != nil {
			a.Metrics.delivered(laneID, kind, "failed", time.Since(start))
			return fmt.Errorf("%s: %d attempt(s): %w", kind, attempt, err)
		}
		jittered := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-time.After(jittered):
		case <-ctx.Done():
			a.Metrics.delivered(laneID, kind, "failed", time.Since(start))
			return fmt.Errorf("%s: %d attempt(s), then %w: %w", kind, attempt, ctx.Err(), err)
		}
		wait = min(2*wait, maxWait)
	}
}

// Metrics count deliveries. A nil *Metrics counts nothing.
//
//	mdocgate_actuator_deliveries_total{lane,actuator,result}   counter: events delivered or given up (result delivered, failed)
//	mdocgate_actuator_attempt_failures_total{lane,actuator}    counter: attempts that failed (retried or not)
//	mdocgate_actuator_delivery_duration_seconds{lane,actuator} histogram: first attempt to delivery or giving up
//	mdocgate_actuator_queue_depth{lane}                        gauge: actions waiting for the lane's actuator
//	mdocgate_actuator_dropped_total{lane}                      counter: actions dropped, the lane's queue full
type Metrics struct {
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	// Queue and Dropped are kept by whoever queues the actions (the gate daemon).
	Queue   *prometheus.GaugeVec
	Dropped *prometheus.CounterVec
}

// NewMetrics makes the collectors; register them with Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_actuator_deliveries_total",
			Help: "Gate action events handed to a lane's actuator, by lane, actuator (webhook, mqtt, exec) and result (delivered, failed: every attempt failed)."},
			[]string{"lane", "actuator", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_actuator_attempt_failures_total",
			Help: "Delivery attempts that failed (each retry counts), by lane and actuator."}, []string{"lane", "actuator"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mdocgate_actuator_delivery_duration_seconds",
			Help:    "From the first attempt to delivery or giving up, retries and backoff included, by lane and actuator.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"lane", "actuator"}),
		Queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mdocgate_actuator_queue_depth",
			Help: "Gate actions waiting for the lane's actuator."}, []string{"lane"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_actuator_dropped_total",
			Help: "Gate actions not carried out because the lane's actuator queue was full."}, []string{"lane"}),
	}
}

// Collectors returns the collectors to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.deliveries, m.failures, m.duration, m.Queue, m.Dropped}
}

func (m *Metrics) delivered(lane, kind, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(lane, kind, result).Inc()
	m.duration.WithLabelValues(lane, kind).Observe(d.Seconds())
}

func (m *Metrics) attemptFailed(lane, kind string) {
	if m != nil {
		m.failures.WithLabelValues(lane, kind).Inc()
	}
}
