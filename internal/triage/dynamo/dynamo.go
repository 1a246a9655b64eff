// Package dynamo keeps the triage state (alerts, mutes, the audit log, jobs, the requests
// seen) in the Lambda's DynamoDB state table, next to the state of detections with memory:
// partition key pk "triage/PART", sort key sk the item's key, the value in v, its version in
// ver and the table's TTL attribute expires (Unix seconds) when it has an end. Conditional
// writes and transactions give triage.Store's all-or-nothing, version-checked Apply.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailbell/trailbell/internal/triage"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is a triage.Store in a DynamoDB table with string keys pk and sk.
type Store struct {
	Client API
	Table  string
	Now    func() time.Time // default time.Now
}

var _ triage.Store = (*Store)(nil)

func (st *Store) now() time.Time {
	if st.Now != nil {
		return st.Now()
	}
	return time.Now()
}

func s(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func pk(part string) string { return "triage/" + part }

func key(part, k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk(part)), "sk": s(k)}
}

func num(it map[string]types.AttributeValue, name string) int64 {
	if a, ok := it[name].(*types.AttributeValueMemberN); ok {
		v, _ := strconv.ParseInt(a.Value, 10, 64)
		return v
	}
	return 0
}

// item reads a stored item; ok is false when it has expired (TTL removes items late).
func (st *Store) item(it map[string]types.AttributeValue, nowSec int64) (triage.Item, bool) {
	var out triage.Item
	if a, ok := it["sk"].(*types.AttributeValueMemberS); ok {
		out.Key = a.Value
	}
	if a, ok := it["v"].(*types.AttributeValueMemberB); ok {
		out.Value = a.Value
	}
	out.Version = num(it, "ver")
	if x := num(it, "expires"); x > 0 {
		if x <= nowSec {
			return triage.Item{}, false
		}
		out.Expires = time.Unix(x, 0)
	}
	return out, true
}

func (st *Store) Get(ctx context.Context, part, k string) (triage.Item, error) {
	out, err := st.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: key(part, k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return triage.Item{}, fmt.Errorf("read %s/%s from %s: %w", part, k, st.Table, err)
	}
	if out.Item == nil {
		return triage.Item{}, nil
	}
	it, _ := st.item(out.Item, st.now().Unix())
	return it, nil
}

func (st *Store) List(ctx context.Context, part, after, until string, limit int) ([]triage.Item, error) {
	cond := "pk = :p"
	vals := map[string]types.AttributeValue{":p": s(pk(part))}
	switch {
	case after != "" && until != "":
		cond += " AND sk BETWEEN :a AND :u"
		vals[":a"], vals[":u"] = s(after), s(until)
	case after != "":
		cond += " AND sk > :a"
		vals[":a"] = s(after)
	case until != "":
		cond += " AND sk <= :u"
		vals[":u"] = s(until)
	}
	nowSec := st.now().Unix()
	var out []triage.Item
	var start map[string]types.AttributeValue
	for {
		res, err := st.Client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(st.Table), ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals, ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", part, st.Table, err)
		}
		for _, raw := range res.Items {
			it, ok := st.item(raw, nowSec)
			if !ok || it.Key == after {
				continue
			}
			out = append(out, it)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// names are the attributes in expressions.
var names = map[string]string{"#v": "v", "#ver": "ver", "#x": "expires"}

// condition is op's condition as an expression over the stored item.
func condition(op triage.Op, vals map[string]types.AttributeValue) *string {
	switch {
	case op.Always:
		return nil
	case op.Version == 0:
		return aws.String("attribute_not_exists(pk) OR #x <= :now")
	}
	vals[":was"] = n(op.Version)
	return aws.String("#ver = :was AND (attribute_not_exists(#x) OR #x > :now)")
}

// parts are one op's expressions.
type parts struct {
	key    map[string]types.AttributeValue
	update *string // nil: a delete
	cond   *string
	names  map[string]string
	vals   map[string]types.AttributeValue
}

func (st *Store) parts(op triage.Op, nowSec int64) parts {
	p := parts{key: key(op.Part, op.Key), names: map[string]string{}, vals: map[string]types.AttributeValue{}}
	p.cond = condition(op, p.vals)
	if op.Value != nil {
		expr := "SET #v = :val, #ver = if_not_exists(#ver, :zero) + :one"
		p.vals[":val"] = &types.AttributeValueMemberB{Value: op.Value}
		p.vals[":zero"], p.vals[":one"] = n(0), n(1)
		if !op.Expires.IsZero() {
			expr += ", #x = :exp"
			p.vals[":exp"] = n(op.Expires.Unix())
		} else {
			expr += " REMOVE #x"
		}
		p.update = aws.String(expr)
	}
	// Only the names and values an expression uses may be sent.
	if p.cond != nil {
		p.vals[":now"] = n(nowSec)
	}
	for k, v := range names {
		if p.update != nil && contains(*p.update, k) || p.cond != nil && contains(*p.cond, k) {
			p.names[k] = v
		}
	}
	if len(p.names) == 0 {
		p.names = nil
	}
	if len(p.vals) == 0 {
		p.vals = nil
	}
	return p
}

func contains(expr, name string) bool {
	for i := 0; i+len(name) <= len(expr); i++ {
		if expr[i:i+len(name)] == name && (i+len(name) == len(expr) || !isNameByte(expr[i+len(name)])) {
			return true
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (st *Store) Apply(ctx context.Context, ops ...triage.Op) error {
	nowSec := st.now().Unix()
	if len(ops) == 1 {
		return st.one(ctx, st.parts(ops[0], nowSec))
	}
	items := make([]types.TransactWriteItem, len(ops))
	for i, op := range ops {
		p := st.parts(op, nowSec)
		if p.update == nil {
			items[i] = types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(st.Table), Key: p.key,
				ConditionExpression: p.cond, ExpressionAttributeNames: p.names, ExpressionAttributeValues: p.vals}}
			continue
		}
		items[i] = types.TransactWriteItem{Update: &types.Update{TableName: aws.String(st.Table), Key: p.key,
			UpdateExpression: p.update, ConditionExpression: p.cond, ExpressionAttributeNames: p.names, ExpressionAttributeValues: p.vals}}
	}
	_, err := st.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return triage.ErrConflict
			}
		}
	}
	if err != nil {
		return fmt.Errorf("write triage state to %s: %w", st.Table, err)
	}
	return nil
}

func (st *Store) one(ctx context.Context, p parts) error {
	var err error
	if p.update == nil {
		_, err = st.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Table), Key: p.key,
			ConditionExpression: p.cond, ExpressionAttributeNames: p.names, ExpressionAttributeValues: p.vals})
	} else {
		_, err = st.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(st.Table), Key: p.key,
			UpdateExpression: p.update, ConditionExpression: p.cond, ExpressionAttributeNames: p.names, ExpressionAttributeValues: p.vals})
	}
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return triage.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("write triage state to %s: %w", st.Table, err)
	}
	return nil
}
