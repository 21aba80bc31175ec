package wifiaware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
)

// Bearer is the name the Wi-Fi Aware bearer reports in Listener.Bearer and Arrival.Bearer.
const Bearer = "wifiaware"

// ErrNoListener is returned by Network.Engage for a lane nobody listens on.
var ErrNoListener = errors.New("wifiaware: no listener with that name")

// ErrNoWiFiAware is returned for an engagement without a Wi-Fi Aware retrieval method.
var ErrNoWiFiAware = errors.New("wifiaware: engagement offers no Wi-Fi Aware retrieval method")

// Config configures a Network. Zero fields take the defaults.
type Config struct {
	// DiscoveryTimeout bounds the reader's discovery, follow-up and data path set-up for
	// one engagement (default 5 s); the holder waits twice as long for a data path.
	DiscoveryTimeout time.Duration
	// ResponseTimeout bounds how long a POST waits for the holder's answer (default
	// 60 s); after it the holder answers 204 and ends the session.
	ResponseTimeout time.Duration
	// IOTimeout bounds reading request headers, reading or writing one body, and the
	// graceful shutdown of the holder's server (default 10 s).
	IOTimeout time.Duration
	// Workers is the number of engagements a listener runs discovery for at once
	// (default 4).
	Workers int
	// NAN configures the simulated NAN cluster.
	NAN NANConfig
	// Logger receives the IPv4 fallback notice (default slog.Default()).
	Logger *slog.Logger
	// IPv4 forces the 127.0.0.1 data path (the fallback when [::1] is unavailable).
	IPv4 bool

	v4fallback *atomic.Bool // set once [::1] failed; shared by the copies of a Network's config
}

func (c *Config) withDefaults() Config {
	o := *c
	if o.DiscoveryTimeout <= 0 {
		o.DiscoveryTimeout = 5 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 60 * time.Second
	}
	if o.IOTimeout <= 0 {
		o.IOTimeout = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.v4fallback == nil {
		o.v4fallback = new(atomic.Bool)
	}
	return o
}

// Network is a simulated NAN cluster plus named reader lanes that holders engage with
// (the engagement itself, a QR code in reality, is handed over in process).
type Network struct {
	cfg     Config
	cluster *Cluster

	mu        sync.Mutex
	listeners map[string]*Listener
}

// NewNetwork returns a network with its own NAN cluster.
func NewNetwork(cfg Config) *Network {
	c := cfg.withDefaults()
	return &Network{cfg: c, cluster: NewCluster(c.NAN), listeners: map[string]*Listener{}}
}

// Cluster is the network's simulated NAN cluster.
func (n *Network) Cluster() *Cluster { return n.cluster }

// listen opens the mdoc's data path server socket on an ephemeral loopback port: [::1]
// when available, else 127.0.0.1 (logged once).
func (c *Config) listen() (net.Listener, error) {
	if !c.IPv4 && !c.v4fallback.Load() {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err == nil {
			return ln, nil
		}
		if c.v4fallback.CompareAndSwap(false, true) {
			c.Logger.Warn("wifiaware: IPv6 loopback unavailable, data path falls back to 127.0.0.1", "error", err)
		}
	}
	return net.Listen("tcp4", "127.0.0.1:0")
}

// Params are what both sides take from a DeviceEngagement.
type Params struct {
	Service    string // HKDF "NANService" over EDeviceKeyBytes, lowercase hex
	Passphrase string // the engagement's option 0, else HKDF "NANPassphrase"
	Explicit   bool   // the passphrase came from the engagement
	Options    messages.WiFiAwareOptions
}

// ParamsFor derives the NAN service name from EDeviceKeyBytes and takes the passphrase
// from the options, or derives it when they carry none: the parameters of a Wi-Fi Aware
// offer that came in another way than the engagement's retrieval methods (an NFC
// Handover Select's carrier record).
func ParamsFor(eDeviceKeyBytes []byte, o messages.WiFiAwareOptions) Params {
	p := Params{Options: o, Service: session.NANServiceName(eDeviceKeyBytes)}
	if o.Passphrase != "" {
		p.Passphrase, p.Explicit = o.Passphrase, true
	} else {
		p.Passphrase = session.NANPassphrase(eDeviceKeyBytes)
	}
	return p
}

// ParamsFromEngagement decodes a DeviceEngagement and derives the NAN service name and
// passphrase from its EDeviceKeyBytes and first Wi-Fi Aware retrieval method.
func ParamsFromEngagement(deviceEngagement []byte) (Params, error) {
	var p Params
	de, err := messages.DecodeEngagement(deviceEngagement)
	if err != nil {
		return p, fmt.Errorf("wifiaware: engagement: %w", err)
	}
	ek := de.Security.KeyBytes.Raw()
	if len(ek) == 0 {
		return p, errors.New("wifiaware: engagement: no EDeviceKeyBytes")
	}
	for i := range de.DeviceRetrievalMethods {
		m := &de.DeviceRetrievalMethods[i]
		if m.Type != messages.RetrievalWiFiAware {
			continue
		}
		o, err := m.WiFiAware()
		if err != nil {
			return p, fmt.Errorf("wifiaware: engagement: %w", err)
		}
		return ParamsFor(ek, o), nil
	}
	return p, ErrNoWiFiAware
}

// Listen creates a reader lane registered under name, queueing at most backlog
// engagements (at least 1); the name is free again once the listener is closed.
func (n *Network) Listen(name string, backlog int) (*Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.listeners[name]; ok {
		return nil, errors.New("wifiaware: listener name in use: " + name)
	}
	l := newListener(n, name, backlog)
	n.listeners[name] = l
	return l, nil
}

// Engage is a holder engaging with the lane name: it publishes the NAN service derived
// from deviceEngagement, hands the engagement to the lane, and returns the holder's
// side, which becomes usable once the lane set up the data path. It never waits for the
// lane: with the backlog full it returns transports.ErrBusy, with the lane closed
// transports.ErrClosed.
func (n *Network) Engage(ctx context.Context, name string, deviceEngagement, handover []byte, f Faults) (transports.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	l, ok := n.listeners[name]
	n.mu.Unlock()
	if !ok {
		return nil, ErrNoListener
	}
	p, err := ParamsFromEngagement(deviceEngagement)
	if err != nil {
		return nil, fmt.Errorf("wifiaware: holder: %w", err)
	}
	pub, err := n.cluster.Publish(p.Service, p.Passphrase)
	if err != nil {
		return nil, err
	}
	h := newHolderConn(&n.cfg, pub, f)
	e := &engagement{de: append([]byte(nil), deviceEngagement...), handover: append([]byte(nil), handover...),
		at: time.Now(), abandon: h.closeWith}
	if err := l.enqueue(e); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Publish is a holder's side without a lane (the engagement reached the reader another
// way: an NFC Handover Select, a QR code read by a scanner): it publishes p's service and
// serves the data path once a reader subscribed (Dial). Like Engage's, the returned
// Conn is usable once the data path is up.
func (n *Network) Publish(p Params, f Faults) (transports.Conn, error) {
	pub, err := n.cluster.Publish(p.Service, p.Passphrase)
	if err != nil {
		return nil, err
	}
	return newHolderConn(&n.cfg, pub, f), nil
}

// Dial is the reader's side without a lane: it subscribes to p's service, discovers the
// holder and sets up the data path (what a lane does for each engagement), within the
// network's DiscoveryTimeout and ctx. Reject on the result tells the holder the reader
// is busy.
func (n *Network) Dial(ctx context.Context, p Params) (*ReaderConn, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DiscoveryTimeout)
	defer cancel()
	c, err := connect(ctx, n.cluster, &n.cfg, p)
	if err != nil {
		return nil, err
	}
	return &ReaderConn{c}, nil
}

// ReaderConn is the reader's side of a data path Dial set up.
type ReaderConn struct{ *readerConn }

// Reject tells the holder the reader will not serve it (busy) and closes the connection.
func (c *ReaderConn) Reject(reason error) { c.reject(reason) }

// Close closes every listener.
func (n *Network) Close() error {
	n.mu.Lock()
	ls := make([]*Listener, 0, len(n.listeners))
	for _, l := range n.listeners {
		ls = append(ls, l)
	}
	n.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	return nil
}

// engagement is a DeviceEngagement shown to a lane, waiting for discovery.
type engagement struct {
	de, handover []byte
	at           time.Time // when the holder showed its engagement
	// abandon tells the holder the lane gave up on it before a data path existed (in
	// reality the person walks away; here the holder learns it at once).
	abandon func(error)
}

// Listener is a reader lane on the Wi-Fi Aware bearer. It implements transports.Listener:
// for each engagement it subscribes to the holder's service, checks the passphrase by
// setting up the data path, and yields an Arrival whose Conn is the HTTP client side.
// An engagement whose discovery fails still arrives, with a Conn that reports the
// failed step, so that it gets a verdict.
type Listener struct {
	n      *Network
	name   string
	queue  chan *engagement
	ready  chan *transports.Arrival
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // orders enqueue against Close
	closed bool
	done   chan struct{}
}

var _ transports.Listener = (*Listener)(nil)

func newListener(n *Network, name string, backlog int) *Listener {
	if backlog < 1 {
		backlog = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{n: n, name: name, queue: make(chan *engagement, backlog), ready: make(chan *transports.Arrival),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	for i := 0; i < n.cfg.Workers; i++ {
		l.wg.Add(1)
		go l.work()
	}
	return l
}

// Name is the lane's name.
func (l *Listener) Name() string { return l.name }

// Bearer is "wifiaware".
func (l *Listener) Bearer() string { return Bearer }

func (l *Listener) enqueue(e *engagement) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transports.ErrClosed
	}
	select {
	case l.queue <- e:
		return nil
	default:
		return transports.ErrBusy
	}
}

func (l *Listener) work() {
	defer l.wg.Done()
	for {
		select {
		case e := <-l.queue:
			a := l.arrive(e)
			select {
			case l.ready <- a:
			case <-l.done:
				a.Conn.Close()
				e.abandon(transports.ErrClosed)
				return
			}
		case <-l.done:
			return
		}
	}
}

// arrive runs discovery for one engagement.
func (l *Listener) arrive(e *engagement) *transports.Arrival {
	a := &transports.Arrival{DeviceEngagement: e.de, Handover: e.handover, Bearer: Bearer, EngagedAt: e.at}
	c, err := l.discover(e)
	if err != nil {
		e.abandon(fmt.Errorf("%w: %w", transports.ErrClosed, err))
		a.Conn = failedConn{err: fmt.Errorf("%w: %w", transports.ErrClosed, err)}
		return a
	}
	a.Conn, a.Reject = c, c.reject
	return a
}

// discover: subscribe, discover, say hello, wait for the publisher's hello, set up the
// data path with the passphrase.
func (l *Listener) discover(e *engagement) (*readerConn, error) {
	p, err := ParamsFromEngagement(e.de)
	if err != nil {
		return nil, fmt.Errorf("wifiaware: reader: %w", err)
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.n.cfg.DiscoveryTimeout)
	defer cancel()
	return connect(ctx, l.n.cluster, &l.n.cfg, p)
}

// Accept waits for the next arrival. It returns transports.ErrClosed once the listener
// is closed, or the context's error.
func (l *Listener) Accept(ctx context.Context) (*transports.Arrival, error) {
	select {
	case <-l.done:
		return nil, transports.ErrClosed
	default:
	}
	select {
	case a := <-l.ready:
		return a, nil
	case <-l.done:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the listener: pending and later Accept calls return transports.ErrClosed,
// later Engage calls too, discovery in progress is abandoned and the holders still
// queued see their connection closed. It waits for the discovery workers and is
// idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.cancel()
	l.mu.Unlock()
	l.wg.Wait()
	for {
		select {
		case e := <-l.queue:
			e.abandon(transports.ErrClosed)
		default:
			l.n.mu.Lock()
			if l.n.listeners[l.name] == l {
				delete(l.n.listeners, l.name)
			}
			l.n.mu.Unlock()
			return nil
		}
	}
}

// connect is the reader's discovery sequence for one holder.
func connect(ctx context.Context, cl *Cluster, cfg *Config, p Params) (*readerConn, error) {
	sub, err := cl.Subscribe(p.Service)
	if err != nil {
		return nil, err
	}
	peer, err := sub.Discover(ctx)
	if err == nil {
		err = sub.Send(peer, msgHelloPub)
	}
	for err == nil {
		var from Peer
		var msg []byte
		from, msg, err = sub.Receive(ctx)
		if err == nil && from == peer && string(msg) == string(msgHelloSub) {
			break
		}
	}
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("wifiaware: reader: %w", err)
	}
	addr, err := sub.RequestDataPath(ctx, peer, p.Passphrase)
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("wifiaware: reader: %w", err)
	}
	return newReaderConn(cfg, sub, peer, addr), nil
}
