package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAttackTool(t *testing.T) {
	for _, tc := range []struct{ ua, source, want string }{
		{"aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.11-amd64 md/distrib#kali.2024 md/prompt#off", "iam.amazonaws.com", "Kali Linux"},
		{"aws-cli/1.22.34 Python/3.9.12 Linux/5.16.0-kali7-amd64 botocore/1.24.26", "sts.amazonaws.com", "Kali Linux"},
		{"Boto3/1.28.62 Python/3.11.6 Linux/6.5.0 Botocore/1.31.62 Pacu/1.6.0", "iam.amazonaws.com", "Pacu"},
		{"TruffleHog", "sts.amazonaws.com", "TruffleHog"},
		{"stratus-red-team_c763d13b-d099-488a-bb3e-f57cb2fed240", "ssm.amazonaws.com", "Stratus Red Team"},
		{"S3 Browser/11.5.7 (https://s3browser.com)", "iam.amazonaws.com", "S3 Browser"},
		{"S3 Browser/11.5.7 (https://s3browser.com)", "s3.amazonaws.com", ""}, // its job
		{"aws-cli/2.15.0 Python/3.11", "iam.amazonaws.com", ""},
		{"my-stratus-red-team-notes", "iam.amazonaws.com", ""}, // a prefix mark elsewhere
		{"", "iam.amazonaws.com", ""},
		{"aws-cli/2.15.0 os/linux#6.8 md/distrib#KALI.2024", "iam.amazonaws.com", "Kali Linux"},
		{"boto3 PACU", "iam.amazonaws.com", "Pacu"},
		{"aws-cli/2.15.0 md/distrib#\u212aali.2024", "iam.amazonaws.com", "Kali Linux"}, // the Kelvin sign lowers to k
		{"aws-cli/2.15.0 Python/3.11 é", "iam.amazonaws.com", ""},
	} {
		if got := AttackTool(tc.ua, tc.source); got != tc.want {
			t.Errorf("AttackTool(%q, %s) = %q, want %q", tc.ua, tc.source, got, tc.want)
		}
	}
}

// TestAttackToolPreFilter: offensive-tool-user-agent reports every user agent the classifier
// names, in upper case too, and the classifier marks the findings of every rule, not only that
// one's. (TestPredicatePrefilterIsNecessary checks the predicate's EventBridge pre-filter.)
func TestAttackToolPreFilter(t *testing.T) {
	rules := builtin(t)
	i := slices.IndexFunc(rules, func(r Rule) bool { return r.ID == "offensive-tool-user-agent" })
	if i < 0 {
		t.Fatal("no offensive-tool-user-agent rule")
	}
	e, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range attackTools {
		for _, mark := range []string{tool.mark, strings.ToUpper(tool.mark)} {
			attackToolCase(t, e, tool.name, mark, tool.prefix)
		}
	}
}

func attackToolCase(t *testing.T, e *Engine, name, mark string, prefix bool) {
	t.Helper()
	ua := "x " + mark + " y"
	if prefix {
		ua = mark + "/1.0"
	}
	// CreateAccessKey for another user: access-key-created-for-other-user matches too.
	rec := fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEA0000001","userName":"a"},"eventTime":"2026-11-02T09:00:01Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":%q,"requestParameters":{"userName":"b"},"responseElements":{"accessKey":{"userName":"b","accessKeyId":"AKIAEXAMPLEB0000001","status":"Active"}},"eventID":"e-%s","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`, ua, mark)
	var rulesHit []string
	fs := detect(t, e, rec)
	for _, f := range fs {
		rulesHit = append(rulesHit, f.Rule)
		if f.AttackTool != name {
			t.Errorf("%s: finding of %s has attackTool %q, want %q", ua, f.Rule, f.AttackTool, name)
		}
	}
	if !slices.Contains(rulesHit, "offensive-tool-user-agent") || len(rulesHit) < 2 {
		t.Errorf("user agent %q: rules %v, want offensive-tool-user-agent and the access-key rule", ua, rulesHit)
	}
}
