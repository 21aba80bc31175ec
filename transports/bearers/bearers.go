// Package bearers opens every bearer's adapter (transports.Bearer) by name, for the
// command line, the gate daemon and load runs: one list of the bearers this build has,
// with the options each reads.
package bearers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/handoff"
	"github.com/mdocgate/mdocgate/transports/memory"
	"github.com/mdocgate/mdocgate/transports/nfc"
	"github.com/mdocgate/mdocgate/transports/web"
	"github.com/mdocgate/mdocgate/transports/wifiaware"
)

// entry is a bearer's adapter constructor and the option keys it reads (documented with
// the constructor).
type entry struct {
	open func(transports.BearerOptions) (transports.Bearer, error)
	keys []string
}

var open = map[string]entry{
	memory.Bearer:       {memory.OpenBearer, memory.OptionKeys},
	nfc.Bearer:          {nfc.OpenBearer, nfc.OptionKeys},
	nfc.PCSCBearer:      {nfc.OpenPCSCBearer, nfc.PCSCOptionKeys},
	ble.Bearer:          {ble.OpenBearer, ble.OptionKeys},
	handoff.EngagedByQR: {handoff.OpenQRBearer, handoff.OptionKeys},
	wifiaware.Bearer:    {wifiaware.OpenBearer, wifiaware.OptionKeys},
	web.BearerHTTP: {func(o transports.BearerOptions) (transports.Bearer, error) {
		return web.OpenBearer(web.BearerHTTP, o)
	}, web.OptionKeys},
	web.BearerWebSocket: {func(o transports.BearerOptions) (transports.Bearer, error) {
		return web.OpenBearer(web.BearerWebSocket, o)
	}, web.OptionKeys},
}

// Names lists the bearers, sorted.
func Names() []string {
	out := make([]string, 0, len(open))
	for n := range open {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Keys lists the options the bearer called name reads, sorted (nil for no such bearer).
func Keys(name string) []string {
	return slices.Sorted(slices.Values(open[name].keys))
}

// Open opens the bearer called name with its options; a caller runs lanes on it with
// Listen, and simulated holders reach a lane with Engage. An option the bearer does not
// read is an error (*transports.UnknownOptionError).
func Open(name string, opts transports.BearerOptions) (transports.Bearer, error) {
	o, ok := open[name]
	if !ok {
		return nil, fmt.Errorf("transport %q is not available (this build has: %v)", name, Names())
	}
	if err := opts.Check(name, o.keys); err != nil {
		return nil, err
	}
	return o.open(opts)
}

// Split divides the options of a run on several bearers: each bearer gets the keys it
// reads. A key none of them reads is an error (*transports.UnknownOptionError naming
// them all); so is an unknown bearer.
func Split(names []string, opts transports.BearerOptions) (map[string]transports.BearerOptions, error) {
	out := map[string]transports.BearerOptions{}
	var union []string
	for _, n := range names {
		o, ok := open[n]
		if !ok {
			return nil, fmt.Errorf("transport %q is not available (this build has: %v)", n, Names())
		}
		out[n] = opts.Only(o.keys)
		union = append(union, o.keys...)
	}
	if err := opts.Check(strings.Join(names, ","), union); err != nil {
		return nil, err
	}
	return out, nil
}
