package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/deploy"
)

func TestDeployPattern(t *testing.T) {
	code, out, errOut := runCmd(t, "deploy", "pattern")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) == 0 {
		t.Fatalf("json output %q: %v", out, err)
	}

	code, out, _ = runCmd(t, "deploy", "pattern", "--format", "cfn-params")
	if code != exitOK || !strings.HasPrefix(out, "EventPattern1={") || strings.Count(out, "\n") != deploy.TemplateSlots {
		t.Errorf("cfn-params: exit %d, output %q", code, out)
	}

	code, out, _ = runCmd(t, "deploy", "pattern", "--format", "tfvars", "--only", "iam-user-created")
	var tf struct {
		Patterns []string `json:"event_patterns"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &tf) != nil || len(tf.Patterns) != 1 || !strings.Contains(tf.Patterns[0], "CreateUser") {
		t.Errorf("tfvars for one rule: exit %d, output %q", code, out)
	}

	// --min-severity leaves lower rules out of the pre-filter, as min_severity leaves them out
	// of the function: iam-user-created is low, iam-write info.
	code, out, errOut = runCmd(t, "deploy", "pattern", "--format", "lines", "--only", "iam-user-created", "--only", "iam-write", "--only", "admin-policy-attached", "--min-severity", "high")
	if code != exitOK || !strings.Contains(errOut, "for 1 rule(s)") || !strings.Contains(out, "AttachUserPolicy") {
		t.Errorf("min severity high: exit %d, output %q %q", code, out, errOut)
	}

	for _, args := range [][]string{
		{"pattern", "--min-severity", "severe"},
		{"pattern", "--format", "yaml"},
		{"pattern", "--only", "no-such-rule"},
		{"pattern", "--max-size", "50"},
		{"pattern", "extra"},
		{"nonsense"},
		{},
	} {
		if code, _, _ := runCmd(t, append([]string{"deploy"}, args...)...); code != exitError {
			t.Errorf("deploy %v: exit %d, want %d", args, code, exitError)
		}
	}
}

func TestDeployCheck(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	code, out, errOut := runCmd(t, "deploy", "check", "--region", "eu-west-1")
	if code != exitFindings || !strings.Contains(out, "iam-user-created: IAM events reach EventBridge only in us-east-1") {
		t.Errorf("eu-west-1: exit %d, output %q %q", code, out, errOut)
	}
	// A template freshly generated from the enabled rules is clean. (The files in deploy/ are
	// kept in sync by internal/deploy's tests.)
	code, fresh, _ := runCmd(t, "deploy", "pattern")
	if code != exitOK {
		t.Fatal("deploy pattern failed")
	}
	freshFile := t.TempDir() + "/event-patterns.json"
	if err := os.WriteFile(freshFile, []byte(fresh), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd(t, "deploy", "check", "--region", "us-east-1", "--template", freshFile)
	if code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("fresh patterns in us-east-1: exit %d, output %.300q", code, out)
	}
	code, out, _ = runCmd(t, "deploy", "check", "--template", "../../deploy/cloudformation/template.yaml")
	if code == exitError {
		t.Errorf("the shipped CloudFormation template does not parse: %.300q", out)
	}

	stale := t.TempDir() + "/patterns.json"
	if err := os.WriteFile(stale, []byte(`["{\"source\":[\"aws.iam\"],\"detail\":{\"eventName\":[\"CreateUser\"]}}"]`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd(t, "deploy", "check", "--template", stale)
	if code != exitFindings || !strings.Contains(out, "no deployed pattern matches") || strings.Contains(out, "iam-user-created:") {
		t.Errorf("stale template: exit %d, output %.500q", code, out)
	}
	if code, _, _ := runCmd(t, "deploy", "check"); code != exitError {
		t.Errorf("no region nor template: exit %d, want %d", code, exitError)
	}
}
