package supervisor

import (
	"testing"

	"go.uber.org/goleak"
)

// protoactorIgnores lists goroutines protoactor-go starts on its own and that end by
// themselves: the dead-letter throttle waits one throttle interval (1 s) after a burst of
// dead letters (messages from a link's I/O goroutine that reach an actor which has just
// stopped). None of the engine's own goroutines may appear here.
func protoactorIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, protoactorIgnores()...)
}
