package cloudtrail

import (
	"errors"
	"fmt"
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
