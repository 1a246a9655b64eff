package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/testenv"
)

// newTable returns a store on a fresh table of the moto_server that scripts/test.sh starts
// (TRAILBELL_TEST_DYNAMODB_ENDPOINT): a real DynamoDB-protocol server, not a fake.
func newTable(t *testing.T) (*Store, *dynamodb.Client) {
	t.Helper()
	_, c := testenv.DynamoDB(t)
	name := testenv.UniqueName("state")
	if err := CreateTable(context.Background(), c, name); err != nil {
		t.Fatal(err)
	}
	return &Store{Client: c, Table: name}, c
}

// TestCreateTableTwice: creating a table that exists already (the SDK's retry of a create
// whose answer was lost) succeeds, and the table works.
func TestCreateTableTwice(t *testing.T) {
	st, c := newTable(t)
	if err := CreateTable(t.Context(), c, st.Table); err != nil {
		t.Fatalf("second create: %v", err)
	}
	if v, err := st.Version(t.Context()); err != nil || v != 0 {
		t.Fatalf("version %d, %v", v, err)
	}
}

func TestStore(t *testing.T) {
	st, _ := newTable(t)
	ctx := context.Background()
	v, err := st.Version(ctx)
	if err != nil || v != 0 {
		t.Fatalf("empty table: version %d, %v", v, err)
	}
	exp := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	put := map[string]correlate.Item{
		"meta": {Value: []byte(`{"w":1}`)}, "s/k/7": {Value: []byte("slot"), Expires: exp},
		"b|001|e1": {Value: []byte("p1")}, "b|002|e2": {Value: []byte("p2")},
	}
	if err := st.Commit(ctx, correlate.Batch{Version: 0, Put: put}); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Version(ctx); v != 1 {
		t.Fatalf("version %d after a commit", v)
	}
	got, err := st.Load(ctx, []string{"meta", "s/k/7", "nothing"})
	if err != nil || string(got["meta"]) != `{"w":1}` || string(got["s/k/7"]) != "slot" || got["nothing"] != nil {
		t.Fatalf("load: %q %v", got, err)
	}
	buf, err := st.List(ctx, "b")
	if err != nil || len(buf) != 2 || string(buf["b|002|e2"]) != "p2" {
		t.Fatalf("list: %q %v", buf, err)
	}
	if err := st.Commit(ctx, correlate.Batch{Version: 0, Put: put}); !errors.Is(err, correlate.ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	if err := st.Commit(ctx, correlate.Batch{Version: 1, Put: map[string]correlate.Item{}, Delete: []string{"b|001|e1"}}); err != nil {
		t.Fatal(err)
	}
	if buf, _ := st.List(ctx, "b"); len(buf) != 1 {
		t.Errorf("after delete: %q", buf)
	}
}

// TestLargeCommit: a commit past one transaction goes through the log, atomically for
// readers (the version moves once), and an invocation that dies after making it current is
// completed by the next reader of the version.
func TestLargeCommit(t *testing.T) {
	st, _ := newTable(t)
	ctx := context.Background()
	big := make([]byte, 20_000) // 250 items of 20 KB: several log chunks, past a transaction's 4 MB
	put := map[string]correlate.Item{}
	for i := range 250 {
		put["s/t/"+strconv.Itoa(i)] = correlate.Item{Value: append([]byte(strconv.Itoa(i)+":"), big...)}
	}
	if err := st.Commit(ctx, correlate.Batch{Version: 0, Put: put}); err != nil {
		t.Fatal(err)
	}
	keys := slices.Collect(func(yield func(string) bool) {
		for k := range put {
			if !yield(k) {
				return
			}
		}
	})
	got, err := st.Load(ctx, keys)
	if err != nil || len(got) != 250 {
		t.Fatalf("load %d items: %v", len(got), err)
	}
	if logs, _ := st.List(ctx, logPart); len(logs) != 0 {
		t.Errorf("%d log items left", len(logs))
	}

	// an invocation dies after the switch: the next one applies the log
	ops, _ := st.ops(correlate.Batch{Put: map[string]correlate.Item{"s/t/x": {Value: []byte("late")}}, Delete: []string{"s/t/0"}})
	next := int64(2)
	body, _ := json.Marshal(ops)
	if err := st.batchWrite(ctx, []op{{Key: logKey(next, 0), Value: body}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: versionKey, UpdateExpression: aws.String("SET #n = :n, #p = :c"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":n": n(next), ":c": n(1)},
	}); err != nil {
		t.Fatal(err)
	}
	v, err := (&Store{Client: st.Client, Table: st.Table}).Version(ctx)
	if err != nil || v != 2 {
		t.Fatalf("version %d, %v", v, err)
	}
	got, _ = st.Load(ctx, []string{"s/t/x", "s/t/0"})
	if string(got["s/t/x"]) != "late" || got["s/t/0"] != nil {
		t.Errorf("the halfway commit was not completed: %q", got)
	}
}

// TestCommitSentAgain: a commit whose write went through but whose answer was lost, so that
// the SDK sends it again (moto_server, unlike DynamoDB, ignores the ClientRequestToken that
// makes the second a no-op), is not taken for another writer's: the version item names the
// commit that made it. Another commit from the same version still conflicts. Both the one
// transaction and the logged commit are sent twice.
func TestCommitSentAgain(t *testing.T) {
	st, _ := newTable(t)
	ctx := context.Background()
	small, _ := st.ops(correlate.Batch{Put: map[string]correlate.Item{"s/t/a": {Value: []byte("a")}}})
	for range 2 {
		if err := st.transact(ctx, 0, small, "commit-one"); err != nil {
			t.Fatalf("one transaction, sent again: %v", err)
		}
	}
	if err := st.transact(ctx, 0, small, "commit-two"); !errors.Is(err, correlate.ErrConflict) {
		t.Fatalf("another commit from version 0: %v, want a conflict", err)
	}
	big := make([]byte, 20_000)
	put := map[string]correlate.Item{}
	for i := range 250 {
		put["s/u/"+strconv.Itoa(i)] = correlate.Item{Value: append([]byte(strconv.Itoa(i)+":"), big...)}
	}
	large, _ := st.ops(correlate.Batch{Put: put})
	for range 2 {
		if err := st.logged(ctx, 1, large, "commit-three"); err != nil {
			t.Fatalf("logged commit, sent again: %v", err)
		}
	}
	if err := st.logged(ctx, 1, large, "commit-four"); !errors.Is(err, correlate.ErrConflict) {
		t.Fatalf("another logged commit from version 1: %v, want a conflict", err)
	}
	if v, err := st.Version(ctx); err != nil || v != 2 {
		t.Fatalf("version %d, %v; want 2", v, err)
	}
	got, err := st.Load(ctx, []string{"s/t/a", "s/u/0", "s/u/249"})
	if err != nil || len(got) != 3 {
		t.Fatalf("load: %d items, %v", len(got), err)
	}
	if logs, _ := st.List(ctx, logPart); len(logs) != 0 {
		t.Errorf("%d log items left", len(logs))
	}
}

const rules = `
rules:
  - id: denied-sweep
    title: "{actor} denied on {count} services"
    severity: medium
    kind: threshold
    pattern: {detail: {errorCode: ["AccessDenied"]}}
    threshold: {group_by: [actor], window: 10m, count: 3, distinct: eventSource}
`

func events(t *testing.T, at time.Time, recs ...string) []cloudtrail.Event {
	var out []cloudtrail.Event
	for i, r := range recs {
		env, err := cloudtrail.Lift([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cloudtrail.Event{Envelope: env, Origin: strconv.Itoa(i), Time: at})
	}
	return out
}

func denied(id string, at time.Time, service string) string {
	return fmt.Sprintf(`{"eventID":%q,"eventTime":%q,"eventSource":%q,"eventName":"List","errorCode":"AccessDenied","recipientAccountId":"111122223333",`+
		`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice","accountId":"111122223333"}}`,
		id, at.Format(time.RFC3339), service)
}

func commit(t *testing.T, e *correlate.Engine, det *detect.Engine, name string, evs []cloudtrail.Event) ([]finding.Finding, error) {
	in := e.Begin(name)
	for _, ev := range evs {
		m, err := det.Match(ev.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Add(ev, m); err != nil {
			t.Fatal(err)
		}
	}
	return in.Commit(context.Background())
}

// TestEngineOnDynamoDB: the engine over the table, as two Lambda containers would use it:
// state carries over, a replayed input re-emits its findings, and a container whose cache
// is stale reloads rather than overwrite another's commit.
func TestEngineOnDynamoDB(t *testing.T) {
	st, _ := newTable(t)
	rs, err := detect.Parse([]byte(rules), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	det, err := detect.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	a, _ := correlate.New(det, correlate.Options{Store: st})
	b, _ := correlate.New(det, correlate.Options{Store: &Store{Client: st.Client, Table: st.Table}})
	if _, err := commit(t, a, det, "in1", events(t, t0, denied("e1", t0, "s3.amazonaws.com"))); err != nil {
		t.Fatal(err)
	}
	if _, err := commit(t, b, det, "in2", events(t, t0, denied("e2", t0, "ec2.amazonaws.com"))); err != nil {
		t.Fatal(err)
	}
	// a's cache lacks b's commit: it must reload, not lose e2
	if _, err := commit(t, a, det, "in3", events(t, t0, denied("e3", t0, "iam.amazonaws.com"))); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	fs, err := commit(t, b, det, "in4", events(t, later, fmt.Sprintf(`{"eventID":"x","eventTime":%q,"eventName":"Noise"}`, later.Format(time.RFC3339))))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].EventID != "e3" || !slices.Equal(fs[0].Related, []string{"e1", "e2"}) {
		t.Fatalf("findings %+v", fs)
	}
	again, err := commit(t, a, det, "in4", events(t, later, fmt.Sprintf(`{"eventID":"x","eventTime":%q,"eventName":"Noise"}`, later.Format(time.RFC3339))))
	if err != nil || len(again) != 1 || again[0].Key() != fs[0].Key() {
		t.Errorf("replayed input: %v %v", again, err)
	}
}
