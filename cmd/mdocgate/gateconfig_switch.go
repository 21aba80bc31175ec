package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports"
)

// laneSwitch lets a configured lane change its reader configuration (on a trust reload)
// without dropping sessions. A lane's sessions read their readersession.Config once,
// from the lane's settings, so a new configuration needs a new engine lane: the switch
// pumps the bearer's arrivals to the newest lane ("generation"), while the sessions of
// older generations finish with the configuration they started with. Generation 0 has
// the configured name; later ones are named "<name>.r<n>" (the engine wants unique
// lane names), which is the lane label their verdicts and metrics carry.
type laneSwitch struct {
	name string
	src  transports.Listener
	base actors.LaneConfig // the lane settings but Name, Listener and Sessions.Reader

	mu   sync.Mutex
	gen  int
	cur  *genListener
	stop context.CancelFunc
	done chan struct{}
}

// newLaneSwitch starts pumping src's arrivals; add a generation with next before any
// arrival can be served.
func newLaneSwitch(name string, src transports.Listener, base actors.LaneConfig) *laneSwitch {
	ctx, cancel := context.WithCancel(context.Background())
	s := &laneSwitch{name: name, src: src, base: base, stop: cancel, done: make(chan struct{})}
	go s.pump(ctx)
	return s
}

// next adds a lane generation with reader configuration rc to eng and makes it the one
// new arrivals go to; the previous generation stops accepting.
func (s *laneSwitch) next(eng *supervisor.Engine, rc *readersession.Config) error {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	name := s.name
	if gen > 0 {
		name = fmt.Sprintf("%s.r%d", s.name, gen)
	}
	gl := &genListener{bearer: s.src.Bearer(), ch: make(chan *transports.Arrival), closed: make(chan struct{})}
	lc := s.base
	lc.Name, lc.Listener, lc.Sessions.Reader = name, gl, rc
	if err := eng.AddLane(&lc); err != nil {
		return err
	}
	s.mu.Lock()
	old := s.cur
	s.cur, s.gen = gl, gen+1
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// pump hands every arrival of src to the current generation.
func (s *laneSwitch) pump(ctx context.Context) {
	defer close(s.done)
	for {
		a, err := s.src.Accept(ctx)
		if err != nil {
			return
		}
		s.deliver(ctx, a)
	}
}

func (s *laneSwitch) deliver(ctx context.Context, a *transports.Arrival) {
	for {
		s.mu.Lock()
		gl := s.cur
		s.mu.Unlock()
		if gl == nil {
			refuse(a)
			return
		}
		select {
		case gl.ch <- a:
			return
		case <-gl.closed: // replaced meanwhile: try the newer generation, if any
			s.mu.Lock()
			same := s.cur == gl
			s.mu.Unlock()
			if same {
				refuse(a)
				return
			}
		case <-ctx.Done():
			refuse(a)
			return
		}
	}
}

func refuse(a *transports.Arrival) {
	if a.Reject != nil {
		a.Reject(transports.ErrClosed)
	} else if a.Conn != nil {
		a.Conn.Close()
	}
}

// Close stops the pump and closes the bearer's listener and the current generation.
func (s *laneSwitch) Close() {
	s.stop()
	s.src.Close()
	<-s.done
	s.mu.Lock()
	if s.cur != nil {
		s.cur.Close()
	}
	s.mu.Unlock()
}

// genListener is the listener of one lane generation: arrivals come from the switch.
type genListener struct {
	bearer string
	ch     chan *transports.Arrival
	once   sync.Once
	closed chan struct{}
}

func (g *genListener) Accept(ctx context.Context) (*transports.Arrival, error) {
	select {
	case a := <-g.ch:
		return a, nil
	case <-g.closed:
		return nil, transports.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *genListener) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

func (g *genListener) Bearer() string { return g.bearer }
