package actuator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTOptions configure an MQTT sink.
type MQTTOptions struct {
	// Broker is tcp://HOST:PORT (or ssl://, ws://).
	Broker  string
	Topic   string
	QoS     byte          // 0, 1 or 2
	Timeout time.Duration // one publish, acknowledgement included for QoS 1 and 2 (default DefaultTimeout)
	// ClientID prefixes the client identifier (a random suffix keeps two gates apart).
	ClientID string
}

// MQTT publishes each event's JSON to a topic. It connects in the background and
// reconnects on its own; while it is not connected a publish fails at once (and is
// tried again by the Actuator) instead of being queued for later, so that a late
// "open" never reaches a turnstile after its holder left.
type MQTT struct {
	o      MQTTOptions
	client mqtt.Client
}

// NewMQTT starts connecting to o.Broker and returns at once.
func NewMQTT(o MQTTOptions) *MQTT {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	id := o.ClientID
	if id == "" {
		id = "mdocgate"
	}
	opts := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(id + "-" + hex.EncodeToString(suffix[:])).
		SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetAutoReconnect(true).SetMaxReconnectInterval(10 * time.Second).
		SetConnectTimeout(o.Timeout).SetWriteTimeout(o.Timeout).SetCleanSession(true).SetOrderMatters(false)
	m := &MQTT{o: o, client: mqtt.NewClient(opts)}
	m.client.Connect() // ConnectRetry: keeps trying in the background
	return m
}

// Kind implements Sink.
func (m *MQTT) Kind() string { return "mqtt" }

// Connected reports whether the client is connected to the broker now.
func (m *MQTT) Connected() bool { return m.client.IsConnectionOpen() }

// Send implements Sink.
func (m *MQTT) Send(ctx context.Context, _ *Event, body []byte) error {
	if !m.client.IsConnectionOpen() {
		return fmt.Errorf("mqtt: not connected to %s", m.o.Broker)
	}
	t := m.client.Publish(m.o.Topic, m.o.QoS, false, body)
	timer := time.NewTimer(m.o.Timeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("mqtt: publish to %s: %w", m.o.Topic, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("mqtt: publish to %s: no acknowledgement in %s", m.o.Topic, m.o.Timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements Sink: it disconnects, giving messages in flight a quarter second.
func (m *MQTT) Close() error {
	m.client.Disconnect(250)
	return nil
}
