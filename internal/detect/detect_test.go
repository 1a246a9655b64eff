package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

func builtin(t testing.TB) []Rule {
	t.Helper()
	rs, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	return rs
}

// TestBuiltinSamples runs every sample of every built-in rule through one engine of all rules.
func TestBuiltinSamples(t *testing.T) {
	rs := builtin(t)
	if len(rs) < 40 {
		t.Errorf("built-in pack has %d rules, want the §6 catalogue (40+)", len(rs))
	}
	for _, r := range rs {
		if len(r.Samples.Match) == 0 || len(r.Samples.NoMatch) == 0 {
			t.Errorf("%s: rule %s needs samples that match and samples that must not", r.File, r.ID)
		}
	}
	if err := CheckSamples(rs); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			t.Error(line)
		}
	}
}

// TestSeedPatterns checks the classic EventBridge → SNS → Chatbot seed events are covered.
func TestSeedPatterns(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"CreateUser", "DeleteUser", "AttachUserPolicy", "DetachUserPolicy",
		"AttachGroupPolicy", "DetachGroupPolicy", "AttachRolePolicy", "DetachRolePolicy", "CreatePolicyVersion"} {
		rec := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},` +
			`"eventTime":"2026-11-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"` + name + `","awsRegion":"us-east-1",` +
			`"sourceIPAddress":"203.0.113.1","userAgent":"aws-cli","requestParameters":{"userName":"bob","groupName":"g","roleName":"r","policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"},` +
			`"responseElements":null,"eventID":"e-` + name + `","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
		fs := detect(t, e, rec)
		if len(fs) == 0 {
			t.Errorf("%s: no rule reported it", name)
		}
	}
}

func detect(t *testing.T, e *Engine, rec string) []finding.Finding {
	t.Helper()
	env, err := cloudtrail.Lift([]byte(rec))
	if err != nil {
		t.Fatalf("lift: %v", err)
	}
	fs, err := e.Detect(env)
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	return fs
}

// engineOf compiles the rules of a YAML document.
func engineOf(t *testing.T, yaml string) *Engine {
	t.Helper()
	rs, err := Parse([]byte(yaml), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ruleIDs(fs []finding.Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.Rule)
	}
	return ids
}

func TestFindingFields(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},
	"eventTime":"2026-11-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreatePolicyVersion","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.9",
	"userAgent":"aws-cli/2","requestParameters":{"policyArn":"arn:aws:iam::111122223333:policy/app","setAsDefault":true,
	"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"},
	"responseElements":{"policyVersion":{"versionId":"v4","isDefaultVersion":true}},"eventID":"ev-1","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	fs := detect(t, e, rec)
	i := slices.IndexFunc(fs, func(f finding.Finding) bool { return f.Rule == "policy-version-admin" })
	if i < 0 {
		t.Fatalf("policy-version-admin did not fire; got %v", ruleIDs(fs))
	}
	f := fs[i]
	want := "user/mallory made policy app's default version grant Allow * on *"
	if f.Title != want {
		t.Errorf("title\n got %q\nwant %q", f.Title, want)
	}
	if f.Severity != finding.High || f.EventID != "ev-1" || f.Account != "111122223333" || f.Region != "us-east-1" ||
		f.PrincipalType != "IAMUser" || f.SourceIPAddress != "198.51.100.9" || f.EventSource != "iam.amazonaws.com" ||
		f.Target != "arn:aws:iam::111122223333:policy/app" || f.UserAgent != "aws-cli/2" {
		t.Errorf("fields: %+v", f)
	}
	if !slices.Equal(f.Grants, []string{"Allow * on *"}) {
		t.Errorf("grants = %q", f.Grants)
	}
	if !slices.Contains(f.Params, finding.Param{Name: "newVersion", Value: "v4"}) ||
		!slices.Contains(f.Params, finding.Param{Name: "setAsDefault", Value: "true"}) {
		t.Errorf("params = %v", f.Params)
	}
	var detail map[string]any
	if err := json.Unmarshal(f.Record, &detail); err != nil || detail["eventID"] != "ev-1" {
		t.Errorf("Record is not the CloudTrail record: %s", f.Record)
	}
}

// TestMessyRecords: rendering never panics and shows placeholders for what is missing.
func TestMessyRecords(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, rec := range map[string]string{
		"requestParameters null string": `{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},"requestParameters":"null","eventTime":"01/02/2026 10:00"}`,
		"no userIdentity":               `{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser","eventType":"AwsApiCall","requestParameters":{"userName":"x"}}`,
		"policyDocument not a string":   `{"eventSource":"iam.amazonaws.com","eventName":"PutUserPolicy","eventType":"AwsApiCall","requestParameters":{"userName":"x","policyDocument":42}}`,
		"statement garbage":             `{"eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","eventType":"AwsApiCall","requestParameters":{"roleName":"x","policyDocument":"{\"Statement\":[1,\"a\",{\"Effect\":\"Allow\",\"Action\":[1,null],\"Resource\":{}}]}"}}`,
		"root without arn":              `{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","eventType":"AwsApiCall","userIdentity":{"type":"Root","accountId":"1"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			fs := detect(t, e, rec)
			if len(fs) == 0 {
				t.Fatal("no finding")
			}
			for _, f := range fs {
				if f.Title == "" || f.Principal == "" {
					t.Errorf("%s: empty title or principal: %+v", f.Rule, f)
				}
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	for _, c := range []struct{ name, rec, want string }{
		{"user", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}}`, "arn:aws:iam::1:user/a"},
		{"root no arn", `{"userIdentity":{"type":"Root","accountId":"123"}}`, "root of account 123"},
		{"service", `{"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}}`, "AWS service ec2.amazonaws.com"},
		{"missing", `{}`, "unknown principal"},
		{"identity center", `{"userIdentity":{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}}}`, "u-1"},
	} {
		r, err := decodeRecord(json.RawMessage(c.rec))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.principal(); got != c.want {
			t.Errorf("%s: principal = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestShortNames checks the short forms titles use instead of full ARNs.
func TestShortNames(t *testing.T) {
	for _, c := range []struct{ name, rec, who, targetName, policyName string }{
		{"user with path", `{"recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/ci/build-bot","accountId":"111122223333","userName":"build-bot"},"requestParameters":{"policyArn":"arn:aws:iam::111122223333:policy/team/build-bot-deploy"}}`,
			"user/build-bot", "build-bot-deploy", "build-bot-deploy"},
		{"root", `{"recipientAccountId":"111122223333","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"requestParameters":{"userName":"alice"}}`,
			"root", "alice", ""},
		{"root without arn", `{"userIdentity":{"type":"Root","accountId":"111122223333"}}`, "root", "", ""},
		{"assumed role", `{"recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/deploy/gh-actions-42","accountId":"111122223333"},"requestParameters":{"roleName":"app","policyName":"inline-admin"}}`,
			"role/deploy (gh-actions-42)", "app", "inline-admin"},
		{"identity center session", `{"recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com","accountId":"111122223333"},"requestParameters":{"trailName":"arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"}}`,
			"jane@example.com (SSO AdministratorAccess)", "org-trail", ""},
		{"EC2 identity role", `{"recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc","accountId":"111122223333"}}`,
			"role/aws:ec2-instance (i-0abc)", "", ""},
		{"other account", `{"recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::444455556666:assumed-role/OrganizationAccountAccessRole/eve","accountId":"444455556666"},"requestParameters":{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:payments:live"}}`,
			"role/OrganizationAccountAccessRole (eve) of account 444455556666", "payments:live", ""},
		{"federated user", `{"recipientAccountId":"111122223333","userIdentity":{"type":"FederatedUser","arn":"arn:aws:sts::111122223333:federated-user/bob","accountId":"111122223333"},"requestParameters":{"bucketName":"logs"}}`,
			"federated-user/bob", "logs", ""},
		{"service", `{"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}}`, "service ec2.amazonaws.com", "", ""},
		{"account", `{"userIdentity":{"type":"AWSAccount","accountId":"444455556666","principalId":"AIDA:x"}}`, "account 444455556666", "", ""},
		{"identity center user", `{"userIdentity":{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}}}`, "Identity Center user u-1", "", ""},
		{"unknown type with a user name", `{"userIdentity":{"type":"Unknown","userName":"jane"}}`, "jane", "", ""},
		{"no identity", `{}`, "unknown caller", "", ""},
	} {
		r, err := decodeRecord(json.RawMessage(c.rec))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.field("who"); got != c.who {
			t.Errorf("%s: who = %q, want %q", c.name, got, c.who)
		}
		if got := r.field("targetName"); got != c.targetName {
			t.Errorf("%s: targetName = %q, want %q", c.name, got, c.targetName)
		}
		if got := r.field("policyName"); got != c.policyName {
			t.Errorf("%s: policyName = %q, want %q", c.name, got, c.policyName)
		}
	}
}

// TestRunbook checks a rule's runbook reaches the finding filled with the event's values,
// and that a missing value reads as a blank to fill in.
func TestRunbook(t *testing.T) {
	e := engineOf(t, `rules:
  - id: key-for-other
    title: "{who} created an access key for {targetName}"
    severity: high
    runbook: |
      Ask {who} why.
      aws iam update-access-key --user-name {requestParameters.userName} --access-key-id {responseElements.accessKey.accessKeyId} --status Inactive
    pattern: {"detail": {"eventName": ["CreateAccessKey"]}}
`)
	fs := detect(t, e, `{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","eventType":"AwsApiCall","recipientAccountId":"111122223333",`+
		`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},"requestParameters":{"userName":"alice"},"responseElements":null}`)
	if len(fs) != 1 {
		t.Fatalf("findings: %v", ruleIDs(fs))
	}
	want := "Ask user/mallory why.\naws iam update-access-key --user-name alice --access-key-id <accessKeyId> --status Inactive"
	if fs[0].Runbook != want {
		t.Errorf("runbook\n got %q\nwant %q", fs[0].Runbook, want)
	}
	if fs[0].Title != "user/mallory created an access key for alice" {
		t.Errorf("title = %q", fs[0].Title)
	}
	// Event text with spaces, quotes or line breaks is one quoted shell word on one line.
	fs = detect(t, e, `{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","eventType":"AwsApiCall","recipientAccountId":"111122223333",`+
		`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},"requestParameters":{"userName":"a'b\naws iam create-user --user-name evil"},"responseElements":null}`)
	if want := `--user-name 'a’b aws iam create-user --user-name evil' --access-key-id`; !strings.Contains(fs[0].Runbook, want) {
		t.Errorf("runbook\n got %q\nwant it to hold %q", fs[0].Runbook, want)
	}
	b, _ := json.Marshal(fs[0])
	if !strings.Contains(string(b), `"runbook":"Ask user/mallory why.\n`) {
		t.Errorf("JSON has no runbook: %s", b)
	}
	// A value in a command is a shell word, a value with a space in the words around is in
	// “ ”: event text cannot pass for a command; a title's values are not quoted.
	e2 := engineOf(t, `rules:
  - id: agent
    title: "{who} used {userAgent}"
    severity: medium
    runbook: |
      Ask {who} about {userAgent} ({userIdentity.userName}).
      Then: aws iam list-access-keys --user-name {userIdentity.userName} and ask {userAgent}.
    pattern: {"detail": {"eventName": ["CreateAccessKey"]}}
`)
	agent := detect(t, e2, `{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","eventType":"AwsApiCall","recipientAccountId":"111122223333","userAgent":"x “y” aws iam create-user --user-name evil",`+
		`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mal lory","accountId":"111122223333","userName":"mal lory"}}`)
	want = "Ask “user/mal lory” about “x \"y\" aws iam create-user --user-name evil” (“mal lory”).\n" +
		"Then: aws iam list-access-keys --user-name 'mal lory' and ask 'x “y” aws iam create-user --user-name evil'."
	if agent[0].Runbook != want {
		t.Errorf("runbook\n got %q\nwant %q", agent[0].Runbook, want)
	}
	if agent[0].Title != "user/mal lory used x “y” aws iam create-user --user-name evil" {
		t.Errorf("a title's values are not quoted: %q", agent[0].Title)
	}
}

func TestGrants(t *testing.T) {
	for _, c := range []struct {
		name, rec string
		want      []string
		admin     bool
		open      bool
	}{
		{"star on star", `{"eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"}}`,
			[]string{"Allow * on *"}, true, false},
		{"iam star", `{"eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"iam:*\"],\"Resource\":[\"*\"]}]}"}}`,
			[]string{"Allow iam:* on *"}, true, false},
		{"url-encoded", `{"eventName":"PutRolePolicy","requestParameters":{"policyDocument":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2F*%22%7D%5D%7D"}}`,
			[]string{"Allow s3:GetObject on arn:aws:s3:::b/*"}, false, false},
		{"not action", `{"eventName":"CreatePolicy","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"NotAction\":\"iam:*\",\"Resource\":\"*\"}]}"}}`,
			[]string{"Allow all actions except iam:* on *"}, true, false},
		{"deny", `{"eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"aws:MultiFactorAuthPresent\":\"false\"}}}]}"}}`,
			[]string{"Deny * on * (with conditions)"}, false, false},
		{"trust anyone", `{"eventName":"UpdateAssumeRolePolicy","recipientAccountId":"111122223333","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"sts:AssumeRole\"}]}"}}`,
			[]string{"trust: any principal (*)"}, false, true},
		{"trust other account", `{"eventName":"UpdateAssumeRolePolicy","recipientAccountId":"111122223333","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::123456789012:root\",\"999988887777\"]},\"Action\":\"sts:AssumeRole\"}]}"}}`,
			[]string{"trust: account 123456789012", "trust: account 999988887777"}, false, true},
		{"trust own account and service", `{"eventName":"CreateRole","recipientAccountId":"111122223333","requestParameters":{"assumeRolePolicyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:role/x\",\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}"}}`,
			[]string{"trust: arn:aws:iam::111122223333:role/x", "trust: service ec2.amazonaws.com"}, false, false},
		{"unreadable", `{"eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{not json"}}`,
			[]string{"unreadable policy: policy document is not a JSON object"}, false, false},
		{"s3 bucket policy with policy query parameter", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b","policy":[""],"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}}}`,
			[]string{"Allow s3:GetObject on arn:aws:s3:::b/* to any principal (*)"}, false, false},
		{"public despite a condition", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}}}`,
			[]string{"Allow s3:GetObject on arn:aws:s3:::b/* to any principal (*) (with conditions that do not limit who)"}, false, false},
		{"ecr policy without resource", `{"eventName":"SetRepositoryPolicy","requestParameters":{"policyText":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\"}]}"}}`,
			[]string{"Allow ecr:BatchGetImage on this resource to any principal (*)"}, false, false},
		{"many actions", `{"eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"a:1\",\"a:2\",\"a:3\",\"a:4\",\"a:5\",\"a:6\",\"a:7\"],\"Resource\":\"*\"}]}"}}`,
			[]string{"Allow a:1, a:2, a:3, a:4, a:5 and 2 more on *"}, false, false},
		{"many principals, all but", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["111111111111","arn:aws:iam::222222222222:root","arn:aws:iam::333333333333:user/u","444444444444","555555555555"],"Federated":"cognito-identity.amazonaws.com","CanonicalUser":"abc"},"Action":"s3:*","Resource":"*"}]}}}`,
			[]string{"Deny s3:* on * to all but account 111111111111, account 222222222222, arn:aws:iam::333333333333:user/u, account 444444444444, account 555555555555 and 2 more"}, false, false},
		{"principals of every kind", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111","Federated":"cognito-identity.amazonaws.com","CanonicalUser":"abc","Service":"s3.amazonaws.com"},"Action":"s3:GetObject","Resource":"*"}]}}}`,
			[]string{"Allow s3:GetObject on * to account 111111111111, CanonicalUser abc, federated cognito-identity.amazonaws.com, service s3.amazonaws.com"}, false, false},
		{"trust with a condition", `{"eventName":"UpdateAssumeRolePolicy","recipientAccountId":"111122223333","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":\"arn:aws:iam::111122223333:oidc-provider/x\"},\"Action\":\"sts:AssumeRoleWithWebIdentity\",\"Condition\":{\"StringEquals\":{\"x:aud\":\"y\"}}}]}"}}`,
			[]string{"trust: federated arn:aws:iam::111122223333:oidc-provider/x (with conditions)"}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := decodeRecord(json.RawMessage(c.rec))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.grants(); !slices.Equal(got, c.want) {
				t.Errorf("grants = %q, want %q", got, c.want)
			}
			if got := predicates["policy-allows-admin"].holds(r); got != c.admin {
				t.Errorf("policy-allows-admin = %v, want %v", got, c.admin)
			}
			if got := predicates["trust-is-open"].holds(r); got != c.open {
				t.Errorf("trust-is-open = %v, want %v", got, c.open)
			}
		})
	}
}

func TestCallerIsNotTarget(t *testing.T) {
	for _, c := range []struct {
		name, rec string
		want      bool
	}{
		{"self by name", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","userName":"a"},"requestParameters":{"userName":"a"}}`, false},
		{"self without userName (own key)", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},"requestParameters":null}`, false},
		{"other user", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/path/a"},"requestParameters":{"userName":"b"}}`, true},
		{"user with path, self", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/path/a"},"requestParameters":{"userName":"a"}}`, false},
		{"role acting on a user", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s"},"requestParameters":{"userName":"a"}}`, true},
		{"target only in response", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},"responseElements":{"accessKey":{"userName":"b"}}}`, true},
	} {
		r, err := decodeRecord(json.RawMessage(c.rec))
		if err != nil {
			t.Fatal(err)
		}
		if got := predicates["caller-is-not-target"].holds(r); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	for _, c := range []struct{ tmpl, want, err string }{
		{"{principal} did {eventName}", "arn:aws:iam::1:user/a did X", ""},
		{"{requestParameters.userName} {{literal}}", "b {literal}", ""},
		{"{detail.requestParameters.userName}", "b", ""},
		{"{requestParameters.missing}", "?", ""},
		{"{requestParameters}", `{"userName":"b"}`, ""},
		{"{bogus}", "", "unknown field"},
		{"{principal", "", "unclosed"},
		{"a } b", "", "unmatched"},
	} {
		tm, err := parseTemplate(c.tmpl)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.tmpl, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.tmpl, err)
			continue
		}
		r, _ := decodeRecord(json.RawMessage(`{"eventName":"X","userIdentity":{"arn":"arn:aws:iam::1:user/a"},"requestParameters":{"userName":"b"}}`))
		if got := tm.render(r, nil); got != c.want {
			t.Errorf("%q rendered %q, want %q", c.tmpl, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown key", "rules:\n  - id: a\n    title: t\n    severity: low\n    colour: red\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "x.yaml:5:5: unknown field \"colour\""},
		{"bad pattern", "rules:\n  - id: a\n    title: t\n    severity: low\n    pattern:\n      detail:\n        eventName: X\n", "x.yaml:6: rule \"a\": pattern:"},
		{"bad json string", "rules:\n  - id: a\n    title: t\n    severity: low\n    pattern: '{\"detail\": '\n", "x.yaml:5:14: rules[0].pattern: invalid JSON"},
		{"bad severity", "rules:\n  - id: a\n    title: t\n    severity: urgent\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "severity: unknown severity"},
		{"bad template", "rules:\n  - id: a\n    title: '{nope}'\n    severity: low\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "placeholder {nope}"},
		{"bad runbook", "rules:\n  - id: a\n    title: t\n    severity: low\n    runbook: |\n      fine {who}\n      aws iam x --y {nope}\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "x.yaml:7: rule \"a\": runbook: placeholder {nope} at column 15"},
		{"bad runbook one line", "rules:\n  - id: a\n    title: t\n    severity: low\n    runbook: 'see {who'\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "x.yaml:5: rule \"a\": runbook: unclosed '{' at column 5"},
		{"bad predicate", "rules:\n  - id: a\n    title: t\n    severity: low\n    predicates: [nope]\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "unknown predicate \"nope\""},
		{"bad id", "rules:\n  - id: Bad_ID\n    title: t\n    severity: low\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "kebab-case"},
		{"no rules", "rules: []\n", "no rules"},
		{"tag where a list is expected (goccy's decoder panicked)", "rules:\n  - id: a\n    title: t\n    severity: low\n    tags: !T1562.008]\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n", "x.yaml:5:11: rules[0].tags: want a list, got a tagged value"},
		{"sample not object", "rules:\n  - id: a\n    title: t\n    severity: low\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n    samples:\n      match: ['[1]']\n", "x.yaml:7: rule \"a\": samples.match[0] is not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestPatternAsYAMLOrJSON(t *testing.T) {
	y := "rules:\n" +
		"  - id: as-yaml\n    title: '{principal}'\n    severity: info\n    pattern:\n      detail:\n        eventName: [\"CreateUser\"]\n        errorCode: [{exists: false}]\n" +
		"  - id: as-json\n    title: '{principal}'\n    severity: info\n    pattern: |\n      {\"detail\": {\"eventName\": [\"CreateUser\"], \"errorCode\": [{\"exists\": false}]}}\n"
	rs, err := Parse([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal([]byte(rs[0].Pattern), &a)
	json.Unmarshal([]byte(rs[1].Pattern), &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("YAML pattern %s differs from JSON pattern %s", rs[0].Pattern, rs[1].Pattern)
	}
	if rs[0].File != "x.yaml:2" {
		t.Errorf("File = %q, want x.yaml:2 (the line of its id)", rs[0].File)
	}
}

func TestLoadAndSelect(t *testing.T) {
	dir := t.TempDir()
	rule := func(id string) string {
		return "rules:\n  - id: " + id + "\n    title: t\n    severity: low\n    pattern: '{\"detail\":{\"eventName\":[\"X\"]}}'\n"
	}
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(rule("a")), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b.yml"), []byte(rule("b")), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a rule"), 0o644)
	rs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("loaded %d rules, want 2", len(rs))
	}
	if _, err := Load(dir, filepath.Join(dir, "a.yaml")); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("duplicate id not reported: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no rule files") {
		t.Errorf("empty directory: %v, want an error", err)
	}
	// a rule file that cannot be read is named by the path the user gave, not relative to it
	broken := t.TempDir()
	os.Symlink(filepath.Join(broken, "gone"), filepath.Join(broken, "c.yaml"))
	if _, err := Load(broken); err == nil || !strings.Contains(err.Error(), "read "+filepath.Join(broken, "c.yaml")+": ") {
		t.Errorf("unreadable rule file: %v, want an error naming %s", err, filepath.Join(broken, "c.yaml"))
	}
	got, err := Select(rs, nil, []string{"a"})
	if err != nil || len(got) != 1 || got[0].ID != "b" {
		t.Errorf("Select disable a = %v, %v", got, err)
	}
	got, err = Select(rs, []string{"a"}, nil)
	if err != nil || len(got) != 1 || got[0].ID != "a" {
		t.Errorf("Select only a = %v, %v", got, err)
	}
	if _, err := Select(rs, []string{"zzz"}, nil); err == nil {
		t.Error("Select accepted an unknown id")
	}
}

func TestExceptions(t *testing.T) {
	y := "rules:\n  - id: a\n    title: t\n    severity: low\n    pattern: '{\"detail\":{\"eventName\":[\"CreateUser\"]}}'\n" +
		"    exceptions:\n      - '{\"detail\":{\"userIdentity\":{\"arn\":[{\"prefix\":\"arn:aws:sts::1:assumed-role/terraform/\"}]}}}'\n"
	rs, err := Parse([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	tf := `{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/terraform/run"}}`
	person := `{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}}`
	if fs := detect(t, e, tf); len(fs) != 0 {
		t.Errorf("exception did not suppress: %v", ruleIDs(fs))
	}
	if fs := detect(t, e, person); len(fs) != 1 {
		t.Errorf("rule did not fire: %v", ruleIDs(fs))
	}
}

// New reuses the patterns loading compiled, but a rule whose pattern or exceptions were
// changed after loading is matched by what it says now.
func TestRuleChangedAfterLoading(t *testing.T) {
	y := "rules:\n  - id: a\n    title: t\n    severity: low\n    pattern: '{\"detail\":{\"eventName\":[\"CreateUser\"]}}'\n" +
		"    exceptions:\n      - '{\"detail\":{\"userIdentity\":{\"type\":[\"AssumedRole\"]}}}'\n"
	rs, err := Parse([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs[0].Pattern = `{"detail":{"eventName":["DeleteUser"]}}`
	rs[0].Exceptions = []string{`{"detail":{"userIdentity":{"type":["Root"]}}}`}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	record := func(name, who string) string {
		return `{"eventSource":"iam.amazonaws.com","eventName":"` + name + `","eventType":"AwsApiCall","userIdentity":{"type":"` + who + `","arn":"arn:aws:iam::1:user/a"}}`
	}
	if fs := detect(t, e, record("CreateUser", "IAMUser")); len(fs) != 0 {
		t.Errorf("the pattern as loaded still fires: %v", ruleIDs(fs))
	}
	if fs := detect(t, e, record("DeleteUser", "AssumedRole")); len(fs) != 1 {
		t.Errorf("the changed pattern does not fire, or the loaded exception still holds: %v", ruleIDs(fs))
	}
	if fs := detect(t, e, record("DeleteUser", "Root")); len(fs) != 0 {
		t.Errorf("the changed exception does not suppress: %v", ruleIDs(fs))
	}
}

func TestEnvelopeRecord(t *testing.T) {
	for _, c := range []struct{ name, env, raw, err string }{
		{"detail last", `{"version":"0","resources":[],"detail":{"eventName":"X","n":1.50}}`, `{"eventName":"X","n":1.50}`, ""},
		{"detail first with spaces", `{ "detail" :  {"eventName":"X"} , "source":"aws.iam"}`, `{"eventName":"X"}`, ""},
		{"no detail", `{"version":"0"}`, "", "no detail"},
		{"detail null", `{"detail":null}`, "", "not a JSON object"},
		{"detail array", `{"detail":[1]}`, "", "detail"},
		{"not an object", `[1]`, "", "not a JSON object"},
		// the layout cloudtrail.Lift writes, and near misses that must take the general path
		{"lifted", `{"version":"0","id":"i","source":"aws.iam","resources":[],"detail": {"eventName":"X"} }`, `{"eventName":"X"}`, ""},
		{"lifted then more", `{"version":"0","resources":[],"detail":{"eventName":"Y"},"detail":{"eventName":"X"}}`, `{"eventName":"X"}`, ""},
		{"marker nested before", `{"a":{"b":0,"resources":[],"detail":{"eventName":"Y"}},"detail":{"eventName":"X"}}`, `{"eventName":"X"}`, ""},
		{"marker inside a string", `{"a":"\",\"resources\":[],\"detail\":{}","detail":{"eventName":"X"}}`, `{"eventName":"X"}`, ""},
		{"lifted, bad head", `{"version":0 0,"resources":[],"detail":{"eventName":"X"}}`, "", "decode envelope"},
		{"lifted, bad detail", `{"version":"0","resources":[],"detail":{"eventName":"X"}`, "", "decode envelope"},
		{"lifted, detail array", `{"version":"0","resources":[],"detail":["X"]}`, "", "detail"},
	} {
		r, err := envelopeRecord([]byte(c.env))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(r.raw) != c.raw || r.str("eventName") != "X" {
			t.Errorf("%s: raw %q, want %q", c.name, r.raw, c.raw)
		}
		if c.name == "detail last" && r.str("n") != "1.50" {
			t.Errorf("number spelling lost: %q", r.str("n"))
		}
	}
	// the fast path is taken for Lift's layout only
	if d, ok := liftedDetail([]byte(`{"version":"0","resources":[],"detail":{"a":1}}`)); !ok || string(d) != `{"a":1}` {
		t.Errorf("lifted layout: %q, %v", d, ok)
	}
	if _, ok := liftedDetail([]byte(`{"a":{"resources":[],"detail":{}},"detail":{}}`)); ok {
		t.Error("marker in a nested object taken for the top level")
	}
}

// TestDetectConcurrent: one Engine serves many goroutines (run under -race).
func TestDetectConcurrent(t *testing.T) {
	rs := builtin(t)
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	var envs [][]byte
	for _, r := range rs {
		if r.Kind.Stateful() {
			continue // scenarios: correlate's tests run them
		}
		for _, s := range r.Samples.Match {
			env, err := Envelope(s)
			if err != nil {
				t.Fatal(err)
			}
			envs = append(envs, env)
		}
	}
	want := make([]int, len(envs))
	for i, env := range envs {
		fs, _ := e.Detect(env)
		want[i] = len(fs)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range envs {
				j := (i + g*7) % len(envs)
				fs, err := e.Detect(envs[j])
				if err != nil || len(fs) != want[j] {
					t.Errorf("goroutine %d event %d: %d findings, %v; want %d", g, j, len(fs), err, want[j])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestOtherPredicates(t *testing.T) {
	for _, c := range []struct {
		pred, rec string
		want      bool
	}{
		{"source-ip-is-public", `{"sourceIPAddress":"198.51.100.7"}`, true},
		{"source-ip-is-public", `{"sourceIPAddress":"2001:db8::1"}`, true},
		{"source-ip-is-public", `{"sourceIPAddress":"10.1.2.3"}`, false},
		{"source-ip-is-public", `{"sourceIPAddress":"fd00::1"}`, false},
		{"source-ip-is-public", `{"sourceIPAddress":"169.254.169.254"}`, false},
		{"source-ip-is-public", `{"sourceIPAddress":"ec2.amazonaws.com"}`, false},
		{"source-ip-is-public", `{"sourceIPAddress":"253.252.51.07"}`, false},
		{"source-ip-is-public", `{}`, false},
		{"caller-is-person", `{"userIdentity":{"type":"IAMUser"}}`, true},
		{"caller-is-person", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0a1b/jane"}}`, true},
		{"caller-is-person", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/deploy/ci"}}`, false},
		{"caller-is-person", `{"userIdentity":{"type":"AWSService"}}`, false},
		{"caller-is-person", `{}`, false},
		{"password-reset-not-required", `{"requestParameters":{"passwordResetRequired":false}}`, true},
		{"password-reset-not-required", `{"requestParameters":{}}`, true},
		{"password-reset-not-required", `{"requestParameters":{"passwordResetRequired":true}}`, false},
		{"resource-policy-public", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}}}`, true},
		{"resource-policy-public", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}}}`, false},
		{"resource-policy-public", `{"eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*"}]}}}`, false},
		{"resource-policy-public", `{"eventName":"SetTopicAttributes","requestParameters":{"attributeName":"Policy","attributeValue":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"SNS:Publish\"}]}"}}`, true},
		{"resource-policy-public", `{"eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}`, false},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/alice"},"userAgent":"aws-cli/2.15.0","sourceIPAddress":"203.0.113.10"}`, true},
		{"not-infrastructure-as-code", `{}`, true},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/ci/gh"},"userAgent":"APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0"}`, false},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/PulumiDeployer/s"},"userAgent":"aws-sdk-go-v2/1.30"}`, false},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/ops"},"userAgent":"APN/1.0 Ansible/2.16.3 amazon.aws/8.1.0 Boto3/1.34"}`, false},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/cfn-exec/AWSCloudFormation"},"sourceIPAddress":"cloudformation.amazonaws.com","userAgent":"cloudformation.amazonaws.com"}`, false},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/sc/x"},"sourceIPAddress":"servicecatalog.amazonaws.com"}`, false},
		{"not-infrastructure-as-code", `{"userIdentity":{"type":"AWSService","invokedBy":"sso.amazonaws.com"}}`, false},
		{"user-agent-is-not-iac", `{"userAgent":"aws-cli/2.15.0","userIdentity":{"arn":"arn:aws:sts::1:assumed-role/terraform/x"}}`, true},
		{"user-agent-is-cloudshell", `{"userAgent":"aws-cli/2.17.18 md/awscrt#0.20.11 ua/2.0 os/linux#6.1 exec-env/CloudShell md/command#iam.create-user"}`, true},
		{"user-agent-is-cloudshell", `{"userAgent":"aws-cli/2.17.18 ua/2.0 os/linux#6.1"}`, false},
		{"caller-is-workload", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/web/i-0abc1234def567890"}}`, true},
		{"caller-is-workload", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-0abc1234def567890"}}`, true},
		{"caller-is-workload", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/orders-lambda/orders-api"},"userAgent":"Boto3/1.34 exec-env/AWS_Lambda_python3.12"}`, true},
		{"caller-is-workload", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/deploy/ci-42"},"userAgent":"aws-cli/2.15"}`, false},
		{"caller-is-workload", `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/fn-role/fn","invokedBy":"lambda.amazonaws.com"}}`, true},
		{"caller-is-workload", `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/i-am-bob"}}`, false},
		{"user-agent-is-not-iac", `{"userAgent":"Pulumi/3.130 aws-sdk-go/1.55"}`, false},
		{"user-agent-is-not-iac", `{"userAgent":"cloudformation.amazonaws.com","sourceIPAddress":"cloudformation.amazonaws.com"}`, true},
		{"policy-allows-admin", `{"eventName":"PutInlinePolicyToPermissionSet","requestParameters":{"inlinePolicy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}`, true},
		{"policy-allows-admin", `{"eventName":"GetFederationToken","requestParameters":{"name":"x","policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}`, true},
		{"policy-allows-admin", `{"eventName":"GetFederationToken","requestParameters":{"name":"x","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"}}`, false},
		{"policy-allows-admin", `{"eventName":"GetFederationToken","requestParameters":{"name":"x","policyArns":[{"arn":"arn:aws:iam::aws:policy/ReadOnlyAccess"},{"arn":"arn:aws:iam::aws:policy/AdministratorAccess"}]}}`, true},
		{"policy-allows-admin", `{"eventName":"GetFederationToken","requestParameters":{"name":"x","policyArns":[{"arn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}]}}`, false},
		{"policy-allows-admin", `{"eventName":"GetFederationToken","requestParameters":{"name":"x","policyArns":"nonsense"}}`, false},
		{"policy-allows-admin", `{"eventName":"AttachManagedPolicyToPermissionSet","requestParameters":{"managedPolicyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}}`, true},
		{"policy-allows-admin", `{"eventName":"AttachManagedPolicyToPermissionSet","requestParameters":{"managedPolicyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}}`, false},
	} {
		r, err := decodeRecord(json.RawMessage(c.rec))
		if err != nil {
			t.Fatal(err)
		}
		if got := predicates[c.pred].holds(r); got != c.want {
			t.Errorf("%s(%s) = %v, want %v", c.pred, c.rec, got, c.want)
		}
	}
}

// TestMatchEventPlainRecord: the findings of a record the decoder made and checked
// (MatchEvent) carry it plain when it is (finding.Finding.PlainRecord), so writing them does
// not check it again; Match's findings do not, their bytes being unchecked.
func TestMatchEventPlainRecord(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	const rec = `{"eventVersion":"1.08","eventTime":"2026-10-01T00:00:00Z","eventSource":"iam.amazonaws.com",` +
		`"eventName":"CreateUser","awsRegion":"us-east-1","userIdentity":{"type":"IAMUser",` +
		`"arn":"arn:aws:iam::111122223333:user/a"},"requestParameters":{"userName":"b c"}}`
	for _, c := range []struct {
		name, rec string
		plain     bool
	}{
		{"compact", rec, true},
		{"white space", strings.Replace(rec, `,"awsRegion"`, `, "awsRegion"`, 1), false},
		{"not UTF-8", strings.Replace(rec, `"b c"`, "\"b\xffc\"", 1), false},
		{"UTF-8 (checked after the decoder)", strings.Replace(rec, `"b c"`, `"b é"`, 1), true},
	} {
		evs := decoded([]byte(`{"Records":[` + c.rec + `]}`))
		if len(evs) != 1 || evs[0].Record == nil {
			t.Fatalf("%s: decoded %d events, want one with its record", c.name, len(evs))
		}
		m, err := e.MatchEvent(evs[0])
		if err != nil || len(m.Findings) == 0 {
			t.Fatalf("%s: %d findings, %v", c.name, len(m.Findings), err)
		}
		for _, f := range m.Findings {
			if f.PlainRecord() != c.plain || string(f.Record) != c.rec {
				t.Errorf("%s: %s: plain %v, record %s", c.name, f.Rule, f.PlainRecord(), f.Record)
			}
		}
		m, err = e.Match(evs[0].Envelope)
		if err != nil || len(m.Findings) == 0 {
			t.Fatalf("%s: Match: %d findings, %v", c.name, len(m.Findings), err)
		}
		for _, f := range m.Findings {
			if f.PlainRecord() {
				t.Errorf("%s: Match: %s: plain", c.name, f.Rule)
			}
		}
	}
}

// TestStartsCommand: startsCommand is finding.RunbookCommand.MatchString, on every prefix of
// every line of the rules' runbooks (a placeholder may follow any) and on near misses.
func TestStartsCommand(t *testing.T) {
	lines := []string{
		"", "aws", "aws ", "aws s3", "aws s3 ", "aws s3 ls", "(aws iam get-user", "x(aws iam get-user",
		"see: aws iam list-users", "see:aws iam list-users", "aws  iam get-user", "aws IAM get-user",
		"aws iam  get-user", "aws-cli iam get", "aws aws aws x", "then aws s3api put-object-acl --acl",
		"aws ec2 describe_instances", "aws ec2 _x", "aws é x", "\taws s3 ls", "naws s3 ls aws s3 ls",
	}
	for _, r := range builtin(t) {
		for l := range strings.SplitSeq(r.Runbook, "\n") {
			for i := range len(l) + 1 {
				lines = append(lines, l[:i])
			}
		}
	}
	for _, l := range lines {
		if got, want := startsCommand(l), finding.RunbookCommand.MatchString(l); got != want {
			t.Errorf("startsCommand(%q) = %v, RunbookCommand says %v", l, got, want)
		}
	}
}

func FuzzStartsCommand(f *testing.F) {
	f.Add("see (aws iam get-user --user-name x")
	f.Fuzz(func(t *testing.T, l string) {
		if got, want := startsCommand(l), finding.RunbookCommand.MatchString(l); got != want {
			t.Fatalf("startsCommand(%q) = %v, RunbookCommand says %v", l, got, want)
		}
	})
}

// TestWriteProseWord: a value with a space (or a line break, control character or separator,
// which become spaces) is written in “ ”, its own curly quotes made straight; printable ASCII
// and bytes that are not UTF-8 alike.
func TestWriteProseWord(t *testing.T) {
	for _, c := range []struct{ v, want string }{
		{"", ""},
		{"alice", "alice"},
		{"a b", "“a b”"},
		{" lead", "“ lead”"},
		{"trail ", "“trail ”"},
		{"a\tb", "“a b”"},
		{"a\nb c", "“a b c”"},
		{"“quoted” word", "“\"quoted\" word”"},
		{"é", "é"},
		{"a é", "“a é”"},
		{"\x7f", "“ ”"},
		{"a\x7fb c", "“a b c”"},
		{"\xff \xfe", "“\ufffd \ufffd”"},
		{"x\u2028y z", "“x y z”"},
		{`"plain" quotes`, "“\"plain\" quotes”"},
		{"~!@#$%^&*()_+", "~!@#$%^&*()_+"},
		{"“one”", "“one”"},
	} {
		var got strings.Builder
		writeProseWord(&got, c.v)
		if got.String() != c.want {
			t.Errorf("%q: %q, want %q", c.v, got.String(), c.want)
		}
	}
}
