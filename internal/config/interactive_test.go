package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/config"
)

// TestInteractiveValidation: every problem of the interactive section is named by its path.
func TestInteractiveValidation(t *testing.T) {
	_, err := config.Parse([]byte(`notify:
  receivers:
    - {name: hook, slack: {webhook_url: "https://hooks.slack.com/services/T/B/x"}}
    - {name: api, slack_api: {token: xoxb-1, channel: "#a"}}
  route: {receiver: api}
interactive:
  receivers: [hook, nosuch]
  responders: [U0123ABCD, jane]
  reraise_after: -1m
  ask_timeout: -1m
  mute_durations: [1h, 1h, 0s, 1500ms]
  identities: {"arn:aws:iam::111122223333:user/alice": "alice at example"}
`), t.TempDir())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`interactive.receivers[0]: "hook" is not a slack_api receiver`,
		`interactive.receivers[1]: "nosuch" is not a slack_api receiver`,
		`interactive.responders[1]: "jane" is not a Slack user id`,
		"interactive.reraise_after: must not be negative",
		"interactive.ask_timeout: must not be negative",
		"interactive.mute_durations: 1h0m0s is listed twice",
		"interactive.mute_durations[2]: must be whole seconds",
		"interactive.mute_durations[3]: must be whole seconds",
		`interactive.identities.arn:aws:iam::111122223333:user/alice: "alice at example" is neither`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = config.Parse([]byte("notify:\n  receivers: [{name: hook, slack: {webhook_url: x}}]\n  route: {receiver: hook}\ninteractive: {}\n"), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "interactive: no slack_api receiver") {
		t.Errorf("webhooks only: %v", err)
	}
	c, err := config.Parse([]byte("notify:\n  receivers: [{name: a, slack_api: {token: x, channel: c}}, {name: b, slack_api: {token: x, channel: d}}]\n  route: {receiver: a}\ninteractive: {reraise_after: 0s}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.InteractiveReceivers(); len(got) != 2 || c.Interactive.Reraise() != 0 {
		t.Errorf("receivers %v, re-raise %v: want both slack_api receivers and never", got, c.Interactive.Reraise())
	}
	var none *config.Interactive
	if none.Reraise() != 30*time.Minute {
		t.Error("the default re-raise is not 30m")
	}
}

// TestInteractiveREADMEExample: the Triage in Slack section's configuration parses.
func TestInteractiveREADMEExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found")
	}
	s := string(b)
	i := strings.Index(s, "## Triage in Slack")
	if i < 0 {
		t.Fatal(`README.md has no "## Triage in Slack" section`)
	}
	start := strings.Index(s[i:], "```yaml\n")
	block := s[i+start+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	c, err := config.Parse([]byte(block), t.TempDir())
	if err != nil {
		t.Fatalf("README example does not parse:\n%v", err)
	}
	if c.Interactive == nil || len(c.Interactive.Identities) != 2 || !c.Interactive.SigningSecret.IsSet() {
		t.Errorf("interactive section %+v", c.Interactive)
	}
}
