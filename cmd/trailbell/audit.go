package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/notify/stdout"
	"github.com/trailbell/trailbell/internal/triage"
)

const auditAbout = `Prints the audit log of interactive alerts, oldest first: every acknowledgement, question to
an actor and answer, escalation, re-raise, mute made, removed or ended, with who (slack:USER,
trailbell for timers, cli:USER for trailbell mutes remove), when, and which alert (its id,
rule, principal and eventID). As text, one entry a line, or as JSON lines (--json: time, who,
name, action, alert, rule, principal, eventID, mute, until, reason, detail).

The log is read from the configuration's state store: state.dynamodb_table (--table overrides
it) or else the file under state_dir, which works while trailbell run is running.`

func runAudit(ctx context.Context, args []string, io stdio) int {
	c := newLeaf(io, "audit", "trailbell audit --config FILE [--json] [--since TIME] [--alert ID]", auditAbout)
	var sf storeFlags
	sf.register(c)
	asJSON := c.Bool("json", false, "one JSON object a line")
	since := c.String("since", "", "entries from this `time` on: RFC 3339, YYYY-MM-DD, or a duration ago (24h, 7d)")
	alert := c.String("alert", "", "only the entries about this alert `id`")
	limit := c.Int("limit", 0, "at most this many entries (0: all)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	from, err := parseScanTime(*since, time.Now())
	if err != nil {
		return c.usageError("--since: %v", err)
	}
	if *limit < 0 {
		return c.usageError("--limit must not be negative")
	}
	svc, code, ok := sf.service(ctx, c)
	if !ok {
		return code
	}
	n := *limit
	if *alert != "" {
		n = 0 // counted after filtering
	}
	entries, err := svc.Audit(ctx, from, n)
	if err != nil {
		return c.fail("%v", err)
	}
	enc := json.NewEncoder(io.out)
	shown := 0
	for _, e := range entries {
		if *alert != "" && e.Alert != *alert {
			continue
		}
		if *limit > 0 && shown == *limit {
			break
		}
		shown++
		if *asJSON {
			enc.Encode(e)
			continue
		}
		fmt.Fprintln(io.out, auditLine(e))
	}
	return exitOK
}

// auditLine is an entry as one line of text; what people typed cannot break it.
func auditLine(e triage.Entry) string {
	who := e.Who
	if e.Name != "" {
		who += " (" + e.Name + ")"
	}
	parts := []string{e.Time.UTC().Format(time.RFC3339), who, e.Action}
	if e.Alert != "" {
		parts = append(parts, "alert "+e.Alert)
	}
	if e.Rule != "" {
		parts = append(parts, "rule "+e.Rule)
	}
	if e.Principal != "" {
		parts = append(parts, "principal "+e.Principal)
	}
	if e.EventID != "" {
		parts = append(parts, "eventID "+e.EventID)
	}
	if e.Mute != "" {
		parts = append(parts, "mute "+e.Mute)
	}
	if !e.Until.IsZero() {
		parts = append(parts, "until "+e.Until.UTC().Format(time.RFC3339))
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	if e.Reason != "" {
		parts = append(parts, "reason: "+e.Reason)
	}
	for i := range parts {
		parts[i] = stdout.OneLine(parts[i])
	}
	return strings.Join(parts, "  ")
}
