package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/source/s3poll"
	"github.com/trailbell/trailbell/internal/source/sqs"
	"github.com/trailbell/trailbell/internal/testenv"
)

// objectReader serves GetObject from memory and records what was asked for.
type objectReader struct {
	s3poll.API
	objects map[string][]byte // by s3:// URL
	got     []string
}

func (r *objectReader) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	url := cloudtrail.Object{Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key)}.URL()
	r.got = append(r.got, url)
	b, ok := r.objects[url]
	if !ok {
		return nil, errors.New("NoSuchKey")
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// A queue message is taken apart as the Lambda function does (cloudtrail.ParseMessage): only
// log files are fetched, EventBridge events (also inside SNS) are detected on, and a file that
// cannot be read does not hold back the others of its message.
func TestHandleNotification(t *testing.T) {
	var out bytes.Buffer
	d := newTestDaemon(t, &out)
	// delivered returns the event ids of the findings delivered since the last call.
	delivered := func() []string {
		t.Helper()
		if err := d.pipeline.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for line := range strings.Lines(out.String()) {
			var f struct {
				EventID string `json:"eventId"`
			}
			if json.Unmarshal([]byte(line), &f) == nil && f.EventID != "" && !slices.Contains(ids, f.EventID) {
				ids = append(ids, f.EventID)
			}
		}
		out.Reset()
		slices.Sort(ids)
		return ids
	}
	logFile := func(id string) []byte {
		return testenv.Gzip(`{"Records":[` + testenv.TrailRecord(id, "StopLogging") + `]}`)
	}
	const layout = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/28/111122223333_CloudTrail_us-east-1_20261128T0100Z_"
	reader := &objectReader{objects: map[string][]byte{
		"s3://trail/" + layout + "a.json.gz":           logFile("stop-a"),
		"s3://copies/b21b84d653bb07b05b1e6b33684dc11b": logFile("stop-copy"),
	}}
	note := func(keys ...string) []byte {
		var recs []any
		for _, k := range keys {
			bucket, key, _ := strings.Cut(k, "/")
			recs = append(recs, map[string]any{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
				"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": key}}})
		}
		b, _ := json.Marshal(map[string]any{"Records": recs})
		return b
	}
	handle := func(body []byte) error {
		return d.handleNotification(t.Context(), "queue", reader, sqs.Message{ID: "m1", Body: body})
	}

	// A shared bucket: the load balancer's log and the digest are not fetched; a key outside
	// CloudTrail's layout was announced on purpose and is read whatever its name.
	err := handle(note(
		"trail/"+layout+"a.json.gz",
		"trail/AWSLogs/111122223333/elasticloadbalancing/us-east-1/2026/11/28/lb.log.gz",
		"trail/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/28/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261128T010000Z.json.gz",
		"copies/b21b84d653bb07b05b1e6b33684dc11b",
	))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"s3://trail/" + layout + "a.json.gz", "s3://copies/b21b84d653bb07b05b1e6b33684dc11b"}; !slices.Equal(reader.got, want) {
		t.Errorf("fetched %q, want %q", reader.got, want)
	}
	if got := delivered(); !slices.Equal(got, []string{"stop-a", "stop-copy"}) {
		t.Errorf("findings of events %q, want stop-a and stop-copy", got)
	}

	// EventBridge → SNS → SQS: the event is detected on, not reported as a bad notification.
	event := func(id string) []byte {
		env, err := cloudtrail.Lift([]byte(testenv.TrailRecord(id, "StopLogging")))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	sns, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "n1", "Message": string(event("stop-sns"))})
	for id, body := range map[string][]byte{"stop-event": event("stop-event"), "stop-sns": sns} {
		if err := handle(body); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got := delivered(); !slices.Equal(got, []string{id}) {
			t.Errorf("findings of events %q, want %s", got, id)
		}
	}

	// A missing file fails the message, naming it, after the file beside it was read.
	reader.got = nil
	err = handle(note("trail/"+layout+"missing.json.gz", "trail/"+layout+"a.json.gz"))
	if err == nil || !strings.Contains(err.Error(), "s3://trail/"+layout+"missing.json.gz") {
		t.Errorf("err = %v, want it to name the missing file", err)
	}
	if len(reader.got) != 2 {
		t.Errorf("fetched %q, want both files", reader.got)
	}

	// A message that is no notification, and a log file cut off half way, are alerted, and the
	// message fails so that the queue keeps it (its dead-letter queue, after retries).
	delivered()
	for name, body := range map[string][]byte{"garbage": []byte("not a notification {{{"), "cut": note("trail/" + layout + "cut.json.gz")} {
		reader.objects["s3://trail/"+layout+"cut.json.gz"] = logFile("stop-cut")[:40]
		err := handle(body)
		if !errors.Is(err, ingest.ErrNotWhole) {
			t.Errorf("%s: err = %v, want ErrNotWhole", name, err)
		}
		if got := delivered(); len(got) != 1 || !strings.HasPrefix(got[0], "bad-input/") {
			t.Errorf("%s: delivered %q, want the bad-input alert", name, got)
		}
	}
}
