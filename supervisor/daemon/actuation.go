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
	"github.com/mdocgate/mdocgate/supervisor/metrics"
)

// actJob is one session verdict for the lane's actuator.
type actJob struct {
	session string
	v       gate.Verdict
	fields  []zap.Field // what the log actuator adds: bearer, outcome, check, match
}

// actuation carries out a lane's gate verdicts on its actuator, in order, off the
// verdict stream (whose subscribers must not block): a barrier takes its commands one
// after the other.
type actuation struct {
	lane    string
	g       *gate.Gate // Actuator only
	actions *prometheus.CounterVec
	log     *zap.Logger

	mu     sync.Mutex
	queue  []actJob
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newActuation(lane string, a gate.Actuator, actions *prometheus.CounterVec, log *zap.Logger) *actuation {
	q := &actuation{lane: lane, g: &gate.Gate{Actuator: a}, actions: actions, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *actuation) push(j actJob) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.log.Error("gate action after shutdown: not carried out", zap.String("lane", q.lane), zap.String("session", j.session))
		return
	}
	q.queue = append(q.queue, j)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *actuation) run() {
	defer close(q.done)
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
		q.mu.Unlock()
		ctx := gate.WithLogFields(context.Background(), j.fields...)
		q.g.Actuate(ctx, q.lane, j.session, &j.v)
		if j.v.ActionError != "" {
			q.log.Error("gate actuator failed", zap.String("lane", q.lane), zap.String("session", j.session),
				zap.String("action", string(j.v.Action)), zap.String("error", j.v.ActionError))
		}
		q.actions.WithLabelValues(q.lane, string(j.v.Action), metrics.Reason(j.v.Reason)).Inc()
	}
}

// close lets the queued actions finish (until ctx ends) and stops.
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
