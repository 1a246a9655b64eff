package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// DeliveryFailureRule is the rule id of the alert the Pipeline raises on a fallback
// receiver when a receiver fails.
const DeliveryFailureRule = "trailbell-delivery-failure"

// fallbackStage decides where a failed batch goes: to the receiver's fallback with an
// alert about the failure, or to the dead letters when there is no fallback (or the
// batch already is the fallback's). It also tells the fallback, once per streak, when a
// receiver has kept failing transiently for FailingAlert: a long Slack outage should not
// stay silent until the retry deadline.
type fallbackStage struct {
	store        outbox.Store
	fb           *queue // nil: none
	deadline     time.Duration
	failingAlert time.Duration
	log          *slog.Logger

	since   time.Time // first transient failure of the current streak
	alerted bool      // the fallback was told about this streak
}

func (s *fallbackStage) exec(_ context.Context, b *batch) error {
	switch b.outcome {
	case delivered:
		s.since, s.alerted = time.Time{}, false
	case retrying:
		if s.since.IsZero() {
			s.since = b.now
		}
		return s.alertStreak(b)
	case failed:
		s.since, s.alerted = time.Time{}, false
		if s.fb == nil || b.items[0].From != "" {
			return s.bury(b)
		}
		return s.reroute(b)
	}
	return nil
}

func (s *fallbackStage) alertStreak(b *batch) error {
	if s.fb == nil || s.alerted || b.now.Sub(s.since) < s.failingAlert {
		return nil
	}
	s.alerted = true
	name, msg := b.q.Name, b.err.Error()
	a := failureAlert(name, b.fs, b.reason, msg, b.now)
	a.Title = fmt.Sprintf("trailbell cannot deliver to receiver %s (failing for %s, still retrying)", name, b.now.Sub(s.since).Round(time.Second))
	a.Description = fmt.Sprintf("Deliveries to %s have failed since %s (%s): %s. trailbell keeps the alerts in its outbox and retries until %s after each was accepted.",
		name, s.since.UTC().Format(time.RFC3339), b.reason, msg, s.deadline)
	s.log.Error("receiver failing; alerting its fallback", "fallback", s.fb.Name, "since", s.since.UTC().Format(time.RFC3339), "reason", b.reason)
	if err := s.store.Move(name, nil, map[string][]*outbox.Item{s.fb.Name: {{Finding: a, Accepted: b.now, From: name}}}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	s.fb.added(1)
	return nil
}

// bury keeps the batch as dead letters, with the receiver it failed on so that Requeue
// can send it back.
func (s *fallbackStage) bury(b *batch) error {
	msg := b.err.Error()
	s.log.Error("delivery failed for good; kept in the outbox's dead letters", "reason", b.reason, "err", msg,
		"findings", len(b.items), "rule", b.items[0].Finding.Rule, "eventID", b.items[0].Finding.EventID)
	dead := make([]*outbox.Item, len(b.items))
	for i, it := range b.items {
		c := *it
		c.From, c.LastError, c.Sent, c.Delivery = b.q.Name, msg, time.Time{}, ""
		dead[i] = &c
	}
	if err := s.store.Move(b.q.Name, b.ids(), map[string][]*outbox.Item{outbox.Dead: dead}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	b.dead = true
	return nil
}

// reroute moves the batch to the fallback receiver, followed by an alert saying why.
func (s *fallbackStage) reroute(b *batch) error {
	name, msg := b.q.Name, b.err.Error()
	s.log.Error("delivery failed for good; sending to the fallback receiver", "fallback", s.fb.Name,
		"reason", b.reason, "err", msg, "findings", len(b.items))
	moved := make([]*outbox.Item, 0, len(b.items)+1)
	for _, it := range b.items {
		moved = append(moved, &outbox.Item{Finding: it.Finding, Accepted: b.now, From: name, LastError: msg})
	}
	moved = append(moved, &outbox.Item{Finding: failureAlert(name, b.fs, b.reason, msg, b.now), Accepted: b.now, From: name})
	if err := s.store.Move(name, b.ids(), map[string][]*outbox.Item{s.fb.Name: moved}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	s.fb.added(len(moved))
	return nil
}

// failureAlert is the Pipeline's own alert about a receiver that failed to deliver the
// alerts fs (an event's merged findings are one).
func failureAlert(name string, fs []*finding.Finding, reason, msg string, now time.Time) finding.Finding {
	var rules []string
	add := func(r string) {
		if !slices.Contains(rules, r) {
			rules = append(rules, r)
		}
	}
	for _, f := range fs {
		add(f.Rule)
		for _, a := range f.Also {
			add(a.Rule)
		}
	}
	return finding.Finding{
		Rule:        DeliveryFailureRule,
		Severity:    finding.High,
		Title:       fmt.Sprintf("trailbell could not deliver %d alert(s) to receiver %s", len(fs), name),
		Description: fmt.Sprintf("Delivery to %s failed permanently (%s): %s. The alerts follow on this receiver.", name, reason, msg),
		EventID:     "delivery-failure-" + name + "-" + strconv.FormatInt(now.UnixNano(), 10),
		EventName:   "DeliveryFailed",
		EventTime:   now.UTC().Format(time.RFC3339),
		Principal:   "trailbell",
		Target:      name,
		Params: []finding.Param{
			{Name: "receiver", Value: name},
			{Name: "reason", Value: reason},
			{Name: "rules", Value: strings.Join(rules, ", ")},
		},
		Record: json.RawMessage("null"),
	}
}
