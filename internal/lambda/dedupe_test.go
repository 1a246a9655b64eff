package lambda

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

// Nothing here emulates DynamoDB, so the requests are checked field by field, and the handler
// flow runs against a table in memory that applies the two conditions these requests use.

func TestDedupeRequests(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := &Dedupe{Table: "tb", Lease: 2 * time.Minute, Keep: 48 * time.Hour, Now: func() time.Time { return now }}

	in := d.claimInput("iam-user-created/abc")
	if aws.ToString(in.TableName) != "tb" ||
		aws.ToString(in.ConditionExpression) != "attribute_not_exists(pk) OR expires < :now" {
		t.Errorf("claim: table %q condition %q", aws.ToString(in.TableName), aws.ToString(in.ConditionExpression))
	}
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

// memTable applies this package's conditions to items in memory.
type memTable struct {
	items map[string]map[string]types.AttributeValue
	err   error // returned by every call when set
}

func (m *memTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if m.err != nil {
		return nil, m.err
	}
	pk := in.Item["pk"].(*types.AttributeValueMemberS).Value
	if in.ConditionExpression != nil {
		if old, ok := m.items[pk]; ok {
			now, _ := strconv.ParseInt(in.ExpressionAttributeValues[":now"].(*types.AttributeValueMemberN).Value, 10, 64)
			exp, _ := strconv.ParseInt(old["expires"].(*types.AttributeValueMemberN).Value, 10, 64)
			if !(exp < now) {
				return nil, &types.ConditionalCheckFailedException{}
			}
		}
	}
	m.items[pk] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (m *memTable) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if m.err != nil {
		return nil, m.err
	}
	pk := in.Key["pk"].(*types.AttributeValueMemberS).Value
	if old, ok := m.items[pk]; ok && old["state"].(*types.AttributeValueMemberS).Value != "pending" {
		return nil, &types.ConditionalCheckFailedException{}
	}
	delete(m.items, pk)
	return &dynamodb.DeleteItemOutput{}, nil
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
	table := &memTable{items: map[string]map[string]types.AttributeValue{}}
	h, d := newTestHandler(t, nil)
	h.Dedupe = &Dedupe{Client: table, Table: "tb", Lease: time.Minute, Now: func() time.Time { return now }}

	// Delivery fails: the claim is released, so the retry alerts.
	d.fail = func([]finding.Finding) error { return errors.New("slack down") }
	if _, err := h.Invoke(t.Context(), env); err == nil {
		t.Fatal("want the delivery error")
	}
	if len(table.items) != 0 {
		t.Errorf("claims left after a failed delivery: %v", slices.Collect(maps.Keys(table.items)))
	}
	d.fail = nil
	if _, err := h.Invoke(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	first := len(d.got)
	if first == 0 {
		t.Fatal("retry delivered nothing")
	}
	for k, it := range table.items {
		if it["state"].(*types.AttributeValueMemberS).Value != "sent" {
			t.Errorf("%s not marked sent", k)
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
	table.items = map[string]map[string]types.AttributeValue{}
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
	table.err = errors.New("throttled")
	if _, err := h.Invoke(t.Context(), env); err == nil {
		t.Error("dedupe table error: want the invocation to fail")
	}
}
