package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Entry is one line of the audit log: who did what, when, to which alert. Its JSON is the
// contract of `trailbell audit --json`.
type Entry struct {
	Time time.Time `json:"time"`
	// Who did it: "slack:U0123" (a Slack user, named in Name), "trailbell" (a timer: a
	// deadline, an expiry, a re-raise) or "cli:USER" (`trailbell mutes remove`).
	Who    string `json:"who"`
	Name   string `json:"name,omitempty"`
	Action string `json:"action"`
	// Alert is the alert acted on; Rule, Principal and EventID say what it was about.
	Alert     string `json:"alert,omitempty"`
	Rule      string `json:"rule,omitempty"`
	Principal string `json:"principal,omitempty"`
	EventID   string `json:"eventID,omitempty"`
	// Mute is the mute made, ended or removed; Until its end.
	Mute  string    `json:"mute,omitempty"`
	Until time.Time `json:"until,omitzero"`
	// Reason is the reason given (a mute, a removal, the actor's "yes").
	Reason string `json:"reason,omitempty"`
	// Detail says more in words (whom a question went to, where a re-raise went).
	Detail string `json:"detail,omitempty"`
}

// Actions in the audit log.
const (
	AuditAcknowledge  = "acknowledge"
	AuditAsk          = "ask"           // someone asked for the actor to be asked
	AuditAsked        = "asked"         // the question reached the actor
	AuditAskFailed    = "ask_failed"    // the actor could not be reached
	AuditAnswerYes    = "answer_yes"    // the actor did it, with a reason
	AuditAnswerNo     = "answer_no"     // the actor did not: escalated
	AuditNoAnswer     = "no_answer"     // the deadline passed: escalated
	AuditMute         = "mute"          // a mute made
	AuditUnmute       = "unmute"        // a mute removed before its end
	AuditMuteExpired  = "mute_expired"  // a mute ended
	AuditReraise      = "reraise"       // an unacknowledged alert re-raised
	AuditEscalate     = "escalate"      // an escalation handed to the route tree
	AuditJobAbandoned = "job_abandoned" // a Slack update that kept failing was given up
)

// SystemWho is who timers act as in the audit log.
const SystemWho = "trailbell"

// who is u as the audit log names a Slack user.
func who(u User) string { return "slack:" + u.ID }

// entry is an audit entry about alert a.
func entry(now time.Time, by User, action string, a *Alert) Entry {
	e := Entry{Time: now, Who: who(by), Name: by.Name, Action: action}
	if by.ID == "" {
		e.Who = SystemWho
	}
	if a != nil {
		lead := a.Lead()
		e.Alert, e.Rule, e.Principal, e.EventID = a.ID, lead.Rule, lead.Principal, lead.EventID
	}
	return e
}

// auditOp appends e to the audit log.
func auditOp(e Entry) (Op, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return Op{}, fmt.Errorf("audit entry: %w", err)
	}
	return Op{Part: partAudit, Key: orderedKey(e.Time), Value: v}, nil
}

// Audit returns the audit log from since (zero: the start), oldest first, at most limit
// entries (0: all). Entries are kept for good.
func (s *Service) Audit(ctx context.Context, since time.Time, limit int) ([]Entry, error) {
	after := ""
	if !since.IsZero() {
		after = timeKey(since.Add(-time.Nanosecond)) + "/\xff"
	}
	var out []Entry
	for {
		page := 500
		if limit > 0 {
			page = min(page, limit-len(out))
		}
		items, err := s.o.Store.List(ctx, partAudit, after, "", page)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			var e Entry
			if err := json.Unmarshal(it.Value, &e); err != nil {
				return nil, fmt.Errorf("audit entry %s: %w", it.Key, err)
			}
			out = append(out, e)
		}
		if len(items) < page || limit > 0 && len(out) >= limit {
			return out, nil
		}
		after = items[len(items)-1].Key
	}
}
