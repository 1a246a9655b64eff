package lambda

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/testenv"
)

// fakeObjects serves S3 objects from memory, keyed "bucket/key".
type fakeObjects map[string][]byte

func (f fakeObjects) Open(_ context.Context, bucket, key string) (io.ReadCloser, error) {
	b, ok := f[bucket+"/"+key]
	if !ok {
		return nil, errors.New("NoSuchKey")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// fakeDeliverer records deliveries; fail, when set, decides per call.
type fakeDeliverer struct {
	got  []finding.Finding
	fail func([]finding.Finding) error
}

func (d *fakeDeliverer) Deliver(_ context.Context, fs []finding.Finding) error {
	if d.fail != nil {
		if err := d.fail(fs); err != nil {
			return err
		}
	}
	d.got = append(d.got, fs...)
	return nil
}

func (d *fakeDeliverer) rules() []string {
	var out []string
	for _, f := range d.got {
		out = append(out, f.Rule)
	}
	return out
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleRecords returns the AWS documentation's log-file example records by eventName.
func exampleRecords(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(readTestdata(t, "cloudtrail-log-file-examples.jsonl")))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			EventName string `json:"eventName"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out[r.EventName] = slices.Clone(sc.Bytes())
	}
	return out
}

// logFile is a gzipped CloudTrail log file of the given records.
func logFile(t testing.TB, records ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[`))
	zw.Write(bytes.Join(records, []byte(",")))
	zw.Write([]byte(`]}`))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newTestHandler(t testing.TB, objects fakeObjects) (*Handler, *fakeDeliverer) {
	t.Helper()
	rules, err := detect.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDeliverer{}
	r, err := ingest.New(ingest.Options{Detector: eng})
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{Reader: r, Deliverer: d, Objects: objects, Logger: slog.New(slog.DiscardHandler)}, d
}

func TestInvokePayloadShapes(t *testing.T) {
	recs := exampleRecords(t)
	file := logFile(t, recs["StartInstances"], recs["CreateUser"], recs["AddUserToGroup"])
	objects := fakeObjects{
		"lambda-artifacts-deafc19498e3f2df/b21b84d653bb07b05b1e6b33684dc11b": file,
		"amzn-s3-demo-bucket1/example-key":                                   file,
	}
	createUser, err := cloudtrail.Lift(recs["CreateUser"])
	if err != nil {
		t.Fatal(err)
	}
	s3Test := readTestdata(t, "s3-test-event.json")
	ctNotice, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"EventSource": "aws:sns", "Sns": map[string]any{
		"MessageId": "ct-1", "Message": `{"s3Bucket":"amzn-s3-demo-bucket1","s3ObjectKey":["example-key"]}`}}}})
	sqsOfTest, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"messageId": "m-test", "eventSource": "aws:sqs", "body": string(s3Test)}}})

	tests := []struct {
		name      string
		payload   []byte
		wantRules []string // delivered, in order of delivery (subset check)
		wantNone  bool
	}{
		{name: "EventBridge CloudTrail event", payload: createUser, wantRules: []string{"iam-user-created"}},
		{name: "EventBridge event of no rule (cloud-custodian)", payload: readTestdata(t, "event-cloud-trail-catalog-put-resource-policy.json"), wantNone: true},
		{name: "S3 event notification", payload: readTestdata(t, "s3-event-object-created.json"), wantRules: []string{"iam-user-created", "user-added-to-group"}},
		{name: "SNS-wrapped S3 notification", payload: readTestdata(t, "sns-s3-event.json"), wantRules: []string{"iam-user-created", "user-added-to-group"}},
		{name: "SQS batch of S3 notifications", payload: readTestdata(t, "sqs-s3-event.json"), wantRules: []string{"iam-user-created", "user-added-to-group"}},
		{name: "SQS batch of SNS-wrapped S3 notifications", payload: readTestdata(t, "sqs-sns-event.json"), wantRules: []string{"iam-user-created", "user-added-to-group"}},
		{name: "EventBridge S3 Object Created", payload: readTestdata(t, "eventbridge-object-created.json"), wantRules: []string{"iam-user-created", "user-added-to-group"}},
		{name: "SQS message holding the S3 test event", payload: sqsOfTest, wantNone: true},
		{name: "CloudTrail's own SNS delivery notification", payload: ctNotice, wantRules: []string{"iam-user-created", "user-added-to-group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, d := newTestHandler(t, objects)
			out, err := h.Invoke(t.Context(), tt.payload)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if br, ok := out.(BatchResponse); ok && len(br.BatchItemFailures) > 0 {
				t.Fatalf("failed messages %v", br.BatchItemFailures)
			}
			got := d.rules()
			if tt.wantNone && len(got) > 0 {
				t.Errorf("delivered %v, want nothing", got)
			}
			for _, r := range tt.wantRules {
				if !slices.Contains(got, r) {
					t.Errorf("delivered %v, want %s among them", got, r)
				}
			}
			for _, f := range d.got {
				if f.Origin == "" {
					t.Errorf("finding %s without origin", f.Rule)
				}
			}
		})
	}
}

// The SQS batch with a garbage body and a missing file: exactly those two messages return.
func TestSQSPartialBatchFailure(t *testing.T) {
	testenv.NoLeaks(t)
	recs := exampleRecords(t)
	h, d := newTestHandler(t, fakeObjects{
		"lambda-artifacts-deafc19498e3f2df/b21b84d653bb07b05b1e6b33684dc11b": logFile(t, recs["CreateUser"]),
		// ct-siem-sync/second-sibling-object.json.gz is missing: its message must fail.
	})
	out, err := h.Invoke(t.Context(), readTestdata(t, "sqs-batch-partial-garbage.json"))
	if err != nil {
		t.Fatal(err)
	}
	br, ok := out.(BatchResponse)
	if !ok {
		t.Fatalf("answer %T, want a BatchResponse", out)
	}
	var failed []string
	for _, f := range br.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	want := []string{"bad00000-0000-0000-0000-000000000002", "2e1424d4-f796-459a-8184-9c92662be6da"}
	if !slices.Equal(failed, want) {
		t.Errorf("failed messages %v, want %v", failed, want)
	}
	if !slices.Contains(d.rules(), "iam-user-created") {
		t.Errorf("the good message's finding was not delivered: %v", d.rules())
	}
	b, _ := json.Marshal(br)
	if !strings.Contains(string(b), `"batchItemFailures":[{"itemIdentifier":"bad00000`) {
		t.Errorf("wire form %s", b)
	}
}

func TestDeliveryFailureFailsTheMessage(t *testing.T) {
	recs := exampleRecords(t)
	h, d := newTestHandler(t, fakeObjects{
		"lambda-artifacts-deafc19498e3f2df/b21b84d653bb07b05b1e6b33684dc11b": logFile(t, recs["CreateUser"]),
	})
	d.fail = func([]finding.Finding) error { return errors.New("slack: 500 rollup_error") }

	out, err := h.Invoke(t.Context(), readTestdata(t, "sqs-s3-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if br := out.(BatchResponse); len(br.BatchItemFailures) != 1 {
		t.Errorf("failures %v, want the one message", br.BatchItemFailures)
	}

	env, _ := cloudtrail.Lift(recs["CreateUser"])
	if _, err := h.Invoke(t.Context(), env); err == nil || !strings.Contains(err.Error(), "rollup_error") {
		t.Errorf("EventBridge event with failing delivery: err = %v, want the delivery error so Lambda retries", err)
	}
	if _, err := h.Invoke(t.Context(), readTestdata(t, "sns-s3-event.json")); err == nil {
		t.Error("SNS notification with failing delivery: want an error")
	}
}

func TestInvokeRejectsUnknownPayloads(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, p := range []string{`{"hello":"world"}`, `[1,2]`, `not json`, `{"Records":[{"eventSource":"aws:kinesis"}]}`} {
		if _, err := h.Invoke(t.Context(), []byte(p)); !errors.Is(err, ErrUnknownPayload) {
			t.Errorf("%s: err = %v, want ErrUnknownPayload", p, err)
		}
	}
}

// A log file without an S3 client configured, or a corrupt one, is an error of that message,
// never a panic or silent success: a truncated file is alerted (ingest's policy) and fails
// the invocation, so that Lambda retries it and then keeps it in the dead-letter queue.
func TestBadLogFiles(t *testing.T) {
	testenv.NoLeaks(t)
	h, d := newTestHandler(t, fakeObjects{
		"lambda-artifacts-deafc19498e3f2df/b21b84d653bb07b05b1e6b33684dc11b": []byte(`{"Records":[{"eventName":`),
	})
	out, err := h.Invoke(t.Context(), readTestdata(t, "s3-event-object-created.json"))
	if !errors.Is(err, ingest.ErrNotWhole) {
		t.Fatalf("truncated file: err = %v, want ErrNotWhole", err)
	}
	if res := out.(Result); res.Bad == 0 {
		t.Errorf("truncated file: result %+v, want a bad record counted", res)
	}
	if got := d.rules(); len(got) != 1 || got[0] != ingest.BadInputRule {
		t.Errorf("delivered %v from a truncated file, want its bad-input alert", got)
	}
	h.Objects = nil
	if _, err := h.Invoke(t.Context(), readTestdata(t, "s3-event-object-created.json")); err == nil {
		t.Error("no S3 client: want an error")
	}
}

// FuzzInvoke feeds arbitrary payloads to the handler: it must answer or fail, never panic,
// and an SQS batch must only ever list its own message ids as failures.
func FuzzInvoke(f *testing.F) {
	for _, name := range []string{"sqs-batch-partial-garbage.json", "sns-s3-event.json", "s3-event-object-created.json",
		"eventbridge-object-created.json", "s3-test-event.json", "sqs-sns-event.json", "event-cloud-trail-catalog-put-resource-policy.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"a","body":"{\"detail-type\":\"x\",\"source\":\"aws.s3\"}"}]}`))
	recs := exampleRecords(f)
	file := logFile(f, recs["CreateUser"])
	h, _ := newTestHandler(f, fakeObjects{"lambda-artifacts-deafc19498e3f2df/b21b84d653bb07b05b1e6b33684dc11b": file})
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := h.Invoke(context.Background(), payload)
		br, ok := out.(BatchResponse)
		if !ok || err != nil {
			return
		}
		var ev sqsEvent
		if json.Unmarshal(payload, &ev) != nil {
			t.Fatalf("batch response for a payload that is not an SQS event: %q", payload)
		}
		for _, f := range br.BatchItemFailures {
			if !slices.ContainsFunc(ev.Records, func(r struct {
				MessageID string `json:"messageId"`
				Body      string `json:"body"`
			}) bool {
				return r.MessageID == f.ItemIdentifier
			}) {
				t.Fatalf("failure %q is not a message of the batch", f.ItemIdentifier)
			}
		}
	})
}
