package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/supervisor/actuator"
	"github.com/mdocgate/mdocgate/supervisor/metrics"
)

// actJob is one session verdict for the lane's actuator, or (swap) a new actuator to
// use from there on.
type actJob struct {
	session string
	v       gate.Verdict
	fields  []zap.Field    // what the log actuator adds: bearer, outcome, check, match
	event   actuator.Event // what a network actuator sends, the action and reason left to it
	swap    *laneActuator
}

// actuation carries out a lane's gate verdicts on its actuator, in order, off the
// verdict stream (whose subscribers must not block): a barrier takes its commands one
// after the other. Its queue is bounded: an action past it is dropped, logged and
// counted. A reload's new actuator takes over in order: actions queued before it go to
// the old one, which is then closed.
type actuation struct {
	lane    string
	max     int
	actions *prometheus.CounterVec
	m       *actuator.Metrics
	log     *zap.Logger
	cur     *laneActuator // the worker's only
	ctx     context.Context
	cancel  context.CancelFunc // ends deliveries still retrying when close gives up

	mu     sync.Mutex
	queue  []actJob
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newActuation(lane string, a *laneActuator, max int, actions *prometheus.CounterVec, m *actuator.Metrics, log *zap.Logger) *actuation {
	if max <= 0 {
		max = defaultActuatorQueue
	}
	q := &actuation{lane: lane, max: max, cur: a, actions: actions, m: m, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	m.Queue.WithLabelValues(lane).Set(0)
	m.Dropped.WithLabelValues(lane).Add(0)
	go q.run()
	return q
}

func (q *actuation) push(j actJob) {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		q.log.Error("gate action after shutdown: not carried out", zap.String("lane", q.lane), zap.String("session", j.session))
		if j.swap != nil && j.swap.sink != nil {
			j.swap.sink.Close()
		}
		return
	case j.swap == nil && len(q.queue) >= q.max:
		q.mu.Unlock()
		q.m.Dropped.WithLabelValues(q.lane).Inc()
		q.log.Error("gate actuator queue full: action not carried out", zap.String("lane", q.lane), zap.String("session", j.session),
			zap.String("action", string(j.v.Action)), zap.Int("queue", q.max))
		return
	}
	q.queue = append(q.queue, j)
	q.m.Queue.WithLabelValues(q.lane).Set(float64(len(q.queue)))
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// swap hands the lane a new actuator (a reload).
func (q *actuation) swap(a *laneActuator) { q.push(actJob{swap: a}) }

func (q *actuation) run() {
	defer close(q.done)
	defer func() {
		if q.cur.sink != nil {
			q.cur.sink.Close()
		}
	}()
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				return
			}
			<-q.wake
			continue
		}
		j := q.queue[0]
		q.queue = q.queue[1:]
		q.m.Queue.WithLabelValues(q.lane).Set(float64(len(q.queue)))
		q.mu.Unlock()
		if j.swap != nil {
			if q.cur.sink != nil {
				q.cur.sink.Close()
			}
			q.cur = j.swap
			continue
		}
		ctx := gate.WithLogFields(q.ctx, append(j.fields, zap.String("actuator", q.cur.kind))...)
		ctx = actuator.WithEvent(ctx, j.event)
		(&gate.Gate{Actuator: q.cur.act}).Actuate(ctx, q.lane, j.session, &j.v)
		if j.v.ActionError != "" {
			q.log.Error("gate actuator failed", zap.String("lane", q.lane), zap.String("session", j.session),
				zap.String("action", string(j.v.Action)), zap.String("error", j.v.ActionError))
		}
		q.actions.WithLabelValues(q.lane, string(j.v.Action), metrics.Reason(j.v.Reason)).Inc()
	}
}

// close lets the queued actions finish (until ctx ends; deliveries still retrying are
// then cut short) and stops.
func (q *actuation) close(ctx context.Context) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.done:
	case <-ctx.Done():
		q.cancel()
	}
}

// binaryElements are left out of log_element_values: images and templates.
var binaryElements = map[string]bool{"portrait": true, "enrolment_portrait_image": true, "signature_usual_mark": true}

// loggedElements are the disclosed element values for log_element_values (debug):
// binary elements and long values are replaced by a note of their size.
func loggedElements(res *verify.Result) map[string]map[string]any {
	if res == nil {
		return nil
	}
	out := map[string]map[string]any{}
	for _, d := range res.Documents {
		for ns, els := range d.Elements {
			m := out[ns]
			if m == nil {
				m = map[string]any{}
				out[ns] = m
			}
			for id, v := range els {
				s, isString := v.(string)
				switch {
				case binaryElements[id] || strings.HasPrefix(id, "biometric_template"):
					m[id] = "(binary, not logged)"
				case isString && len(s) > 256:
					m[id] = fmt.Sprintf("(%d characters, not logged)", len(s))
				default:
					m[id] = v
				}
			}
		}
	}
	return out
}
