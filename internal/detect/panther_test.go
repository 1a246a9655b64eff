package detect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

// pantherRules maps Panther rule IDs to the built-in rules that detect the same thing. A
// Panther rule may need several of ours (it fires when any of them does).
var pantherRules = map[string][]string{
	"AWS.Root.Activity":                            {"root-account-used", "root-console-login", "root-console-login-without-mfa"},
	"AWS.Console.RootLogin":                        {"root-console-login", "root-console-login-without-mfa"},
	"AWS.CloudTrail.RootAccessKeyCreated":          {"root-access-key-created"},
	"AWS.CloudTrail.RootPasswordChanged":           {"root-password-changed"},
	"AWS.Console.LoginWithoutMFA":                  {"console-login-without-mfa", "root-console-login-without-mfa"},
	"AWS.Unsuccessful.MFA.attempt":                 {"console-login-mfa-failed"},
	"AWS.Console.GetSigninToken.Abuse":             {"console-token-from-cli-credentials"},
	"AWS.IAM.Backdoor.User.Keys":                   {"access-key-created-for-other-user"},
	"AWS.CloudTrail.LoginProfileCreatedOrModified": {"login-profile-for-other-user"},
	"AWS.IAM.CreateUser":                           {"iam-user-created"},
	"AWS.IAM.CredentialsUpdated":                   {"iam-credentials-created"},
	"AWS.IAM.PolicyModified":                       {"iam-policy-changed"},
	"AWS.IAM.AttachAdminUserPolicy":                {"admin-policy-attached"},
	"AWS.IAM.AttachAdminRolePolicy":                {"admin-policy-attached"},
	"AWS.IAM.BackdoorRole":                         {"role-trust-opened"},
	"AWS.CloudTrail.IAMAnythingChanged":            {"iam-write"},
	"AWS.CloudTrail.IAMCompromisedKeyQuarantine":   {"compromised-key-quarantine"},
	"AWS.IAM.AccessKeyCompromised":                 {"compromised-key-quarantine"},
	"AWS.Suspicious.SAML.Activity":                 {"identity-provider-changed"},
	"AWS.STS.GetSessionToken.Misuse":               {"sts-token-by-iam-user"},
	"AWS.CloudTrail.IMDSCredentialExfiltration":    {"instance-credentials-outside-aws"},
	"AWS.CloudTrail.Stopped":                       {"cloudtrail-stopped"},
	"AWS.CloudTrail.EventSelectorsDisabled":        {"cloudtrail-management-events-disabled"},
	"AWS.CloudTrail.Created":                       {"cloudtrail-created", "cloudtrail-updated", "cloudtrail-started"},
	"AWS.ConfigService.DisabledDeleted":            {"config-disabled"},
	"AWS.SecurityHub.Finding.Evasion":              {"securityhub-findings-tampered", "securityhub-findings-suppressed"},
	"AWS.VPCFlow.LogsDeleted":                      {"flow-or-dns-logs-deleted"},
	"AWS.CloudTrail.DNSLogsDeleted":                {"flow-or-dns-logs-deleted"},
	"AWS.CloudTrail.AttemptToLeaveOrg":             {"organization-leave"},
	"AWS.KMS.CustomerManagedKeyLoss":               {"kms-key-disabled"},
	"AWS.CloudTrail.ResourceMadePublic":            {"resource-made-public"},
	"AWS.S3.DeletePublicAccessBlock":               {"public-access-block-removed"},
	"AWS.EC2.EBS.Encryption.Disabled":              {"ebs-default-encryption-disabled"},
	"AWS.CloudTrail.NetworkACLPermissiveEntry":     {"network-acl-open-to-world"},
	"AWS.EC2.SecurityGroupModified":                {"network-perimeter-changed"},
	"AWS.EC2.NetworkACLModified":                   {"network-perimeter-changed"},
	"AWS.EC2.GatewayModified":                      {"network-perimeter-changed"},
	"AWS.EC2.RouteTableModified":                   {"network-perimeter-changed"},
	"AWS.EC2.VPCModified":                          {"network-perimeter-changed"},
	"AWS.CloudTrail.EnableRegion":                  {"region-enabled"},
	"AWS.Lambda.UpdateFunctionCode":                {"lambda-changed-by-person"},
	"AWS.Lambda.UpdateFunctionConfiguration":       {"lambda-changed-by-person"},
	"AWS.Potential.Backdoor.Lambda":                {"lambda-permission-added"},
	"AWS.Macie.Evasion":                            {"macie-disabled"},
}

// pantherDifferences lists labelled events where our rule deliberately disagrees with
// Panther's verdict, keyed by "file:line", with the reason.
var pantherDifferences = map[string]string{
	"rule-tests/aws_cloudtrail_rules/aws_console_login_without_mfa.jsonl:8": "Panther skips users and accounts younger " +
		"than 3 days (a lookup it mocks); one record cannot tell a user's age, and a new user signing in " +
		"without MFA is worth an alert anyway",
	"rule-tests/aws_cloudtrail_rules/aws_root_activity.jsonl:4": "Panther skips root calls that failed; any use " +
		"of root credentials, refused or not, means someone holds them (CIS 4.3 has no success test)",
	"rule-tests/aws_cloudtrail_rules/aws_root_activity.jsonl:6": "Panther skips read-only root calls; CIS 4.3 " +
		"counts them, and enumeration is often the first thing done with stolen root credentials",
}

type pantherCase struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	RuleID   string `json:"rule_id"`
	Name     string `json:"test_name"`
	Expected *bool  `json:"expected_result"`
}

func TestPantherLabelledEvents(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range e.Rules() {
		known[r.ID] = true
	}
	for p, ours := range pantherRules {
		for _, id := range ours {
			if !known[id] {
				t.Errorf("mapping of %s names unknown rule %q", p, id)
			}
		}
	}
	cases := readPantherIndex(t)
	checked, agreed := 0, 0
	seenDiff := map[string]bool{}
	perRule := map[string]int{}
	for _, c := range cases {
		ours, ok := pantherRules[c.RuleID]
		if !ok || c.Expected == nil {
			continue
		}
		checked++
		perRule[c.RuleID]++
		key := fmt.Sprintf("%s:%d", c.File, c.Line)
		rec, err := pantherLine(c.File, c.Line)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		env, err := cloudtrail.Lift(rec)
		if err != nil {
			t.Errorf("%s (%s %q): lift: %v", key, c.RuleID, c.Name, err)
			continue
		}
		fs, err := e.Detect(env)
		if err != nil {
			t.Errorf("%s: detect: %v", key, err)
			continue
		}
		got := slices.ContainsFunc(fs, func(f finding.Finding) bool { return slices.Contains(ours, f.Rule) })
		if got == *c.Expected {
			agreed++
			if reason, listed := pantherDifferences[key]; listed {
				t.Errorf("%s (%s %q) now agrees with Panther; drop it from pantherDifferences (%s)", key, c.RuleID, c.Name, reason)
			}
			continue
		}
		if _, listed := pantherDifferences[key]; listed {
			seenDiff[key] = true
			continue
		}
		t.Errorf("%s: Panther %s %q expects %v, %v reported %v (findings %v)", key, c.RuleID, c.Name, *c.Expected, ours, got, ruleIDs(fs))
	}
	for k := range pantherDifferences {
		if !seenDiff[k] {
			t.Errorf("pantherDifferences lists %s, which no mapped labelled event hit", k)
		}
	}
	t.Logf("Panther labelled events: %d of mapped rules, %d agree, %d listed differences", checked, agreed, len(seenDiff))
	for p := range pantherRules {
		if perRule[p] == 0 {
			t.Errorf("no labelled events of %s in testdata/panther: copy them from the corpus", p)
		}
	}
}

func readPantherIndex(t testing.TB) []pantherCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "panther", "index.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []pantherCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c pantherCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("index.jsonl: %v", err)
		}
		out = append(out, c)
	}
	return out
}

func pantherLine(file string, line int) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join("testdata", "panther", filepath.FromSlash(file)))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if line < 1 || line > len(lines) {
		return nil, fmt.Errorf("no line %d", line)
	}
	return []byte(lines[line-1]), nil
}
