//go:build linux

package ble

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
	"tinygo.org/x/bluetooth"
)

// RealAdapter maps the package's interface onto tinygo.org/x/bluetooth (BlueZ over D-Bus
// on Linux). It compiles and type-checks here but has NOT been tested on hardware: treat
// it as a starting point.
//
// Gaps of tinygo's Linux API, and what RealAdapter does about them:
//   - tinygo advertises as "broadcast" (non-connectable): RealAdapter registers its own
//     connectable ("peripheral") LEAdvertisement1 object with BlueZ on the same D-Bus
//     connection, so that a central can connect to our GATT server.
//   - tinygo's Characteristic.Write (how a server notifies) also calls the
//     characteristic's write handler: RealAdapter drops that echo of its own
//     notifications, and only characteristics a client may write have a handler.
//   - L2CAP connection-oriented channels are not offered: OpenL2CAP and AcceptL2CAP
//     return ErrNotSupported (use GATT).
//   - The MTU cannot be requested (BlueZ exchanges it on its own); the client side
//     reports the MTU BlueZ negotiated, the server side reports DefaultMTU (BlueZ does
//     not tell a GATT server), so a server sends values of at most 20 bytes.
//   - A GATT server is not told who writes nor when a client subscribes: one central at
//     a time is assumed, no OpSubscribe values are delivered, and Notify does not know
//     whether the client subscribed (BlueZ drops unsubscribed notifications).
//   - Callbacks come from tinygo's D-Bus goroutines: values are queued (bounded); when
//     the queue is full the callback blocks, which holds up BlueZ.
type RealAdapter struct {
	a   *bluetooth.Adapter
	id  string
	bus *dbus.Conn // the system bus connection tinygo uses too

	mu      sync.Mutex
	current *realLink // the connection the connect handler reports on
}

var _ Adapter = (*RealAdapter)(nil)

// NewRealAdapter enables the BlueZ adapter id ("" for hci0).
func NewRealAdapter(id string) (*RealAdapter, error) {
	if id == "" {
		id = "hci0"
	}
	a := bluetooth.NewAdapter(id)
	if err := a.Enable(); err != nil {
		return nil, fmt.Errorf("ble: enable adapter: %w", err)
	}
	bus, err := dbus.SystemBus()
	if err != nil {
		return nil, fmt.Errorf("ble: system bus: %w", err)
	}
	r := &RealAdapter{a: a, id: id, bus: bus}
	a.SetConnectHandler(func(_ bluetooth.Device, connected bool) {
		r.mu.Lock()
		l := r.current
		r.mu.Unlock()
		if l != nil && !connected {
			l.down()
		}
	})
	return r, nil
}

func tinyUUID(u UUID) bluetooth.UUID { return bluetooth.NewUUID(u) }

const realQueue = 64

type realLink struct {
	mtu  int
	in   chan Value
	done chan struct{}
	once sync.Once
	dev  *bluetooth.Device // client side
}

func newRealLink(mtu int) *realLink {
	return &realLink{mtu: mtu, in: make(chan Value, realQueue), done: make(chan struct{})}
}

func (l *realLink) down() { l.once.Do(func() { close(l.done) }) }

func (l *realLink) push(v Value) {
	select {
	case l.in <- v:
	case <-l.done:
	}
}

func (l *realLink) MTU() int              { return l.mtu }
func (l *realLink) Done() <-chan struct{} { return l.done }

func (l *realLink) Receive(ctx context.Context) (Value, error) {
	select {
	case v := <-l.in:
		return v, nil
	case <-ctx.Done():
		return Value{}, ctx.Err()
	case <-l.done:
		select {
		case v := <-l.in:
			return v, nil
		default:
			return Value{}, ErrDisconnected
		}
	}
}

func (l *realLink) Disconnect() error {
	l.down()
	if l.dev != nil {
		return l.dev.Disconnect()
	}
	return nil
}

// Advertise adds svc to BlueZ and advertises its UUID.
func (r *RealAdapter) Advertise(ctx context.Context, svc Service) (Peripheral, error) {
	if svc.L2CAPPSM != 0 {
		return nil, fmt.Errorf("ble: L2CAP server: %w", ErrNotSupported)
	}
	p := &realPeripheral{r: r, accept: make(chan *realServer, 1), chars: map[UUID]*servedChar{}}
	p.link = newRealLink(DefaultMTU)
	ts := &bluetooth.Service{UUID: tinyUUID(svc.UUID)}
	for _, c := range svc.Characteristics {
		handle := &bluetooth.Characteristic{}
		rc := &servedChar{h: handle}
		p.chars[c.UUID] = rc
		var flags bluetooth.CharacteristicPermissions
		if c.Props&PropRead != 0 {
			flags |= bluetooth.CharacteristicReadPermission
		}
		if c.Props&PropWriteWithoutResponse != 0 {
			flags |= bluetooth.CharacteristicWriteWithoutResponsePermission
		}
		if c.Props&PropNotify != 0 {
			flags |= bluetooth.CharacteristicNotifyPermission
		}
		cfg := bluetooth.CharacteristicConfig{Handle: handle, UUID: tinyUUID(c.UUID), Value: append([]byte(nil), c.Value...), Flags: flags}
		if c.Props&PropWriteWithoutResponse != 0 {
			char := c.UUID
			cfg.WriteEvent = func(_ bluetooth.Connection, _ int, value []byte) {
				if rc.notifying.Load() {
					return // our own notification, echoed by tinygo's Write
				}
				p.link.push(Value{Op: OpWrite, Char: char, Data: append([]byte(nil), value...)})
			}
		}
		ts.Characteristics = append(ts.Characteristics, cfg)
	}
	if err := r.a.AddService(ts); err != nil {
		return nil, fmt.Errorf("ble: add service: %w", err)
	}
	p.svc = ts
	r.mu.Lock()
	r.current = p.link
	r.mu.Unlock()
	adv, err := r.advertise(svc.UUID)
	if err != nil {
		r.a.RemoveService(ts)
		return nil, err
	}
	p.adv = adv
	// BlueZ accepts the connection on its own; the first write tells us a central is
	// there. The server side is handed out at once.
	p.accept <- &realServer{realLink: p.link, p: p}
	return p, nil
}

type realPeripheral struct {
	r      *RealAdapter
	svc    *bluetooth.Service
	adv    *advertisement
	link   *realLink
	chars  map[UUID]*servedChar
	accept chan *realServer
	once   sync.Once
}

// servedChar is a served characteristic; notifying is set while a notification is sent.
type servedChar struct {
	h         *bluetooth.Characteristic
	mu        sync.Mutex
	notifying atomic.Bool
}

var advertisementSeq atomic.Uint64

// advertisement is a connectable LEAdvertisement1 (org.bluez.LEAdvertisement.rst)
// registered with the adapter's LEAdvertisingManager1.
type advertisement struct {
	r    *RealAdapter
	path dbus.ObjectPath
	once sync.Once
}

// Release is called by BlueZ when it drops the advertisement.
func (a *advertisement) Release() *dbus.Error { return nil }

func (r *RealAdapter) adapterObject() dbus.BusObject {
	return r.bus.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+r.id))
}

// advertise registers a connectable advertisement of service u.
func (r *RealAdapter) advertise(u UUID) (*advertisement, error) {
	a := &advertisement{r: r, path: dbus.ObjectPath(fmt.Sprintf("/org/mdocgate/ble/advertisement%d", advertisementSeq.Add(1)))}
	props := map[string]map[string]*prop.Prop{"org.bluez.LEAdvertisement1": {
		"Type":         {Value: "peripheral"}, // connectable
		"ServiceUUIDs": {Value: []string{tinyUUID(u).String()}},
		"Timeout":      {Value: uint16(0)},
	}}
	if _, err := prop.Export(r.bus, a.path, props); err != nil {
		return nil, fmt.Errorf("ble: export advertisement: %w", err)
	}
	if err := r.bus.Export(a, a.path, "org.bluez.LEAdvertisement1"); err != nil {
		return nil, fmt.Errorf("ble: export advertisement: %w", err)
	}
	if err := r.adapterObject().Call("org.bluez.LEAdvertisingManager1.RegisterAdvertisement", 0, a.path, map[string]dbus.Variant{}).Err; err != nil {
		a.unexport()
		return nil, fmt.Errorf("ble: start advertising: %w", err)
	}
	return a, nil
}

func (a *advertisement) unexport() {
	a.r.bus.Export(nil, a.path, "org.bluez.LEAdvertisement1")
	a.r.bus.Export(nil, a.path, "org.freedesktop.DBus.Properties")
}

// Stop unregisters the advertisement; it is idempotent.
func (a *advertisement) Stop() error {
	var err error
	a.once.Do(func() {
		err = a.r.adapterObject().Call("org.bluez.LEAdvertisingManager1.UnregisterAdvertisement", 0, a.path).Err
		a.unexport()
	})
	return err
}

func (p *realPeripheral) Accept(ctx context.Context) (ServerConn, error) {
	select {
	case s := <-p.accept:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *realPeripheral) AcceptL2CAP(context.Context) (L2CAPChannel, error) {
	return nil, fmt.Errorf("ble: L2CAP: %w", ErrNotSupported)
}

func (p *realPeripheral) StopAdvertising() error { return p.adv.Stop() }

func (p *realPeripheral) Close() error {
	var err error
	p.once.Do(func() {
		err = errors.Join(p.adv.Stop(), p.r.a.RemoveService(p.svc))
		p.link.down()
	})
	return err
}

type realServer struct {
	*realLink
	p *realPeripheral
}

func (s *realServer) Notify(_ context.Context, char UUID, data []byte) error {
	c, ok := s.p.chars[char]
	if !ok {
		return fmt.Errorf("%w: characteristic %s", ErrNotFound, char)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notifying.Store(true)
	_, err := c.h.Write(data)
	c.notifying.Store(false)
	if err != nil {
		return fmt.Errorf("ble: notify: %w", err)
	}
	return nil
}

// Connect scans until a device advertises service, connects, and discovers the service.
// BlueZ negotiates the MTU on its own; mtu is ignored.
func (r *RealAdapter) Connect(ctx context.Context, service UUID, _ int) (Connection, error) {
	want := tinyUUID(service)
	found := make(chan bluetooth.Address, 1)
	stop := context.AfterFunc(ctx, func() { r.a.StopScan() })
	err := r.a.Scan(func(a *bluetooth.Adapter, res bluetooth.ScanResult) {
		if res.HasServiceUUID(want) {
			select {
			case found <- res.Address:
			default:
			}
			a.StopScan()
		}
	})
	stop()
	if err != nil {
		return nil, fmt.Errorf("ble: scan: %w", err)
	}
	var addr bluetooth.Address
	select {
	case addr = <-found:
	default:
		return nil, fmt.Errorf("ble: scan for %s: %w", service, ctx.Err())
	}
	dev, err := r.a.Connect(addr, bluetooth.ConnectionParams{})
	if err != nil {
		return nil, fmt.Errorf("ble: connect: %w", err)
	}
	svcs, err := dev.DiscoverServices([]bluetooth.UUID{want})
	if err != nil || len(svcs) == 0 {
		dev.Disconnect()
		return nil, fmt.Errorf("%w: service %s (%v)", ErrNotFound, service, err)
	}
	c := &realClient{realLink: newRealLink(DefaultMTU), svc: svcs[0], service: service}
	c.dev = &dev
	r.mu.Lock()
	r.current = c.realLink
	r.mu.Unlock()
	return c, nil
}

type realClient struct {
	*realLink
	svc     bluetooth.DeviceService
	service UUID
}

func (c *realClient) Characteristic(_ context.Context, service, char UUID) (Characteristic, error) {
	if service != c.service {
		return nil, fmt.Errorf("%w: service %s", ErrNotFound, service)
	}
	cs, err := c.svc.DiscoverCharacteristics([]bluetooth.UUID{tinyUUID(char)})
	if err != nil || len(cs) == 0 {
		return nil, fmt.Errorf("%w: characteristic %s (%v)", ErrNotFound, char, err)
	}
	if mtu, err := cs[0].GetMTU(); err == nil && int(mtu) > c.mtu {
		c.mtu = int(mtu)
	}
	return &realChar{c: c, uuid: char, dc: cs[0]}, nil
}

func (c *realClient) OpenL2CAP(context.Context, uint16) (L2CAPChannel, error) {
	return nil, fmt.Errorf("ble: L2CAP: %w", ErrNotSupported)
}

type realChar struct {
	c    *realClient
	uuid UUID
	dc   bluetooth.DeviceCharacteristic
}

func (ch *realChar) UUID() UUID { return ch.uuid }

func (ch *realChar) Read(context.Context) ([]byte, error) {
	buf := make([]byte, MaxValue)
	n, err := ch.dc.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("ble: read %s: %w", ch.uuid, err)
	}
	return buf[:min(n, len(buf))], nil
}

func (ch *realChar) WriteWithoutResponse(_ context.Context, data []byte) error {
	if _, err := ch.dc.WriteWithoutResponse(data); err != nil {
		return fmt.Errorf("ble: write %s: %w", ch.uuid, err)
	}
	return nil
}

func (ch *realChar) Subscribe(context.Context) error {
	u := ch.uuid
	return ch.dc.EnableNotifications(func(b []byte) {
		ch.c.push(Value{Op: OpNotify, Char: u, Data: append([]byte(nil), b...)})
	})
}

func (ch *realChar) Unsubscribe(context.Context) error { return ch.dc.EnableNotifications(nil) }
