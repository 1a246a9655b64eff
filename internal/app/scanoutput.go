package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/trailbell/trailbell/internal/finding"
)

// JSONSink writes one finding per line as JSON (finding.Finding's field names).
func JSONSink(w io.Writer) Sink {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(_ context.Context, f finding.Finding) error {
		return enc.Encode(f)
	}
}

// TextSink writes findings for people: severity and title, then who did what where and when.
func TextSink(w io.Writer) Sink {
	return func(_ context.Context, f finding.Finding) error {
		var b strings.Builder
		fmt.Fprintf(&b, "%-8s %s  [%s]\n", strings.ToUpper(f.Severity.String()), oneLine(f.Title), f.Rule)
		fmt.Fprintf(&b, "         %s  %s", orDash(f.EventTime), orDash(f.EventName))
		if f.Failed() {
			fmt.Fprintf(&b, " (failed: %s)", oneLine(f.ErrorCode))
		}
		fmt.Fprintf(&b, "  by %s\n", orDash(oneLine(f.Principal)))
		fmt.Fprintf(&b, "         account %s  region %s  from %s", orDash(f.Account), orDash(f.Region), orDash(oneLine(f.SourceIPAddress)))
		if f.Target != "" {
			fmt.Fprintf(&b, "  target %s", oneLine(f.Target))
		}
		fmt.Fprintf(&b, "\n         eventID %s  at %s\n", orDash(f.EventID), orDash(f.Origin))
		_, err := io.WriteString(w, b.String())
		return err
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps attacker-chosen values from breaking the layout or the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
