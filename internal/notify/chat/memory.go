package chat

import (
	"fmt"
	"strings"

	"github.com/trailbell/trailbell/internal/finding"
)

// actorKinds name the actor types in words.
var actorKinds = map[string]string{
	"IAMUser": "IAM user", "Root": "root", "IdentityCenterUser": "Identity Center user",
	"SAMLUser": "SAML user", "WebIdentityUser": "web identity", "SourceIdentity": "source identity",
	"AWSService": "AWS service", "AWSAccount": "another account",
}

// Actor is the person or workload behind a finding's call in mrkdwn: the name and kind, then
// the role sessions it went through, first assumed first.
func Actor(a *finding.Actor) string {
	if a == nil {
		return "unknown"
	}
	name := a.Name
	if name == "" {
		name = a.ID
	}
	kind := actorKinds[a.Type]
	if kind == "" {
		kind = a.Type
	}
	s := Code(name) + " (" + Text(kind) + ")"
	if a.ID != "" && a.ID != name && strings.HasPrefix(a.ID, "arn:") {
		s += "\n" + Code(a.ID)
	}
	for _, v := range a.Via {
		s += "\nvia " + Code(session(v))
	}
	return s
}

// session shortens a session ARN to role/NAME/SESSION.
func session(arn string) string {
	if _, rest, ok := strings.Cut(arn, ":assumed-role/"); ok {
		return "role/" + rest
	}
	if _, rest, ok := strings.Cut(arn, ":federated-user/"); ok {
		return "federated-user/" + rest
	}
	return arn
}

// Events lists the events behind a finding of a rule with memory, oldest first, at most max
// lines (the last says how many more): time, event name, the step or value, eventID.
func Events(f *finding.Finding, max int) []string {
	var out []string
	for i, e := range f.Events {
		if i == max-1 && len(f.Events) > max {
			out = append(out, fmt.Sprintf("…and %d more", len(f.Events)-i))
			break
		}
		line := Text(e.EventTime) + " " + Code(e.EventName)
		if e.Step != "" {
			line += " · " + Text(e.Step)
		}
		if e.Value != "" {
			line += " · " + Code(e.Value)
		}
		line += " · eventID " + Code(e.EventID)
		out = append(out, line)
	}
	return out
}
