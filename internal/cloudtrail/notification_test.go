package cloudtrail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNotification(t *testing.T) {
	tests := []struct {
		file    string
		want    []Object
		wantErr string
	}{
		{"s3-event-object-created.json", []Object{{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107}}, ""},
		{"s3-event-urlencoded-key.json", []Object{{"ct-siem-sync", "my file=a.json.gz", 4096}}, ""},
		{"s3-test-event.json", nil, ""},
		{"sns-s3-event.json", []Object{{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107}}, ""},
		{"sns-s3-test-event.json", nil, ""},
		{"sqs-s3-event.json", []Object{{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107}}, ""},
		{"sqs-sns-event.json", []Object{{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107}}, ""},
		{"sqs-batch-partial-garbage.json", []Object{
			{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107},
			{"ct-siem-sync", "second-sibling-object.json.gz", 1305107},
		}, "record 2: SQS body"},
		{"eventbridge-object-created.json", []Object{{"amzn-s3-demo-bucket1", "example-key", 5}}, ""},
		{"eventbridge-object-created-plus-key.json", []Object{{"ct-siem-sync", "my+file.json.gz", 4096}}, ""},
		{"eventbridge-object-created-unsupported-version.json", nil, `event-version "2.0" is not supported`},
		{"eventbridge-object-deleted.json", nil, ""},
		{"eventbridge-object-restore-completed.json", nil, ""},
		{"eventbridge-object-annotation-created.json", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata/notifications", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseNotification(body)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("objects = %v, want %v", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("err = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseNotificationCloudTrailSNS(t *testing.T) {
	body, err := os.ReadFile("testdata/corpus/SQSMessageBody")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseNotification(body)
	key := "myprefix/AWSLogs/123456789012/CloudTrail/us-east-1/2014/03/09/123456789012_CloudTrail_us-east-1_20140309T2015Z_996mpJdKNLd1Yvzl.json.gz"
	if err != nil || len(got) != 2 || got[0] != (Object{Bucket: "my-test-bucket", Key: key}) {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestParseNotificationRejects(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `{}`, `{"Records":[{"eventSource":"aws:kinesis"}]}`, `not json`, `{"Type":"Notification","Message":"{\"x\":1}"}`} {
		objs, err := ParseNotification([]byte(in))
		if err == nil || len(objs) != 0 {
			t.Errorf("ParseNotification(%q) = %v, %v; want no objects and an error", in, objs, err)
		}
	}
	_, err := ParseNotification([]byte(`{"x":1}`))
	if !errors.Is(err, ErrNotNotification) {
		t.Errorf("err = %v, want ErrNotNotification", err)
	}
	// nesting bomb: SNS in SNS in ...
	msg := `{"s3Bucket":"b","s3ObjectKey":["k"]}`
	for range 10 {
		msg = fmt.Sprintf(`{"Type":"Notification","Message":%q}`, msg)
	}
	if _, err := ParseNotification([]byte(msg)); err == nil {
		t.Error("deep nesting accepted")
	}
}

func TestNotifiedLogFile(t *testing.T) {
	for key, want := range map[string]bool{
		"AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/28/111111111111_CloudTrail_us-east-1_20261128T0100Z_a.json.gz":                         true,
		"trail/AWSLogs/o-abc123def4/111111111111/CloudTrail/us-east-1/2026/11/28/uncompressed.json":                                               true,
		"AWSLogs/111111111111/CloudTrail-Insight/us-east-1/2026/11/28/111111111111_CloudTrail-Insight_us-east-1_20261128T0100Z_a.json.gz":         true,
		"AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/11/28/111111111111_CloudTrail-Digest_us-east-1_x_us-east-1_20261128T0100Z.json.gz": false,
		"AWSLogs/111111111111/elasticloadbalancing/us-east-1/2026/11/28/lb.log.gz":                                                                false,
		"AWSLogs/111111111111/Config/us-east-1/2026/11/28/ConfigHistory/c.json.gz":                                                                false,
		"AWSLogs/111111111111/CloudTrail/us-east-1/README.txt":                                                                                    false,
		// outside the layout: announced on purpose, read whatever the name
		"b21b84d653bb07b05b1e6b33684dc11b":           true,
		"example-key":                                true,
		"ct-siem-sync/second-sibling-object.json.gz": true,
		"AWSLogs/not-an-account/x.log":               true,
		"copies/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T120500Z.json.gz": false,
	} {
		if got := NotifiedLogFile(key); got != want {
			t.Errorf("NotifiedLogFile(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestParseMessage(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/notifications", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	event := []byte(`{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{"eventName":"CreateUser"}}`)
	s3ViaCloudTrail := []byte(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":{"eventName":"PutBucketPolicy"}}`)
	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m", "Message": string(event)})
	for _, tc := range []struct {
		name    string
		body    []byte
		event   []byte
		files   []Object
		wantErr string
	}{
		{name: "EventBridge event", body: event, event: event},
		{name: "S3 API call via CloudTrail", body: s3ViaCloudTrail, event: s3ViaCloudTrail},
		{name: "EventBridge event in SNS", body: sns, event: event},
		{name: "EventBridge Object Created", body: read("eventbridge-object-created.json"), files: []Object{{"amzn-s3-demo-bucket1", "example-key", 5}}},
		{name: "partly bad SQS batch", body: read("sqs-batch-partial-garbage.json"), files: []Object{
			{"lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107},
			{"ct-siem-sync", "second-sibling-object.json.gz", 1305107},
		}, wantErr: "record 2: SQS body"},
		{name: "not JSON", body: []byte("this is not a notification"), wantErr: "not a known notification"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage(tc.body)
			if string(m.Event) != string(tc.event) || fmt.Sprint(m.Files) != fmt.Sprint(tc.files) || m.Skipped != nil {
				t.Errorf("ParseMessage = event %s, files %v, skipped %v; want event %s, files %v", m.Event, m.Files, m.Skipped, tc.event, tc.files)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}

	note := `{"s3Bucket":"b","s3ObjectKey":["AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/28/a.json.gz",` +
		`"AWSLogs/111111111111/elasticloadbalancing/us-east-1/2026/11/28/lb.log.gz",` +
		`"AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/11/28/d.json.gz"]}`
	m, err := ParseMessage([]byte(note))
	if err != nil || m.Event != nil ||
		fmt.Sprint(m.Files) != fmt.Sprint([]Object{{"b", "AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/28/a.json.gz", 0}}) ||
		fmt.Sprint(m.Skipped) != fmt.Sprint([]Object{{"b", "AWSLogs/111111111111/elasticloadbalancing/us-east-1/2026/11/28/lb.log.gz", 0}}) {
		t.Errorf("shared bucket: %+v, %v; want the log file read, the load balancer's skipped, the digest dropped", m, err)
	}
}

func TestMessageReadFiles(t *testing.T) {
	m := Message{Files: []Object{{Bucket: "b", Key: "missing"}, {Bucket: "b", Key: "bad"}, {Bucket: "b", Key: "good"}}}
	var read []string
	closed := 0
	err := m.ReadFiles(func(o Object) (io.ReadCloser, error) {
		if o.Key == "missing" {
			return nil, errors.New("NoSuchKey")
		}
		return closer{strings.NewReader(o.Key), &closed}, nil
	}, func(name string, r io.Reader) error {
		b, _ := io.ReadAll(r)
		read = append(read, name+"="+string(b))
		if string(b) == "bad" {
			return errors.New("submit failed")
		}
		return nil
	})
	if want := []string{"s3://b/bad=bad", "s3://b/good=good"}; fmt.Sprint(read) != fmt.Sprint(want) {
		t.Errorf("read %q, want %q: a failure must not stop the files after it", read, want)
	}
	if closed != 2 {
		t.Errorf("%d of 2 opened files closed", closed)
	}
	if err == nil || !strings.Contains(err.Error(), "open s3://b/missing: NoSuchKey") || !strings.Contains(err.Error(), "submit failed") {
		t.Errorf("err = %v, want both failures, the open naming its file", err)
	}
}

type closer struct {
	io.Reader
	n *int
}

func (c closer) Close() error { *c.n++; return nil }
