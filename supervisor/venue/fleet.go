package venue

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// LaneCounts are one lane's counts since its gate started.
type LaneCounts struct {
	Lane         string `json:"lane"`
	Zone         string `json:"zone,omitempty"`
	Sessions     int64  `json:"sessions"`
	Accepted     int64  `json:"accepted"`
	Rejected     int64  `json:"rejected"`
	Errors       int64  `json:"errors"`
	Timeouts     int64  `json:"timeouts"`
	AntiPassback int64  `json:"anti_passback"`
	DenyList     int64  `json:"deny_list"`
	Unavailable  int64  `json:"venue_unavailable"`
}

func (c *LaneCounts) add(o LaneCounts) {
	c.Sessions += o.Sessions
	c.Accepted += o.Accepted
	c.Rejected += o.Rejected
	c.Errors += o.Errors
	c.Timeouts += o.Timeouts
	c.AntiPassback += o.AntiPassback
	c.DenyList += o.DenyList
	c.Unavailable += o.Unavailable
}

// GateCounts is what a gate publishes to the fleet bucket.
type GateCounts struct {
	Gate  string       `json:"gate"`
	At    time.Time    `json:"at"`
	Lanes []LaneCounts `json:"lanes"`
}

// counter sums a gate's verdicts per lane.
type counter struct {
	mu    sync.Mutex
	lanes map[string]*LaneCounts
	dirty bool
}

func newCounter() *counter { return &counter{lanes: map[string]*LaneCounts{}} }

// Record counts a verdict of this gate's lane in zone for the fleet view: its outcome
// (accepted, rejected, error, timeout) and reason.
func (v *Venue) Record(lane, zone, outcome, reason string) {
	c := v.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lanes[lane]
	if l == nil {
		l = &LaneCounts{Lane: lane, Zone: zone}
		c.lanes[lane] = l
	}
	l.Sessions++
	switch outcome {
	case "accepted":
		l.Accepted++
	case "rejected":
		l.Rejected++
	case "error":
		l.Errors++
	case "timeout":
		l.Timeouts++
	}
	switch reason {
	case ReasonAntiPassback:
		l.AntiPassback++
	case ReasonDenyList:
		l.DenyList++
	case ReasonUnavailable:
		l.Unavailable++
	}
	c.dirty = true
}

// snapshot returns the gate's counts, and whether they changed since the last one.
func (c *counter) snapshot(gate string) (GateCounts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := GateCounts{Gate: gate, At: time.Now().UTC(), Lanes: make([]LaneCounts, 0, len(c.lanes))}
	for _, l := range c.lanes {
		g.Lanes = append(g.Lanes, *l)
	}
	slices.SortFunc(g.Lanes, func(a, b LaneCounts) int { return strings.Compare(a.Lane, b.Lane) })
	changed := c.dirty
	c.dirty = false
	return g, changed
}

// AddLane makes a lane known to the fleet view before its first verdict.
func (v *Venue) AddLane(lane, zone string) {
	c := v.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lanes[lane] == nil {
		c.lanes[lane] = &LaneCounts{Lane: lane, Zone: zone}
		c.dirty = true
	}
}

// publish puts this gate's counts in the fleet bucket every PublishEvery when they
// changed, and at least every FleetTTL/4 so that the gate stays in the view; once more
// when the venue closes.
func (v *Venue) publish(ctx context.Context) {
	defer v.wg.Done()
	t := time.NewTicker(v.opts.PublishEvery)
	defer t.Stop()
	var last time.Time
	put := func(force bool) {
		g, changed := v.counts.snapshot(v.opts.Gate)
		if !changed && !force && time.Since(last) < FleetTTL/4 {
			return
		}
		b, _ := json.Marshal(g)
		pctx, cancel := context.WithTimeout(context.Background(), v.opts.AttemptTimeout)
		defer cancel()
		if _, err := v.fleet.Put(pctx, g.Gate, b); err != nil {
			v.log.Debug("fleet publish", zap.Error(err))
			v.counts.mu.Lock()
			v.counts.dirty = true
			v.counts.mu.Unlock()
			return
		}
		last = time.Now()
	}
	put(true)
	for {
		select {
		case <-ctx.Done():
			put(true)
			return
		case <-t.C:
			put(false)
		}
	}
}

// watchFleet keeps every gate's latest publication in memory.
func (v *Venue) watchFleet(ctx context.Context) {
	defer v.wg.Done()
	for ctx.Err() == nil {
		w, err := v.fleet.WatchAll(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			var g GateCounts
			if json.Unmarshal(e.Value(), &g) != nil || g.Gate == "" {
				continue
			}
			v.fleetMu.Lock()
			v.fleetSeen[g.Gate] = g
			v.fleetMu.Unlock()
		}
		_ = w.Stop()
		sleep(ctx, 250*time.Millisecond)
	}
}

// Fleet is the whole venue's counts: per gate, per zone and in total.
type Fleet struct {
	Venue string      `json:"venue"`
	Gates []FleetGate `json:"gates"`
	Zones []FleetZone `json:"zones"`
	Total LaneCounts  `json:"total"`
}

// FleetGate is one gate of the fleet: its lanes and their sum, and how old its last
// publication is.
type FleetGate struct {
	Gate       string       `json:"gate"`
	AgeSeconds float64      `json:"age_s"`
	Lanes      []LaneCounts `json:"lanes"`
	Total      LaneCounts   `json:"total"`
}

// FleetZone is one zone's sum over the fleet.
type FleetZone struct {
	Zone string `json:"zone"`
	LaneCounts
}

// Fleet returns the fleet as last published by every gate (gates silent for longer than
// FleetTTL are left out). This gate's own counts are taken as they are now.
func (v *Venue) Fleet() Fleet {
	now := time.Now()
	v.fleetMu.Lock()
	seen := make(map[string]GateCounts, len(v.fleetSeen))
	for k, g := range v.fleetSeen {
		seen[k] = g
	}
	v.fleetMu.Unlock()
	if v.opts.Gate != "" {
		g, _ := v.counts.peek(v.opts.Gate)
		seen[v.opts.Gate] = g
	}
	f := Fleet{Venue: v.opts.Name}
	zones := map[string]*LaneCounts{}
	for _, g := range seen {
		age := now.Sub(g.At)
		if age > FleetTTL {
			continue
		}
		fg := FleetGate{Gate: g.Gate, AgeSeconds: max(0, age.Seconds()), Lanes: g.Lanes}
		for _, l := range g.Lanes {
			fg.Total.add(l)
			z := zones[l.Zone]
			if z == nil {
				z = &LaneCounts{}
				zones[l.Zone] = z
			}
			z.add(l)
		}
		f.Total.add(fg.Total)
		f.Gates = append(f.Gates, fg)
	}
	slices.SortFunc(f.Gates, func(a, b FleetGate) int { return strings.Compare(a.Gate, b.Gate) })
	for z, c := range zones {
		f.Zones = append(f.Zones, FleetZone{Zone: z, LaneCounts: *c})
	}
	slices.SortFunc(f.Zones, func(a, b FleetZone) int { return strings.Compare(a.Zone, b.Zone) })
	return f
}

// peek is snapshot without marking the counts published.
func (c *counter) peek(gate string) (GateCounts, bool) {
	c.mu.Lock()
	dirty := c.dirty
	c.mu.Unlock()
	g, _ := c.snapshot(gate)
	c.mu.Lock()
	c.dirty = c.dirty || dirty
	c.mu.Unlock()
	return g, dirty
}
