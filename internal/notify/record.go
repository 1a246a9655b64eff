package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// recordStage records what became of a batch: a delivered batch leaves the outbox, and
// every outcome goes into the metrics, the receiver's health, and the report Flush
// returns (dead letters).
type recordStage struct {
	store  outbox.Store
	report func(error)
}

func (s recordStage) exec(_ context.Context, b *batch) error {
	q := b.q
	if b.attempted && b.err != nil {
		q.m.attempt(Reason(b.err)).Inc()
	}
	switch b.outcome {
	case delivered:
		if err := s.store.Move(q.Name, b.ids(), nil); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		q.m.messages.Inc()
		q.m.delivered.Add(float64(len(b.items)))
		for _, it := range b.items {
			q.m.latency.Observe(b.now.Sub(it.Accepted).Seconds())
		}
		q.m.failing.Set(0)
		q.health.ok(b.now)
		q.removed(len(b.items))
	case retrying:
		q.m.failing.Set(1)
		q.health.fail(b.now, b.reason, b.err.Error())
	case failed:
		// Failing too when everything goes to the fallback: the receiver delivers nothing.
		q.m.failing.Set(1)
		q.m.failed(b.reason).Add(float64(len(b.items)))
		q.health.fail(b.now, b.reason, b.err.Error())
		if b.dead {
			s.report(fmt.Errorf("receiver %s: %d finding(s) undeliverable (%s): %v", q.Name, len(b.items), b.reason, b.err))
		}
		q.removed(len(b.items))
	}
	return nil
}

// ReceiverHealth is how a receiver's deliveries are going.
type ReceiverHealth struct {
	Name string
	// Pending counts the findings waiting for it in the outbox.
	Pending int
	// Failing is set while its last delivery failed: retries are going on, or what it
	// gets goes to its fallback or the dead letters. A delivery that works clears it.
	Failing bool
	// Since is the first failure of the current streak; Reason and Error are the last.
	Since  time.Time
	Reason string
	Error  string
	// LastDelivered is when a message last went out.
	LastDelivered time.Time
}

// health is a receiver's ReceiverHealth as its worker updates it.
type health struct {
	mu sync.Mutex
	h  ReceiverHealth
}

func (h *health) ok(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h.Failing, h.h.Since, h.h.Reason, h.h.Error, h.h.LastDelivered = false, time.Time{}, "", "", now
}

func (h *health) fail(now time.Time, reason, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.h.Failing {
		h.h.Failing, h.h.Since = true, now
	}
	h.h.Reason, h.h.Error = reason, msg
}

func (h *health) get() ReceiverHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h
}
