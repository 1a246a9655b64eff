package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Interactive makes the alerts of slack_api receivers places where triage happens: buttons to
// acknowledge, ask the actor and mute, answered at POST /slack/interactions (the daemon's
// run.listen, the Lambda's function URL). It is on when this section is present or
// TRAILBELL_SLACK_SIGNING_SECRET is set, and a slack_api receiver exists.
type Interactive struct {
	// SigningSecret is the Slack app's signing secret (or TRAILBELL_SLACK_SIGNING_SECRET,
	// which may hold a value or a reference like this setting).
	SigningSecret     Secret `yaml:"signing_secret"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	// Receivers are the slack_api receivers whose alerts get buttons; default all of them.
	Receivers []string `yaml:"receivers"`
	// Responders are the Slack user ids (U…) who may acknowledge, ask and mute; empty: anyone
	// in the workspace who sees the alert. An alert's actor never may on their own alert.
	Responders []string `yaml:"responders"`
	// ReraiseAfter re-raises an unacknowledged high or critical alert to its receiver's
	// fallback (in the channel when it has none); default 30m, 0 never.
	ReraiseAfter *Duration `yaml:"reraise_after"`
	// AskTimeout escalates a question the actor did not answer; default 30m.
	AskTimeout Duration `yaml:"ask_timeout"`
	// MuteDurations are the lengths a mute offers; default 1h, 8h, 24h, 7d.
	MuteDurations []Duration `yaml:"mute_durations"`
	// Identities map an actor (its ARN, id, name or e-mail, or a principal ARN) to a Slack user
	// id (U…) or an e-mail address that users.lookupByEmail finds. An actor whose name is an
	// e-mail address (Identity Center users) needs no entry.
	Identities map[string]string `yaml:"identities"`
	// Retention is how long an alert is remembered for its buttons; default 90d.
	Retention Duration `yaml:"retention"`
}

var (
	slackUser = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	email     = regexp.MustCompile(`^[^@\s<>|]+@[^@\s<>|]+$`)
)

// Reraise is the re-raise delay: the default 30m, or what is set (0: never).
func (i *Interactive) Reraise() time.Duration {
	if i == nil || i.ReraiseAfter == nil {
		return 30 * time.Minute
	}
	return time.Duration(*i.ReraiseAfter)
}

// InteractiveReceivers names the receivers whose alerts get buttons: interactive.receivers,
// or every slack_api receiver.
func (c *Config) InteractiveReceivers() []string {
	var all []string
	for _, r := range c.Notify.Receivers {
		if r.SlackAPI != nil {
			all = append(all, r.Name)
		}
	}
	if c.Interactive != nil && len(c.Interactive.Receivers) > 0 {
		return c.Interactive.Receivers
	}
	return all
}

func (c *Config) validateInteractive(bad func(path, format string, args ...any)) {
	i := c.Interactive
	if i == nil {
		return
	}
	api := map[string]bool{}
	for _, r := range c.Notify.Receivers {
		api[r.Name] = r.SlackAPI != nil
	}
	if len(c.InteractiveReceivers()) == 0 {
		bad("interactive", "no slack_api receiver to make interactive (webhooks cannot take answers)")
	}
	for j, name := range i.Receivers {
		if ok, known := api[name]; !known || !ok {
			bad(fmt.Sprintf("interactive.receivers[%d]", j), "%q is not a slack_api receiver", name)
		}
	}
	for j, u := range i.Responders {
		if !slackUser.MatchString(u) {
			bad(fmt.Sprintf("interactive.responders[%d]", j), "%q is not a Slack user id (U… or W…)", u)
		}
	}
	if i.ReraiseAfter != nil && *i.ReraiseAfter < 0 {
		bad("interactive.reraise_after", "must not be negative")
	}
	if i.AskTimeout < 0 {
		bad("interactive.ask_timeout", "must not be negative")
	}
	if i.Retention < 0 {
		bad("interactive.retention", "must not be negative")
	}
	if len(i.MuteDurations) > 20 {
		bad("interactive.mute_durations", "at most 20 choices")
	}
	for j, d := range i.MuteDurations {
		if d <= 0 || time.Duration(d) > 365*24*time.Hour || time.Duration(d)%time.Second != 0 {
			bad(fmt.Sprintf("interactive.mute_durations[%d]", j), "must be whole seconds, more than 0 and at most 365d")
		}
	}
	seen := map[Duration]bool{}
	for _, d := range i.MuteDurations {
		if seen[d] {
			bad("interactive.mute_durations", "%s is listed twice", time.Duration(d))
		}
		seen[d] = true
	}
	for k, v := range i.Identities {
		if strings.TrimSpace(k) == "" {
			bad("interactive.identities", "an empty actor")
		}
		if !slackUser.MatchString(v) && !email.MatchString(v) {
			bad("interactive.identities."+k, "%q is neither a Slack user id (U…) nor an e-mail address", v)
		}
	}
}
