package cloudtrail

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLift(t *testing.T) {
	tests := []struct {
		name   string
		record string
		want   map[string]string // envelope member → its JSON
	}{
		{
			name:   "IAM API call",
			record: `{"eventVersion":"1.08","eventID":"e1","eventType":"AwsApiCall","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2026-11-01T10:00:00Z","awsRegion":"us-east-1","recipientAccountId":"111122223333"}`,
			want: map[string]string{
				"version": `"0"`, "detail-type": `"AWS API Call via CloudTrail"`, "source": `"aws.iam"`,
				"account": `"111122223333"`, "time": `"2026-11-01T10:00:00Z"`, "region": `"us-east-1"`, "resources": `[]`,
			},
		},
		{
			name:   "console sign-in",
			record: `{"eventID":"e2","eventType":"AwsConsoleSignIn","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventTime":"2026-11-01T10:00:00.123Z","awsRegion":"us-east-1","recipientAccountId":"1"}`,
			want:   map[string]string{"detail-type": `"AWS Console Sign In via CloudTrail"`, "source": `"aws.signin"`, "time": `"2026-11-01T10:00:00Z"`},
		},
		{
			name:   "service event, insight, console action",
			record: `{"eventID":"e3","eventType":"AwsServiceEvent","eventSource":"s3.amazonaws.com"}`,
			want:   map[string]string{"detail-type": `"AWS Service Event via CloudTrail"`, "source": `"aws.s3"`},
		},
		{
			name:   "insight",
			record: `{"eventID":"e4","eventType":"AwsCloudTrailInsight","eventSource":"ec2.amazonaws.com"}`,
			want:   map[string]string{"detail-type": `"AWS Insight via CloudTrail"`, "source": `"aws.ec2"`},
		},
		{
			name:   "console action",
			record: `{"eventID":"e5","eventType":"AwsConsoleAction","eventSource":"health.amazonaws.com"}`,
			want:   map[string]string{"detail-type": `"AWS Console Action via CloudTrail"`, "source": `"aws.health"`},
		},
		{
			name:   "no eventType: console login by name, else API call",
			record: `{"eventID":"e6","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin"}`,
			want:   map[string]string{"detail-type": `"AWS Console Sign In via CloudTrail"`},
		},
		{
			name:   "non-ISO time, account from userIdentity",
			record: `{"eventID":"e7","eventName":"ListUsers","eventTime":"2021-03-04 05:06:07.000000000","userIdentity":{"type":"IAMUser","accountId":"444455556666"}}`,
			want:   map[string]string{"time": `"2021-03-04T05:06:07Z"`, "account": `"444455556666"`, "detail-type": `"AWS API Call via CloudTrail"`, "source": `""`},
		},
		{
			name:   "unparseable time kept, odd types ignored",
			record: `{"eventID":"e8","eventName":"X","eventTime":"ThisIsAWrongEventTime","awsRegion":5,"recipientAccountId":null,"requestParameters":"null"}`,
			want:   map[string]string{"time": `"ThisIsAWrongEventTime"`, "region": `""`, "account": `""`},
		},
		{
			name:   "escapes in values",
			record: `{"eventID":"e9","eventSource":"iam.amazonaws.com","awsRegion":"us-\u0065ast-1","recipientAccountId":"1\"2"}`,
			want:   map[string]string{"region": `"us-\u0065ast-1"`, "account": `"1\"2"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Lift([]byte(tc.record))
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(out, &env); err != nil {
				t.Fatalf("envelope is not JSON: %v\n%s", err, out)
			}
			for k, want := range tc.want {
				if got := string(env[k]); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
			if string(env["detail"]) != tc.record {
				t.Errorf("detail = %s, want the record unchanged", env["detail"])
			}
		})
	}
}

func TestLiftIDIsStable(t *testing.T) {
	a, _ := Lift([]byte(`{"eventID":"5f9a7f7e-1b0c-4c3b-a1f3-0d7f8f6a5b4c","eventName":"A"}`))
	b, _ := Lift([]byte(` {"eventName":"A", "eventID":"5f9a7f7e-1b0c-4c3b-a1f3-0d7f8f6a5b4c","extra":1}`))
	c, _ := Lift([]byte(`{"eventID":"another","eventName":"A"}`))
	id := func(env []byte) string {
		var e struct{ ID string }
		if err := json.Unmarshal(env, &e); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	if id(a) != id(b) {
		t.Errorf("same eventID, different ids %s %s", id(a), id(b))
	}
	if id(a) == id(c) {
		t.Errorf("different eventIDs, same id %s", id(a))
	}
	if len(id(a)) != 36 {
		t.Errorf("id %q is not UUID-shaped", id(a))
	}
	// no eventID: the same bytes give the same id
	d1, _ := Lift([]byte(`{"eventName":"A"}`))
	d2, _ := Lift([]byte(`{"eventName":"A"}`))
	if id(d1) != id(d2) {
		t.Error("records without eventID: identical bytes, different ids")
	}
}

func TestLiftRejects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{"a":1} {"b":2}`, `{"a":}`, `{"a":1`, `nul`} {
		if out, err := Lift([]byte(in)); err == nil {
			t.Errorf("Lift(%q) = %s, want an error", in, out)
		}
	}
	for _, in := range []string{`[1]`, ` "x"`, `{"a":1} {"b":2}`} {
		if _, err := Lift([]byte(in)); !errors.Is(err, ErrNotObject) {
			t.Errorf("Lift(%q) = %v, want ErrNotObject", in, err)
		}
	}
	if _, err := Lift([]byte(`{"a":1,"b":x}`)); err == nil || !strings.Contains(err.Error(), "at offset 11") {
		t.Errorf("Lift of a bad value = %v, want an error naming offset 11", err)
	}
}

func TestAppendLiftNoAllocation(t *testing.T) {
	rec := []byte(`{"eventVersion":"1.08","eventID":"e1","eventType":"AwsApiCall","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2026-11-01T10:00:00Z","awsRegion":"us-east-1","recipientAccountId":"111122223333","requestParameters":{"userName":"bob"}}`)
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := AppendLift(dst[:0], rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendLift allocates %v times with room in dst", allocs)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, s := range []string{"2021-03-04T05:06:07Z", "2021-03-04 05:06:07", "2021-03-04 05:06:07.000", "2021-03-04 05:06:07Z", "2021-03-04T07:06:07+02:00"} {
		got, ok := ParseTime(s)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "...", "redacted", "eventTime", "2021-13-04T05:06:07Z"} {
		if _, ok := ParseTime(s); ok {
			t.Errorf("ParseTime(%q) succeeded", s)
		}
	}
}
