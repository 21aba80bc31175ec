package nfc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/handoff"
)

// Network is a set of in-memory NFC reader lanes. A holder taps a lane with Engage: a
// fresh ISO-DEP link to its Card is made, the lane's reader runs engagement and selects
// the data retrieval application over it, and the reader's side is queued as an Arrival.
// Each tap has its own link (a lane models a gate that can serve several phones at once;
// use one lane per physical reader to model exclusivity).
type Network struct {
	Timing Timing
	Reader ReaderOptions

	mu    sync.Mutex
	lanes map[string]*Listener
	airMu sync.Mutex
	air   time.Duration // of links that are done
	links map[*Link]struct{}
}

// Listener is one in-memory lane.
type Listener struct {
	n       *Network
	name    string
	backlog *transports.Backlog
}

// Listen opens a lane with a backlog of pending arrivals.
func (n *Network) Listen(lane string, backlog int) (*Listener, error) {
	if err := n.Timing.defaults(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lanes == nil {
		n.lanes = map[string]*Listener{}
	}
	if _, ok := n.lanes[lane]; ok {
		return nil, fmt.Errorf("nfc: lane %q already listening", lane)
	}
	l := &Listener{n: n, name: lane, backlog: transports.NewBacklog(backlog)}
	n.lanes[lane] = l
	return l, nil
}

// Engage taps the lane with a card: engagement and SELECT of the mdoc application run
// over a new in-memory link, the reader's side is queued on the lane and the holder's
// side returned. A full backlog gives transports.ErrBusy.
func (n *Network) Engage(ctx context.Context, lane string, cfg CardConfig, f Faults) (HandoverConn, error) {
	card, err := NewCard(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Tap(ctx, lane, card, f); err != nil {
		return nil, err
	}
	return card.Conn(), nil
}

// Tap puts card in the field of the lane's reader over a new in-memory link: engagement
// runs, and the reader's side is queued on the lane (a full backlog gives
// transports.ErrBusy). When the reader hands the session to another carrier (its
// ReaderOptions.Handoff), the card leaves the field after engagement and the reader's
// side is the handed-off connection; the holder opens its own side (Card.Handed tells
// it the engagement is over). Otherwise the holder talks through card.Conn().
func (n *Network) Tap(ctx context.Context, lane string, card *Card, f Faults) error {
	tapped := time.Now()
	n.mu.Lock()
	l, ok := n.lanes[lane]
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("nfc: no lane %q", lane)
	}
	if l.backlog.Full() {
		return transports.ErrBusy
	}
	link, err := NewLink(card, n.Timing, f)
	if err != nil {
		return err
	}
	e, err := Engage(ctx, link, n.Reader)
	if err == nil && e.Target == nil {
		err = SelectData(ctx, link, e, n.Reader)
	}
	if err != nil {
		link.FieldOff(err)
		return err
	}
	var a *transports.Arrival
	if e.Target != nil {
		link.FieldOff(nil) // the phone's NFC part is over
		n.track(link)
		n.done(link)
		conn := n.Reader.Handoff.Dial(*e.Target, link.AirTime)
		a = &transports.Arrival{DeviceEngagement: e.DeviceEngagement, Handover: e.Handover, Conn: conn,
			Bearer: handoff.Label(Bearer, e.Target.Kind), EngagedAt: tapped, Reject: conn.Reject}
	} else {
		n.track(link)
		conn := NewReaderConn(link, e, n.Reader, link, func() {
			link.FieldOff(nil)
			n.done(link)
		})
		a = &transports.Arrival{DeviceEngagement: e.DeviceEngagement, Handover: e.Handover, Conn: conn, Bearer: Bearer,
			EngagedAt: tapped, Reject: func(reason error) {
				link.FieldOff(fmt.Errorf("%w: %v", transports.ErrBusy, reason))
				conn.Close()
			}}
	}
	if l.backlog.Offer(a) == nil {
		return nil
	}
	a.Reject(transports.ErrBusy)
	return transports.ErrBusy
}

func (n *Network) track(l *Link) {
	n.airMu.Lock()
	defer n.airMu.Unlock()
	if n.links == nil {
		n.links = map[*Link]struct{}{}
	}
	n.links[l] = struct{}{}
}

func (n *Network) done(l *Link) {
	n.airMu.Lock()
	defer n.airMu.Unlock()
	if _, ok := n.links[l]; ok {
		delete(n.links, l)
		n.air += l.AirTime()
	}
}

// AirTime is the modelled air time of every link of the network so far.
func (n *Network) AirTime() time.Duration {
	n.airMu.Lock()
	defer n.airMu.Unlock()
	d := n.air
	for l := range n.links {
		d += l.AirTime()
	}
	return d
}

// Accept returns the next arrival.
func (l *Listener) Accept(ctx context.Context) (*transports.Arrival, error) {
	return l.backlog.Accept(ctx)
}

// Close stops the lane; queued arrivals are refused.
func (l *Listener) Close() error {
	if l.backlog.Close(func(a *transports.Arrival) { a.Reject(transports.ErrClosed) }) {
		l.n.mu.Lock()
		delete(l.n.lanes, l.name)
		l.n.mu.Unlock()
	}
	return nil
}

// Bearer returns "nfc".
func (l *Listener) Bearer() string { return Bearer }
