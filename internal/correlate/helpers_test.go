package correlate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// rec builds a CloudTrail record from dotted paths and values, e.g.
// rec("e1", t0, "eventName", "ListUsers", "userIdentity.arn", "arn:...").
func rec(id string, at time.Time, kv ...any) map[string]any {
	m := map[string]any{
		"eventVersion": "1.08", "eventID": id, "eventTime": at.UTC().Format(time.RFC3339),
		"eventType": "AwsApiCall", "recipientAccountId": "111122223333", "awsRegion": "us-east-1",
		"sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		set(m, kv[i].(string), kv[i+1])
	}
	return m
}

func set(m map[string]any, path string, v any) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		if v == nil {
			delete(m, head)
			return
		}
		m[head] = v
		return
	}
	sub, ok := m[head].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[head] = sub
	}
	set(sub, rest, v)
}

// user is an IAM user's identity.
func user(name string) []any {
	return []any{"userIdentity.type", "IAMUser", "userIdentity.arn", "arn:aws:iam::111122223333:user/" + name,
		"userIdentity.userName", name, "userIdentity.accountId", "111122223333", "userIdentity.accessKeyId", "AKIA" + strings.ToUpper(name)}
}

// session is an assumed-role session's identity.
func session(role, name, key string) []any {
	return []any{"userIdentity.type", "AssumedRole", "userIdentity.arn", "arn:aws:sts::111122223333:assumed-role/" + role + "/" + name,
		"userIdentity.accountId", "111122223333", "userIdentity.accessKeyId", key,
		"userIdentity.sessionContext.sessionIssuer.type", "Role",
		"userIdentity.sessionContext.sessionIssuer.arn", "arn:aws:iam::111122223333:role/" + role}
}

func with(a []any, more ...any) []any { return append(slices.Clip(a), more...) }

// event is a record as the decoder delivers one read from a log file, with its members'
// spans; or, with lifted set, as one lifted alone (an EventBridge event), without them.
func event(t testing.TB, m map[string]any) cloudtrail.Event {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339, m["eventTime"].(string))
	origin := fmt.Sprintf("test %s", m["eventID"])
	if lifted {
		env, err := cloudtrail.Lift(b)
		if err != nil {
			t.Fatal(err)
		}
		return cloudtrail.Event{Envelope: env, Origin: origin, Time: at}
	}
	ev := logFileEvent(t, b)
	ev.Origin, ev.Time = origin, at
	return ev
}

// lifted makes event deliver records without their members' spans.
var lifted bool

// logFileEvent is record b as the decoder delivers it from a log file.
func logFileEvent(t testing.TB, b []byte) cloudtrail.Event {
	t.Helper()
	var out []cloudtrail.Event
	file := append(append([]byte(`{"Records":[`), b...), "]}"...)
	if _, err := cloudtrail.Decode(bytes.NewReader(file), "test.json", func(e cloudtrail.Event) error {
		out = append(out, e)
		return nil
	}); err != nil || len(out) != 1 {
		t.Fatalf("decode %s: %d records, %v", b, len(out), err)
	}
	return out[0]
}

// TestLifted runs the scenarios again on records without their members' spans, which Add
// reads through detect's decoded record instead.
func TestLifted(t *testing.T) {
	lifted = true
	t.Cleanup(func() { lifted = false })
	for name, test := range map[string]func(*testing.T){
		"Actor": TestActor, "GroupByActor": TestGroupByActor, "Threshold": TestThreshold,
		"ThresholdHistory": TestThresholdHistory, "Sequence": TestSequence, "NewTerms": TestNewTerms,
		"OutOfOrderTolerance": TestOutOfOrderTolerance, "Late": TestLate, "ReplayAfterRestart": TestReplayAfterRestart,
	} {
		t.Run(name, test)
	}
}

// harness runs inputs through a detect engine and a correlate engine.
type harness struct {
	t   testing.TB
	det *detect.Engine
	e   *Engine
}

func newHarness(t testing.TB, rules string, o Options) *harness {
	t.Helper()
	rs, err := detect.Parse([]byte(rules), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	det, err := detect.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(det, o)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, det: det, e: e}
}

// input commits one input of records and returns its findings.
func (h *harness) input(name string, recs ...map[string]any) []finding.Finding {
	h.t.Helper()
	fs, err := h.try(name, recs...)
	if err != nil {
		h.t.Fatal(err)
	}
	return fs
}

func (h *harness) try(name string, recs ...map[string]any) ([]finding.Finding, error) {
	in := h.e.Begin(name)
	for _, r := range recs {
		ev := event(h.t, r)
		m, err := h.det.Match(ev.Envelope)
		if err != nil {
			return nil, err
		}
		if err := in.Add(ev, m); err != nil {
			return nil, err
		}
	}
	return in.Commit(context.Background())
}

// stream commits each record as its own input, then flushes.
func (h *harness) stream(recs ...map[string]any) []finding.Finding {
	h.t.Helper()
	var out []finding.Finding
	for _, r := range recs {
		out = append(out, h.input(r["eventID"].(string), r)...)
	}
	return append(out, h.flush()...)
}

// flush evaluates what is buffered, as at the end of a backtest.
func (h *harness) flush() []finding.Finding {
	h.t.Helper()
	var out []finding.Finding
	err := h.e.Flush(context.Background(), func(_ context.Context, fs []finding.Finding) error {
		out = fs
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// keys are findings as rule/eventID, sorted.
func keys(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Key())
	}
	slices.Sort(out)
	return out
}
