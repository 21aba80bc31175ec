package wifiaware

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
)

// Errors of the NAN discovery layer.
var (
	ErrDiscoveryTimeout = errors.New("wifiaware: NAN discovery timed out")
	ErrPassphrase       = errors.New("wifiaware: NAN data path refused: passphrase mismatch")
	ErrNANQueueFull     = errors.New("wifiaware: NAN peer queue full, frame not delivered")
	ErrNANClosed        = errors.New("wifiaware: NAN discovery session closed")
	ErrDataPathLost     = errors.New("wifiaware: NAN data path terminated by the peer")
	ErrBadNANFrame      = errors.New("wifiaware: malformed NAN frame")
)

// ServiceID is the 48-bit NAN Service ID: the first 6 bytes of SHA-256 of the service
// name (NAN matches publishers and subscribers on it, not on the name).
type ServiceID [6]byte

// ServiceIDOf returns the Service ID of a service name.
func ServiceIDOf(name string) ServiceID {
	s := sha256.Sum256([]byte(name))
	return ServiceID(s[:6])
}

// NMI is a simulated NAN Management Interface address (a locally administered MAC).
type NMI [6]byte

// Peer identifies the other end of a discovery session.
type Peer struct {
	NMI      NMI
	Instance byte // the peer's publish or subscribe instance id
}

// FrameType is the type of a simulated NAN frame.
type FrameType byte

// Simulated NAN frame types: Service Discovery Frames (publish, subscribe, follow-up)
// and NAN Action Frames of the data path (NDP request, response, termination).
const (
	FramePublish     FrameType = 0x01
	FrameSubscribe   FrameType = 0x02
	FrameFollowUp    FrameType = 0x03
	FrameNDPRequest  FrameType = 0x10
	FrameNDPResponse FrameType = 0x11
)

// MaxNANPayload is the largest payload of a NAN frame (the size limit of NAN Service
// Specific Info).
const MaxNANPayload = 255

// nanHeader is type(1) | service id(6) | src NMI(6) | dst NMI(6) | src instance(1) |
// dst instance(1) | payload length(2, big endian).
const nanHeader = 1 + 6 + 6 + 6 + 1 + 1 + 2

// Frame is one simulated NAN frame.
type Frame struct {
	Type        FrameType
	Service     ServiceID
	Src, Dst    NMI // Dst is all-ones for a broadcast publish
	SrcInstance byte
	DstInstance byte
	Payload     []byte
}

// Marshal encodes the frame. It fails for payloads over MaxNANPayload and unknown types.
func (f *Frame) Marshal() ([]byte, error) {
	if !f.Type.known() {
		return nil, fmt.Errorf("%w: type 0x%02x", ErrBadNANFrame, byte(f.Type))
	}
	if len(f.Payload) > MaxNANPayload {
		return nil, fmt.Errorf("%w: payload %d bytes, limit %d", ErrBadNANFrame, len(f.Payload), MaxNANPayload)
	}
	b := make([]byte, nanHeader, nanHeader+len(f.Payload))
	b[0] = byte(f.Type)
	copy(b[1:7], f.Service[:])
	copy(b[7:13], f.Src[:])
	copy(b[13:19], f.Dst[:])
	b[19], b[20] = f.SrcInstance, f.DstInstance
	binary.BigEndian.PutUint16(b[21:23], uint16(len(f.Payload)))
	return append(b, f.Payload...), nil
}

func (t FrameType) known() bool {
	switch t {
	case FramePublish, FrameSubscribe, FrameFollowUp, FrameNDPRequest, FrameNDPResponse:
		return true
	}
	return false
}

// ParseFrame decodes a frame. The length field must match the remaining bytes exactly;
// the payload is copied.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	if len(b) < nanHeader {
		return f, fmt.Errorf("%w: %d bytes, header is %d", ErrBadNANFrame, len(b), nanHeader)
	}
	f.Type = FrameType(b[0])
	if !f.Type.known() {
		return f, fmt.Errorf("%w: type 0x%02x", ErrBadNANFrame, b[0])
	}
	copy(f.Service[:], b[1:7])
	copy(f.Src[:], b[7:13])
	copy(f.Dst[:], b[13:19])
	f.SrcInstance, f.DstInstance = b[19], b[20]
	n := int(binary.BigEndian.Uint16(b[21:23]))
	if n > MaxNANPayload {
		return f, fmt.Errorf("%w: payload %d bytes, limit %d", ErrBadNANFrame, n, MaxNANPayload)
	}
	if len(b)-nanHeader != n {
		return f, fmt.Errorf("%w: length field %d, payload %d", ErrBadNANFrame, n, len(b)-nanHeader)
	}
	f.Payload = append([]byte(nil), b[nanHeader:]...)
	return f, nil
}

// NDP security, modelled on NCS-SK (Wi-Fi Aware 3.x): PMK = PBKDF2-HMAC-SHA-256 of the
// passphrase, salted with the cipher suite and Service ID, 4096 iterations; each side
// proves knowledge of the PMK with an HMAC over both nonces and both addresses.
const (
	ncsSK128      = 0x01
	pmkIterations = 4096
	nonceLen      = 32
	micLen        = 32
)

// ndpRequest is the initiator's (subscriber's) NDP request: nonce | MIC.
type ndpRequest struct {
	Nonce [nonceLen]byte
	MIC   [micLen]byte
}

// ndpResponse is the responder's answer: status(1) | nonce | MIC | IPv6/IPv4-mapped
// address(16) | port(2). Status 0 accepts; the rest is zero when refused.
type ndpResponse struct {
	Status byte
	Nonce  [nonceLen]byte
	MIC    [micLen]byte
	Addr   netip.AddrPort
}

const (
	ndpAccepted = 0
	ndpRefused  = 1
	ndpReqLen   = nonceLen + micLen
	ndpRespLen  = 1 + nonceLen + micLen + 16 + 2
)

func (r *ndpRequest) marshal() []byte { return append(append([]byte(nil), r.Nonce[:]...), r.MIC[:]...) }

func parseNDPRequest(b []byte) (ndpRequest, error) {
	var r ndpRequest
	if len(b) != ndpReqLen {
		return r, fmt.Errorf("%w: NDP request is %d bytes, want %d", ErrBadNANFrame, len(b), ndpReqLen)
	}
	copy(r.Nonce[:], b)
	copy(r.MIC[:], b[nonceLen:])
	return r, nil
}

func (r *ndpResponse) marshal() []byte {
	b := make([]byte, 0, ndpRespLen)
	b = append(b, r.Status)
	b = append(b, r.Nonce[:]...)
	b = append(b, r.MIC[:]...)
	a := r.Addr.Addr().As16()
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, r.Addr.Port())
}

func parseNDPResponse(b []byte) (ndpResponse, error) {
	var r ndpResponse
	if len(b) != ndpRespLen {
		return r, fmt.Errorf("%w: NDP response is %d bytes, want %d", ErrBadNANFrame, len(b), ndpRespLen)
	}
	r.Status = b[0]
	if r.Status != ndpAccepted && r.Status != ndpRefused {
		return r, fmt.Errorf("%w: NDP response status %d", ErrBadNANFrame, r.Status)
	}
	copy(r.Nonce[:], b[1:])
	copy(r.MIC[:], b[1+nonceLen:])
	a := netip.AddrFrom16([16]byte(b[1+nonceLen+micLen:]))
	r.Addr = netip.AddrPortFrom(a.Unmap(), binary.BigEndian.Uint16(b[ndpRespLen-2:]))
	return r, nil
}

// pmk derives the NDP pairwise master key from a passphrase.
func pmk(passphrase string, svc ServiceID) []byte {
	salt := append([]byte{0, ncsSK128}, svc[:]...)
	k, err := pbkdf2.Key(sha256.New, passphrase, salt, pmkIterations, 32)
	if err != nil {
		panic(err) // only for invalid parameters, which these are not
	}
	return k
}

func ndpMIC(pmk []byte, label string, svc ServiceID, initiator, responder NMI, ni, nr []byte) [micLen]byte {
	m := hmac.New(sha256.New, pmk)
	m.Write([]byte(label))
	m.Write(svc[:])
	m.Write(initiator[:])
	m.Write(responder[:])
	m.Write(ni)
	m.Write(nr)
	return [micLen]byte(m.Sum(nil))
}

// NANConfig configures a simulated NAN cluster. The zero value is an ideal cluster.
type NANConfig struct {
	// QueueLen bounds each discovery session's inbox (default 16). A directed frame to a
	// full inbox is not delivered and its sender gets ErrNANQueueFull.
	QueueLen int
	// Drop is the probability that a frame is lost on the air (seeded by Seed).
	Drop float64
	Seed uint64
}

// Cluster is a simulated NAN cluster: the publishers and subscribers that hear each
// other. Frames travel as bytes and are parsed on receipt; nothing here touches a radio.
// It is safe for concurrent use.
type Cluster struct {
	cfg NANConfig

	mu      sync.Mutex
	rng     *mrand.Rand
	nextID  uint64
	eps     map[NMI]*endpoint
	pubs    map[ServiceID]map[NMI]*endpoint
	subs    map[ServiceID]map[NMI]*endpoint
	dropped uint64
}

// NewCluster returns an empty cluster.
func NewCluster(cfg NANConfig) *Cluster {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 16
	}
	return &Cluster{cfg: cfg, rng: mrand.New(mrand.NewPCG(cfg.Seed, 0x6e616e)),
		eps: map[NMI]*endpoint{}, pubs: map[ServiceID]map[NMI]*endpoint{}, subs: map[ServiceID]map[NMI]*endpoint{}}
}

// Dropped is the number of frames lost so far (faults and full queues).
func (c *Cluster) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// endpoint is one discovery session (a publish or a subscribe) on a simulated device.
type endpoint struct {
	c        *Cluster
	nmi      NMI
	instance byte
	svc      ServiceID
	publish  bool
	inbox    chan []byte
	done     chan struct{}
	once     sync.Once

	mu    sync.Mutex
	paths map[NMI]*dataPath // established or offered data paths, by peer
}

// dataPath is the simulated NDP between two endpoints. Either end terminating it is
// seen by both.
type dataPath struct {
	pmk    []byte
	addr   netip.AddrPort
	done   chan struct{}
	once   sync.Once
	reason error // set before done is closed
}

func (d *dataPath) terminate(reason error) {
	d.once.Do(func() {
		d.reason = reason
		close(d.done)
	})
}

// DataPath is the state of an established data path both sides can watch.
type DataPath struct{ dp *dataPath }

// Lost is closed when either side terminates the data path.
func (d DataPath) Lost() <-chan struct{} { return d.dp.done }

// Reason is the reason the terminating side gave, once Lost is closed (nil when none).
func (d DataPath) Reason() error {
	select {
	case <-d.dp.done:
		return d.dp.reason
	default:
		return nil
	}
}

func (c *Cluster) newEndpoint(service string, publish bool) (*endpoint, error) {
	if service == "" {
		return nil, errors.New("wifiaware: empty NAN service name")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	var nmi NMI
	nmi[0] = 0x02 // locally administered, unicast
	binary.BigEndian.PutUint32(nmi[2:], uint32(c.nextID))
	nmi[1] = byte(c.nextID >> 32)
	ep := &endpoint{c: c, nmi: nmi, instance: byte(c.nextID%254) + 1, svc: ServiceIDOf(service), publish: publish,
		inbox: make(chan []byte, c.cfg.QueueLen), done: make(chan struct{}), paths: map[NMI]*dataPath{}}
	c.eps[nmi] = ep
	own, other := c.subs, c.pubs
	if publish {
		own, other = c.pubs, c.subs
	}
	if own[ep.svc] == nil {
		own[ep.svc] = map[NMI]*endpoint{}
	}
	own[ep.svc][nmi] = ep
	// Matching sessions hear each other: a new subscriber hears the publishers' periodic
	// unsolicited publish, a new publisher is heard by the waiting subscribers.
	for _, o := range other[ep.svc] {
		if publish {
			c.deliverLocked(o, &Frame{Type: FramePublish, Service: ep.svc, Src: nmi, Dst: o.nmi, SrcInstance: ep.instance})
		} else {
			c.deliverLocked(ep, &Frame{Type: FramePublish, Service: ep.svc, Src: o.nmi, Dst: nmi, SrcInstance: o.instance})
		}
	}
	return ep, nil
}

// deliverLocked puts a frame on the air towards dst; c.mu is held.
func (c *Cluster) deliverLocked(dst *endpoint, f *Frame) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	if c.cfg.Drop > 0 && c.rng.Float64() < c.cfg.Drop {
		c.dropped++
		return nil // lost on the air: the sender does not know
	}
	select {
	case <-dst.done:
		return ErrNANClosed
	default:
	}
	select {
	case dst.inbox <- b:
		return nil
	default:
		c.dropped++
		return ErrNANQueueFull
	}
}

func (c *Cluster) send(f *Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst, ok := c.eps[f.Dst]
	if !ok {
		return ErrNANClosed
	}
	return c.deliverLocked(dst, f)
}

func (e *endpoint) close(reason error) {
	e.once.Do(func() {
		c := e.c
		c.mu.Lock()
		delete(c.eps, e.nmi)
		m := c.subs
		if e.publish {
			m = c.pubs
		}
		delete(m[e.svc], e.nmi)
		if len(m[e.svc]) == 0 {
			delete(m, e.svc)
		}
		close(e.done)
		c.mu.Unlock()
		e.mu.Lock()
		for _, p := range e.paths {
			p.terminate(reason)
		}
		e.mu.Unlock()
	})
}

// next returns the next parsed frame addressed to this session.
func (e *endpoint) next(ctx context.Context) (Frame, error) {
	for {
		select {
		case b := <-e.inbox:
			f, err := ParseFrame(b)
			if err != nil || f.Service != e.svc || f.Dst != e.nmi {
				continue // not for this session: a radio ignores it
			}
			return f, nil
		case <-e.done:
			return Frame{}, ErrNANClosed
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

func (e *endpoint) followUp(p Peer, typ FrameType, payload []byte) error {
	return e.c.send(&Frame{Type: typ, Service: e.svc, Src: e.nmi, Dst: p.NMI, SrcInstance: e.instance,
		DstInstance: p.Instance, Payload: payload})
}

// Publication is a publish discovery session (the mdoc's side).
type Publication struct {
	ep         *endpoint
	passphrase string
	pmkOnce    sync.Once
	pmk        []byte
}

// Publish starts publishing service with the data-path passphrase.
func (c *Cluster) Publish(service, passphrase string) (*Publication, error) {
	ep, err := c.newEndpoint(service, true)
	if err != nil {
		return nil, fmt.Errorf("wifiaware: publish: %w", err)
	}
	return &Publication{ep: ep, passphrase: passphrase}, nil
}

// Event is what a publication receives.
type Event struct {
	Kind    EventKind
	Peer    Peer
	Payload []byte // MessageReceived
	Err     error  // DataPathFailed
	// Path is the confirmed data path (DataPathConfirmed).
	Path DataPath
}

// EventKind tells events apart.
type EventKind int

// Publication events.
const (
	MessageReceived   EventKind = iota + 1 // a subscriber's message
	DataPathConfirmed                      // a subscriber set up the offered data path
	DataPathFailed                         // a subscriber's data path request was refused
)

// Next waits for the next event. NDP requests for an offered data path are answered
// here: with ErrPassphrase (DataPathFailed) when the initiator's PMK differs.
func (p *Publication) Next(ctx context.Context) (Event, error) {
	for {
		f, err := p.ep.next(ctx)
		if err != nil {
			return Event{}, err
		}
		peer := Peer{NMI: f.Src, Instance: f.SrcInstance}
		switch f.Type {
		case FrameFollowUp:
			return Event{Kind: MessageReceived, Peer: peer, Payload: f.Payload}, nil
		case FrameNDPRequest:
			if ev, ok := p.answerNDP(peer, f.Payload); ok {
				return ev, nil
			}
		}
	}
}

func (p *Publication) answerNDP(peer Peer, payload []byte) (Event, bool) {
	p.ep.mu.Lock()
	dp := p.ep.paths[peer.NMI]
	p.ep.mu.Unlock()
	if dp == nil {
		return Event{}, false // no data path offered to this peer: ignore
	}
	req, err := parseNDPRequest(payload)
	fail := func(err error) (Event, bool) {
		resp := ndpResponse{Status: ndpRefused}
		_ = p.ep.followUp(peer, FrameNDPResponse, resp.marshal())
		p.ep.mu.Lock()
		delete(p.ep.paths, peer.NMI)
		p.ep.mu.Unlock()
		return Event{Kind: DataPathFailed, Peer: peer, Err: err}, true
	}
	if err != nil {
		return fail(err)
	}
	want := ndpMIC(dp.pmk, "NDP initiator", p.ep.svc, peer.NMI, p.ep.nmi, req.Nonce[:], nil)
	if !hmac.Equal(want[:], req.MIC[:]) {
		return fail(ErrPassphrase)
	}
	resp := ndpResponse{Status: ndpAccepted, Addr: dp.addr}
	_, _ = rand.Read(resp.Nonce[:])
	resp.MIC = ndpMIC(dp.pmk, "NDP responder", p.ep.svc, peer.NMI, p.ep.nmi, req.Nonce[:], resp.Nonce[:])
	if err := p.ep.followUp(peer, FrameNDPResponse, resp.marshal()); err != nil {
		return fail(fmt.Errorf("wifiaware: NDP response: %w", err))
	}
	return Event{Kind: DataPathConfirmed, Peer: peer, Path: DataPath{dp}}, true
}

// FollowUp sends a follow-up message (at most MaxNANPayload bytes) to a subscriber.
func (p *Publication) FollowUp(peer Peer, msg []byte) error {
	if err := p.ep.followUp(peer, FrameFollowUp, msg); err != nil {
		return fmt.Errorf("wifiaware: follow-up: %w", err)
	}
	return nil
}

// OfferDataPath is the responder's data path request: peer may set up a data path with
// this publication's passphrase, and learns addr (the mdoc's TCP server) when it does.
func (p *Publication) OfferDataPath(peer Peer, addr netip.AddrPort) {
	p.pmkOnce.Do(func() { p.pmk = pmk(p.passphrase, p.ep.svc) })
	p.ep.mu.Lock()
	defer p.ep.mu.Unlock()
	if old := p.ep.paths[peer.NMI]; old != nil {
		old.terminate(nil)
	}
	p.ep.paths[peer.NMI] = &dataPath{pmk: p.pmk, addr: addr, done: make(chan struct{})}
}

// Close ends the publication and terminates its data paths. It is idempotent.
func (p *Publication) Close() { p.ep.close(nil) }

// Subscription is a subscribe discovery session (the reader's side).
type Subscription struct {
	ep *endpoint
	dp *dataPath
}

// Subscribe starts subscribing to service.
func (c *Cluster) Subscribe(service string) (*Subscription, error) {
	ep, err := c.newEndpoint(service, false)
	if err != nil {
		return nil, fmt.Errorf("wifiaware: subscribe: %w", err)
	}
	return &Subscription{ep: ep}, nil
}

// Discover waits for a publisher of the service.
func (s *Subscription) Discover(ctx context.Context) (Peer, error) {
	for {
		f, err := s.ep.next(ctx)
		if err != nil {
			return Peer{}, discoveryErr("discover", err)
		}
		if f.Type == FramePublish {
			return Peer{NMI: f.Src, Instance: f.SrcInstance}, nil
		}
	}
}

// Send sends a message (at most MaxNANPayload bytes) to a discovered publisher.
func (s *Subscription) Send(peer Peer, msg []byte) error {
	if err := s.ep.followUp(peer, FrameFollowUp, msg); err != nil {
		return fmt.Errorf("wifiaware: send to publisher: %w", err)
	}
	return nil
}

// Receive waits for the next follow-up message from a publisher.
func (s *Subscription) Receive(ctx context.Context) (Peer, []byte, error) {
	for {
		f, err := s.ep.next(ctx)
		if err != nil {
			return Peer{}, nil, discoveryErr("follow-up", err)
		}
		if f.Type == FrameFollowUp {
			return Peer{NMI: f.Src, Instance: f.SrcInstance}, f.Payload, nil
		}
	}
}

// RequestDataPath is the initiator's data path request with passphrase. It returns the
// publisher's TCP address, ErrPassphrase when the publisher refused the key, or a
// timeout. Frames other than the NDP response that arrive meanwhile are discarded.
func (s *Subscription) RequestDataPath(ctx context.Context, peer Peer, passphrase string) (netip.AddrPort, error) {
	key := pmk(passphrase, s.ep.svc)
	var req ndpRequest
	_, _ = rand.Read(req.Nonce[:])
	req.MIC = ndpMIC(key, "NDP initiator", s.ep.svc, s.ep.nmi, peer.NMI, req.Nonce[:], nil)
	if err := s.ep.followUp(peer, FrameNDPRequest, req.marshal()); err != nil {
		return netip.AddrPort{}, fmt.Errorf("wifiaware: data path request: %w", err)
	}
	for {
		f, err := s.ep.next(ctx)
		if err != nil {
			return netip.AddrPort{}, discoveryErr("data path", err)
		}
		if f.Type != FrameNDPResponse || f.Src != peer.NMI {
			continue
		}
		resp, err := parseNDPResponse(f.Payload)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("wifiaware: data path: %w", err)
		}
		if resp.Status != ndpAccepted {
			return netip.AddrPort{}, ErrPassphrase
		}
		want := ndpMIC(key, "NDP responder", s.ep.svc, s.ep.nmi, peer.NMI, req.Nonce[:], resp.Nonce[:])
		if !hmac.Equal(want[:], resp.MIC[:]) {
			return netip.AddrPort{}, fmt.Errorf("wifiaware: data path: responder MIC: %w", ErrPassphrase)
		}
		// Share the responder's data path state, so that either end tearing it down is
		// seen by both.
		pub := s.ep.c.lookup(peer.NMI)
		if pub == nil {
			return netip.AddrPort{}, fmt.Errorf("wifiaware: data path: %w", ErrDataPathLost)
		}
		pub.mu.Lock()
		dp := pub.paths[s.ep.nmi]
		pub.mu.Unlock()
		if dp == nil {
			return netip.AddrPort{}, fmt.Errorf("wifiaware: data path: %w", ErrDataPathLost)
		}
		s.ep.mu.Lock()
		s.ep.paths[peer.NMI] = dp
		s.dp = dp
		s.ep.mu.Unlock()
		return resp.Addr, nil
	}
}

// Lost is closed when the data path set up by RequestDataPath is terminated by either
// side; nil before a data path exists.
func (s *Subscription) Lost() <-chan struct{} {
	s.ep.mu.Lock()
	defer s.ep.mu.Unlock()
	if s.dp == nil {
		return nil
	}
	return s.dp.done
}

// Close ends the subscription and terminates its data path. It is idempotent.
func (s *Subscription) Close() { s.ep.close(nil) }

// Terminate is Close giving the publisher a reason (DataPath.Reason).
func (s *Subscription) Terminate(reason error) { s.ep.close(reason) }

func (c *Cluster) lookup(n NMI) *endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eps[n]
}

func discoveryErr(step string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("wifiaware: %s: %w", step, ErrDiscoveryTimeout)
	}
	return fmt.Errorf("wifiaware: %s: %w", step, err)
}
