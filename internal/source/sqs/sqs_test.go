package sqs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeQueue is an API that hands out its pending messages once and records the calls made.
type fakeQueue struct {
	mu       sync.Mutex
	pending  []types.Message
	changes  []int32 // visibility timeouts set, in order
	deleted  []string
	receives int
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.receives++
	msgs := q.pending
	q.pending = nil
	q.mu.Unlock()
	if len(msgs) == 0 { // long poll
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(in.WaitTimeSeconds) * time.Second):
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
}

func (q *fakeQueue) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted = append(q.deleted, aws.ToString(in.ReceiptHandle))
	return &sqs.DeleteMessageOutput{}, nil
}

func (q *fakeQueue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.changes = append(q.changes, in.VisibilityTimeout)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func msg(id string) types.Message {
	return types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("body " + id)}
}

func TestLongHandlingKeepsTheMessageInvisibleThenDeletesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &fakeQueue{pending: []types.Message{msg("big")}}
		s, err := New(Options{Client: q, QueueURL: "q", Visibility: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			s.Run(ctx, func(ctx context.Context, m Message) error {
				time.Sleep(4*time.Minute + 30*time.Second) // reading a very large log file
				close(done)
				return nil
			})
		}()
		<-done
		synctest.Wait()
		cancel()
		synctest.Wait()
		q.mu.Lock()
		defer q.mu.Unlock()
		// Renewed at 1, 2, 3 and 4 minutes, each time to the full two minutes.
		if !slices.Equal(q.changes, []int32{120, 120, 120, 120}) {
			t.Errorf("visibility changes = %v, want four renewals to 120 s", q.changes)
		}
		if !slices.Equal(q.deleted, []string{"rh-big"}) {
			t.Errorf("deleted = %v, want the message after handling", q.deleted)
		}
	})
}

func TestFailedMessageIsNotDeletedAndComesBackAfterRetryDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &fakeQueue{pending: []types.Message{msg("a")}}
		s, err := New(Options{Client: q, QueueURL: "q", RetryDelay: 45 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		handled := make(chan struct{})
		go s.Run(ctx, func(ctx context.Context, m Message) error {
			close(handled)
			return errors.New("outbox full")
		})
		<-handled
		synctest.Wait()
		cancel()
		synctest.Wait()
		q.mu.Lock()
		defer q.mu.Unlock()
		if len(q.deleted) != 0 || !slices.Equal(q.changes, []int32{45}) {
			t.Errorf("deleted %v, visibility changes %v; want none deleted and one change to 45 s", q.deleted, q.changes)
		}
	})
}

func TestShutdownReleasesMessagesNotStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &fakeQueue{pending: []types.Message{msg("a"), msg("b"), msg("c")}}
		s, err := New(Options{Client: q, QueueURL: "q", Parallel: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var got []string
		ret := make(chan error)
		go func() {
			ret <- s.Run(ctx, func(hctx context.Context, m Message) error {
				got = append(got, m.ID)
				cancel() // shutdown begins while the first message is in hand
				time.Sleep(time.Second)
				return hctx.Err()
			})
		}()
		if err := <-ret; err != nil {
			t.Fatal(err)
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		if !slices.Equal(got, []string{"a"}) || !slices.Equal(q.deleted, []string{"rh-a"}) {
			t.Errorf("handled %v, deleted %v; want a finished and deleted", got, q.deleted)
		}
		if !slices.Equal(q.changes, []int32{0, 0}) {
			t.Errorf("visibility changes %v, want b and c released with 0", q.changes)
		}
	})
}

// Against the goaws server: every message is handled, a failing one again later, and the queue
// ends empty.
func TestGoawsQueue(t *testing.T) {
	endpoint := os.Getenv("TRAILBELL_TEST_SQS_ENDPOINT")
	if endpoint == "" {
		t.Skip("TRAILBELL_TEST_SQS_ENDPOINT is unset; scripts/test.sh starts goaws and sets it")
	}
	c := sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
	})
	ctx := t.Context()
	name := fmt.Sprintf("trailbell-source-%d", time.Now().UnixNano())
	cq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(cq.QueueUrl)
	t.Cleanup(func() { c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}) })
	for i := range 5 {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Options{Client: c, QueueURL: url, Wait: time.Second, Visibility: 10 * time.Second, RetryDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	s.Run(runCtx, func(_ context.Context, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[string(m.Body)]++
		if len(seen) == 5 && seen["m2"] >= 2 {
			cancel()
		}
		if string(m.Body) == "m2" && seen["m2"] == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	})
	if runCtx.Err() == context.DeadlineExceeded {
		t.Fatalf("timed out; handled %v", seen)
	}
	for i := range 5 {
		want := 1
		if i == 2 {
			want = 2
		}
		if n := seen[fmt.Sprint("m", i)]; n != want {
			t.Errorf("m%d handled %d times, want %d", i, n, want)
		}
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 0 {
		t.Errorf("queue still holds %d messages, want every handled message deleted", len(out.Messages))
	}
}
