package supervisor

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ZapHandler is a slog.Handler writing to a zap logger, so that protoactor's slog output
// joins the engine's zap logs.
type ZapHandler struct {
	log   *zap.Logger
	min   slog.Level
	attrs []zap.Field
	group string
}

// NewZapHandler returns a handler that forwards records at or above min.
func NewZapHandler(log *zap.Logger, min slog.Level) *ZapHandler {
	return &ZapHandler{log: log, min: min}
}

// Enabled reports whether level is forwarded.
func (h *ZapHandler) Enabled(_ context.Context, level slog.Level) bool { return level >= h.min }

// Handle forwards one record.
func (h *ZapHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make([]zap.Field, 0, len(h.attrs)+r.NumAttrs())
	fields = append(fields, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, h.field(a))
		return true
	})
	if ce := h.log.Check(zapLevel(r.Level), r.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *ZapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]zap.Field(nil), h.attrs...), make([]zap.Field, 0, len(attrs))...)
	for _, a := range attrs {
		c.attrs = append(c.attrs, h.field(a))
	}
	return &c
}

// WithGroup prefixes later attribute keys with name.
func (h *ZapHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		c.group += "."
	}
	c.group += name
	return &c
}

func (h *ZapHandler) field(a slog.Attr) zap.Field {
	key := a.Key
	if h.group != "" {
		key = h.group + "." + key
	}
	return zap.Any(key, a.Value.Resolve().Any())
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	default:
		return zapcore.DebugLevel
	}
}
