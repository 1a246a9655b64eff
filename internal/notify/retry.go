package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// Backoff is an exponential retry delay with full jitter between half and all of the
// step, so many trailbell instances failing together do not retry in lockstep.
type Backoff struct {
	Initial time.Duration // first delay; default 1s
	Max     time.Duration // cap; default 5m
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Delay is the wait before retry number attempt (1 for the first retry).
func (b Backoff) Delay(attempt int, jitter func() float64) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if jitter == nil {
		jitter = rand.Float64
	}
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// A Confirmer is a Notifier that can tell afterwards whether a message arrived: the
// Slack Web API finds it in the channel's history by its metadata. When an answer is
// lost (a timeout, a crash between posting and recording it), the pipeline asks before
// sending the message again, so a digest is not posted twice.
type Confirmer interface {
	Notifier
	// Delivered reports whether the message for fs, sent no earlier than since, arrived.
	// The message carries DeliveryID(fs) for it to look for.
	Delivered(ctx context.Context, since time.Time, fs ...*finding.Finding) (bool, error)
}

// DeliveryID names the message made of fs, whatever their order: the same findings (and
// the rules merged under them) give the same id in every process, so a message sent
// before a crash is recognised after it.
func DeliveryID(fs ...*finding.Finding) string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.Rule + "\x00" + f.EventID + "\x00" + f.Principal + "\x00" + f.EventTime
		for _, a := range f.Also {
			keys[i] += "\x00" + a.Rule
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// retryStage sends a batch and classifies the answer. A transient failure (the notifier
// says retry) is tried again after an exponential backoff, or the Retry-After the server
// asked for, until Deadline after the finding was accepted; then, and on a permanent
// failure, the batch has failed (fallback stage). Each call is bounded by AttemptTimeout.
type retryStage struct {
	store    outbox.Store
	notifier Notifier
	confirm  Confirmer // the notifier, when it can confirm
	timeout  time.Duration
	deadline time.Duration
	backoff  Backoff
	jitter   func() float64
	now      func() time.Time
	log      *slog.Logger

	failures int       // consecutive failed attempts
	retryAt  time.Time // no attempt before
}

func newRetryStage(store outbox.Store, n Notifier, o Options, log *slog.Logger) *retryStage {
	s := &retryStage{store: store, notifier: n, timeout: o.AttemptTimeout, deadline: o.Deadline, backoff: o.Backoff,
		jitter: o.Jitter, now: o.Now, log: log}
	s.confirm, _ = n.(Confirmer)
	return s
}

func (s *retryStage) exec(ctx context.Context, b *batch) error {
	if b.now.Before(s.retryAt) {
		b.hold(s.retryAt.Sub(b.now))
		return nil
	}
	if s.confirm != nil {
		done, err := s.sentBefore(ctx, b)
		if err != nil || done {
			return err
		}
	}
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	retry, err := s.notifier.Notify(actx, b.fs...)
	cancel()
	b.attempted = true
	now := s.now()
	if err == nil {
		s.failures = 0
		b.outcome = delivered
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short, not refused.
		return ctx.Err()
	}
	b.err, b.retry, b.reason = err, retry, Reason(err)
	lost := b.reason == "timeout" || b.reason == "network" // it may have arrived
	for _, it := range b.items {
		it.Attempts++
		it.LastError = err.Error()
		if !lost {
			it.Sent, it.Delivery = time.Time{}, "" // an answer came: it was not posted
		}
	}
	if retry && now.Sub(b.items[0].Accepted) < s.deadline {
		s.failures++
		delay := s.backoff.Delay(s.failures, s.jitter)
		if ra, ok := RetryAfter(err); ok && ra > delay {
			delay = min(ra, time.Hour)
		}
		s.retryAt = now.Add(delay)
		b.outcome, b.wait = retrying, delay
		if err := s.store.Update(b.q.Name, b.items); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		s.log.Warn("delivery failed, will retry", "reason", b.reason, "err", err,
			"findings", len(b.items), "attempt", b.items[0].Attempts, "retry_in", delay.Round(time.Millisecond).String())
		return nil
	}
	if retry {
		b.err = &Error{Reason: "deadline", Err: fmt.Errorf("gave up after %s: %w", s.deadline, err)}
		b.reason = "deadline"
	}
	s.failures = 0
	b.outcome = failed
	return nil
}

// sentBefore handles a Confirmer: a message marked as sent with no answer is looked up
// first (found: delivered without sending it again); before a message is sent, its mark
// is written, so a crash during the call leaves a question rather than a duplicate.
func (s *retryStage) sentBefore(ctx context.Context, b *batch) (bool, error) {
	if it := b.items[0]; it.Delivery != "" {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		ok, err := s.confirm.Delivered(cctx, it.Sent.Add(-time.Minute), b.fs...) // a minute for clock skew
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return false, ctx.Err()
		case err != nil:
			// Unknown: sending again risks a duplicate, not sending risks a loss.
			s.log.Warn("cannot tell whether a message whose answer was lost arrived; sending it again", "err", err,
				"findings", len(b.items))
		case ok:
			s.log.Info("a message whose answer was lost had arrived; not sending it again", "findings", len(b.items))
			s.failures = 0
			b.outcome, b.confirmed = delivered, true
			return true, nil
		}
	}
	id := DeliveryID(b.fs...)
	for _, it := range b.items {
		it.Sent, it.Delivery = b.now, id
	}
	if err := s.store.Update(b.q.Name, b.items); err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	return false, nil
}
