package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, []byte(`rules:
  - id: my-rule
    title: "{principal} created {requestParameters.userName}"
    severity: medium
    runbook: |
      Check {who}'s other calls.
      aws iam delete-user --user-name {requestParameters.userName}
    pattern: {"detail": {"eventName": ["CreateUser"]}}
    samples:
      match:
        - '{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall","requestParameters":{"userName":"x"}}'
      no_match:
        - '{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser","eventType":"AwsApiCall"}'
`))
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, []byte(`rules:
  - id: bad-rule
    title: "{whom}"
    severity: low
    pattern: {"detail": {"eventName": ["CreateUser"]}}
    samples:
      match:
        - '{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser","eventType":"AwsApiCall"}'
`))
	badBook := filepath.Join(dir, "bad-book.yaml")
	writeFile(t, badBook, []byte(`rules:
  - id: bad-book
    title: "{who} created a user"
    severity: low
    runbook: |
      Check {who}.
      aws iam delete-user --user-name {requestParameter.userName}
    pattern: {"detail": {"eventName": ["CreateUser"]}}
`))
	failing := filepath.Join(dir, "failing.yaml")
	writeFile(t, failing, []byte(`rules:
  - id: failing-rule
    title: "{principal}"
    severity: low
    pattern: {"detail": {"eventName": ["CreateUser"]}}
    samples:
      match:
        - '{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser","eventType":"AwsApiCall"}'
`))

	for _, c := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"validate builtin", []string{"validate"}, exitOK, "ok: built-in pack:", ""},
		{"validate file", []string{"validate", good}, exitOK, "1 rules, 2 samples", ""},
		{"validate bad template", []string{"validate", bad}, exitError, "", bad + ":3: rule \"bad-rule\": title: placeholder {whom}"},
		{"validate bad runbook", []string{"validate", badBook}, exitError, "", badBook + ":7: rule \"bad-book\": runbook: placeholder {requestParameter.userName} at column 33: unknown field"},
		{"show runbook", []string{"show", "--rules", good, "my-rule"}, exitOK, "runbook:\n  Check {who}'s other calls.\n  aws iam delete-user --user-name {requestParameters.userName}\n", ""},
		{"validate failing sample", []string{"validate", failing}, exitError, "", failing + ":2: rule \"failing-rule\": samples.match[0]: rule did not report this sample"},
		{"validate missing file", []string{"validate", filepath.Join(dir, "nope.yaml")}, exitError, "", "no such file"},
		{"list builtin", []string{"list"}, exitOK, "admin-policy-attached", ""},
		{"list json with file", []string{"list", "--json", "--no-builtin", "--rules", good}, exitOK, `"id":"my-rule","severity":"medium"`, ""},
		{"show", []string{"show", "inline-policy-admin"}, exitOK, "predicate:   policy-allows-admin:", ""},
		{"show unknown", []string{"show", "no-such-rule"}, exitError, "", `unknown rule id "no-such-rule"`},
		{"unknown command", []string{"frobnicate"}, exitError, "", "unknown command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCmd(t, append([]string{"rules"}, c.args...)...)
			if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errs, c.err) {
				t.Errorf("rules %v: code %d\nstdout: %s\nstderr: %s\nwant code %d, stdout with %q, stderr with %q",
					c.args, code, out, errs, c.code, c.out, c.err)
			}
		})
	}
}
