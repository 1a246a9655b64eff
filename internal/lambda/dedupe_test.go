package lambda

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/testenv"
)

// The requests are checked field by field, and the handler flow runs against a table on
// moto_server, which applies their conditions as DynamoDB does.

func TestDedupeRequests(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := &Dedupe{Table: "tb", Lease: 2 * time.Minute, Keep: 48 * time.Hour, Now: func() time.Time { return now }}

	in := d.claimInput("iam-user-created/abc", "tok")
	if aws.ToString(in.TableName) != "tb" ||
		aws.ToString(in.ConditionExpression) != "attribute_not_exists(pk) OR expires < :now OR #c = :claim" ||
		in.ExpressionAttributeNames["#c"] != "claim" {
		t.Errorf("claim: table %q condition %q names %v", aws.ToString(in.TableName), aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames)
	}
	checkS(t, "claim token", in.Item["claim"], "tok")
	checkS(t, "claim :claim", in.ExpressionAttributeValues[":claim"], "tok")
	checkS(t, "claim pk", in.Item["pk"], "iam-user-created/abc")
	checkS(t, "claim state", in.Item["state"], "pending")
	checkN(t, "claim expires", in.Item["expires"], now.Unix()+120)
	checkN(t, "claim :now", in.ExpressionAttributeValues[":now"], now.Unix())

	done := d.doneInput("iam-user-created/abc")
	if done.ConditionExpression != nil {
		t.Errorf("done: unexpected condition %q", *done.ConditionExpression)
	}
	checkS(t, "done state", done.Item["state"], "sent")
	checkN(t, "done expires", done.Item["expires"], now.Add(48*time.Hour).Unix())

	rel := d.releaseInput("iam-user-created/abc")
	checkS(t, "release key", rel.Key["pk"], "iam-user-created/abc")
	if aws.ToString(rel.ConditionExpression) != "#s = :pending" || rel.ExpressionAttributeNames["#s"] != "state" {
		t.Errorf("release condition %q %v", aws.ToString(rel.ConditionExpression), rel.ExpressionAttributeNames)
	}
	checkS(t, "release :pending", rel.ExpressionAttributeValues[":pending"], "pending")
}

func checkS(t *testing.T, what string, v types.AttributeValue, want string) {
	t.Helper()
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok || s.Value != want {
		t.Errorf("%s = %#v, want S %q", what, v, want)
	}
}

func checkN(t *testing.T, what string, v types.AttributeValue, want int64) {
	t.Helper()
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok || n.Value != strconv.FormatInt(want, 10) {
		t.Errorf("%s = %#v, want N %d", what, v, want)
	}
}

// dedupeTable creates a table shaped as the templates make the dedupe table (key pk, TTL
// attribute expires) on moto_server, and returns its name.
func dedupeTable(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	name := testenv.UniqueName("trailbell-dedupe")
	_, err := c.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // in use: the SDK retried a create whose answer was lost
		t.Fatal(err)
	}
	return name
}

// items returns the state attribute of every item in table, by key.
func items(t *testing.T, c *dynamodb.Client, table string) map[string]string {
	t.Helper()
	out, err := c.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range out.Items {
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		st, _ := it["state"].(*types.AttributeValueMemberS)
		if pk == nil || st == nil {
			t.Fatalf("item without pk or state: %v", it)
		}
		got[pk.Value] = st.Value
	}
	return got
}

// TestDedupeClaimRetried: the SDK sends a claim again when its answer was lost; the retry
// finds its own first attempt and still holds the claim, while another claim of the key is
// refused until the lease is over.
func TestDedupeClaimRetried(t *testing.T) {
	_, client := testenv.DynamoDB(t)
	now := time.Unix(1_800_000_000, 0)
	d := &Dedupe{Client: client, Table: dedupeTable(t, client), Lease: time.Minute, Now: func() time.Time { return now }}
	in := d.claimInput("iam-user-created/abc", claimToken())
	for i := range 2 {
		if _, err := client.PutItem(t.Context(), in); err != nil {
			t.Fatalf("attempt %d of the same claim: %v", i+1, err)
		}
	}
	if ok, err := d.Claim(t.Context(), "iam-user-created/abc"); ok || err != nil {
		t.Fatalf("another claim while the lease holds: %v, %v", ok, err)
	}
	now = now.Add(2 * time.Minute)
	if ok, err := d.Claim(t.Context(), "iam-user-created/abc"); !ok || err != nil {
		t.Fatalf("another claim after the lease: %v, %v", ok, err)
	}
}

func TestDedupeAcrossRedelivery(t *testing.T) {
	recs := exampleRecords(t)
	// The documentation's example has no eventID; a finding without one is never deduped.
	rec := []byte(`{"eventID":"0f2f1b53-0000-4000-8000-000000000001",` + string(recs["CreateUser"][1:]))
	env, err := cloudtrail.Lift(rec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	_, client := testenv.DynamoDB(t)
	table := dedupeTable(t, client)
	h, d := newTestHandler(t, nil)
	h.Dedupe = &Dedupe{Client: client, Table: table, Lease: time.Minute, Now: func() time.Time { return now }}

	// Delivery fails: the claim is released, so the retry alerts.
	d.fail = func([]finding.Finding) error { return errors.New("slack down") }
	if _, err := h.Invoke(t.Context(), env); err == nil {
		t.Fatal("want the delivery error")
	}
	if left := items(t, client, table); len(left) != 0 {
		t.Errorf("claims left after a failed delivery: %v", left)
	}
	d.fail = nil
	if _, err := h.Invoke(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	first := len(d.got)
	if first == 0 {
		t.Fatal("retry delivered nothing")
	}
	sent := items(t, client, table)
	if len(sent) != first {
		t.Errorf("%d items in the table after %d findings were delivered", len(sent), first)
	}
	for k, state := range sent {
		if state != "sent" {
			t.Errorf("%s is %q, not marked sent", k, state)
		}
	}
	// Redelivery of the same event: nothing new.
	if _, err := h.Invoke(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	if len(d.got) != first {
		t.Errorf("redelivery alerted again: %d findings after, %d before", len(d.got), first)
	}

	// An invocation that died mid-delivery leaves a pending claim: its retry waits for the
	// lease, then alerts.
	h.Dedupe.Table = dedupeTable(t, client)
	for _, f := range d.got[:first] {
		if ok, err := h.Dedupe.Claim(t.Context(), f.Key()); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
	}
	if _, err := h.Invoke(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	if len(d.got) != first {
		t.Error("delivered while another invocation held the claim")
	}
	now = now.Add(2 * time.Minute)
	if _, err := h.Invoke(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	if len(d.got) != 2*first {
		t.Errorf("after the lease: %d findings delivered, want %d", len(d.got), 2*first)
	}

	// The table failing fails the message rather than alerting blind or dropping.
	h.Dedupe.Table = "no-such-table"
	if _, err := h.Invoke(t.Context(), env); err == nil {
		t.Error("dedupe table error: want the invocation to fail")
	}
}
