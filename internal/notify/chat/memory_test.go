package chat_test

import (
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/chat"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/sns"
)

// A finding of a rule with memory shows its actor first (Slack) or before the caller
// (Chatbot), and lists its events; an attacker-chosen session or subject name stays text.
func TestActorAndEvents(t *testing.T) {
	f := &finding.Finding{
		Rule: "new-user-escalation-chain", Severity: finding.Critical, Title: "t", EventID: "e3", EventName: "AttachUserPolicy",
		Principal: "arn:aws:sts::111122223333:assumed-role/ops/<!channel>",
		Actor: &finding.Actor{ID: "identitycenter:<!channel>", Type: "IdentityCenterUser", Name: "<!channel> *bold*",
			Via: []string{"arn:aws:sts::111122223333:assumed-role/ops/<@U123>"}},
		Related: []string{"e1", "e2"},
		Events: []finding.Event{
			{Step: "user created", EventID: "e1", EventName: "CreateUser", EventTime: "2026-11-20T09:06:00Z"},
			{Step: "credentials", EventID: "e2", EventName: "CreateAccessKey", EventTime: "2026-11-20T09:07:00Z"},
			{Step: "admin", EventID: "e3", EventName: "AttachUserPolicy", EventTime: "2026-11-20T09:08:00Z"},
		},
	}
	if got := chat.Actor(f.Actor); !strings.Contains(got, "(Identity Center user)") || !strings.Contains(got, "via ") {
		t.Errorf("actor %q", got)
	}
	raw, err := slack.Encode(slack.Build(slack.Style{}, f))
	if err != nil {
		t.Fatal(err)
	}
	msg := string(raw)
	for _, bad := range []string{"<!channel>", "<@U123>"} {
		if strings.Contains(msg, bad) {
			t.Errorf("Slack message carries %s unescaped: %s", bad, msg)
		}
	}
	if a, w := strings.Index(msg, "*Actor*"), strings.Index(msg, "*Who*"); a < 0 || w < a {
		t.Errorf("the actor is not the first field: %s", msg)
	}
	if !strings.Contains(msg, "*Events*, oldest first") || strings.Index(msg, "CreateUser") > strings.Index(msg, "CreateAccessKey") {
		t.Errorf("events not listed in order: %s", msg)
	}
	cb := sns.Build(chat.Style{}, f)
	if d := cb.Content.Description; !strings.Contains(d, "*Actor:*") || !strings.Contains(d, "user created") || strings.Contains(d, "<!channel>") {
		t.Errorf("Chatbot description: %s", d)
	}
}
