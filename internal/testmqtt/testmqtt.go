// Package testmqtt gives tests a real MQTT broker (Debian's Mosquitto) and a
// subscriber: one broker per test on a free loopback port when the mosquitto binary is
// installed, otherwise the one .ci/mosquitto.sh starts on 127.0.0.1:18883. Without
// either, a test skips when not root (mosquitto cannot be installed) and fails as root
// (run .ci/mosquitto.sh, as make test does).
package testmqtt

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SharedAddr is where .ci/mosquitto.sh's broker listens.
const SharedAddr = "127.0.0.1:18883"

// Broker returns the URL (tcp://127.0.0.1:PORT) of a running broker for the test.
func Broker(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr == nil {
			bin, err = "/usr/sbin/mosquitto", nil
		}
	}
	if err == nil {
		return "tcp://" + start(t, bin)
	}
	if c, err := net.DialTimeout("tcp", SharedAddr, time.Second); err == nil {
		c.Close()
		return "tcp://" + SharedAddr
	}
	if os.Geteuid() != 0 {
		t.Skip("MQTT test skipped: mosquitto is not installed and this is not root (run .ci/mosquitto.sh as root)")
	}
	t.Fatal("mosquitto is required: run .ci/mosquitto.sh (make test does)")
	return ""
}

// start runs a broker of the test's own on a free loopback port until the test ends.
func start(t testing.TB, bin string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", conf)
		out, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			opened, ok := false, false
			for sc.Scan() { // "Opening ipv4 listen socket on port P." then "mosquitto version V running"
				line := sc.Text()
				opened = opened || strings.Contains(line, "Opening ipv4 listen socket on port "+port+".")
				if opened && !ok && strings.HasSuffix(line, " running") {
					ok = true
					ready <- true
				}
			}
			if !ok {
				ready <- false
			}
		}()
		select {
		case ok := <-ready:
			if ok {
				t.Cleanup(func() {
					cmd.Process.Kill()
					cmd.Wait()
				})
				return addr
			}
		case <-time.After(10 * time.Second):
		}
		cmd.Process.Kill()
		cmd.Wait()
		if attempt >= 2 { // the port was taken in between, three times running
			t.Fatalf("mosquitto did not start on %s", addr)
		}
	}
}

// Subscribe subscribes to topic on broker (QoS 1) and returns the payloads received.
func Subscribe(t testing.TB, broker, topic string) <-chan []byte {
	t.Helper()
	msgs := make(chan []byte, 100)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("test-sub-%d", time.Now().UnixNano())).
		SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect to %s: %v", broker, tok.Error())
	}
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { msgs <- m.Payload() })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return msgs
}
