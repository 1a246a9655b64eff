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

// groupStage picks what goes out next in one message. Its unit is the alert: the items of
// one event (finding.EventKey), whatever rules they come from, sent as one finding led by
// the most severe, the others listed under it (finding.Merge), unless the receiver wants
// them PerRule. It picks the oldest alert and the repeats of its group (the leading rule
// and principal), or, while a backlog lasts, a digest of different alerts. A group that
// sent a message less than GroupWindow ago waits until the window ends, then sends
// everything that came meanwhile as one summary. A message whose answer was lost (see
// outbox.Item.Sent) is picked again exactly as it was, first.
type groupStage struct {
	store       outbox.Store
	window      time.Duration
	digestAfter int
	maxBatch    int
	perRule     bool
	log         *slog.Logger
	report      func(error) // a problem Flush should return

	groups map[groupKey]time.Time // when each group's last message went out
	page   []*alert               // cached head of the queue, as alerts
}

func newGroupStage(store outbox.Store, r Receiver, maxBatch int, log *slog.Logger, report func(error)) *groupStage {
	return &groupStage{store: store, window: r.GroupWindow, digestAfter: r.DigestAfter, maxBatch: maxBatch,
		perRule: r.PerRule, log: log, report: report, groups: map[groupKey]time.Time{}}
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
	alerts, opens := s.pick(b)
	if len(alerts) == 0 {
		s.page = nil // reload: newer items of other groups may be behind this page
		b.hold(opens.Sub(b.now))
		return nil
	}
	b.alerts = alerts
	b.fs = make([]*finding.Finding, len(alerts))
	for i, a := range alerts {
		b.items = append(b.items, a.items...)
		b.fs[i] = a.finding()
	}
	return nil
}

// alert is the items of one event in a queue: one message, or one entry of a summary or
// digest.
type alert struct {
	items []*outbox.Item
	lead  *finding.Finding // the most severe, the first of equals (as finding.Merge)
}

// finding is what the notifier gets: the one finding, or the event's findings merged.
func (a *alert) finding() *finding.Finding {
	if len(a.items) == 1 {
		return a.lead
	}
	fs := make([]*finding.Finding, len(a.items))
	for i, it := range a.items {
		fs[i] = &it.Finding
	}
	return finding.Merge(fs)
}

// add puts it into a, keeping the lead.
func (a *alert) add(it *outbox.Item) {
	a.items = append(a.items, it)
	if a.lead == nil || it.Finding.Severity > a.lead.Severity {
		a.lead = &it.Finding
	}
}

// alerts gathers items into alerts, in the order their events first appear.
func (s *groupStage) alerts(items []*outbox.Item) []*alert {
	all := make([]alert, 0, len(items)) // one allocation for the page's alerts
	out := make([]*alert, 0, len(items))
	var at map[finding.EventKey]*alert
	for i, it := range items {
		k := it.Finding.EventKey()
		if a := at[k]; a != nil {
			a.add(it)
			continue
		}
		// One item so far, in items itself: adding another copies it out.
		all = append(all, alert{items: items[i : i+1 : i+1], lead: &it.Finding})
		a := &all[len(all)-1]
		out = append(out, a)
		if k != (finding.EventKey{}) && !s.perRule {
			if at == nil {
				at = make(map[finding.EventKey]*alert, len(items))
			}
			at[k] = a
		}
	}
	return out
}

func (s *groupStage) load(b *batch) error {
	items, err := s.store.Head(b.q.Name, 0, 4*s.maxBatch)
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
	if len(items) == 4*s.maxBatch && !s.perRule {
		// A full page may end inside an event (its items are adjacent: one Submit, one
		// transaction): leave that event for the next page, so it goes out whole.
		last := items[len(items)-1].Finding.EventKey()
		n := len(items)
		for n > 0 && last != (finding.EventKey{}) && items[n-1].Finding.EventKey() == last {
			n--
		}
		if n > 0 {
			items = items[:n]
		}
	}
	s.page = s.alerts(items)
	return nil
}

// pick chooses the alerts of the next message. Outside a drain, when every group in the
// page waits for its window, opens says when the first may send.
func (s *groupStage) pick(b *batch) (alerts []*alert, opens time.Time) {
	if sent := s.sentBefore(); sent != "" {
		// Sent before with no answer: the same message again, so that it can be
		// recognised (see retryStage), and not merged into a bigger one.
		var items []*outbox.Item
		for _, a := range s.page {
			for _, it := range a.items {
				if it.Delivery == sent {
					items = append(items, it)
				}
			}
		}
		return s.alerts(items), time.Time{}
	}
	if s.digestAfter > 0 && int(b.q.pending.Load()) > s.digestAfter {
		return s.page[:min(len(s.page), s.maxBatch)], time.Time{}
	}
	if s.window <= 0 && !b.drain {
		return s.page[:1], time.Time{}
	}
	var key groupKey
	found := false
	for _, a := range s.page {
		k := keyOf(a.lead)
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
	for _, a := range s.page {
		if keyOf(a.lead) == key && len(alerts) < s.maxBatch {
			alerts = append(alerts, a)
		}
	}
	return alerts, time.Time{}
}

// sentBefore is the delivery id of the first message in the page that was sent with no
// answer yet, or "".
func (s *groupStage) sentBefore() string {
	for _, a := range s.page {
		for _, it := range a.items {
			if it.Delivery != "" {
				return it.Delivery
			}
		}
	}
	return ""
}

// settled drops from the cached page what left the queue, and starts the group's window
// when its message went out.
func (s *groupStage) settled(b *batch) {
	switch b.outcome {
	case delivered, failed:
		if n := len(b.alerts); n <= len(s.page) && slices.Equal(b.alerts, s.page[:n]) {
			s.page = s.page[n:] // the oldest alerts went: the common case, at no cost
		} else {
			s.drop(b.ids())
		}
		if b.outcome == delivered && s.window > 0 {
			s.groups[keyOf(b.fs[0])] = b.now
		}
	}
}

// drop removes the items ids from the cached page.
func (s *groupStage) drop(ids []uint64) {
	s.page = slices.DeleteFunc(s.page, func(a *alert) bool {
		n := len(a.items)
		a.items = slices.DeleteFunc(a.items, func(it *outbox.Item) bool { return slices.Contains(ids, it.ID) })
		if len(a.items) > 0 && len(a.items) < n {
			// part of an event left (messages made before events were merged)
			rest := slices.Clone(a.items)
			a.items, a.lead = a.items[:0], nil
			for _, it := range rest {
				a.add(it)
			}
		}
		return len(a.items) == 0
	})
}
