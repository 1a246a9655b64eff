package lambda

import (
	"context"
	"fmt"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
)

// PipelineDeliverer delivers through a fresh notify.Pipeline per call: the findings are
// submitted, then flushed before the deadline. Nothing outlives the call: what failed is
// retried by AWS with the whole message (SQS redelivery, asynchronous retries, then the
// dead-letter queue), never silently dropped by a memory of "already accepted" in a warm
// container. Duplicates across retries are the dedupe table's job.
type PipelineDeliverer struct {
	New func(ctx context.Context) (*notify.Pipeline, error)
	// Margin is kept free before the invocation deadline so that a slow destination fails
	// the message instead of timing out the whole batch; default 5s.
	Margin time.Duration
}

func (d PipelineDeliverer) Deliver(ctx context.Context, fs []finding.Finding) error {
	return d.With(ctx, func(p *notify.Pipeline) error { return p.Submit(ctx, fs...) })
}

// With submits to a fresh pipeline with submit, then flushes it before the deadline.
func (d PipelineDeliverer) With(ctx context.Context, submit func(*notify.Pipeline) error) error {
	margin := d.Margin
	if margin == 0 {
		margin = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	p, err := d.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := submit(p); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	return p.Flush(ctx)
}
