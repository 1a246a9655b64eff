package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// groupStage picks what goes out next in one message: the oldest item and the repeats of
// its group (rule and principal), or, while a backlog lasts, a digest of different
// findings. A group that sent a message less than GroupWindow ago waits until the window
// ends, then sends everything that came meanwhile as one summary. A message whose answer
// was lost (see outbox.Item.Sent) is picked again exactly as it was, first.
type groupStage struct {
	store       outbox.Store
	window      time.Duration
	digestAfter int
	maxBatch    int
	log         *slog.Logger
	report      func(error) // a problem Flush should return

	groups map[groupKey]time.Time // when each group's last message went out
	page   []*outbox.Item         // cached head of the queue
}

func newGroupStage(store outbox.Store, r Receiver, maxBatch int, log *slog.Logger, report func(error)) *groupStage {
	return &groupStage{store: store, window: r.GroupWindow, digestAfter: r.DigestAfter, maxBatch: maxBatch, log: log,
		report: report, groups: map[groupKey]time.Time{}}
}

// groupKey is finding.GroupKey as a comparable struct: no string to build per item.
type groupKey struct{ rule, principal string }

func keyOf(f *finding.Finding) groupKey { return groupKey{f.Rule, f.Principal} }

// reset drops the cached head of the queue.
func (s *groupStage) reset() { s.page = nil }

func (s *groupStage) exec(_ context.Context, b *batch) error {
	if len(s.page) == 0 {
		if err := s.load(b); err != nil {
			return err
		}
		if len(s.page) == 0 {
			for k, t := range s.groups {
				if b.now.Sub(t) >= s.window {
					delete(s.groups, k)
				}
			}
			b.idle = true
			return nil
		}
	}
	items, opens := s.pick(b)
	if len(items) == 0 {
		s.page = nil // reload: newer items of other groups may be behind this page
		b.hold(opens.Sub(b.now))
		return nil
	}
	b.items = items
	b.fs = make([]*finding.Finding, len(items))
	for i, it := range items {
		b.fs[i] = &it.Finding
	}
	return nil
}

func (s *groupStage) load(b *batch) error {
	var err error
	s.page, err = s.store.Head(b.q.Name, 0, 4*s.maxBatch)
	var ce *outbox.CorruptError
	if errors.As(err, &ce) {
		// Counted and reported, then delivery goes on with the readable items.
		s.log.Error("outbox items unreadable; set aside", "count", ce.Count, "err", err)
		b.q.m.failed("corrupt").Add(float64(ce.Count))
		b.q.removed(ce.Count)
		s.report(ce)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// pick chooses the items of the next message. Outside a drain, when every group in the
// page waits for its window, opens says when the first may send.
func (s *groupStage) pick(b *batch) (items []*outbox.Item, opens time.Time) {
	if i := slices.IndexFunc(s.page, func(it *outbox.Item) bool { return it.Delivery != "" }); i >= 0 {
		// Sent before with no answer: the same message again, so that it can be
		// recognised (see retryStage), and not merged into a bigger one.
		for _, it := range s.page[i:] {
			if it.Delivery == s.page[i].Delivery {
				items = append(items, it)
			}
		}
		return items, time.Time{}
	}
	if s.digestAfter > 0 && int(b.q.pending.Load()) > s.digestAfter {
		return slices.Clone(s.page[:min(len(s.page), s.maxBatch)]), time.Time{}
	}
	if s.window <= 0 && !b.drain {
		return []*outbox.Item{s.page[0]}, time.Time{}
	}
	var key groupKey
	found := false
	for _, it := range s.page {
		k := keyOf(&it.Finding)
		last, ok := s.groups[k]
		if b.drain || !ok || b.now.Sub(last) >= s.window {
			key, found = k, true
			break
		}
		if o := last.Add(s.window); opens.IsZero() || o.Before(opens) {
			opens = o
		}
	}
	if !found {
		if opens.IsZero() {
			opens = b.now
		}
		return nil, opens
	}
	for _, it := range s.page {
		if keyOf(&it.Finding) == key && len(items) < s.maxBatch {
			items = append(items, it)
		}
	}
	return items, time.Time{}
}

// settled drops from the cached page what left the queue, and starts the group's window
// when its message went out.
func (s *groupStage) settled(b *batch) {
	switch b.outcome {
	case delivered, failed:
		ids := b.ids()
		s.page = slices.DeleteFunc(s.page, func(it *outbox.Item) bool { return slices.Contains(ids, it.ID) })
		if b.outcome == delivered && s.window > 0 {
			s.groups[keyOf(b.fs[0])] = b.now
		}
	}
}
