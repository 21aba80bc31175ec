package gate

import (
	"context"

	"go.uber.org/zap"
)

// LogActuator logs each action (lane, session, action, reason) and never fails; it is
// the actuator of lanes without hardware. A nil Log logs nothing.
type LogActuator struct {
	Log *zap.Logger
}

func (a LogActuator) log(action Action, laneID, sessionID, reason string) error {
	if a.Log == nil {
		return nil
	}
	fields := []zap.Field{zap.String("lane", laneID), zap.String("session", sessionID), zap.String("action", string(action))}
	if reason != "" {
		fields = append(fields, zap.String("reason", reason))
	}
	a.Log.Info("gate action", fields...)
	return nil
}

// Open implements Actuator.
func (a LogActuator) Open(_ context.Context, laneID, sessionID string) error {
	return a.log(ActionOpen, laneID, sessionID, "")
}

// Deny implements Actuator.
func (a LogActuator) Deny(_ context.Context, laneID, sessionID, reason string) error {
	return a.log(ActionDeny, laneID, sessionID, reason)
}

// CallStaff implements Actuator.
func (a LogActuator) CallStaff(_ context.Context, laneID, sessionID, reason string) error {
	return a.log(ActionCallStaff, laneID, sessionID, reason)
}
