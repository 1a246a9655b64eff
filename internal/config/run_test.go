package config

import (
	"strings"
	"testing"
	"time"
)

func TestSourcesParseAndValidate(t *testing.T) {
	c, err := Parse([]byte(`
state_dir: state
sources:
  s3:
    - url: s3://trail-bucket/AWSLogs/o-abc123/
      endpoint: http://127.0.0.1:7070
      poll_interval: 30s
      silence_after: 2h
  sqs:
    - queue_url: https://sqs.us-east-1.amazonaws.com/111111111111/trail
  lookup:
    - account: "111111111111"
      region: us-east-1
run:
  listen: 127.0.0.1:9090
  disable: [root-activity]
`), "/etc/trailbell")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources.S3[0]; got.URL != "s3://trail-bucket/AWSLogs/o-abc123/" || time.Duration(got.PollInterval) != 30*time.Second || time.Duration(got.SilenceAfter) != 2*time.Hour {
		t.Errorf("s3 source = %+v", got)
	}
	if c.Run.Listen != "127.0.0.1:9090" || c.StateDir != "/etc/trailbell/state" || len(c.Sources.Lookup) != 1 || len(c.Sources.SQS) != 1 {
		t.Errorf("config = %+v", c)
	}
}

func TestSourcesErrorsNameTheirField(t *testing.T) {
	_, err := Parse([]byte(`
sources:
  s3:
    - url: bucket/prefix
      silence_after: -1h
      role_arn: log-archive-reader
  sqs:
    - endpoint: localhost:4100
  lookup:
    - account: "1"
    - account: "1"
run:
  shutdown_grace: -5s
`), ".")
	if err == nil {
		t.Fatal("Parse accepted a bad sources section")
	}
	for _, want := range []string{
		"sources.s3[0].url", "sources.s3[0].silence_after", "sources.s3[0].role_arn", "sources.lookup[0].account", "sources.sqs[0].queue_url",
		"sources.sqs[0].endpoint", "sources.lookup[0].region", "sources.lookup[1]: account", "run.shutdown_grace",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestUnknownSourceKeyIsAnError(t *testing.T) {
	if _, err := Parse([]byte("sources:\n  s3:\n    - url: s3://b/\n      intervall: 1s\n"), "."); err == nil || !strings.Contains(err.Error(), "intervall") {
		t.Fatalf("Parse = %v, want an error naming the unknown key", err)
	}
}
