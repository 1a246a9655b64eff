// Package notify owns delivery of findings: the Notifier interface every destination
// implements, and the Pipeline that carries findings to them through a durable outbox.
//
// The Pipeline is two chains of small stages, each with one job and its own file:
//
//	Submit:   route → except → dedupe → outbox
//	Delivery: group → limit → retry → fallback → record   (per receiver)
//
// route.go picks the receivers, except.go drops known automation, dedupe.go drops
// repeats of accepted (rule, eventID)s, and the outbox stage (submit.go) writes what is
// left to the outbox (package outbox). For each receiver a worker takes messages from its
// queue: group.go merges repeats and digests backlogs, limit.go paces, retry.go sends
// with backoff until the deadline, fallback.go reroutes what failed, record.go keeps
// metrics and health. Destinations live in sub-packages (slack, sns, webhook, stdout);
// chat holds the text rules Slack and Chatbot share; only internal/app knows them all.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
)

// Notifier delivers findings to one destination. One finding is an alert; several of one
// group (same rule and principal, see finding.SameGroup) are a summary of repeats; several of
// different groups are a digest of a backlog (Receiver.DigestAfter).
// The notifier is the only code that knows whether a failure is worth retrying, so it says
// so; it returns an *Error to name the reason and any Retry-After the server asked for.
type Notifier interface {
	Notify(ctx context.Context, fs ...*finding.Finding) (retry bool, err error)
}

// Error is a delivery failure as the notifier classified it.
type Error struct {
	// Reason is short and machine-like ("rate_limited", "no_service", "http_503",
	// "network"); it labels metrics, so notifiers keep it to a small set.
	Reason string
	// RetryAfter is how long the server asked us to wait (HTTP 429 Retry-After).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return fmt.Sprintf("%s: %v", e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Reason returns the classified reason of err, or "error" when it has none.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// RetryAfter returns the wait a server asked for, if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// Redact removes the URL from a *url.Error anywhere in err's chain, because webhook URLs
// are secrets and net/http puts them into every transport error. The result keeps the
// operation and the cause, so errors.Is on the cause still works.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: "<redacted>", Err: redactDeep(ue.Err)}
}

func redactDeep(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return Redact(err)
	}
	return err
}
