package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Supervision strategies of the actor tree: every decision is counted (Counters.Restarts),
// so a load run or /metrics shows how often supervision stepped in.

// restartCounting restarts failed children and counts every decision.
func restartCounting(env *Env) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(1<<30, time.Second, func(reason interface{}) actor.Directive {
		env.Counters.Restarts.Add(1)
		return actor.RestartDirective
	})
}

// stopCounting stops failed children (a session cannot be resumed after a panic) and
// counts every decision.
func stopCounting(env *Env) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(1<<30, time.Second, func(reason interface{}) actor.Directive {
		env.Counters.Restarts.Add(1)
		if env.Log != nil {
			env.Log.Warn("actor failed and was stopped", zapReason(reason))
		}
		return actor.StopDirective
	})
}
