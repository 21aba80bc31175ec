// Package bearers opens every bearer's adapter (transports.Bearer) by name, for the
// command line, the gate daemon and load runs: one list of the bearers this build has.
package bearers

import (
	"fmt"
	"slices"

	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/ble"
	"github.com/mdocgate/mdocgate/transports/memory"
	"github.com/mdocgate/mdocgate/transports/nfc"
	"github.com/mdocgate/mdocgate/transports/web"
	"github.com/mdocgate/mdocgate/transports/wifiaware"
)

// open maps each bearer name to its adapter's constructor; the options each reads are
// documented there.
var open = map[string]func(transports.BearerOptions) (transports.Bearer, error){
	memory.Bearer:    memory.OpenBearer,
	nfc.Bearer:       nfc.OpenBearer,
	nfc.PCSCBearer:   nfc.OpenPCSCBearer,
	ble.Bearer:       ble.OpenBearer,
	wifiaware.Bearer: wifiaware.OpenBearer,
	web.BearerHTTP: func(o transports.BearerOptions) (transports.Bearer, error) {
		return web.OpenBearer(web.BearerHTTP, o)
	},
	web.BearerWebSocket: func(o transports.BearerOptions) (transports.Bearer, error) {
		return web.OpenBearer(web.BearerWebSocket, o)
	},
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

// Open opens the bearer called name with its options; a caller runs lanes on it with
// Listen, and simulated holders reach a lane with Engage. Each bearer reads its own
// options and ignores the others'.
func Open(name string, opts transports.BearerOptions) (transports.Bearer, error) {
	o, ok := open[name]
	if !ok {
		return nil, fmt.Errorf("transport %q is not available (this build has: %v)", name, Names())
	}
	return o(opts)
}
