package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

// daemonWithSources runs the daemon on a configuration whose sources section is given, delivering
// to a Slack-like server, until the test ends.
func daemonWithSources(t *testing.T, sources string, awsEndpoint string) *slacktest.Server {
	t.Helper()
	slack := slacktest.New()
	t.Cleanup(slack.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "trailbell.yaml")
	doc := notifyYAML(slack) + "sources:\n" + sources
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	testenv.AWSEnv(t)
	if awsEndpoint != "" {
		t.Setenv("AWS_ENDPOINT_URL", awsEndpoint)
	}
	startDaemon(t, cfg, DaemonOptions{}, &testenv.Buffer{})
	return slack
}

func waitMentions(t *testing.T, slack *slacktest.Server, text string, n int) {
	t.Helper()
	count := func() int { return mentions(slack, text) }
	for deadline := time.Now().Add(20 * time.Second); count() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Slack has %d messages mentioning %q, want %d", count(), text, n)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if c := count(); c != n {
		t.Fatalf("Slack has %d messages mentioning %q, want exactly %d", c, text, n)
	}
}

// An SQS queue (goaws) announcing log files in S3 (gofakes3): the file's findings are
// delivered and its message deleted; a garbage message is alerted and returned to the queue
// (ingest's policy: a redrive policy would keep it in a dead-letter queue).
func TestRunSQSSource(t *testing.T) {
	endpoint := os.Getenv("TRAILBELL_TEST_SQS_ENDPOINT")
	if endpoint == "" {
		t.Skip("TRAILBELL_TEST_SQS_ENDPOINT is unset; scripts/test.sh starts goaws and sets it")
	}
	s3URL, s3c := fakeS3(t)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/28/111122223333_CloudTrail_us-east-1_20261128T0100Z_q.json.gz"
	body := testenv.Gzip(`{"Records":[` + testenv.TrailRecord("sqs-stop-1", "StopLogging") + `]}`)
	if _, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}

	q := awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: testenv.Credentials})
	cq, err := q.CreateQueue(t.Context(), &awssqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("trailbell-run-%d", time.Now().UnixNano()))})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(cq.QueueUrl)
	t.Cleanup(func() { q.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)}) })
	note, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": "trail"}, "object": map[string]any{"key": key, "size": len(body)}},
	}}})
	for _, m := range []string{string(note), "this is not a notification"} {
		if _, err := q.SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(m)}); err != nil {
			t.Fatal(err)
		}
	}

	slack := daemonWithSources(t, fmt.Sprintf("  sqs:\n    - queue_url: %s\n      endpoint: %s\n      s3_endpoint: %s\n      visibility: 10s\n", url, endpoint, s3URL), "")
	waitMentions(t, slack, "sqs-stop-1", 1)
	waitMentions(t, slack, "unreadable CloudTrail records", 1)
	out, err := q.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 0 {
		t.Fatalf("the queue still shows %d messages", len(out.Messages))
	}
	attrs, err := q.GetQueueAttributes(t.Context(), &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]; n != "1" {
		t.Errorf("%s messages held for a retry, want the garbage one", n)
	}
}

// LookupEvents (a server speaking CloudTrail's JSON protocol) returning the same event on
// every poll, called with the credentials of an assumed role (the same server answers STS
// AssumeRole): it alerts once.
func TestRunLookupSource(t *testing.T) {
	polls := make(chan struct{}, 100)
	ct := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "" { // STS, query protocol
			r.ParseForm()
			if r.Form.Get("Action") != "AssumeRole" || r.Form.Get("RoleArn") != "arn:aws:iam::111122223333:role/trailbell-reader" {
				http.Error(w, "unexpected STS call "+r.Form.Encode(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
				`<AccessKeyId>ASIAASSUMEDKEY</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>`+
				`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/trailbell-reader/trailbell</Arn>`+
				`<AssumedRoleId>AROAEXAMPLE:trailbell</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
			return
		}
		if r.Header.Get("X-Amz-Target") != "CloudTrail_20131101.LookupEvents" {
			http.Error(w, "unexpected target", http.StatusBadRequest)
			return
		}
		if !strings.Contains(r.Header.Get("Authorization"), "Credential=ASIAASSUMEDKEY/") || r.Header.Get("X-Amz-Security-Token") != "assumed-token" {
			http.Error(w, "not signed with the assumed role", http.StatusForbidden)
			return
		}
		select {
		case polls <- struct{}{}:
		default:
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"Events": []any{map[string]any{
			"EventId": "lookup-stop-1", "EventName": "StopLogging", "EventTime": float64(time.Now().Add(-time.Minute).Unix()),
			"CloudTrailEvent": testenv.TrailRecord("lookup-stop-1", "StopLogging"),
		}}})
	}))
	t.Cleanup(ct.Close)
	slack := daemonWithSources(t, fmt.Sprintf("  lookup:\n    - account: \"111122223333\"\n      region: us-east-1\n      endpoint: %s\n      poll_interval: 100ms\n"+
		"      role_arn: arn:aws:iam::111122223333:role/trailbell-reader\n", ct.URL), ct.URL)
	for range 3 { // several overlapping windows
		select {
		case <-polls:
		case <-time.After(10 * time.Second):
			t.Fatal("LookupEvents was not polled")
		}
	}
	waitMentions(t, slack, "lookup-stop-1", 1)
}

// A source that cannot read (the bucket is gone) goes silent; the alert says why.
func TestSilenceAlertCarriesTheSourceError(t *testing.T) {
	s3URL, _ := fakeS3(t)
	slack := daemonWithSources(t, fmt.Sprintf("  s3:\n    - url: s3://no-such-bucket/AWSLogs/\n      endpoint: %s\n      poll_interval: 100ms\n      silence_after: 1s\n", s3URL), "")
	waitMentions(t, slack, "NoSuchBucket", 1)
	waitMentions(t, slack, "No new CloudTrail data from s3://no-such-bucket/AWSLogs/", 1)
}

// TestRulesMinSeverity: the configuration's min_severity leaves the rules below it out, for
// run and the Lambda alike.
func TestRulesMinSeverity(t *testing.T) {
	all, err := Rules(&config.Config{})
	if err != nil {
		t.Fatal(err)
	}
	high, err := Rules(&config.Config{MinSeverity: "high"})
	if err != nil {
		t.Fatal(err)
	}
	if len(high) == 0 || len(high) >= len(all) {
		t.Fatalf("%d rules at high and above of %d", len(high), len(all))
	}
	for _, r := range high {
		if r.Severity < finding.High {
			t.Errorf("rule %s (%s) kept", r.ID, r.Severity)
		}
	}
	if _, err := Rules(&config.Config{MinSeverity: "critical", Run: config.Daemon{Only: []string{"iam-write"}}}); err == nil ||
		!strings.Contains(err.Error(), "min_severity") {
		t.Errorf("no rule left: %v", err)
	}
}
