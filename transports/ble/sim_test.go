package ble

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var testChar = CharacteristicConfig{UUID: mustUUID("00000001000000000000000000000001"), Props: PropNotify | PropWriteWithoutResponse | PropRead, Value: []byte("hello")}

// pair connects a central and a peripheral serving testChar.
func pair(t *testing.T, s *Sim, central, periph DeviceConfig, mtu int) (Connection, ServerConn) {
	t.Helper()
	ctx := ctxT(t)
	svc := Service{UUID: NewUUID(), Characteristics: []CharacteristicConfig{testChar}, L2CAPPSM: DefaultPSM}
	p, err := s.NewAdapter(periph).Advertise(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := s.NewAdapter(central).Connect(ctx, svc.UUID, mtu)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect() })
	return c, sc
}

func TestMTUNegotiation(t *testing.T) {
	s := NewSim(SimConfig{})
	for _, tc := range []struct {
		name             string
		central, periph  DeviceConfig
		ask, want, frame int
	}{
		{"no exchange", DeviceConfig{}, DeviceConfig{}, 23, 23, 20},
		{"max", DeviceConfig{}, DeviceConfig{}, 517, 517, 512},
		{"multipaz 515", DeviceConfig{}, DeviceConfig{}, 515, 515, 512},
		{"peripheral smaller", DeviceConfig{}, DeviceConfig{MaxMTU: 247}, 517, 247, 244},
		{"central smaller", DeviceConfig{MaxMTU: 100}, DeviceConfig{}, 517, 100, 97},
		{"ios central", DeviceConfig{IOS: true}, DeviceConfig{}, 517, 185, 182},
		{"ios central asks nothing", DeviceConfig{IOS: true}, DeviceConfig{}, 0, 185, 182},
		{"ios peripheral", DeviceConfig{}, DeviceConfig{IOS: true}, 517, 185, 182},
		{"ios and small", DeviceConfig{IOS: true}, DeviceConfig{MaxMTU: 64}, 517, 64, 61},
	} {
		c, sc := pair(t, s, tc.central, tc.periph, tc.ask)
		if c.MTU() != tc.want || sc.MTU() != tc.want || MaxValueFor(c.MTU()) != tc.frame {
			t.Errorf("%s: MTU %d/%d frame %d, want %d frame %d", tc.name, c.MTU(), sc.MTU(), MaxValueFor(c.MTU()), tc.want, tc.frame)
		}
	}
}

func TestAirTimeExact(t *testing.T) {
	two := SimConfig{PHY: PHY2M}
	if got := two.PacketTime(189); got != 800*time.Microsecond {
		t.Fatalf("2M packet of 189: %v", got)
	}
	if got := two.PacketTime(0); got != 44*time.Microsecond {
		t.Fatalf("2M empty packet: %v", got)
	}
	if got := two.ExchangeTime(189); got != 1144*time.Microsecond {
		t.Fatalf("2M exchange of 189: %v", got)
	}
	one := SimConfig{PHY: PHY1M}
	if got := one.PacketTime(27); got != 296*time.Microsecond {
		t.Fatalf("1M packet of 27: %v", got)
	}
	if got := one.ExchangeTime(0); got != 460*time.Microsecond {
		t.Fatalf("1M empty exchange: %v", got)
	}
	s := NewSim(two)
	l := newSimLink(s, nil, 185, Faults{})
	// Seven notifications of 182 bytes (MTU 185): 189-byte L2CAP PDUs, one LL packet
	// each; six fill the first event, the seventh waits for the next one.
	l.mu.Lock()
	for range 7 {
		l.accountLocked(4 + 3 + 182)
	}
	l.mu.Unlock()
	if want := 30*time.Millisecond + 1144*time.Microsecond; l.clock != want || s.AirTime() != want {
		t.Fatalf("7 × 182 bytes: %v (sim %v), want %v", l.clock, s.AirTime(), want)
	}
	// A 512-byte value (MTU 517): 519 bytes = LL packets of 251, 251 and 17.
	l2 := newSimLink(NewSim(two), nil, 517, Faults{})
	l2.mu.Lock()
	d := l2.accountLocked(4 + 3 + 512)
	l2.mu.Unlock()
	if want := 2*1392*time.Microsecond + 456*time.Microsecond; d != want {
		t.Fatalf("512-byte value: %v, want %v", d, want)
	}
}

func TestAirTimeThroughConnection(t *testing.T) {
	s := NewSim(SimConfig{})
	c, sc := pair(t, s, DeviceConfig{}, DeviceConfig{}, 23) // no MTU exchange
	ch, err := c.Characteristic(ctxT(t), sc.(*simServer).l.p.svc.UUID, testChar.UUID)
	if err != nil {
		t.Fatal(err)
	}
	before := s.AirTime()
	if err := ch.WriteWithoutResponse(ctxT(t), make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	// 4 + 3 + 20 = 27 bytes: one packet.
	if got, want := s.AirTime()-before, s.Config().ExchangeTime(27); got != want {
		t.Fatalf("air %v, want %v", got, want)
	}
	if err := ch.WriteWithoutResponse(ctxT(t), make([]byte, 21)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("21 bytes at MTU 23: %v", err)
	}
}

func TestOrderingAcrossCharacteristics(t *testing.T) {
	s := NewSim(SimConfig{QueueLen: 4})
	c, sc := pair(t, s, DeviceConfig{}, DeviceConfig{}, 185)
	ctx := ctxT(t)
	ch, _ := c.Characteristic(ctx, sc.(*simServer).l.p.svc.UUID, testChar.UUID)
	if err := sc.Notify(ctx, testChar.UUID, []byte{1}); !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("notify before subscribe: %v", err)
	}
	if err := ch.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := sc.Receive(ctx); err != nil || v.Op != OpSubscribe {
		t.Fatalf("server saw %v %v, want the subscription", v, err)
	}
	const n = 200
	done := make(chan error, 1)
	go func() { // more values than the queue holds: the sender blocks, order holds
		for i := range n {
			if err := sc.Notify(ctx, testChar.UUID, []byte{byte(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		v, err := c.Receive(ctx)
		if err != nil || v.Op != OpNotify || v.Data[0] != byte(i) {
			t.Fatalf("value %d: %v %v", i, v, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := ch.Read(ctx); err != nil || string(got) != "hello" {
		t.Fatalf("read %q %v", got, err)
	}
}

func TestFaultsSeededAndDisconnect(t *testing.T) {
	count := func(seed uint64) int {
		s := NewSim(SimConfig{})
		c, sc := pair(t, s, DeviceConfig{Faults: Faults{Drop: 0.3, Seed: seed}}, DeviceConfig{}, 185)
		ctx := ctxT(t)
		ch, _ := c.Characteristic(ctx, sc.(*simServer).l.p.svc.UUID, testChar.UUID)
		for i := range 100 {
			if err := ch.WriteWithoutResponse(ctx, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			if i%10 == 9 { // keep the queue drained
				for {
					rctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
					_, err := sc.Receive(rctx)
					cancel()
					if err != nil {
						break
					}
				}
			}
		}
		return int(s.AirTime()) // dropped values are still accounted
	}
	first, second := count(7), count(7)
	if first != second {
		t.Fatal("same seed, different runs")
	}

	// DisconnectAfter: the third value is delivered, then the link is down.
	s := NewSim(SimConfig{})
	c, sc := pair(t, s, DeviceConfig{}, DeviceConfig{Faults: Faults{DisconnectAfter: 3}}, 185)
	ctx := ctxT(t)
	ch, _ := c.Characteristic(ctx, sc.(*simServer).l.p.svc.UUID, testChar.UUID)
	for i := range 3 {
		if err := ch.WriteWithoutResponse(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.WriteWithoutResponse(ctx, []byte{3}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("write after the break: %v", err)
	}
	for i := range 3 {
		if v, err := sc.Receive(ctx); err != nil || v.Data[0] != byte(i) {
			t.Fatalf("value %d: %v %v", i, v, err)
		}
	}
	if _, err := sc.Receive(ctx); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("after the queued values: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("link not down")
	}

	// Stall adds StallFor to the air time.
	s = NewSim(SimConfig{})
	c, sc = pair(t, s, DeviceConfig{Faults: Faults{Stall: 1, StallFor: time.Second}}, DeviceConfig{}, 23)
	ch, _ = c.Characteristic(ctx, sc.(*simServer).l.p.svc.UUID, testChar.UUID)
	before := s.AirTime()
	ch.WriteWithoutResponse(ctx, make([]byte, 20))
	if got, want := s.AirTime()-before, time.Second+s.Config().ExchangeTime(27); got != want {
		t.Fatalf("stalled value: %v, want %v", got, want)
	}
}

func TestRealTimeDelaysDelivery(t *testing.T) {
	s := NewSim(SimConfig{RealTime: true, PHY: PHY1M})
	c, sc := pair(t, s, DeviceConfig{}, DeviceConfig{}, 23)
	ctx := ctxT(t)
	ch, _ := c.Characteristic(ctx, sc.(*simServer).l.p.svc.UUID, testChar.UUID)
	start := time.Now()
	for range 13 { // 13 packets > 2 events of 6: at least two connection intervals
		if err := ch.WriteWithoutResponse(ctx, make([]byte, 20)); err != nil {
			t.Fatal(err)
		}
	}
	for range 13 {
		if _, err := sc.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("13 packets delivered in %v, model says ≥ 60 ms", el)
	}
}

func TestL2CAPChannel(t *testing.T) {
	s := NewSim(SimConfig{QueueLen: 2})
	c, sc := pair(t, s, DeviceConfig{}, DeviceConfig{}, 23)
	ctx := ctxT(t)
	if _, err := c.OpenL2CAP(ctx, 0x99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong PSM: %v", err)
	}
	cc, err := c.OpenL2CAP(ctx, DefaultPSM)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := sc.(*simServer).l.p.AcceptL2CAP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{bytes.Repeat([]byte{1}, 3000), {2}, bytes.Repeat([]byte{3}, 247)}
	done := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := cc.Send(ctx, m); err != nil {
				done <- err
				return
			}
		}
		cc.Close()
		done <- nil
	}()
	for _, m := range msgs {
		got, err := sch.Receive(ctx)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(m))
		}
	}
	if _, err := sch.Receive(ctx); !errors.Is(err, transports.ErrClosed) || errors.Is(err, ErrDisconnected) {
		t.Fatalf("after close: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := sch.Send(ctx, []byte{1}); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("send on a closed channel: %v", err)
	}
}

// engagementKey returns EDeviceKeyBytes of a fresh key.
func engagementKey(t *testing.T) []byte {
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := messages.EncodeToCBOR(k.COSEKey())
	if err != nil {
		t.Fatal(err)
	}
	return b.Raw()
}

// openPair opens both sides of a BLE session on s.
func openPair(t *testing.T, s *Sim, hp, rp Params) (holder, reader *Conn, herr, rerr error) {
	t.Helper()
	ctx := ctxT(t)
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Open(ctx, s.NewAdapter(DeviceConfig{}), hp)
		ch <- res{c, err}
	}()
	reader, rerr = Open(ctx, s.NewAdapter(DeviceConfig{}), rp)
	r := <-ch
	if r.c != nil {
		t.Cleanup(func() { r.c.Close() })
	}
	if reader != nil {
		t.Cleanup(func() { reader.Close() })
	}
	return r.c, reader, r.err, rerr
}

func TestStateStartAndEnd(t *testing.T) {
	for _, mode := range []Mode{PeripheralServer, CentralClient} {
		s := NewSim(SimConfig{})
		ek := engagementKey(t)
		u := NewUUID()
		h, r, herr, rerr := openPair(t, s, Params{Side: Holder, Mode: mode, Service: u, EDeviceKeyBytes: ek, MTU: 185},
			Params{Side: Reader, Mode: mode, Service: u, EDeviceKeyBytes: ek, MTU: 185})
		if herr != nil || rerr != nil {
			t.Fatalf("%v: open: %v / %v", mode, herr, rerr)
		}
		ctx := ctxT(t)
		if r.MaxFrameSize() != 182 || h.MaxFrameSize() != 182 {
			t.Fatalf("frame sizes %d %d", r.MaxFrameSize(), h.MaxFrameSize())
		}
		for i := range 3 {
			if err := r.WriteFrame(ctx, []byte{byte(i), 1}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.WriteFrame(ctx, make([]byte, 183)); !errors.Is(err, transports.ErrFrameTooBig) {
			t.Fatalf("oversized frame: %v", err)
		}
		r.Close() // End after the frames
		for i := range 3 {
			if f, err := h.ReadFrame(ctx); err != nil || f[0] != byte(i) {
				t.Fatalf("%v: frame %d: %v %v", mode, i, f, err)
			}
		}
		if _, err := h.ReadFrame(ctx); !errors.Is(err, transports.ErrClosed) || errors.Is(err, ErrDisconnected) {
			t.Fatalf("%v: after End: %v, want a clean close", mode, err)
		}
		if err := h.WriteFrame(ctx, []byte{1}); err == nil {
			t.Fatalf("%v: write after End succeeded", mode)
		}
	}
}

func TestDisconnectWithoutEndIsError(t *testing.T) {
	s := NewSim(SimConfig{})
	u := NewUUID()
	h, r, herr, rerr := openPair(t, s, Params{Side: Holder, Mode: PeripheralServer, Service: u},
		Params{Side: Reader, Mode: PeripheralServer, Service: u})
	if herr != nil || rerr != nil {
		t.Fatal(herr, rerr)
	}
	ctx := ctxT(t)
	r.WriteFrame(ctx, []byte{0, 1})
	r.link.Disconnect() // no End
	if _, err := h.ReadFrame(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReadFrame(ctx); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("disconnect without End: %v", err)
	}
}

func TestDataBeforeStartRefused(t *testing.T) {
	s := NewSim(SimConfig{})
	u := NewUUID()
	ctx := ctxT(t)
	errc := make(chan error, 1)
	go func() {
		_, err := Open(ctx, s.NewAdapter(DeviceConfig{}), Params{Side: Holder, Mode: PeripheralServer, Service: u})
		errc <- err
	}()
	c, err := s.NewAdapter(DeviceConfig{}).Connect(ctx, u, 185)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	c2s, err := c.Characteristic(ctx, u, PeripheralServerChars.Client2Server)
	if err != nil {
		t.Fatal(err)
	}
	c2s.WriteWithoutResponse(ctx, []byte{0, 1})
	if err := <-errc; !errors.Is(err, ErrProtocol) {
		t.Fatalf("data before start: %v", err)
	}
}

func TestWrongIdentRefused(t *testing.T) {
	s := NewSim(SimConfig{})
	ek := engagementKey(t)
	u := NewUUID()
	_, _, herr, rerr := openPair(t, s, Params{Side: Holder, Mode: CentralClient, Service: u, EDeviceKeyBytes: ek},
		Params{Side: Reader, Mode: CentralClient, Service: u, EDeviceKeyBytes: ek, Ident: make([]byte, 16)})
	if !errors.Is(herr, ErrIdentMismatch) {
		t.Fatalf("holder: %v, want ErrIdentMismatch", herr)
	}
	if !errors.Is(rerr, ErrDisconnected) {
		t.Fatalf("reader: %v, want ErrDisconnected", rerr)
	}
}

func TestL2CAPSession(t *testing.T) {
	for _, mode := range []Mode{PeripheralServer, CentralClient} {
		s := NewSim(SimConfig{})
		ek := engagementKey(t)
		u := NewUUID()
		hp := Params{Side: Holder, Mode: mode, Service: u, EDeviceKeyBytes: ek, PSM: DefaultPSM}
		rp := Params{Side: Reader, Mode: mode, Service: u, EDeviceKeyBytes: ek, PSM: DefaultPSM, L2CAP: true}
		h, r, herr, rerr := openPair(t, s, hp, rp)
		if herr != nil || rerr != nil {
			t.Fatalf("%v: %v / %v", mode, herr, rerr)
		}
		if !h.L2CAP() || !r.L2CAP() || r.MaxFrameSize() != messages.MaxMessageSize {
			t.Fatalf("%v: not on L2CAP", mode)
		}
		ctx := ctxT(t)
		msg := bytes.Repeat([]byte("x"), 5000)
		go r.WriteFrame(ctx, msg)
		if got, err := h.ReadFrame(ctx); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%v: %d bytes %v", mode, len(got), err)
		}
	}
}

func TestListenerBusyAndClose(t *testing.T) {
	s := NewSim(SimConfig{})
	l := NewListener(s.NewAdapter(DeviceConfig{}), 1, ListenerConfig{})
	if _, err := l.Engage([]byte{1}, []byte{0xf6}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Engage([]byte{2}, []byte{0xf6}); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("full backlog: %v", err)
	}
	// A bad engagement still yields an arrival, whose Conn fails.
	a, err := l.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Conn.WriteFrame(ctxT(t), []byte{0, 1}); err == nil {
		t.Fatal("conn of a bad engagement works")
	}
	a.Conn.Close()
	l.Close()
	if _, err := l.Accept(ctxT(t)); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	if _, err := l.Engage([]byte{1}, nil); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("engage after close: %v", err)
	}
}

func TestChooseModePrefersCentralClient(t *testing.T) {
	u := NewUUID()
	m, got, err := ChooseMode(messages.BLEOptions{PeripheralServerMode: true, CentralClientMode: true,
		PeripheralServerUUID: make([]byte, 16), CentralClientUUID: u[:]})
	if err != nil || m != CentralClient || got != u {
		t.Fatalf("%v %v %v", m, got, err)
	}
	if _, _, err := ChooseMode(messages.BLEOptions{}); err == nil {
		t.Fatal("no mode accepted")
	}
}

// A lane restricted to one mode uses it when the engagement offers both, and refuses an
// engagement that offers only the other.
func TestReaderParamsLaneMode(t *testing.T) {
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	engagement := func(peripheral, central bool) []byte {
		t.Helper()
		u := NewUUID()
		o := messages.BLEOptions{PeripheralServerMode: peripheral, CentralClientMode: central}
		if peripheral {
			o.PeripheralServerUUID = u[:]
		}
		if central {
			o.CentralClientUUID = u[:]
		}
		e, err := messages.NewEngagement(k.COSEKey(), messages.NewBLEMethod(o))
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	both := engagement(true, true)
	for _, c := range []struct {
		lane Mode
		want Mode
	}{{0, CentralClient}, {CentralClient, CentralClient}, {PeripheralServer, PeripheralServer}} {
		p, err := ReaderParams(both, ListenerConfig{Mode: c.lane})
		if err != nil || p.Mode != c.want {
			t.Errorf("lane %v: mode %v, %v; want %v", c.lane, p.Mode, err, c.want)
		}
	}
	if _, err := ReaderParams(engagement(false, true), ListenerConfig{Mode: PeripheralServer}); err == nil ||
		!strings.Contains(err.Error(), "the only mode of this lane") {
		t.Errorf("central-only engagement at a peripheral-server lane: %v", err)
	}
	if _, err := ReaderParams(engagement(true, false), ListenerConfig{Mode: CentralClient}); err == nil {
		t.Error("peripheral-only engagement at a central-client lane accepted")
	}
}
