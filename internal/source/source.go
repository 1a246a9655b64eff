// Package source holds what the input packages below it share about handing an input to
// their handler: internal/source/s3poll, sqs and the others each own one outside system.
package source

import (
	"context"
	"time"
)

// Finishing returns a context for handling one input that outlives ctx by grace: an input
// in hand when shutdown begins is finished, so it is not acknowledged late or done twice.
func Finishing(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return hctx, func() { stop(); cancel() }
}
