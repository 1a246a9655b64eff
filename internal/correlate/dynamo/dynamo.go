// Package dynamo keeps the state of detections with memory in a DynamoDB table, for the
// Lambda: string keys pk (hash) and sk (range), the value in v, and expires (Unix seconds) as
// the table's TTL attribute. A version item orders the commits of concurrent invocations: a
// commit applies only if the version it was computed from is still current. A commit of up
// to 99 items is one transaction; a larger one is written to a log first, made current by
// one conditional update, then applied, so that an invocation killed halfway is completed by
// the next one.
package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailbell/trailbell/internal/correlate"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store is a correlate.Store in a DynamoDB table.
type Store struct {
	Client API
	Table  string
	// Grace is kept past an item's event-time expiry before TTL may remove it; default 1 day.
	Grace time.Duration
	Now   func() time.Time
}

var _ correlate.Store = (*Store)(nil)

const (
	noSort    = "-"
	logPart   = "log"
	txLimit   = 99      // items of one transaction, with the version update
	txBytes   = 3 << 20 // of a transaction's 4 MB, with room for keys
	chunkSize = 300_000 // bytes of one log item, under DynamoDB's 400 KB
)

var versionKey = map[string]types.AttributeValue{"pk": s("version"), "sk": s(noSort)}

func s(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// split maps a store key to the table's keys: "PART|REST" → (PART, REST), plain → (key, "-").
func split(key string) (pk, sk string) {
	if p, r, ok := strings.Cut(key, "|"); ok {
		return p, r
	}
	return key, noSort
}

func join(pk, sk string) string {
	if sk == noSort {
		return pk
	}
	return pk + "|" + sk
}

func (st *Store) now() time.Time {
	if st.Now != nil {
		return st.Now()
	}
	return time.Now()
}

// Version returns the current version, first completing a large commit that an invocation
// left halfway.
func (st *Store) Version(ctx context.Context) (uint64, error) {
	out, err := st.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: versionKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("read state version from %s: %w", st.Table, err)
	}
	v, pending := numAttr(out.Item, "n"), numAttr(out.Item, "pending")
	if pending > 0 {
		if err := st.finish(ctx, v, int(pending)); err != nil {
			return 0, err
		}
	}
	return uint64(v), nil
}

func numAttr(item map[string]types.AttributeValue, name string) int64 {
	if a, ok := item[name].(*types.AttributeValueMemberN); ok {
		v, _ := strconv.ParseInt(a.Value, 10, 64)
		return v
	}
	return 0
}

func (st *Store) Load(ctx context.Context, keys []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for len(keys) > 0 {
		k := keys[:min(100, len(keys))]
		keys = keys[len(k):]
		req := make([]map[string]types.AttributeValue, len(k))
		for i, key := range k {
			pk, sk := split(key)
			req[i] = map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
		}
		items := map[string]types.KeysAndAttributes{st.Table: {Keys: req, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(items) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return nil, err
				}
			}
			res, err := st.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: items})
			if err != nil {
				return nil, fmt.Errorf("read state from %s: %w", st.Table, err)
			}
			for _, it := range res.Responses[st.Table] {
				key, v := itemValue(it)
				out[key] = v
			}
			items = res.UnprocessedKeys
		}
	}
	return out, nil
}

func itemValue(it map[string]types.AttributeValue) (string, []byte) {
	var pk, sk string
	if a, ok := it["pk"].(*types.AttributeValueMemberS); ok {
		pk = a.Value
	}
	if a, ok := it["sk"].(*types.AttributeValueMemberS); ok {
		sk = a.Value
	}
	var v []byte
	if a, ok := it["v"].(*types.AttributeValueMemberB); ok {
		v = a.Value
	}
	return join(pk, sk), v
}

func (st *Store) List(ctx context.Context, part string) (map[string][]byte, error) {
	out := map[string][]byte{}
	var start map[string]types.AttributeValue
	for {
		res, err := st.Client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(st.Table), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(part)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("list state %s in %s: %w", part, st.Table, err)
		}
		for _, it := range res.Items {
			key, v := itemValue(it)
			out[key] = v
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// op is one write of a commit, as logged.
type op struct {
	Key     string `json:"k"`
	Value   []byte `json:"v,omitempty"`
	Expires int64  `json:"x,omitempty"`
	Delete  bool   `json:"d,omitempty"`
}

func (st *Store) ops(b correlate.Batch) ([]op, int) {
	var out []op
	size := 0
	for k, it := range b.Put {
		var exp int64
		if !it.Expires.IsZero() {
			exp = it.Expires.Add(st.grace()).Unix()
		}
		out = append(out, op{Key: k, Value: it.Value, Expires: exp})
		size += len(k) + len(it.Value) + 64
	}
	for _, k := range b.Delete {
		out = append(out, op{Key: k, Delete: true})
		size += len(k) + 64
	}
	return out, size
}

func (st *Store) grace() time.Duration {
	if st.Grace > 0 {
		return st.Grace
	}
	return 24 * time.Hour
}

func (o op) item() map[string]types.AttributeValue {
	pk, sk := split(o.Key)
	it := map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk), "v": &types.AttributeValueMemberB{Value: o.Value}}
	if o.Expires > 0 {
		it["expires"] = n(o.Expires)
	}
	return it
}

func (o op) key() map[string]types.AttributeValue {
	pk, sk := split(o.Key)
	return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
}

// names are the version item's attributes in expressions: the version and the pending log;
// commitNames add the token of the commit that made the version.
var (
	names       = map[string]string{"#n": "n", "#p": "pending"}
	commitNames = map[string]string{"#n": "n", "#p": "pending", "#c": "commit"}
)

// newToken names one commit: the version item keeps the token of the commit that made its
// version, so that a commit whose write went through, but whose answer was lost and the SDK
// sent again, tells its own write from another writer's (landed). Real DynamoDB is also given
// it as the transaction's ClientRequestToken, which makes the resent transaction a no-op.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail
	return hex.EncodeToString(b[:])
}

// landed reports whether the stored version is next, made by the commit named token, and how
// many log chunks it still has pending.
func (st *Store) landed(ctx context.Context, next int64, token string) (bool, int64, error) {
	out, err := st.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: versionKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, 0, fmt.Errorf("read state version from %s: %w", st.Table, err)
	}
	c, _ := out.Item["commit"].(*types.AttributeValueMemberS)
	return numAttr(out.Item, "n") == next && c != nil && c.Value == token, numAttr(out.Item, "pending"), nil
}

// versionCondition is the condition that the stored version is still v.
func versionCondition(v uint64) (string, map[string]types.AttributeValue) {
	if v == 0 {
		return "attribute_not_exists(#n) AND attribute_not_exists(#p)", nil
	}
	return "#n = :v AND attribute_not_exists(#p)", map[string]types.AttributeValue{":v": n(int64(v))}
}

func (st *Store) Commit(ctx context.Context, b correlate.Batch) error {
	ops, size := st.ops(b)
	if len(ops) <= txLimit && size <= txBytes {
		return st.transact(ctx, b.Version, ops, newToken())
	}
	return st.logged(ctx, b.Version, ops, newToken())
}

func (st *Store) transact(ctx context.Context, v uint64, ops []op, token string) error {
	cond, vals := versionCondition(v)
	if vals == nil {
		vals = map[string]types.AttributeValue{}
	}
	vals[":next"], vals[":token"] = n(int64(v+1)), s(token)
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName: aws.String(st.Table), Key: versionKey,
		UpdateExpression:          aws.String("SET #n = :next, #c = :token"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  commitNames,
		ExpressionAttributeValues: vals,
	}}}
	for _, o := range ops {
		if o.Delete {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(st.Table), Key: o.key()}})
		} else {
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(st.Table), Item: o.item()}})
		}
	}
	_, err := st.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items, ClientRequestToken: aws.String(token)})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) && len(tc.CancellationReasons) > 0 && aws.ToString(tc.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		// lost to another writer, or this commit went through and was sent again
		if ours, _, err := st.landed(ctx, int64(v+1), token); err != nil || ours {
			return err
		}
		return correlate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("write state to %s: %w", st.Table, err)
	}
	return nil
}

// logged commits a batch too large for one transaction: log, switch, apply, clear.
func (st *Store) logged(ctx context.Context, v uint64, ops []op, token string) error {
	next := int64(v + 1)
	chunks := chunk(ops)
	exp := n(st.now().Add(st.grace()).Unix())
	var logItems []op
	for i, c := range chunks {
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		logItems = append(logItems, op{Key: logKey(next, i), Value: body})
	}
	for i := range logItems {
		logItems[i].Expires, _ = strconv.ParseInt(exp.Value, 10, 64)
	}
	if err := st.batchWrite(ctx, logItems); err != nil {
		return err
	}
	cond, vals := versionCondition(v)
	if vals == nil {
		vals = map[string]types.AttributeValue{}
	}
	vals[":next"], vals[":chunks"], vals[":token"] = n(next), n(int64(len(chunks))), s(token)
	_, err := st.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: versionKey,
		UpdateExpression:          aws.String("SET #n = :next, #p = :chunks, #c = :token"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  commitNames,
		ExpressionAttributeValues: vals,
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		// lost to another writer, or this switch went through and was sent again
		ours, pending, err := st.landed(ctx, next, token)
		switch {
		case err != nil:
			return err
		case ours && pending > 0:
			return st.finish(ctx, next, len(chunks))
		case ours:
			return nil // a reader of the version finished it already
		}
		st.dropLog(ctx, next, len(chunks))
		return correlate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("write state to %s: %w", st.Table, err)
	}
	return st.finish(ctx, next, len(chunks))
}

func logKey(version int64, i int) string {
	return fmt.Sprintf("%s|%020d/%06d", logPart, version, i)
}

func chunk(ops []op) [][]op {
	var out [][]op
	var cur []op
	size := 0
	for _, o := range ops {
		sz := len(o.Key) + len(o.Value)*4/3 + 64 // values are base64 in the log's JSON
		if len(cur) > 0 && size+sz > chunkSize {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, o)
		size += sz
	}
	return append(out, cur)
}

// finish applies the logged commit that made version current, then clears the log.
func (st *Store) finish(ctx context.Context, version int64, chunks int) error {
	keys := make([]string, chunks)
	for i := range keys {
		keys[i] = logKey(version, i)
	}
	logs, err := st.Load(ctx, keys)
	if err != nil {
		return err
	}
	var ops []op
	for _, k := range keys {
		body, ok := logs[k]
		if !ok {
			return fmt.Errorf("state commit %d in %s: log item %s is missing", version, st.Table, k)
		}
		var c []op
		if err := json.Unmarshal(body, &c); err != nil {
			return fmt.Errorf("state commit %d in %s: %w", version, st.Table, err)
		}
		ops = append(ops, c...)
	}
	if err := st.batchWrite(ctx, ops); err != nil {
		return err
	}
	_, err = st.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: versionKey,
		UpdateExpression:          aws.String("REMOVE #p"),
		ConditionExpression:       aws.String("#n = :v"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": n(version)},
	})
	var cf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &cf) { // another invocation finished it first
		return fmt.Errorf("write state to %s: %w", st.Table, err)
	}
	st.dropLog(ctx, version, chunks)
	return nil
}

// dropLog deletes a commit's log; what fails here expires by TTL.
func (st *Store) dropLog(ctx context.Context, version int64, chunks int) {
	ops := make([]op, chunks)
	for i := range ops {
		ops[i] = op{Key: logKey(version, i), Delete: true}
	}
	_ = st.batchWrite(ctx, ops)
}

// batchWrite writes ops 25 at a time, retrying what DynamoDB left unprocessed.
func (st *Store) batchWrite(ctx context.Context, ops []op) error {
	for len(ops) > 0 {
		part := ops[:min(25, len(ops))]
		ops = ops[len(part):]
		reqs := make([]types.WriteRequest, len(part))
		for i, o := range part {
			if o.Delete {
				reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: o.key()}}
			} else {
				reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: o.item()}}
			}
		}
		items := map[string][]types.WriteRequest{st.Table: reqs}
		for attempt := 0; len(items) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return err
				}
			}
			res, err := st.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: items})
			if err != nil {
				return fmt.Errorf("write state to %s: %w", st.Table, err)
			}
			items = res.UnprocessedItems
		}
	}
	return nil
}

// pause waits before retrying unprocessed items (throttling), longer each time.
func pause(ctx context.Context, attempt int) error {
	if attempt > 8 {
		return errors.New("DynamoDB keeps leaving items unprocessed (throttled)")
	}
	t := time.NewTimer(time.Duration(50<<attempt) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CreateTable creates the table (on-demand capacity) and turns on TTL, for tests and
// `trailbell` setups without CloudFormation or Terraform; the templates in deploy/ declare
// the same.
func CreateTable(ctx context.Context, c interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}, table string) error {
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	// A table that exists already is taken as made: the SDK retries a create whose answer
	// was lost (seen under load), and the retry finds the table the first attempt made.
	var inUse *types.ResourceInUseException
	existed := errors.As(err, &inUse)
	if err != nil && !existed {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)},
	})
	if err != nil && !(existed && strings.Contains(err.Error(), "already enabled")) {
		return fmt.Errorf("table %s: turn on TTL: %w", table, err)
	}
	return nil
}
