package gate

import (
	"context"

	"go.uber.org/zap"
)

// LogActuator logs each action (lane, session, action, reason, and the fields the
// context carries, see WithLogFields) and never fails; it is the actuator of lanes
// without hardware. A nil Log logs nothing.
type LogActuator struct {
	Log *zap.Logger
}

type logFieldsKey struct{}

// WithLogFields returns ctx carrying fields that LogActuator adds to its line, such as
// the session's bearer, outcome and failing check. Callers put no element values there
// unless a debug setting asks for them.
func WithLogFields(ctx context.Context, fields ...zap.Field) context.Context {
	prev, _ := ctx.Value(logFieldsKey{}).([]zap.Field)
	return context.WithValue(ctx, logFieldsKey{}, append(append([]zap.Field(nil), prev...), fields...))
}

func (a LogActuator) log(ctx context.Context, action Action, laneID, sessionID, reason string) error {
	if a.Log == nil {
		return nil
	}
	fields := []zap.Field{zap.String("lane", laneID), zap.String("session", sessionID), zap.String("action", string(action))}
	if reason != "" {
		fields = append(fields, zap.String("reason", reason))
	}
	if extra, ok := ctx.Value(logFieldsKey{}).([]zap.Field); ok {
		fields = append(fields, extra...)
	}
	a.Log.Info("gate action", fields...)
	return nil
}

// Open implements Actuator.
func (a LogActuator) Open(ctx context.Context, laneID, sessionID string) error {
	return a.log(ctx, ActionOpen, laneID, sessionID, "")
}

// Deny implements Actuator.
func (a LogActuator) Deny(ctx context.Context, laneID, sessionID, reason string) error {
	return a.log(ctx, ActionDeny, laneID, sessionID, reason)
}

// CallStaff implements Actuator.
func (a LogActuator) CallStaff(ctx context.Context, laneID, sessionID, reason string) error {
	return a.log(ctx, ActionCallStaff, laneID, sessionID, reason)
}
