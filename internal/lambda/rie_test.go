package lambda_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/lambda"
	"github.com/trailbell/trailbell/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

// These tests run the real bootstrap, built here, under AWS's Lambda Runtime Interface
// Emulator (TRAILBELL_TEST_RIE), posting to a Slack-like server, and for log files reading
// from the S3 server (TRAILBELL_TEST_S3_ENDPOINT) with notifications taken from the SQS
// server (TRAILBELL_TEST_SQS_ENDPOINT). scripts/test.sh sets all three.

// bootstrap is the function, built as Lambda runs it.
var bootstrap = &testenv.Binary{Pkg: "../../cmd/trailbell", Name: "bootstrap", Tags: "lambda.norpc", Env: []string{"CGO_ENABLED=0"}}

func TestMain(m *testing.M) {
	code := m.Run()
	bootstrap.Remove()
	os.Exit(code)
}

// rie is one emulator running the bootstrap. The emulator crashes on concurrent invocations,
// so invoke serialises them.
type rie struct {
	url string
	cmd *exec.Cmd
	mu  sync.Mutex
	out *testenv.Buffer
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

func startRIE(t *testing.T, env ...string) *rie {
	t.Helper()
	bin := os.Getenv("TRAILBELL_TEST_RIE")
	if bin == "" {
		t.Skip("TRAILBELL_TEST_RIE is not set (path of aws-lambda-rie; scripts/test.sh sets it)")
	}
	boot := bootstrap.Path(t)
	port, apiPort := freePort(t), freePort(t)
	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		boot)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=testsecret",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
	}, env...)
	r := &rie{url: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port), cmd: cmd, out: &testenv.Buffer{}}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", r.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not listen: %v\n%s", err, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// invoke posts one payload and returns the function's answer. A handler error comes back as
// HTTP 200 with {"errorMessage":...}.
func (r *rie) invoke(t *testing.T, payload []byte) (map[string]any, time.Duration) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	resp, err := http.Post(r.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d %s", resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("invoke: answer %q: %v", body, err)
	}
	return out, took
}

// reports returns the emulator's REPORT lines so far.
func (r *rie) reports() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(r.out.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "REPORT RequestId") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// bootstrapHWM reads the peak resident memory of the bootstrap process under the emulator.
func (r *rie) bootstrapHWM() (int64, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	parent := strconv.Itoa(r.cmd.Process.Pid)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		s := string(st)
		if !strings.Contains(s, "Name:\tbootstrap\n") || !strings.Contains(s, "PPid:\t"+parent+"\n") {
			continue
		}
		m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindStringSubmatch(s)
		if m == nil {
			return 0, fmt.Errorf("no VmHWM in /proc/%s/status", e.Name())
		}
		kb, _ := strconv.ParseInt(m[1], 10, 64)
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no bootstrap process under the emulator (pid %s)", parent)
}

// exampleRecord is the documentation's example record of eventName name, given eventID.
func exampleRecord(t *testing.T, name, eventID string) []byte {
	t.Helper()
	rec, ok := lambda.ExampleRecords(t)[name]
	if !ok {
		t.Fatalf("no %s example", name)
	}
	return []byte(`{"eventID":"` + eventID + `",` + string(rec[1:]))
}

func envelope(t *testing.T, record []byte) []byte {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal(record, &rec); err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(map[string]any{
		"version": "0", "id": rec["eventID"], "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
		"account": "123456789012", "time": rec["eventTime"], "region": rec["awsRegion"], "resources": []any{}, "detail": rec,
	})
	return env
}

func TestRIEEventBridge(t *testing.T) {
	slack := slacktest.New()
	defer slack.Close()
	r := startRIE(t, "TRAILBELL_SLACK_WEBHOOK_URL="+slack.WebhookURL("alerts"))

	// The simple webhook setup sends medium and above, like `scan` and `run`: a new user
	// (low) is not posted, adding a user to the admin group (medium) is.
	out, _ := r.invoke(t, envelope(t, exampleRecord(t, "CreateUser", "11111111-2222-4333-8444-000000000001")))
	if out["errorMessage"] != nil {
		t.Fatalf("CreateUser event: answer %v", out)
	}
	if got := slack.Received(); len(got) != 0 {
		t.Fatalf("a low-severity finding (iam-user-created) was posted: %q", firstBody(got))
	}
	out, _ = r.invoke(t, envelope(t, exampleRecord(t, "AddUserToGroup", "11111111-2222-4333-8444-000000000003")))
	if out["errorMessage"] != nil || out["findings"].(float64) < 1 {
		t.Fatalf("AddUserToGroup event: answer %v, want findings", out)
	}
	got := slack.Received()
	if len(got) == 0 || !bytes.Contains(got[0].Body, []byte("Bob")) {
		t.Fatalf("Slack received %d messages; first %q", len(got), firstBody(got))
	}

	before := len(slack.Received())
	custodian, err := os.ReadFile("testdata/event-cloud-trail-catalog-put-resource-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	out, _ = r.invoke(t, custodian)
	if out["errorMessage"] != nil || out["records"].(float64) != 1 {
		t.Errorf("cloud-custodian event: answer %v", out)
	}
	if n := len(slack.Received()); n != before {
		t.Errorf("cloud-custodian event matched no rule but %d messages were posted", n-before)
	}

	out, _ = r.invoke(t, []byte(`{"hello":"world"}`))
	if msg, _ := out["errorMessage"].(string); !strings.Contains(msg, "unrecognised payload") {
		t.Errorf("unknown payload: answer %v, want an errorMessage", out)
	}

	// A revoked webhook (404 no_service) fails the invocation so Lambda retries, then
	// dead-letters: nothing is swallowed.
	slack.Revoke("alerts")
	out, _ = r.invoke(t, envelope(t, exampleRecord(t, "AddUserToGroup", "11111111-2222-4333-8444-000000000002")))
	if msg, _ := out["errorMessage"].(string); msg == "" {
		t.Errorf("revoked webhook: answer %v, want an errorMessage", out)
	} else if strings.Contains(msg, slack.URL) || strings.Contains(r.out.String(), "/services/T0000/B0000/alerts") {
		t.Errorf("the webhook URL leaked into the error or the log: %s", msg)
	}
	t.Logf("reports:\n%s", strings.Join(r.reports(), "\n"))
}

func firstBody(rs []slacktest.Received) string {
	if len(rs) == 0 {
		return ""
	}
	return string(rs[0].Body)
}

type awsEndpoints struct {
	s3    *s3.Client
	sqs   *sqs.Client
	s3URL string
}

func endpoints(t *testing.T) awsEndpoints {
	t.Helper()
	s3URL, sqsURL := os.Getenv("TRAILBELL_TEST_S3_ENDPOINT"), os.Getenv("TRAILBELL_TEST_SQS_ENDPOINT")
	if s3URL == "" || sqsURL == "" {
		t.Skip("TRAILBELL_TEST_S3_ENDPOINT and TRAILBELL_TEST_SQS_ENDPOINT are not set (scripts/test.sh starts versitygw and goaws)")
	}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
	}
	return awsEndpoints{
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(s3URL)
			o.UsePathStyle = true
		}),
		sqs:   sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsURL) }),
		s3URL: s3URL,
	}
}

// newBucket creates a bucket named prefix-NANOS on the S3 server.
func (ep awsEndpoints) newBucket(t *testing.T, prefix string) string {
	t.Helper()
	bucket := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if _, err := ep.s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return bucket
}

// s3Notification is the body S3 sends to SQS for a new object.
func s3Notification(bucket, key string) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": url.QueryEscape(key), "size": 1}},
	}}})
	return string(b)
}

// sqsInvocation turns received messages into the event the SQS event source mapping sends.
func sqsInvocation(msgs []sqsMessage) []byte {
	var recs []any
	for _, m := range msgs {
		recs = append(recs, map[string]any{
			"messageId": m.id, "receiptHandle": m.handle, "body": m.body,
			"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:100010001000:trailbell", "awsRegion": "us-east-1",
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

type sqsMessage struct{ id, handle, body string }

// failures lists the message ids of a partial-batch answer.
func failures(out map[string]any) []string {
	var ids []string
	fs, _ := out["batchItemFailures"].([]any)
	for _, f := range fs {
		ids = append(ids, f.(map[string]any)["itemIdentifier"].(string))
	}
	return ids
}

func TestRIELogFilesFromSQS(t *testing.T) {
	ep := endpoints(t)
	ctx := t.Context()
	bucket := ep.newBucket(t, "trailbell-rie")
	key := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/28/123456789012_CloudTrail_us-east-1_20261128T0100Z_abc.json.gz"
	file := lambda.LogFile(t,
		exampleRecord(t, "StartInstances", "21111111-2222-4333-8444-000000000001"),
		exampleRecord(t, "CreateUser", "21111111-2222-4333-8444-000000000002"),
		exampleRecord(t, "AddUserToGroup", "21111111-2222-4333-8444-000000000003"))
	if _, err := ep.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(file)}); err != nil {
		t.Fatal(err)
	}
	q, err := ep.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		s3Notification(bucket, key),
		s3Notification(bucket, "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/28/missing.json.gz"),
		"this is not json at all {{{",
	} {
		if _, err := ep.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []sqsMessage
	for len(msgs) < 3 {
		out, err := ep.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("received %d of 3 messages", len(msgs))
		}
		for _, m := range out.Messages {
			msgs = append(msgs, sqsMessage{aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle), aws.ToString(m.Body)})
		}
	}

	slack := slacktest.New()
	defer slack.Close()
	r := startRIE(t, "TRAILBELL_SLACK_WEBHOOK_URL="+slack.WebhookURL("alerts"),
		"AWS_ENDPOINT_URL_S3="+ep.s3URL, "TRAILBELL_S3_PATH_STYLE=true")
	out, _ := r.invoke(t, sqsInvocation(msgs))
	if out["errorMessage"] != nil {
		t.Fatalf("answer %v", out)
	}
	failed := map[string]bool{}
	for _, id := range failures(out) {
		failed[id] = true
	}
	for _, m := range msgs {
		wantFail := !strings.Contains(m.body, "_abc.json.gz")
		if failed[m.id] != wantFail {
			t.Errorf("message %.40q: failed=%v, want %v", m.body, failed[m.id], wantFail)
		}
		// Acknowledge like the event source mapping: delete only what succeeded.
		if !failed[m.id] {
			if _, err := ep.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String(m.handle)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var text []string
	for _, rc := range slack.Received() {
		text = append(text, string(rc.Body))
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "Bob") || !strings.Contains(all, "admin") {
		t.Errorf("Slack did not get the AddUserToGroup alert (Bob into admin):\n%.2000s", all)
	}

	// The same notification again (a redelivery): without TRAILBELL_DEDUPE_TABLE delivery is
	// at-least-once and it alerts again; nothing is remembered between invocations.
	before := len(slack.Received())
	out, _ = r.invoke(t, sqsInvocation(msgs[:1]))
	if out["errorMessage"] != nil || len(out["batchItemFailures"].([]any)) != 0 {
		t.Errorf("redelivery: answer %v", out)
	}
	if n := len(slack.Received()) - before; n == 0 {
		t.Errorf("redelivery posted nothing; without a dedupe table it is documented to alert again")
	}

	// SNS fan-out of another log file.
	key2 := strings.Replace(key, "_abc.json.gz", "_def.json.gz", 1)
	if _, err := ep.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key2),
		Body: bytes.NewReader(lambda.LogFile(t, exampleRecord(t, "AddUserToGroup", "21111111-2222-4333-8444-000000000004")))}); err != nil {
		t.Fatal(err)
	}
	sns, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"EventSource": "aws:sns", "Sns": map[string]any{"Type": "Notification", "MessageId": "sns-1", "Message": s3Notification(bucket, key2)},
	}}})
	before = len(slack.Received())
	out, _ = r.invoke(t, sns)
	if out["errorMessage"] != nil || out["findings"].(float64) < 1 {
		t.Errorf("SNS notification: answer %v", out)
	}
	if len(slack.Received()) == before {
		t.Error("SNS notification: nothing posted")
	}
}

// TestRIEMeasure records the numbers of BENCHMARKS.md's lambda section: cold start, per-event
// latency from invocation to the Slack POST, and peak memory on a 50 MB log file. It needs the
// S3 server too and takes a while, so it runs only with TRAILBELL_LAMBDA_BENCH=1.
func TestRIEMeasure(t *testing.T) {
	if os.Getenv("TRAILBELL_LAMBDA_BENCH") == "" {
		t.Skip("set TRAILBELL_LAMBDA_BENCH=1 to measure")
	}
	ep := endpoints(t)
	ctx := t.Context()

	slack := slacktest.New()
	defer slack.Close()
	var mu sync.Mutex
	var posted []time.Time
	proxy := httputil.NewSingleHostReverseProxy(mustURL(slack.URL))
	timed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		posted = append(posted, time.Now())
		mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	defer timed.Close()

	bucket := ep.newBucket(t, "trailbell-bench")
	key := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/28/123456789012_CloudTrail_us-east-1_20261128T0100Z_big.json.gz"
	big, raw := bigLogFile(t, 50<<20)
	if _, err := ep.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}

	r := startRIE(t, "TRAILBELL_SLACK_WEBHOOK_URL="+timed.URL+"/services/T0000/B0000/alerts",
		"AWS_ENDPOINT_URL_S3="+ep.s3URL, "TRAILBELL_S3_PATH_STYLE=true")

	// Events are spaced by a little over a second: the Slack receiver is paced at one message a
	// second (burst 3), and this measures trailbell, not the pacing.
	const n = 20
	var lat []time.Duration
	for i := range n {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		mu.Lock()
		before := len(posted)
		mu.Unlock()
		start := time.Now()
		out, _ := r.invoke(t, envelope(t, exampleRecord(t, "AddUserToGroup", fmt.Sprintf("31111111-2222-4333-8444-%012d", i))))
		if out["errorMessage"] != nil {
			t.Fatalf("answer %v", out)
		}
		mu.Lock()
		if len(posted) == before {
			mu.Unlock()
			t.Fatal("no Slack POST")
		}
		lat = append(lat, posted[before].Sub(start))
		mu.Unlock()
	}
	// The emulator's REPORT "Init Duration" is a placeholder; its rapid log line
	// "INIT REPORT(durationMs: ...)" times the bootstrap's start until its first /next call.
	if m := regexp.MustCompile(`INIT REPORT\(durationMs: ([\d.]+)\)`).FindStringSubmatch(r.out.String()); m != nil {
		t.Logf("cold start: init %s ms (process start to ready for the first invocation)", m[1])
	} else {
		t.Error("no INIT REPORT line in the emulator output")
	}
	t.Logf("invocation → Slack POST over %d events (first is cold): first %v, min %v, median %v, max %v",
		n, lat[0], minDur(lat[1:]), median(lat[1:]), maxDur(lat[1:]))

	time.Sleep(3 * time.Second) // refill the pacing bucket
	out, took := r.invoke(t, []byte(s3Notification(bucket, key)))
	if out["errorMessage"] != nil {
		t.Fatalf("big file: answer %v", out)
	}
	hwm, err := r.bootstrapHWM()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("50 MB log file (%d bytes JSON, %d gzipped, %v records): %v, peak RSS (VmHWM) %.1f MiB; REPORT: %s",
		raw, len(big), out["records"], took, float64(hwm)/(1<<20), last(r.reports()))
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// bigLogFile writes a gzipped log file of about size bytes of JSON: routine records that match
// no rule, and one AddUserToGroup at the end, so the run measures reading, not Slack.
func bigLogFile(t *testing.T, size int) ([]byte, int) {
	t.Helper()
	routine := exampleRecord(t, "StartInstances", "x")
	var raw bytes.Buffer
	raw.WriteString(`{"Records":[`)
	for i := 0; raw.Len() < size; i++ {
		if i > 0 {
			raw.WriteByte(',')
		}
		raw.Write(bytes.Replace(routine, []byte(`"eventID":"x"`), []byte(fmt.Sprintf(`"eventID":"41111111-2222-4333-8444-%012d"`, i)), 1))
	}
	raw.WriteByte(',')
	raw.Write(exampleRecord(t, "AddUserToGroup", "51111111-2222-4333-8444-000000000001"))
	raw.WriteString(`]}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes(), raw.Len()
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func minDur(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = min(m, x)
	}
	return m
}

func maxDur(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestRIECorpusPayloads sends the collected real notification payloads unchanged; their
// buckets and keys are created on the S3 server with a log file behind them.
func TestRIECorpusPayloads(t *testing.T) {
	ep := endpoints(t)
	ctx := t.Context()
	file := lambda.LogFile(t, exampleRecord(t, "AddUserToGroup", "61111111-2222-4333-8444-000000000001"))
	for _, o := range [][2]string{
		{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b"},
		{"amzn-s3-demo-bucket1", "example-key"},
	} {
		if _, err := ep.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(o[0])}); err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
			t.Fatal(err)
		}
		if _, err := ep.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o[0]), Key: aws.String(o[1]), Body: bytes.NewReader(file)}); err != nil {
			t.Fatal(err)
		}
	}
	slack := slacktest.New()
	defer slack.Close()
	r := startRIE(t, "TRAILBELL_SLACK_WEBHOOK_URL="+slack.WebhookURL("alerts"),
		"AWS_ENDPOINT_URL_S3="+ep.s3URL, "TRAILBELL_S3_PATH_STYLE=true")
	for _, tc := range []struct {
		file         string
		wantFailures []string // SQS message ids
	}{
		{file: "s3-event-object-created.json"},
		{file: "sns-s3-event.json"},
		{file: "sqs-s3-event.json"},
		{file: "sqs-sns-event.json"},
		{file: "eventbridge-object-created.json"},
		// ct-siem-sync does not exist on the server: that message fails with the garbage one.
		{file: "sqs-batch-partial-garbage.json", wantFailures: []string{"bad00000-0000-0000-0000-000000000002", "2e1424d4-f796-459a-8184-9c92662be6da"}},
	} {
		payload, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := r.invoke(t, payload)
		if out["errorMessage"] != nil {
			t.Errorf("%s: %v", tc.file, out["errorMessage"])
			continue
		}
		if _, ok := out["batchItemFailures"]; ok {
			if got := failures(out); strings.Join(got, ",") != strings.Join(tc.wantFailures, ",") {
				t.Errorf("%s: failures %v, want %v", tc.file, got, tc.wantFailures)
			}
		}
	}
	if n := len(slack.Received()); n == 0 {
		t.Error("nothing posted to Slack")
	}
}

// TestRIEConfigFile runs the full-routing case: TRAILBELL_CONFIG names a YAML file with two
// receivers and a route.
func TestRIEConfigFile(t *testing.T) {
	slack := slacktest.New()
	defer slack.Close()
	cfg := filepath.Join(t.TempDir(), "trailbell.yaml")
	if err := os.WriteFile(cfg, []byte(`notify:
  receivers:
    - name: security
      slack:
        webhook_url: env:TEST_SECURITY_WEBHOOK
    - name: digest
      slack:
        webhook_url: env:TEST_DIGEST_WEBHOOK
  route:
    receiver: security
    routes:
      - receiver: digest
        rules: [iam-write]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRIE(t, "TRAILBELL_CONFIG="+cfg,
		"TEST_SECURITY_WEBHOOK="+slack.WebhookURL("security"), "TEST_DIGEST_WEBHOOK="+slack.WebhookURL("digest"))
	out, _ := r.invoke(t, envelope(t, exampleRecord(t, "CreateUser", "71111111-2222-4333-8444-000000000001")))
	if out["errorMessage"] != nil {
		t.Fatalf("answer %v", out)
	}
	paths := map[string]int{}
	for _, rc := range slack.Received() {
		paths[rc.Path]++
	}
	if paths["/services/T0000/B0000/security"] == 0 || paths["/services/T0000/B0000/digest"] == 0 {
		t.Errorf("posts per webhook %v, want both the security and the digest webhook", paths)
	}

	// A configuration that does not validate fails the start, loudly.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("notify:\n  receivers: []\n  bogus: 1\n"), 0o644)
	r2 := startRIE(t, "TRAILBELL_CONFIG="+bad)
	resp, err := http.Post(r2.url, "application/json", bytes.NewReader(envelope(t, exampleRecord(t, "CreateUser", "71111111-2222-4333-8444-000000000002"))))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The emulator answers 502 when the runtime exits during init.
	if resp.StatusCode == http.StatusOK && !bytes.Contains(body, []byte("errorMessage")) {
		t.Errorf("bad configuration: HTTP %d %s, want an init failure", resp.StatusCode, body)
	}
	// the emulator may answer before the runtime's last log lines reach the buffer: wait for them
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(r2.out.String(), "setup failed") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(r2.out.String(), "setup failed") {
		t.Errorf("bad configuration: no setup error in the log:\n%s", r2.out.String())
	}
}

// gzipMember is s as one gzip member; members concatenate into one valid gzip stream.
func gzipMember(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// membersOf is n members of chunk: n*len(chunk) bytes inflated, compressed once.
func membersOf(chunk []byte, n int) []byte {
	var m bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&m, gzip.BestCompression)
	zw.Write(chunk)
	zw.Close()
	return bytes.Repeat(m.Bytes(), n)
}

// One SQS batch with a gzip bomb (10 GiB of white space in 10 MB), a record of 31 million
// elements, a log file with a syntax error and a good one: the three bad messages fail alone
// (batchItemFailures), each alerted with its position, the records around the faults and the
// good file alert, in bounded memory and well within the function's timeout.
func TestRIEBadInputBatch(t *testing.T) {
	ep := endpoints(t)
	ctx := t.Context()
	bucket := ep.newBucket(t, "trailbell-rie-bad")
	group := func(id string) string { return string(exampleRecord(t, "AddUserToGroup", id)) }
	const (
		bombA, bombB       = "81111111-2222-4333-8444-00000000b0a1", "81111111-2222-4333-8444-00000000b0b2"
		wideA, wideC       = "81111111-2222-4333-8444-00000000c0a1", "81111111-2222-4333-8444-00000000c0c3"
		synA, synC, goodID = "81111111-2222-4333-8444-00000000d0a1", "81111111-2222-4333-8444-00000000d0c3", "81111111-2222-4333-8444-00000000e0a1"
	)
	var bomb, wide bytes.Buffer
	bomb.Write(gzipMember(`{"Records":[` + group(bombA) + `,`))
	bomb.Write(membersOf(bytes.Repeat([]byte(" "), 1<<20), 10<<10))
	bomb.Write(gzipMember(group(bombB) + `]}`))
	wide.Write(gzipMember(`{"Records":[` + group(wideA) + `,{"eventName":"AddUserToGroup","x":[`))
	wide.Write(membersOf(bytes.Repeat([]byte("0,"), 1<<19), 60))
	wide.Write(gzipMember(`0]},` + group(wideC) + `]}`))
	prefix := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/28/123456789012_CloudTrail_us-east-1_20261128T0100Z_"
	objects := []struct{ key, body string }{
		{prefix + "bomb.json.gz", bomb.String()},
		{prefix + "good.json.gz", string(lambda.LogFile(t, []byte(group(goodID))))},
		{prefix + "wide.json.gz", wide.String()},
		{prefix + "syntax.json.gz", string(lambda.LogFile(t, []byte(group(synA)), []byte(`{"eventName":"AddUserToGroup","x":01}`), []byte(group(synC))))},
	}
	var msgs []sqsMessage
	for i, o := range objects {
		if _, err := ep.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key), Body: strings.NewReader(o.body)}); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, sqsMessage{id: fmt.Sprintf("msg-%d", i), handle: "h", body: s3Notification(bucket, o.key)})
	}

	slack := slacktest.New()
	defer slack.Close()
	// a 128 MiB function: the GC keeps the peak near what the limits hold (see serveLambda)
	r := startRIE(t, "TRAILBELL_SLACK_WEBHOOK_URL="+slack.WebhookURL("alerts"), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_ENDPOINT_URL_S3="+ep.s3URL, "TRAILBELL_S3_PATH_STYLE=true")
	out, took := r.invoke(t, sqsInvocation(msgs))
	if out["errorMessage"] != nil {
		t.Fatalf("answer %v", out)
	}
	if failed := failures(out); strings.Join(failed, " ") != "msg-0 msg-2 msg-3" {
		t.Errorf("failed messages %v, want the bomb, the wide record and the syntax error (msg-0 msg-2 msg-3)", failed)
	}
	var all []string
	for _, rc := range slack.Received() {
		all = append(all, string(rc.Body))
	}
	text := strings.Join(all, "\n")
	for _, id := range []string{bombA, wideA, wideC, synA, synC, goodID} {
		if !strings.Contains(text, id) {
			t.Errorf("no alert for record %s", id)
		}
	}
	for _, want := range []string{
		"bomb.json.gz record 2: larger than 1 GiB after decompression: cut off at line 1, byte 1073741824",
		"wide.json.gz record 2: value larger than 16 MiB at line 1, byte ",
		`syntax.json.gz record 2: invalid character '1' after object value, want ',' or '}' at line 1, byte `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no bad-input alert saying %q", want)
		}
	}
	hwm, err := r.bootstrapHWM()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("batch of 4 (bomb, good, 31M elements, syntax error): %v, bootstrap peak RSS %d MiB", took.Round(time.Millisecond), hwm>>20)
	if hwm > 256<<20 {
		t.Errorf("bootstrap peak RSS %d MiB, want the budgets to bound it (under 256 MiB)", hwm>>20)
	}
}

// stallingS3 forwards to S3 but, for GetObject of keys containing stall, sends the headers
// and then nothing until the client gives up: a read that would hang the whole batch.
func stallingS3(t *testing.T, backend, stall string) string {
	u := mustURL(backend)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = r.In.Host }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, stall) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-req.Context().Done()
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A message whose log file stalls fails alone: the next message of the batch still gets its
// share of the time, and the batch answers before the function's timeout. The S3 objects
// here are stored without a checksum, as CloudTrail stores them: the function's log carries
// none of the SDK's notes about that.
func TestRIEStalledMessageFailsAlone(t *testing.T) {
	s3URL := testenv.S3Server(t)
	testenv.Bucket(t, testenv.S3Client(s3URL), "stall-bucket")
	prefix := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/28/123456789012_CloudTrail_us-east-1_20261128T0100Z_"
	for _, k := range []string{"stall.json.gz", "good.json.gz"} {
		body := lambda.LogFile(t, exampleRecord(t, "AddUserToGroup", "91111111-2222-4333-8444-0000000000"+k[:2]))
		req, _ := http.NewRequest(http.MethodPut, s3URL+"/stall-bucket/"+prefix+k, bytes.NewReader(body)) // no checksum headers
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("put %s: %v %v", k, resp, err)
		}
		resp.Body.Close()
	}
	slack := slacktest.New()
	defer slack.Close()
	r := startRIE(t, "TRAILBELL_SLACK_WEBHOOK_URL="+slack.WebhookURL("alerts"), "AWS_LAMBDA_FUNCTION_TIMEOUT=16",
		"AWS_ENDPOINT_URL_S3="+stallingS3(t, s3URL, "stall.json.gz"), "TRAILBELL_S3_PATH_STYLE=true")
	// a timeout would come back as the text "Task timed out", which invoke fails on
	out, took := r.invoke(t, sqsInvocation([]sqsMessage{
		{id: "stalled", handle: "h1", body: s3Notification("stall-bucket", prefix+"stall.json.gz")},
		{id: "good", handle: "h2", body: s3Notification("stall-bucket", prefix+"good.json.gz")},
	}))
	if out["errorMessage"] != nil {
		t.Fatalf("answer %v after %v, want a batch response before the 16s timeout", out, took)
	}
	if fs := failures(out); strings.Join(fs, " ") != "stalled" {
		t.Errorf("failures %v, want the stalled message alone", fs)
	}
	if got := slack.Received(); len(got) != 1 || !bytes.Contains(got[0].Body, []byte("91111111-2222-4333-8444-0000000000go")) {
		t.Errorf("Slack got %d messages, want the good file's alert", len(got))
	}
	if strings.Contains(strings.ToLower(r.out.String()), "checksum") {
		t.Errorf("the function's log carries the SDK's checksum notes:\n%s", r.out.String())
	}
}
