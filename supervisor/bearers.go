package supervisor

import (
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/bearers"
)

// The gate daemon (cmd/mdocgate serve, moving to a package of its own) opens its radio
// lanes' bearers by these names. They are aliases of transports.Bearer,
// transports.BearerOptions, transports.LinkFaults and bearers.Open, to be dropped once
// the daemon uses those directly.
type (
	Bearer        = transports.Bearer
	BearerOptions = transports.BearerOptions
	LinkFaults    = transports.LinkFaults
)

// OpenBearer is bearers.Open.
func OpenBearer(name string, opts BearerOptions) (Bearer, error) { return bearers.Open(name, opts) }
