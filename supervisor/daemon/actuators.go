package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/supervisor/actuator"
)

// Actuators a lane may name (LaneConfig.Actuator).
const (
	actLog     = "log"
	actWebhook = "webhook"
	actMQTT    = "mqtt"
	actExec    = "exec"
)

// ActuatorOptions configure a lane's webhook, mqtt or exec actuator
// (`actuator_options:`; examples/gate.yaml documents them). Each actuator takes only
// its own fields; queue applies to every actuator, log included.
type ActuatorOptions struct {
	// webhook: the URL events are POSTed to (http or https) and a file holding the
	// HMAC-SHA256 secret (its trailing newline is not part of it).
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	// mqtt: tcp://HOST:PORT (or ssl://, ws://, wss://), the topic (no wildcards) and the
	// QoS (0, 1 or 2; default 1).
	Broker string `yaml:"broker"`
	Topic  string `yaml:"topic"`
	QoS    *int   `yaml:"qos"`
	// exec: the program and its arguments (no shell); a program path with a slash is
	// relative to the configuration's folder, a bare name is looked up in PATH.
	Command []string `yaml:"command"`
	// Timeout bounds one attempt (default 5s); Attempts is how many times one event is
	// tried, with backoff from 200ms doubling up to 5s (default 3).
	Timeout  time.Duration `yaml:"timeout"`
	Attempts int           `yaml:"attempts"`
	// Queue bounds the lane's actions waiting for the actuator (default 1024); more are
	// dropped, logged and counted (mdocgate_actuator_dropped_total).
	Queue int `yaml:"queue"`
}

const defaultActuatorQueue = 1024

// validateActuator checks (and defaults) the actuator and its options; fields are
// named relative to the lane.
func (l *LaneConfig) validateActuator() error {
	if l.Actuator == "" {
		l.Actuator = actLog
	}
	if l.ActuatorOptions == nil {
		l.ActuatorOptions = &ActuatorOptions{}
	}
	o := l.ActuatorOptions
	only := func(field string, set bool, kinds ...string) error {
		for _, k := range kinds {
			if l.Actuator == k {
				return nil
			}
		}
		if set {
			return bad("actuator_options."+field, "not an option of the %s actuator (only of %s)", l.Actuator, strings.Join(kinds, ", "))
		}
		return nil
	}
	for _, err := range []error{only("url", o.URL != "", actWebhook), only("secret_file", o.SecretFile != "", actWebhook),
		only("broker", o.Broker != "", actMQTT), only("topic", o.Topic != "", actMQTT), only("qos", o.QoS != nil, actMQTT),
		only("command", len(o.Command) > 0, actExec), only("timeout", o.Timeout != 0, actWebhook, actMQTT, actExec),
		only("attempts", o.Attempts != 0, actWebhook, actMQTT, actExec)} {
		if err != nil {
			return err
		}
	}
	switch {
	case o.Timeout < 0:
		return bad("actuator_options.timeout", "must not be negative")
	case o.Attempts < 0:
		return bad("actuator_options.attempts", "must not be negative")
	case o.Queue < 0:
		return bad("actuator_options.queue", "must not be negative")
	}
	if o.Queue == 0 {
		o.Queue = defaultActuatorQueue
	}
	switch l.Actuator {
	case actLog:
	case actWebhook:
		u, err := url.Parse(o.URL)
		switch {
		case o.URL == "":
			return bad("actuator_options.url", "the webhook actuator needs the URL events are posted to")
		case err != nil:
			return &fieldError{"actuator_options.url", err}
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			return bad("actuator_options.url", "%q: want http(s)://host[:port]/path", o.URL)
		case o.SecretFile == "":
			return bad("actuator_options.secret_file", "the webhook actuator signs its events: give the file of the shared secret")
		}
	case actMQTT:
		u, err := url.Parse(o.Broker)
		switch {
		case o.Broker == "":
			return bad("actuator_options.broker", "the mqtt actuator needs its broker, tcp://HOST:PORT")
		case err != nil:
			return &fieldError{"actuator_options.broker", err}
		case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "" || u.Port() == "":
			return bad("actuator_options.broker", "%q: want tcp://HOST:PORT (or ssl://, ws://, wss://)", o.Broker)
		case o.Topic == "":
			return bad("actuator_options.topic", "the mqtt actuator needs a topic")
		case strings.ContainsAny(o.Topic, "+#\x00"):
			return bad("actuator_options.topic", "%q: a topic to publish to has no wildcard (+, #)", o.Topic)
		case o.QoS != nil && (*o.QoS < 0 || *o.QoS > 2):
			return bad("actuator_options.qos", "%d: want 0, 1 or 2", *o.QoS)
		}
		if o.QoS == nil {
			one := 1
			o.QoS = &one
		}
	case actExec:
		if len(o.Command) == 0 || o.Command[0] == "" {
			return bad("actuator_options.command", "the exec actuator needs a command: [PROGRAM, ARGS...]")
		}
	default:
		return bad("actuator", "unknown actuator %q (want log, webhook, mqtt or exec)", l.Actuator)
	}
	return nil
}

// laneActuator is a lane's actuator at run time: what carries its actions out, and the
// network sink underneath (nil for log) to close when it is replaced.
type laneActuator struct {
	kind string
	act  gate.Actuator
	net  *actuator.Actuator // nil for log
	sink actuator.Sink
}

// connect starts the network side of the actuator (an MQTT client connects); until
// then it was only checked.
func (a *laneActuator) connect() {
	if a.net != nil {
		a.net.Sink = connectSink(a.net.Sink)
		a.sink = a.net.Sink
	}
}

// newActuator builds lane lc's actuator, reading its files (the webhook secret) and
// checking its program; errors name the field after lanes[i]. Network actuators also
// log each action as the log actuator does.
func (g *Gate) newActuator(i int, lc *LaneConfig) (*laneActuator, error) {
	logAct := gate.LogActuator{Log: g.log.Named("gate")}
	if lc.Actuator == actLog {
		return &laneActuator{kind: actLog, act: logAct}, nil
	}
	sink, err := g.cfg.actuatorSink(lc, g.cfg.Name)
	if err != nil {
		return nil, within(fmt.Sprintf("lanes[%d]", i), err)
	}
	o := lc.ActuatorOptions
	net := &actuator.Actuator{Sink: sink, Attempts: o.Attempts, Metrics: g.actMetrics}
	return &laneActuator{kind: lc.Actuator, act: loggedActuator{net: net, log: logAct}, net: net, sink: sink}, nil
}

// actuatorSink builds the network sink of a lane (fields relative to the lane). It reads
// the files and looks the program up but connects to nothing: Check uses it too.
func (c *Config) actuatorSink(lc *LaneConfig, gateName string) (actuator.Sink, error) {
	o := lc.ActuatorOptions
	switch lc.Actuator {
	case actWebhook:
		secret, err := readSecret(c.path(o.SecretFile))
		if err != nil {
			return nil, &fieldError{"actuator_options.secret_file", err}
		}
		return &actuator.Webhook{URL: o.URL, Secret: secret, Timeout: o.Timeout}, nil
	case actMQTT:
		return mqttSink{o: actuator.MQTTOptions{Broker: o.Broker, Topic: o.Topic, QoS: byte(*o.QoS), Timeout: o.Timeout,
			ClientID: "mdocgate-" + gateName + "-" + lc.Name}}, nil
	case actExec:
		argv := append([]string(nil), o.Command...)
		if strings.Contains(argv[0], "/") {
			argv[0] = c.path(argv[0])
		}
		p, err := exec.LookPath(argv[0])
		if err != nil {
			return nil, &fieldError{"actuator_options.command", err}
		}
		argv[0] = p
		return &actuator.Exec{Command: argv, Timeout: o.Timeout}, nil
	}
	return nil, bad("actuator", "%q has no sink", lc.Actuator)
}

// mqttSink is an MQTT actuator not yet connected: connect makes the real one (Check
// builds sinks without connecting).
type mqttSink struct{ o actuator.MQTTOptions }

func (m mqttSink) Kind() string { return actMQTT }
func (m mqttSink) Send(context.Context, *actuator.Event, []byte) error {
	return errors.New("mqtt: not connected")
}
func (m mqttSink) Close() error { return nil }

// connectSink starts the sink's network side: an MQTT client connects to its broker.
func connectSink(s actuator.Sink) actuator.Sink {
	if m, ok := s.(mqttSink); ok {
		return actuator.NewMQTT(m.o)
	}
	return s
}

// maxSecret bounds the webhook secret file.
const maxSecret = 4096

// readSecret reads a webhook secret: the file without its trailing newline, not empty.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxSecret+1)
	n, _ := f.Read(b)
	if n > maxSecret {
		return nil, fmt.Errorf("%s: longer than %d bytes", filepath.Base(path), maxSecret)
	}
	secret := []byte(strings.TrimRight(string(b[:n]), "\r\n"))
	if len(secret) == 0 {
		return nil, fmt.Errorf("%s: empty", filepath.Base(path))
	}
	return secret, nil
}

// loggedActuator carries actions out on a network actuator and logs each one as the
// log actuator does; the network actuator's error is the action's.
type loggedActuator struct {
	net gate.Actuator
	log gate.LogActuator
}

func (a loggedActuator) Open(ctx context.Context, lane, session string) error {
	err := a.net.Open(ctx, lane, session)
	_ = a.log.Open(withDelivery(ctx, err), lane, session)
	return err
}

func (a loggedActuator) Deny(ctx context.Context, lane, session, reason string) error {
	err := a.net.Deny(ctx, lane, session, reason)
	_ = a.log.Deny(withDelivery(ctx, err), lane, session, reason)
	return err
}

func (a loggedActuator) CallStaff(ctx context.Context, lane, session, reason string) error {
	err := a.net.CallStaff(ctx, lane, session, reason)
	_ = a.log.CallStaff(withDelivery(ctx, err), lane, session, reason)
	return err
}

// withDelivery adds the delivery's result to the action's log line.
func withDelivery(ctx context.Context, err error) context.Context {
	if err != nil {
		return gate.WithLogFields(ctx, zap.String("delivery", "failed"), zap.String("delivery_error", err.Error()))
	}
	return gate.WithLogFields(ctx, zap.String("delivery", "delivered"))
}
