package actors

import (
	"sync/atomic"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports"
)

// Messages between actors: one type per intent.

// sendMessage asks a link to transmit one whole session message; closeAfter closes the
// connection once it is written.
type sendMessage struct {
	msg        []byte
	closeAfter bool
}

// linkMessage is a whole session message a link received.
type linkMessage struct{ msg []byte }

// linkDown tells the link's parent that the connection ended or failed.
type linkDown struct{ err error }

// linkReadFailed carries the read goroutine's final error to the link actor.
type linkReadFailed struct{ err error }

// verifyRequest asks the crypto pool to run a job of a session of lane and answer
// replyTo with verifyResponse. ended is set by the session once it has its verdict: the
// pool then drops the job unrun.
type verifyRequest struct {
	job   *readersession.VerifyJob
	seq   uint64
	lane  string
	ended *atomic.Bool
}

// verifyResponse returns a job's answer; failed is set when the worker crashed on it,
// busy when the lane's queue was full and the job was not run.
type verifyResponse struct {
	seq    uint64
	result readersession.Verification
	failed string
	busy   bool
}

// workerIdle tells the pool dispatcher that a worker can take the next job.
type workerIdle struct{}

// sessionTimeout fires a session timer; gen ignores timers that were re-armed.
type sessionTimeout struct {
	gen    uint64
	reason string
}

// sessionEnded carries a session's verdict to its lane.
type sessionEnded struct{ verdict *SessionVerdict }

// arrival carries an accepted engagement from the lane's accept goroutine.
type arrival struct{ a *transports.Arrival }

// acceptFailed reports that the lane's listener stopped.
type acceptFailed struct{ err error }

// holderThink fires after a simulated holder's think time.
type holderThink struct{ msg []byte }

// decideResponse carries a decision that may wait (readersession DecideJob) back to
// its session; failed is set when the decision panicked.
type decideResponse struct {
	seq      uint64
	decision readersession.Decision
	failed   string
}
