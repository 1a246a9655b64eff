package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

// JSONSink writes one finding per line as JSON (finding.Finding's field names).
func JSONSink(w io.Writer) Sink {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(_ context.Context, f finding.Finding) error {
		return enc.Encode(f)
	}
}

// TextSink writes findings for people: severity and title, then who did what where and when,
// the actor behind it, and the events of a rule with memory (oldest first).
func TextSink(w io.Writer) Sink {
	return func(_ context.Context, f finding.Finding) error {
		var b strings.Builder
		fmt.Fprintf(&b, "%-8s %s  [%s]\n", strings.ToUpper(f.Severity.String()), stdout.OneLine(f.Title), f.Rule)
		fmt.Fprintf(&b, "         %s  %s", orDash(f.EventTime), orDash(f.EventName))
		if f.Failed() {
			fmt.Fprintf(&b, " (failed: %s)", stdout.OneLine(f.ErrorCode))
		}
		fmt.Fprintf(&b, "  by %s\n", orDash(f.Principal))
		fmt.Fprintf(&b, "         account %s  region %s  from %s", orDash(f.Account), orDash(f.Region), orDash(f.SourceIPAddress))
		if f.Target != "" {
			fmt.Fprintf(&b, "  target %s", stdout.OneLine(f.Target))
		}
		fmt.Fprintf(&b, "\n         eventID %s  at %s\n", orDash(f.EventID), orDash(f.Origin))
		if f.Actor != nil {
			fmt.Fprintf(&b, "         actor %s\n", stdout.OneLine(f.Actor.String()))
		}
		for _, e := range f.Events {
			what := e.EventName
			if e.Step != "" {
				what += " (" + e.Step + ")"
			} else if e.Value != "" {
				what += " " + e.Value
			}
			fmt.Fprintf(&b, "           %s  %s  %s\n", orDash(e.EventTime), orDash(what), orDash(e.EventID))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
}

// orDash is s made safe for one line of a terminal, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return stdout.OneLine(s)
}
