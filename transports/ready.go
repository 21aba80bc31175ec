package transports

import "context"

// ReadyChecker is a Bearer whose device can go away while the process runs (a PC/SC
// reader unplugged, its daemon stopped). Ready says whether the bearer can take
// holders now; its error says what is missing. A gate's readiness (/readyz) asks every
// lane's bearer that has it.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}
