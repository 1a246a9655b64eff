package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTestPattern(t *testing.T) {
	dir := t.TempDir()
	patternFile := filepath.Join(dir, "pattern.json")
	eventFile := filepath.Join(dir, "event.json")
	if err := os.WriteFile(patternFile, []byte(`{
  "source": ["aws.iam"],
  "detail-type": ["AWS API Call via CloudTrail"],
  "detail": {"eventName": ["CreateUser", "AttachUserPolicy"]}
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eventFile, []byte(`{
  "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
  "account": "111122223333", "time": "2024-08-01T13:33:28Z", "region": "us-east-1", "resources": [],
  "detail": {"eventSource": "iam.amazonaws.com", "eventName": "AttachUserPolicy",
             "requestParameters": {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "userName": "bob"}}
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badEvent := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badEvent, []byte("{\n  \"source\": \"aws.iam\",\n  \"detail\": {\"eventName\": }\n}"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrHas  []string
		stderrNone bool
	}{
		{"match, files", []string{"--event-pattern", "file://" + patternFile, "--event", "file://" + eventFile},
			exitOK, "{\"Result\": true}\n", nil, true},
		{"match, inline, not an AWS envelope", []string{"--event-pattern", `{"detail":{"eventName":[{"prefix":"Attach"}]}}`, "--event", `{"detail":{"eventName":"AttachUserPolicy"}}`},
			exitOK, "{\"Result\": true}\n", []string{"would reject", "id, account, source, time, region, resources, detail-type"}, false},
		{"lift a CloudTrail record", []string{"--lift", "--event-pattern", "file://" + patternFile, "--event", `{"eventVersion":"1.08","eventTime":"2024-08-01T13:33:28Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","eventType":"AwsApiCall","eventID":"e1","recipientAccountId":"111122223333","requestParameters":{"userName":"x"}}`},
			exitOK, "{\"Result\": true}\n", nil, true},
		{"record without --lift does not match an envelope pattern", []string{"--event-pattern", "file://" + patternFile, "--event", `{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall"}`},
			exitOK, "{\"Result\": false}\n", []string{"--lift"}, false},
		{"no match", []string{"--event-pattern", "file://" + patternFile, "--event", `{"id":"1","account":"111122223333","source":"aws.iam","time":"2024-08-01T13:33:28Z","region":"us-east-1","resources":[],"detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"CreateAccessKey"}}`},
			exitOK, "{\"Result\": false}\n", nil, true},
		{"single-dash flags", []string{"-event-pattern", `{"a":["1"]}`, "-event", `{"a":"2"}`},
			exitOK, "{\"Result\": false}\n", nil, false},
		{"invalid pattern names the path", []string{"--event-pattern", `{"detail":{"eventName":"CreateUser"}}`, "--event", "file://" + eventFile},
			exitError, "", []string{"invalid event pattern", "eventName"}, false},
		{"pattern not json", []string{"--event-pattern", `{"detail":`, "--event", "file://" + eventFile},
			exitError, "", []string{"invalid event pattern"}, false},
		{"invalid event names line and file", []string{"--event-pattern", "file://" + patternFile, "--event", "file://" + badEvent},
			exitError, "", []string{"invalid event", badEvent, "line 3"}, false},
		{"event garbage after the interesting part", []string{"--event-pattern", `{"a":["1"]}`, "--event", `{"a":"1", oops}`},
			exitError, "", []string{"invalid event"}, false},
		{"event not an object", []string{"--event-pattern", `{"a":["1"]}`, "--event", `["a"]`},
			exitError, "", []string{"invalid event"}, false},
		{"pattern path without file://", []string{"--event-pattern", patternFile, "--event", "file://" + eventFile},
			exitError, "", []string{"invalid event pattern", "did you mean file://" + patternFile + "?"}, false},
		{"relative pattern name without file://", []string{"--event-pattern", "pattern.json", "--event", "file://" + eventFile},
			exitError, "", []string{"did you mean file://pattern.json?"}, false},
		{"event path without file://", []string{"--event-pattern", "file://" + patternFile, "--event", eventFile},
			exitError, "", []string{"invalid event", "did you mean file://" + eventFile + "?"}, false},
		{"pattern syntax error names line and column", []string{"--event-pattern", "{\n  \"source\": [\"aws.iam\"]\n  \"detail\": {}\n}", "--event", "file://" + eventFile},
			exitError, "", []string{"invalid event pattern", "line 3, column 3"}, false},
		{"missing file", []string{"--event-pattern", "file://" + filepath.Join(dir, "nope.json"), "--event", `{}`},
			exitError, "", []string{"read event pattern", "nope.json"}, false},
		{"missing event flag", []string{"--event-pattern", `{"a":["1"]}`},
			exitError, "", []string{"required"}, false},
		{"stray argument", []string{"--event-pattern", `{"a":["1"]}`, "--event", `{}`, "extra"},
			exitError, "", []string{"extra"}, false},
		{"unknown flag", []string{"--pattern", `{}`},
			exitError, "", []string{"-pattern", "--help"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"test-pattern"}, c.args...)...)
			if code != c.code {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, c.code, stderr)
			}
			if stdout != c.stdout {
				t.Errorf("stdout %q, want %q", stdout, c.stdout)
			}
			for _, s := range c.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not contain %q", stderr, s)
				}
			}
			if c.stderrNone && stderr != "" {
				t.Errorf("unexpected stderr %q", stderr)
			}
		})
	}
}

func TestTestPatternListed(t *testing.T) {
	_, stdout, _ := runCmd(t, "--help")
	if !strings.Contains(stdout, "test-pattern") {
		t.Fatalf("usage does not list test-pattern:\n%s", stdout)
	}
}
