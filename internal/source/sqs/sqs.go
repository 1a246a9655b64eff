// Package sqs reads an SQS queue of notifications (S3 event notifications, SNS- or
// EventBridge-wrapped) with long polling. A message is deleted only after the handler has
// accepted it; while the handler works (a large log file), the message's visibility is
// extended so no other reader takes it.
package sqs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/source"
)

// API is the part of the SQS client the source uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Message is one received message.
type Message struct {
	ID   string
	Body []byte
}

// Handler processes one message; nil means everything from it is durably accepted and the
// message may be deleted.
type Handler func(ctx context.Context, m Message) error

// Options configure a Source; zero values take the defaults noted.
type Options struct {
	Client   API
	QueueURL string

	Wait       time.Duration // long-poll wait (default 20s, SQS's maximum)
	Visibility time.Duration // visibility while a message is handled, renewed at half (default 2m)
	// RetryDelay is how long a failed message stays invisible before it is tried again
	// (default 30s). A queue's redrive policy moves messages that keep failing aside.
	RetryDelay time.Duration
	Batch      int32         // messages per receive, 1..10 (default 10)
	Parallel   int           // messages handled at once (default 2)
	Grace      time.Duration // how long messages in hand may take after shutdown (default 30s)

	Logger  *slog.Logger
	Metrics *Metrics
	// OnError, when set, hears every error that is logged and retried.
	OnError func(error)
}

// Source reads one queue.
type Source struct {
	o Options
}

// New checks the options and fills in defaults.
func New(o Options) (*Source, error) {
	if o.Client == nil || o.QueueURL == "" {
		return nil, errors.New("sqs: client and queue URL are required")
	}
	o.Wait = cmp.Or(o.Wait, 20*time.Second)
	o.Visibility = cmp.Or(o.Visibility, 2*time.Minute)
	o.RetryDelay = cmp.Or(o.RetryDelay, 30*time.Second)
	o.Batch = min(max(cmp.Or(o.Batch, 10), 1), 10)
	o.Parallel = cmp.Or(o.Parallel, 2)
	o.Grace = cmp.Or(o.Grace, 30*time.Second)
	if o.Visibility < 2*time.Second {
		return nil, fmt.Errorf("sqs: visibility %v is too short to renew", o.Visibility)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	o.Logger = o.Logger.With("queue", o.QueueURL)
	return &Source{o: o}, nil
}

// Run receives and handles messages until ctx is done; messages in hand are finished (within
// Grace) before it returns nil.
func (s *Source) Run(ctx context.Context, h Handler) error {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		out, err := s.o.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(s.o.QueueURL),
			MaxNumberOfMessages: s.o.Batch,
			WaitTimeSeconds:     int32(s.o.Wait / time.Second),
			VisibilityTimeout:   int32(s.o.Visibility / time.Second),
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.o.Metrics.receiveError(s.o.QueueURL)
			backoff = min(max(2*backoff, time.Second), time.Minute)
			d := backoff/2 + rand.N(backoff/2+1)
			s.o.Logger.Error("receive", "err", err, "retry_in", d)
			s.o.OnError(fmt.Errorf("receive: %w", err))
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			continue
		}
		backoff = 0
		s.handleBatch(ctx, out.Messages, h)
	}
	return nil
}

func (s *Source) handleBatch(ctx context.Context, msgs []types.Message, h Handler) {
	var g errgroup.Group
	g.SetLimit(s.o.Parallel)
	for _, m := range msgs {
		g.Go(func() error {
			if ctx.Err() != nil {
				// Not started: give it back at once rather than after its visibility runs out.
				s.setVisibility(context.WithoutCancel(ctx), m, 0)
				return nil
			}
			s.handle(ctx, m, h)
			return nil
		})
	}
	g.Wait()
}

// handle runs h on one message with its visibility kept alive, then deletes it or schedules
// the retry.
func (s *Source) handle(ctx context.Context, m types.Message, h Handler) {
	hctx, cancel := source.Finishing(ctx, s.o.Grace)
	defer cancel()
	id := aws.ToString(m.MessageId)
	log := s.o.Logger.With("message", id)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { s.keepInvisible(hctx, m, stop, log) })
	err := h(hctx, Message{ID: id, Body: []byte(aws.ToString(m.Body))})
	close(stop)
	wg.Wait()

	if err != nil {
		s.o.Metrics.message(s.o.QueueURL, "failed")
		log.Error("handle message", "err", err, "retry_in", s.o.RetryDelay)
		s.o.OnError(fmt.Errorf("message %s: %w", id, err))
		s.setVisibility(hctx, m, s.o.RetryDelay)
		return
	}
	if _, err := s.o.Client.DeleteMessage(hctx, &sqs.DeleteMessageInput{
		QueueUrl: aws.String(s.o.QueueURL), ReceiptHandle: m.ReceiptHandle,
	}); err != nil {
		// The findings are in the outbox; the message comes back and is deduplicated there.
		s.o.Metrics.message(s.o.QueueURL, "delete_failed")
		log.Error("delete message", "err", err)
		s.o.OnError(fmt.Errorf("delete message %s: %w", id, err))
		return
	}
	s.o.Metrics.message(s.o.QueueURL, "done")
}

// keepInvisible renews the message's visibility at half its timeout until stop closes.
func (s *Source) keepInvisible(ctx context.Context, m types.Message, stop <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(s.o.Visibility / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.setVisibility(ctx, m, s.o.Visibility); err != nil {
				log.Warn("extend visibility", "err", err)
			}
		}
	}
}

func (s *Source) setVisibility(ctx context.Context, m types.Message, d time.Duration) error {
	_, err := s.o.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(s.o.QueueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(d / time.Second),
	})
	return err
}
