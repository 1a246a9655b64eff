package chat_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/chat"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
)

// withRecord is a finding of severity sev for a CloudTrail record.
func withRecord(sev finding.Severity, record string) *finding.Finding {
	return &finding.Finding{Rule: "r", Severity: sev, Record: json.RawMessage(record)}
}

const (
	userKey = `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEALICE0001","userName":"alice"},"recipientAccountId":"111122223333"}`
	session = `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/deploy/ci","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEROLE00001",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/deploy","accountId":"111122223333","userName":"deploy"},"attributes":{"mfaAuthenticated":"%s"}}},"recipientAccountId":"111122223333"}`
	sso = `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/jane@example.com","accessKeyId":"ASIAEXAMPLEJANE00001",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0a1b","userName":"AWSReservedSSO_Admin_0a1b"},"attributes":{"mfaAuthenticated":"false"}}}}`
	consoleNoMFA = `{"eventType":"AwsConsoleSignIn","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","userName":"bob"},"additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}}`
	rootConsole  = `{"eventType":"AwsConsoleSignIn","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"additionalEventData":{"MFAUsed":"Yes"},"recipientAccountId":"111122223333"}`
	service      = `{"userIdentity":{"type":"AWSService","invokedBy":"config.amazonaws.com"}}`
)

func TestCredentials(t *testing.T) {
	for _, tc := range []struct{ name, record, want string }{
		{"an IAM user's long-term key", userKey, "`AKIAEXAMPLEALICE0001` long-term access key\nMFA: *no* (a long-term key carries none)"},
		{"a role session with MFA", strings.Replace(session, "%s", "true", 1), "`ASIAEXAMPLEROLE00001` temporary (session) credentials\nMFA: yes"},
		{"a role session without", strings.Replace(session, "%s", "false", 1), "`ASIAEXAMPLEROLE00001` temporary (session) credentials\nMFA: *no*"},
		{"an SSO session: MFA is the identity provider's", sso, "`ASIAEXAMPLEJANE00001` temporary (session) credentials\nMFA: at the identity provider (not in this record)"},
		{"a console password without MFA", consoleNoMFA, "console password\nMFA: *no*"},
		{"root's console sign-in with MFA", rootConsole, "console password\nMFA: yes"},
		{"an AWS service", service, "an AWS service's own\nMFA: not applicable"},
		{"a federated user's console sign-in", `{"eventType":"AwsConsoleSignIn","userIdentity":{"type":"FederatedUser","accessKeyId":"ASIAEXAMPLEFEDER0001"},"additionalEventData":{"MFAUsed":"No"}}`,
			"`ASIAEXAMPLEFEDER0001` temporary (session) credentials\nMFA: not in this record (see the federation token's caller)"},
		{"an unreadable record", `"null"`, "no access key in the record\nMFA: not in this record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chat.Credentials(withRecord(finding.High, tc.record)); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	failed := withRecord(finding.Critical, userKey)
	failed.ErrorCode, failed.ErrorMessage = "TrailNotFoundException", "Unknown trail: <!here>"
	readOnly := withRecord(finding.Medium, `{"readOnly":true}`)
	for _, tc := range []struct {
		name string
		f    *finding.Finding
		want string
	}{
		{"a change that went through, high", withRecord(finding.High, userKey), ":rotating_light: *Succeeded*: the change is in effect"},
		{"a sign-in", withRecord(finding.High, rootConsole), ":rotating_light: *Succeeded*: signed in"},
		{"a read", readOnly, ":rotating_light: *Succeeded*: AWS answered"},
		{"low severity: no alarm, and no green tick either", withRecord(finding.Low, userKey), "Succeeded: the change is in effect"},
		{"an attempt, whatever its error", failed, ":no_entry_sign: *Failed*: `TrailNotFoundException`, an attempt\n`Unknown trail: &lt;!here&gt;`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := chat.Result(tc.f)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, "check") || strings.Contains(got, ":white_") {
				t.Errorf("%q reads as good news", got)
			}
		})
	}
}

func TestUserAgentCallsOutAttackTools(t *testing.T) {
	f := &finding.Finding{UserAgent: "Boto3/1.28 Pacu/1.6.0 `x`", AttackTool: "Pacu"}
	want := "`Boto3/1.28 Pacu/1.6.0 ˋxˋ`\n:warning: *Pacu*: a tool for attacking AWS accounts or testing stolen keys"
	if got := chat.UserAgent(f); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := chat.UserAgent(&finding.Finding{UserAgent: "aws-cli/2.15.0"}); got != "`aws-cli/2.15.0`" {
		t.Errorf("an ordinary user agent: %q", got)
	}
}

func TestCallerIAMURL(t *testing.T) {
	const base = "https://us-east-1.console.aws.amazon.com/iam/home#/"
	for _, tc := range []struct{ name, record, label, link string }{
		{"an IAM user", userKey, "user alice", base + "users/details/alice"},
		{"a role session: its role", strings.Replace(session, "%s", "false", 1), "role deploy", base + "roles/details/deploy"},
		{"another account's role", `{"userIdentity":{"type":"AssumedRole","accountId":"999988887777","sessionContext":{"sessionIssuer":{"type":"Role","userName":"x","accountId":"999988887777"}}},"recipientAccountId":"111122223333"}`,
			"role x (account 999988887777)", base + "roles/details/x"},
		{"a federated user: the IAM user behind it", `{"userIdentity":{"type":"FederatedUser","sessionContext":{"sessionIssuer":{"type":"IAMUser","userName":"bob"}}}}`, "user bob", base + "users/details/bob"},
		{"root", rootConsole, "root's security credentials", base + "security_credentials"},
		{"EC2's own identity role has no page", `{"userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"type":"Role","userName":"aws:ec2-instance"}}}}`, "", ""},
		{"an AWS service has none", service, "", ""},
		{"a name is escaped in the link", `{"userIdentity":{"type":"IAMUser","userName":"a|b>c"}}`, "user a|b>c", base + "users/details/a%7Cb%3Ec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label, link := chat.CallerIAMURL(withRecord(finding.High, tc.record))
			if label != tc.label || link != tc.link {
				t.Errorf("got %q %q, want %q %q", label, link, tc.label, tc.link)
			}
		})
	}
}

func TestRunbook(t *testing.T) {
	f := &finding.Finding{Runbook: strings.Join([]string{
		"Roll back: aws iam set-default-policy-version --policy-arn arn:aws:iam::1:policy/app --version-id <previous version>",
		"  aws iam detach-user-policy --user-name bob --policy-arn arn:aws:iam::aws:policy/AdministratorAccess",
		"Check it: aws guardduty get-detector --region us-east-1 --enable (and re-link it)",
		"Rotate its keys (aws iam list-access-keys --user-name bob) and review what bob did.",
		"Ask “x aws iam create-user --user-name evil” why; then aws iam list-users --max-items 'a b aws iam delete-user'.",
		"Check user's key: aws s3api get-bucket-policy --bucket reports; then aws iam list-roles --region us-east-1.",
		"If nobody does, look at what they did since 2026-11-02T10:02:40Z,",
		"and revoke them (a role session: aws iam put-role-policy with a condition; a key: aws iam update-access-key --status Inactive).",
		"List what was created there:",
		"aws ec2 describe-instances --region ap-southeast-3",
		"",
		"Ask *them* <!here> about `it`.",
	}, "\n")}
	want := []string{
		"Roll back: `aws iam set-default-policy-version --policy-arn arn:aws:iam::1:policy/app --version-id &lt;previous version&gt;`",
		"`aws iam detach-user-policy --user-name bob --policy-arn arn:aws:iam::aws:policy/AdministratorAccess`",
		"Check it: `aws guardduty get-detector --region us-east-1 --enable` (and re-link it)",
		"Rotate its keys (`aws iam list-access-keys --user-name bob`) and review what bob did.",
		"Ask “x aws iam create-user --user-name evil” why; then `aws iam list-users --max-items 'a b aws iam delete-user'`.",
		"Check user's key: `aws s3api get-bucket-policy --bucket reports`; then `aws iam list-roles --region us-east-1`.",
		"If nobody does, look at what they did since 2026-11-02T10:02:40Z, and revoke them (a role session: `aws iam put-role-policy` with a condition; a key: `aws iam update-access-key --status Inactive`).",
		"List what was created there:",
		"`aws ec2 describe-instances --region ap-southeast-3`",
		"Ask ∗them∗ &lt;!here&gt; about ˋitˋ.",
	}
	got := chat.Runbook(f)
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

// TestRunbookStaysText: a runbook full of hostile event text renders as text and code
// spans only.
func TestRunbookStaysText(t *testing.T) {
	f := &finding.Finding{Runbook: "Ask “" + strings.ReplaceAll(notifytest.Attack, "\n", " ") + "” why: aws iam get-user --user-name '" +
		strings.ReplaceAll(notifytest.Attack, "\n", " ") + "'"}
	for _, line := range chat.Runbook(f) {
		outside, err := notifytest.OutsideCode(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range notifytest.AttackMarks {
			if strings.Contains(outside, m) {
				t.Errorf("%q outside code in %q", m, line)
			}
		}
	}
}

func TestHeaderShortensNamesNotTheReason(t *testing.T) {
	f := &finding.Finding{Title: "role/stratus-red-team-leave-org-role (aws-go-sdk-1722587398902687000) tried to take account " +
		"307578594326 out of its AWS Organization (result: AccessDenied) using arn:aws:iam::307578594326:role/stratus-red-team-leave-org-role"}
	got := chat.Header("🔴 ", f, 150)
	if chat.Len(got) > 150 {
		t.Fatalf("%d units: %s", chat.Len(got), got)
	}
	for _, reason := range []string{"tried to take account 307578594326 out of its AWS Organization (result: AccessDenied)"} {
		if !strings.Contains(got, reason) {
			t.Errorf("the reason was cut: %s", got)
		}
	}
	if !strings.Contains(got, "…") || strings.HasSuffix(got, "…") {
		t.Errorf("want names shortened in the middle, not the end cut: %s", got)
	}
	short := &finding.Finding{Title: "user/alice stopped CloudTrail"}
	if got := chat.Header("🔴 ", short, 150); got != "🔴 user/alice stopped CloudTrail" {
		t.Errorf("a short title changed: %s", got)
	}
	// Only short words and still too long: the end is cut.
	long := &finding.Finding{Title: strings.Repeat("word ", 60)}
	if got := chat.Header("", long, 150); chat.Len(got) != 150 || !strings.HasSuffix(got, "…") {
		t.Errorf("%d units: %q", chat.Len(got), got)
	}
}

func TestAlso(t *testing.T) {
	f := &finding.Finding{Also: []finding.Match{{Rule: "iam-write", Severity: finding.Info, Title: "alice made an *IAM* change"}, {Rule: "x", Severity: finding.Low}}}
	got := chat.Also(f)
	want := []string{":information_source: INFO alice made an ∗IAM∗ change · `iam-write`", ":large_blue_circle: LOW x · `x`"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if n := chat.WithAlso("line", f, 100); n != "line · also `iam-write, x`" {
		t.Errorf("with also %q", n)
	}
	// The other rules give way first: the line keeps all it can.
	if n := chat.WithAlso("line", f, 10); n != "line" {
		t.Errorf("no room: %q", n)
	}
	if n := chat.WithAlso(strings.Repeat("x", 50), f, 20); chat.Len(n) > 20 || strings.Contains(n, "also") {
		t.Errorf("a long line: %q", n)
	}
	if chat.WithAlso("line", &finding.Finding{}, 100) != "line" || len(chat.Also(&finding.Finding{})) != 0 {
		t.Error("a finding that merged nothing lists nothing")
	}
}
