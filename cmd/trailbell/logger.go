package main

import (
	"io"
	"log/slog"
)

// newLogger is the JSON logger of `trailbell run` and of the Lambda function. Durations are
// written as text ("20s", "1m30s"), not as nanoseconds.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}))
}

func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
