package lambda

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the part of the DynamoDB client the dedupe table needs.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Dedupe keeps one item per finding key (rule/eventID) in a DynamoDB table with the key
// attribute "pk" and TTL attribute "expires". A finding is claimed with a short lease before
// delivery, marked sent after it, and released when delivery fails, so that:
//   - a redelivered message whose findings were sent does not alert again;
//   - a message that failed, or whose invocation died mid-delivery, alerts on its retry
//     (at the latest once the lease is over).
type Dedupe struct {
	Client DynamoDB
	Table  string
	// Lease bounds a claim whose invocation died; use the function timeout. Default 15 min.
	Lease time.Duration
	// Keep is how long a sent finding is remembered; default 7 days (beyond SQS retention).
	Keep time.Duration
	Now  func() time.Time
}

func (d *Dedupe) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dedupe) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return 15 * time.Minute
}

func (d *Dedupe) keep() time.Duration {
	if d.Keep > 0 {
		return d.Keep
	}
	return 7 * 24 * time.Hour
}

const (
	statePending = "pending"
	stateSent    = "sent"
)

// claimInput builds the conditional put that takes a key: allowed when no item exists or its
// time is over (a dead invocation's lease, or a sent record TTL has not removed yet), or when
// the item is this very claim: the SDK retries a put whose answer was lost, and the retry
// must not find its own first attempt and take it for another invocation's claim (the
// finding would then wait for the lease). token tells the claims apart.
func (d *Dedupe) claimInput(key, token string) *dynamodb.PutItemInput {
	now := d.now().Unix()
	return &dynamodb.PutItemInput{
		TableName: aws.String(d.Table),
		Item: map[string]types.AttributeValue{
			"pk":      &types.AttributeValueMemberS{Value: key},
			"state":   &types.AttributeValueMemberS{Value: statePending},
			"claim":   &types.AttributeValueMemberS{Value: token},
			"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(now+int64(d.lease()/time.Second), 10)},
		},
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR expires < :now OR #c = :claim"),
		ExpressionAttributeNames: map[string]string{"#c": "claim"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":   &types.AttributeValueMemberN{Value: strconv.FormatInt(now, 10)},
			":claim": &types.AttributeValueMemberS{Value: token},
		},
	}
}

// claimToken is a claim's identity: random, so that no other claim of the key has it.
func claimToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (d *Dedupe) doneInput(key string) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{
		TableName: aws.String(d.Table),
		Item: map[string]types.AttributeValue{
			"pk":      &types.AttributeValueMemberS{Value: key},
			"state":   &types.AttributeValueMemberS{Value: stateSent},
			"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(d.now().Add(d.keep()).Unix(), 10)},
		},
	}
}

func (d *Dedupe) releaseInput(key string) *dynamodb.DeleteItemInput {
	return &dynamodb.DeleteItemInput{
		TableName: aws.String(d.Table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}},
		// Never delete a record of a finding that another invocation has sent meanwhile.
		ConditionExpression:       aws.String("#s = :pending"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": &types.AttributeValueMemberS{Value: statePending}},
	}
}

// Claim reports whether key is new (claimed now) or already sent or being sent.
func (d *Dedupe) Claim(ctx context.Context, key string) (bool, error) {
	_, err := d.Client.PutItem(ctx, d.claimInput(key, claimToken()))
	var cf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &cf):
		return false, nil
	}
	return false, fmt.Errorf("claim %s: %w", key, err)
}

// Done records key as sent.
func (d *Dedupe) Done(ctx context.Context, key string) error {
	if _, err := d.Client.PutItem(ctx, d.doneInput(key)); err != nil {
		return fmt.Errorf("mark %s sent: %w", key, err)
	}
	return nil
}

// Release gives a claim back after a failed delivery.
func (d *Dedupe) Release(ctx context.Context, key string) error {
	_, err := d.Client.DeleteItem(ctx, d.releaseInput(key))
	var cf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &cf) {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}
