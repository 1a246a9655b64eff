package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

// JSONWriter writes one finding per line as JSON (finding.Finding's field names, as
// encoding/json writes them without HTML escaping). Lines are written in blocks: when a block
// is full, when a second has passed since the last one while findings come, and at Flush.
type JSONWriter struct {
	w    io.Writer
	enc  finding.Encoder
	buf  []byte
	last time.Time
	now  func() time.Time
}

// jsonBlock is the size at which a block of lines is written.
const jsonBlock = 64 << 10

// NewJSONWriter writes to w.
func NewJSONWriter(w io.Writer) *JSONWriter { return &JSONWriter{w: w, now: time.Now} }

// Write is the writer's Sink.
func (j *JSONWriter) Write(_ context.Context, f finding.Finding) error {
	b, ok := j.enc.Append(j.buf, &f)
	if !ok {
		// a record that is not valid JSON: encoding/json says what is wrong with it
		w := bytes.NewBuffer(j.buf)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(f); err != nil {
			return err
		}
		b = bytes.TrimSuffix(w.Bytes(), []byte("\n"))
	}
	j.buf = append(b, '\n')
	if len(j.buf) >= jsonBlock {
		return j.Flush()
	}
	if now := j.now(); now.Sub(j.last) >= time.Second {
		j.last = now
		return j.Flush()
	}
	return nil
}

// Flush writes the lines held.
func (j *JSONWriter) Flush() error {
	if len(j.buf) == 0 {
		return nil
	}
	_, err := j.w.Write(j.buf)
	j.buf = j.buf[:0]
	return err
}

// TextWriter writes findings for people: severity and title, then who did what where and
// when, the actor behind it, and the events of a rule with memory (oldest first). The
// findings of one event (a record several rules match, handed on one after another) are one
// entry: the most severe leads, the other rules are listed under it (finding.Merge). Write
// holds an event's findings until the next event's arrive; Flush writes the last.
type TextWriter struct {
	w    io.Writer
	held []*finding.Finding
}

// NewTextWriter writes to w.
func NewTextWriter(w io.Writer) *TextWriter { return &TextWriter{w: w} }

// Write is the writer's Sink.
func (t *TextWriter) Write(_ context.Context, f finding.Finding) error {
	if len(t.held) > 0 && (f.EventKey() == finding.EventKey{} || f.EventKey() != t.held[0].EventKey()) {
		if err := t.Flush(); err != nil {
			return err
		}
	}
	t.held = append(t.held, &f)
	return nil
}

// Flush writes the findings held.
func (t *TextWriter) Flush() error {
	if len(t.held) == 0 {
		return nil
	}
	f := finding.Merge(t.held)
	t.held = t.held[:0]
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
	if f.AttackTool != "" {
		fmt.Fprintf(&b, "         user agent of an attack tool (%s): %s\n", stdout.OneLine(f.AttackTool), orDash(f.UserAgent))
	}
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
	for _, a := range f.Also {
		fmt.Fprintf(&b, "         also %-8s %s  [%s]\n", strings.ToUpper(a.Severity.String()), stdout.OneLine(a.Title), a.Rule)
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// orDash is s made safe for one line of a terminal, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return stdout.OneLine(s)
}
