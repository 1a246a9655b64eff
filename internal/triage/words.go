package triage

import (
	"fmt"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/chat"
)

// The words of thread notes, in Slack mrkdwn: every string that came from an event or a
// person goes through chat.Text or chat.Code, and a mention is made only of a user id.

func text(s string) string { return chat.Text(s) }
func code(s string) string { return chat.Code(s) }

// quote is what a person wrote, as text in quotes.
func quote(s string) string { return "“" + chat.Text(s) + "”" }

// mention names a Slack user so that Slack shows (and notifies) them.
func mention(id string) string {
	if !IsUserID(id) {
		return "someone"
	}
	return "<@" + id + ">"
}

// clock is a time as people read it in a note.
func clock(t time.Time) string { return t.UTC().Format("15:04 UTC, 2 Jan") }

// span is a duration in words: 30m, 8h, 7d.
func span(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// Span is a duration as triage shows it (a mute's length).
func Span(d time.Duration) string { return span(d) }

// actorName is the alert's actor as mrkdwn.
func actorName(a *Alert) string {
	act := a.Lead().Actor
	if act == nil {
		return "the actor"
	}
	name := act.Name
	if name == "" {
		name = act.ID
	}
	return code(name)
}

// escalation is the critical finding raised when the actor answers "No" (RuleDenied) or
// nothing in time (RuleNoAnswer): the alert's lead finding, with its event, actor and
// runbook, under a rule and title that say why.
func escalation(a *Alert, rule string, timeout time.Duration) finding.Finding {
	f := *a.Lead()
	who := "the actor"
	if f.Actor != nil {
		who = strings.TrimSpace(f.Actor.Name)
		if who == "" {
			who = f.Actor.ID
		}
	}
	title := f.Title
	if title == "" {
		title = f.Rule
	}
	f.Also, f.Tags = nil, []string{"escalation"}
	f.Severity = finding.Critical
	if rule == RuleDenied {
		f.Title = who + " says they did not do this: " + title
		f.Description = fmt.Sprintf("Asked in Slack whether they did this, %s answered No. Treat the credentials "+
			"behind this call as compromised until shown otherwise. Original rule: %s.", who, f.Rule)
	} else {
		f.Title = fmt.Sprintf("No answer from %s within %s: %s", who, span(timeout), title)
		f.Description = fmt.Sprintf("Asked in Slack whether they did this, %s did not answer within %s. "+
			"Original rule: %s.", who, span(timeout), f.Rule)
	}
	f.Rule = rule
	f.Origin = "trailbell triage of alert " + a.ID
	return f
}

// reraised is the finding of an alert nobody acknowledged within after, for its receiver's
// fallback.
func reraised(a *Alert, after time.Duration) finding.Finding {
	f := *a.Lead()
	title := f.Title
	if title == "" {
		title = f.Rule
	}
	f.Description = fmt.Sprintf("Posted %s and not acknowledged within %s. Original rule: %s. %s",
		a.Posted.UTC().Format(time.RFC3339), span(after), f.Rule, f.Description)
	f.Title = "Not acknowledged in " + span(after) + ": " + title
	f.Rule = RuleUnacknowledged
	f.Also = nil
	f.Origin = "trailbell triage of alert " + a.ID
	return f
}

// rules names a mute's rules.
func rules(m *Mute) string {
	s := code(m.Rule)
	if len(m.Also) > 0 {
		also := make([]string, len(m.Also))
		for i, r := range m.Also {
			also[i] = code(r)
		}
		s += " (with " + strings.Join(also, ", ") + ", which its event also matched)"
	}
	return s
}
