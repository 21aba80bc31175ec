//go:build linux

package ble

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// fakeBlueZ is a scripted org.bluez on a private D-Bus: an adapter hci0 with the
// GattManager1 and LEAdvertisingManager1 calls RealAdapter makes, recording what it is
// given, and a way to act as a central on the GATT application it received.
type fakeBlueZ struct {
	conn *dbus.Conn

	mu      sync.Mutex
	app     map[dbus.ObjectPath]map[string]map[string]dbus.Variant // the registered GATT application
	appFrom string                                                 // its owner's unique bus name
	adv     map[string]dbus.Variant                                // the registered advertisement's properties
	advPath dbus.ObjectPath
	events  []string
}

func (f *fakeBlueZ) event(e string) {
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

// gattManager is org.bluez.GattManager1 on /org/bluez/hci0.
type gattManager struct{ f *fakeBlueZ }

func (g gattManager) RegisterApplication(sender dbus.Sender, app dbus.ObjectPath, _ map[string]dbus.Variant) *dbus.Error {
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := g.f.conn.Object(string(sender), app).Call("org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs); err != nil {
		return dbus.MakeFailedError(err)
	}
	g.f.mu.Lock()
	g.f.app, g.f.appFrom = objs, string(sender)
	g.f.mu.Unlock()
	g.f.event("RegisterApplication")
	return nil
}

func (g gattManager) UnregisterApplication(dbus.ObjectPath) *dbus.Error {
	g.f.event("UnregisterApplication")
	return nil
}

// advManager is org.bluez.LEAdvertisingManager1 on /org/bluez/hci0.
type advManager struct{ f *fakeBlueZ }

func (a advManager) RegisterAdvertisement(sender dbus.Sender, path dbus.ObjectPath, _ map[string]dbus.Variant) *dbus.Error {
	var props map[string]dbus.Variant
	if err := a.f.conn.Object(string(sender), path).Call("org.freedesktop.DBus.Properties.GetAll", 0, "org.bluez.LEAdvertisement1").Store(&props); err != nil {
		return dbus.MakeFailedError(err)
	}
	a.f.mu.Lock()
	a.f.adv, a.f.advPath = props, path
	a.f.mu.Unlock()
	a.f.event("RegisterAdvertisement")
	return nil
}

func (a advManager) UnregisterAdvertisement(dbus.ObjectPath) *dbus.Error {
	a.f.event("UnregisterAdvertisement")
	return nil
}

// privateBus starts a dbus-daemon of its own and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian: dbus-daemon): the BlueZ D-Bus test needs a private bus")
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--print-address", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	return strings.TrimSpace(addr)
}

func startFakeBlueZ(t *testing.T, addr string) *fakeBlueZ {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if reply, err := conn.RequestName("org.bluez", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("org.bluez: %v %v", reply, err)
	}
	f := &fakeBlueZ{conn: conn}
	hci0 := dbus.ObjectPath("/org/bluez/hci0")
	if _, err := prop.Export(conn, hci0, map[string]map[string]*prop.Prop{"org.bluez.Adapter1": {
		"Address":      {Value: "00:11:22:33:44:55"},
		"Powered":      {Value: true},
		"Discoverable": {Value: false, Writable: true},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(gattManager{f}, hci0, "org.bluez.GattManager1"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(advManager{f}, hci0, "org.bluez.LEAdvertisingManager1"); err != nil {
		t.Fatal(err)
	}
	return f
}

// charPath finds the application's characteristic of UUID u.
func (f *fakeBlueZ) charPath(t *testing.T, u UUID) (dbus.ObjectPath, []string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for path, ifaces := range f.app {
		c, ok := ifaces["org.bluez.GattCharacteristic1"]
		if ok && c["UUID"].Value() == u.String() {
			return path, c["Flags"].Value().([]string)
		}
	}
	t.Fatalf("characteristic %s not in the application %v", u, f.app)
	return "", nil
}

// The BlueZ D-Bus calls of RealAdapter's GATT server (mdoc peripheral server mode, or
// the reader in central client mode), against a scripted BlueZ on a private bus: the
// adapter's address, the GATT application and its characteristics, a connectable
// advertisement of the service UUID, a central's write reaching the link, a
// notification leaving as the characteristic's Value change and not echoing back as a
// write, and the unregistering.
func TestRealAdapterGATTServerOverDBus(t *testing.T) {
	addr := privateBus(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr) // tinygo and RealAdapter use the system bus
	f := startFakeBlueZ(t, addr)
	a, err := NewRealAdapter("hci0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc := NewUUID()
	chars := PeripheralServerChars
	per, err := a.Advertise(ctx, Service{UUID: svc, Characteristics: []CharacteristicConfig{
		{UUID: chars.State, Props: PropNotify | PropWriteWithoutResponse},
		{UUID: chars.Client2Server, Props: PropWriteWithoutResponse},
		{UUID: chars.Server2Client, Props: PropNotify},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	adv := f.adv
	f.mu.Unlock()
	if adv["Type"].Value() != "peripheral" {
		t.Fatalf("advertisement type %v: a central cannot connect to a non-connectable advertisement", adv["Type"])
	}
	if uuids, _ := adv["ServiceUUIDs"].Value().([]string); len(uuids) != 1 || uuids[0] != svc.String() {
		t.Fatalf("advertised service UUIDs %v, want %s", adv["ServiceUUIDs"], svc)
	}
	var sawService bool
	for _, ifaces := range f.app {
		if s, ok := ifaces["org.bluez.GattService1"]; ok && s["UUID"].Value() == svc.String() && s["Primary"].Value() == true {
			sawService = true
		}
	}
	c2s, c2sFlags := f.charPath(t, chars.Client2Server)
	s2c, s2cFlags := f.charPath(t, chars.Server2Client)
	state, stateFlags := f.charPath(t, chars.State)
	if !sawService || strings.Join(c2sFlags, ",") != "write-without-response" || strings.Join(s2cFlags, ",") != "notify" ||
		strings.Join(stateFlags, ",") != "write-without-response,notify" {
		t.Fatalf("service %v, flags C2S %v S2C %v State %v", sawService, c2sFlags, s2cFlags, stateFlags)
	}
	server, err := per.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// the central writes State start and a chunk on Client2Server
	app := f.conn.Object(f.appFrom, state)
	if err := app.Call("org.bluez.GattCharacteristic1.WriteValue", 0, []byte{StateStart}, map[string]dbus.Variant{}).Err; err != nil {
		t.Fatal(err)
	}
	if err := f.conn.Object(f.appFrom, c2s).Call("org.bluez.GattCharacteristic1.WriteValue", 0, []byte{0x00, 'h', 'i'},
		map[string]dbus.Variant{"offset": dbus.MakeVariant(uint16(0))}).Err; err != nil {
		t.Fatal(err)
	}
	for _, want := range []Value{{Op: OpWrite, Char: chars.State, Data: []byte{StateStart}}, {Op: OpWrite, Char: chars.Client2Server, Data: []byte{0x00, 'h', 'i'}}} {
		v, err := server.Receive(ctx)
		if err != nil || v.Op != want.Op || v.Char != want.Char || !bytes.Equal(v.Data, want.Data) {
			t.Fatalf("received %+v %v, want %+v", v, err, want)
		}
	}
	// the server notifies: BlueZ sees the Value change of Server2Client (and of State)
	signals := make(chan *dbus.Signal, 16)
	f.conn.Signal(signals)
	if err := f.conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus.Properties"), dbus.WithMatchMember("PropertiesChanged")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		char UUID
		path dbus.ObjectPath
		data []byte
	}{{chars.Server2Client, s2c, []byte{0x00, 'o', 'k'}}, {chars.State, state, []byte{StateEnd}}} {
		if err := server.Notify(ctx, n.char, n.data); err != nil {
			t.Fatal(err)
		}
		select {
		case sig := <-signals:
			changed, _ := sig.Body[1].(map[string]dbus.Variant)
			if sig.Path != n.path || sig.Body[0] != "org.bluez.GattCharacteristic1" || !bytes.Equal(changed["Value"].Value().([]byte), n.data) {
				t.Fatalf("notification of %s: signal %+v", n.char, sig)
			}
		case <-ctx.Done():
			t.Fatalf("no Value change for the notification of %s", n.char)
		}
	}
	echo, cancelEcho := context.WithTimeout(ctx, 200*time.Millisecond)
	if v, err := server.Receive(echo); err == nil {
		t.Fatalf("the server's own notification came back as %+v", v)
	}
	cancelEcho()
	if err := per.StopAdvertising(); err != nil {
		t.Fatal(err)
	}
	if err := per.Close(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	events := strings.Join(f.events, ",")
	f.mu.Unlock()
	if events != "RegisterApplication,RegisterAdvertisement,UnregisterAdvertisement,UnregisterApplication" {
		t.Fatalf("BlueZ calls %s", events)
	}
	if _, err := a.Advertise(ctx, Service{UUID: NewUUID(), L2CAPPSM: DefaultPSM}); err == nil {
		t.Fatal("an L2CAP server was accepted: tinygo offers none")
	}
}
