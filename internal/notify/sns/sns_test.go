package sns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/chat"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/sns"
)

func sample() *finding.Finding {
	return &finding.Finding{
		Rule: "admin-policy-attached", Severity: finding.High,
		Title:       "alice attached AdministratorAccess to bob",
		Description: "An administrator policy was attached <!channel>.",
		EventID:     "3e5a9b0c-0000-4000-8000-000000000001", EventName: "AttachUserPolicy", EventSource: "iam.amazonaws.com",
		EventTime: "2026-11-28T01:00:00Z", Account: "123456789012", Region: "us-east-1",
		Principal: "arn:aws:iam::123456789012:user/alice", SourceIPAddress: "203.0.113.7", Target: "bob",
		Tags:   []string{"iam", "privilege-escalation"},
		Params: []finding.Param{{Name: "userName", Value: "bob"}, {Name: "policyArn", Value: "arn:aws:iam::aws:policy/AdministratorAccess"}},
		Grants: []string{"every action on every resource"},
		Record: json.RawMessage(`{}`),
	}
}

func TestGolden(t *testing.T) {
	st := chat.Style{Accounts: map[string]string{"123456789012": "prod"}}
	a, b := sample(), sample()
	b.EventID = "3e5a9b0c-0000-4000-8000-000000000002"
	for name, fs := range map[string][]*finding.Finding{"alert.json": {a}, "summary.json": {a, b}} {
		got, err := json.MarshalIndent(sns.Build(st, fs...), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		notifytest.Golden(t, filepath.Join("testdata", name), append(got, '\n'))
	}
	// A real event several built-in rules match: one alert, the others listed under it.
	merged := finding.Merge(notifytest.SampleEvent(t, "access-key-created-for-other-user", 0))
	got, err := json.MarshalIndent(sns.Build(chat.Style{}, merged), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Golden(t, filepath.Join("testdata", "merged.json"), append(got, '\n'))
}

func TestShape(t *testing.T) {
	c := sns.Build(chat.Style{}, sample())
	if c.Version != "1.0" || c.Source != "custom" || c.Content.TextType != "client-markdown" || c.Content.Title == "" || c.Content.Description == "" {
		t.Fatalf("not a Chatbot custom notification: %+v", c)
	}
	if strings.Contains(c.Content.Description, "<!channel>") {
		t.Fatal("mention not escaped")
	}
}

type pubFunc func(ctx context.Context, in *awssns.PublishInput, opts ...func(*awssns.Options)) (*awssns.PublishOutput, error)

func (f pubFunc) Publish(ctx context.Context, in *awssns.PublishInput, opts ...func(*awssns.Options)) (*awssns.PublishOutput, error) {
	return f(ctx, in, opts...)
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		err        error
		wantRetry  bool
		wantReason string
	}{
		{&smithy.GenericAPIError{Code: "Throttling"}, true, "sns_Throttling"},
		{&smithy.GenericAPIError{Code: "InternalError"}, true, "sns_InternalError"},
		{&smithy.GenericAPIError{Code: "AuthorizationError"}, false, "sns_AuthorizationError"},
		{&smithy.GenericAPIError{Code: "NotFound"}, false, "sns_NotFound"},
		{errors.New("dial tcp: connection refused"), true, "network"},
	}
	for _, tc := range tests {
		n, _ := sns.New(pubFunc(func(context.Context, *awssns.PublishInput, ...func(*awssns.Options)) (*awssns.PublishOutput, error) {
			return nil, tc.err
		}), sns.Options{TopicARN: "arn:aws:sns:us-east-1:1:t"})
		retry, err := n.Notify(t.Context(), sample())
		if err == nil || retry != tc.wantRetry || notify.Reason(err) != tc.wantReason {
			t.Errorf("%v: retry=%v reason=%s err=%v, want retry=%v reason=%s", tc.err, retry, notify.Reason(err), err, tc.wantRetry, tc.wantReason)
		}
	}
}

// TestGoaws publishes to a topic on goaws with an SQS queue subscribed and reads the
// message back.
func TestGoaws(t *testing.T) {
	for _, structured := range []bool{false, true} {
		t.Run(fmt.Sprint("MessageStructureJSON=", structured), func(t *testing.T) { testGoaws(t, structured) })
	}
}

func testGoaws(t *testing.T, structured bool) {
	ep := os.Getenv("TRAILBELL_TEST_SNS_ENDPOINT")
	if ep == "" {
		t.Skip("TRAILBELL_TEST_SNS_ENDPOINT is not set (scripts/test.sh starts goaws and sets it)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", "")}
	snsc := awssns.NewFromConfig(cfg, func(o *awssns.Options) { o.BaseEndpoint = aws.String(ep) })
	sqsEP := os.Getenv("TRAILBELL_TEST_SQS_ENDPOINT")
	if sqsEP == "" {
		sqsEP = ep
	}
	sqsc := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEP) })
	name := fmt.Sprintf("trailbell-notify-%d", time.Now().UnixNano())
	topic, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: map[string]string{"RawMessageDelivery": fmt.Sprint(!structured)}}); err != nil {
		t.Fatal(err)
	}
	n, err := sns.New(snsc, sns.Options{TopicARN: *topic.TopicArn, MessageStructureJSON: structured})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	var body string
	for body == "" && ctx.Err() == nil {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body = aws.ToString(m.Body)
		}
	}
	// With raw delivery the body is our message; goaws may still wrap it in an envelope.
	var env struct{ Message string }
	if json.Unmarshal([]byte(body), &env) == nil && env.Message != "" {
		body = env.Message
	}
	t.Logf("SQS subscriber received: %.300s", body)
	var got sns.Chatbot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("message is not a Chatbot notification: %v\n%s", err, body)
	}
	if got.Version != "1.0" || got.Source != "custom" || got.Metadata.AdditionalContext["eventID"] != sample().EventID {
		t.Fatalf("unexpected message %+v", got)
	}
}

// TestPublishInput checks what is published without a server: an ASCII subject within
// SNS's 100 characters, and with MessageStructureJSON the plain text for e-mail and the
// Chatbot payload for queues.
func TestPublishInput(t *testing.T) {
	var got *awssns.PublishInput
	pub := pubFunc(func(_ context.Context, in *awssns.PublishInput, _ ...func(*awssns.Options)) (*awssns.PublishOutput, error) {
		got = in
		return &awssns.PublishOutput{}, nil
	})
	long := sample()
	long.Title = strings.Repeat("é <long> title ", 20)
	n, err := sns.New(pub, sns.Options{TopicARN: "arn:aws:sns:us-east-1:1:t", MessageStructureJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), long); err != nil {
		t.Fatal(err)
	}
	subj := aws.ToString(got.Subject)
	if len(subj) > 100 || !strings.HasPrefix(subj, "[HIGH] ") || strings.ContainsFunc(subj, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		t.Errorf("subject %q: want printable ASCII of at most 100 characters", subj)
	}
	var per map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(got.Message)), &per); err != nil || aws.ToString(got.MessageStructure) != "json" {
		t.Fatalf("message structure %q, message %s (%v)", aws.ToString(got.MessageStructure), aws.ToString(got.Message), err)
	}
	if !strings.HasPrefix(per["email"], "[HIGH] ") || per["default"] != per["email"] {
		t.Errorf("e-mail text %q, default %q", per["email"], per["default"])
	}
	var c sns.Chatbot
	if err := json.Unmarshal([]byte(per["sqs"]), &c); err != nil || c.Metadata.AdditionalContext["eventID"] != long.EventID {
		t.Errorf("sqs message is not the Chatbot payload: %s (%v)", per["sqs"], err)
	}
}

// hostile holds notifytest.Attack in every event string, at lengths that would overflow
// SNS's 256 KiB several times over (a summary repeats them, the JSON structure nests and
// escapes the payload three times).
func hostile() *finding.Finding {
	a := notifytest.Attack
	long := strings.Repeat("`<&>\"é😀", 30000) + a
	return &finding.Finding{
		Rule: "r" + a, Severity: finding.Critical, Title: "t " + a + long, Description: "d",
		EventID: "e`" + a + long, EventName: "n" + a + long, EventSource: "s" + a, EventTime: "t" + a,
		Account: "1" + a + long, Region: "r" + a, Principal: "p`" + a + long, SourceIPAddress: "ip" + a,
		ErrorCode: "c" + a + long, ErrorMessage: "m`x`\n> q" + a + long, Target: "arn:aws:iam::1:user/_x_" + a + long,
		Tags:   []string{a + long},
		Params: []finding.Param{{Name: "k" + a, Value: "v`" + a + long}}, Grants: []string{"g" + a + long},
		Record: json.RawMessage(`{}`),
	}
}

// TestHostileText: Chatbot renders descriptions as Slack mrkdwn, so event text must stay
// text there (code spans closed on every line, backticks inside them replaced), and every
// message stays under SNS's 256 KiB whatever the findings hold.
func TestHostileText(t *testing.T) {
	for _, structured := range []bool{false, true} {
		for _, fs := range [][]*finding.Finding{{hostile()}, {hostile(), hostile()}, {hostile(), sample(), hostile()}} {
			name := fmt.Sprintf("structured=%v/%d findings", structured, len(fs))
			var got *awssns.PublishInput
			n, _ := sns.New(pubFunc(func(_ context.Context, in *awssns.PublishInput, _ ...func(*awssns.Options)) (*awssns.PublishOutput, error) {
				got = in
				return &awssns.PublishOutput{}, nil
			}), sns.Options{TopicARN: "arn:aws:sns:us-east-1:1:t", MessageStructureJSON: structured})
			if _, err := n.Notify(t.Context(), fs...); err != nil {
				t.Fatal(err)
			}
			size := len(aws.ToString(got.Message)) + len(aws.ToString(got.Subject))
			if size > 256*1024 {
				t.Errorf("%s: message and subject are %d bytes, over SNS's 256 KiB", name, size)
			}
			msg := aws.ToString(got.Message)
			if structured {
				var per map[string]string
				if err := json.Unmarshal([]byte(msg), &per); err != nil {
					t.Fatal(err)
				}
				msg = per["https"]
				if err := notifytest.CheckMrkdwn(per["default"]); err != nil {
					t.Errorf("%s: default text: %v", name, err)
				}
			}
			var c sns.Chatbot
			if err := json.Unmarshal([]byte(msg), &c); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := notifytest.CheckMrkdwn(c.Content.Description); err != nil {
				t.Errorf("%s: description: %v\n%.600s", name, err, c.Content.Description)
			}
			for _, s := range c.Content.NextSteps {
				if err := notifytest.CheckMrkdwn(s); err != nil {
					t.Errorf("%s: next step %.200q: %v", name, s, err)
				}
			}
			if !strings.Contains(c.Content.Description, "[trimmed]") {
				t.Errorf("%s: a description cut to fit is not marked", name)
			}
		}
	}
}
