package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// dedupeStage drops a finding whose (rule, eventID) was accepted within the window:
// inputs are at-least-once, so a re-read file or a redelivered message brings it again.
// It only reads; the outbox stage records the key in the same transaction as the write,
// and catches a duplicate submitted concurrently.
type dedupeStage struct {
	store  outbox.Store
	window time.Duration
	m      *Metrics
}

func (s dedupeStage) admit(_ context.Context, a *admission) (bool, error) {
	if a.f.EventID == "" {
		return true, nil // nothing to tell repeats apart by
	}
	a.key = a.f.Key()
	seen, err := s.store.Seen(a.key, a.now, s.window)
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	if seen {
		s.m.duplicates.Inc()
		return false, nil
	}
	return true, nil
}
