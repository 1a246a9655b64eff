// Package stdout writes findings to a stream: JSON lines for machines, or short text.
package stdout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
)

// Notifier writes each finding as one line: as text, an alert that merged an event's
// findings names the other rules at its end; as JSON, the receiver is normally PerRule (one
// line per rule and event, as scan writes them).
type Notifier struct {
	mu   sync.Mutex
	w    io.Writer
	text bool
}

var _ notify.Notifier = (*Notifier)(nil)

// New writes to w; format is "json" (default) or "text".
func New(w io.Writer, format string) (*Notifier, error) {
	switch format {
	case "", "json":
		return &Notifier{w: w}, nil
	case "text":
		return &Notifier{w: w, text: true}, nil
	}
	return nil, fmt.Errorf("stdout: unknown format %q (want json or text)", format)
}

// Notify writes the findings. A write error is not retried: a closed pipe stays closed.
func (n *Notifier) Notify(_ context.Context, fs ...*finding.Finding) (bool, error) {
	var b strings.Builder
	for _, f := range fs {
		if n.text {
			fmt.Fprintf(&b, "%-8s %s  %s by %s in %s/%s at %s  eventID %s", strings.ToUpper(f.Severity.String()),
				OneLine(f.Title), OneLine(f.EventName), OneLine(f.Principal), OneLine(f.Account), OneLine(f.Region),
				OneLine(f.EventTime), OneLine(f.EventID))
			for i, a := range f.Also { // the other rules of the event, when it was merged
				sep := ", "
				if i == 0 {
					sep = "  also "
				}
				fmt.Fprintf(&b, "%s%s (%s)", sep, OneLine(a.Rule), a.Severity)
			}
			b.WriteByte('\n')
			continue
		}
		j, err := json.Marshal(f)
		if err != nil {
			return false, fmt.Errorf("stdout: encode: %w", err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.w, b.String()); err != nil {
		return false, &notify.Error{Reason: "write", Err: err}
	}
	return false, nil
}

// OneLine keeps an attacker-chosen value from forging extra output lines or sending control
// sequences to a terminal: every control character becomes a space.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
