package slack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/slack"
)

// BenchmarkBuild renders and encodes the Slack message of a hostile finding: every event
// string long (9,000 characters) and full of mrkdwn, mentions and hidden characters, so
// that escaping, neutralising and trimming all run.
func BenchmarkBuild(b *testing.B) {
	long := strings.Repeat("A&<*_~`>\u202E\u200B😀", 900)
	f := &finding.Finding{
		Rule: "iam-user-policy-attached", Severity: finding.Critical, Title: "Policy attached <!channel> " + long,
		Description: "desc " + long, EventID: "ev`1", EventName: "AttachUserPolicy<@U123>", EventSource: "iam.amazonaws.com",
		EventTime: "2026-11-28T01:00:00Z", Account: "123456789012", Region: "us-east-1",
		Principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/" + long, PrincipalType: "AssumedRole",
		SourceIPAddress: "203.0.113.9", UserAgent: long, ErrorCode: "AccessDenied", ErrorMessage: long,
		Target: "arn:aws:iam::123456789012:user/bob", Params: []finding.Param{{Name: "policyArn", Value: long}},
		Grants: []string{long}, Record: json.RawMessage(`{}`),
	}
	st := slack.Style{Accounts: map[string]string{"123456789012": "prod"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := slack.Encode(slack.Build(st, f)); err != nil {
			b.Fatal(err)
		}
	}
}
