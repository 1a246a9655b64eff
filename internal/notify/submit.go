package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// admission is one finding on its way into the outbox. The submit stages narrow it down
// in turn: route names its receivers, except and dedupe may drop it, and the outbox
// stage writes it durably.
type admission struct {
	f   *finding.Finding
	now time.Time
	to  []*queue
	key string // dedupe key, "" for a finding without an eventID

	m    Matcher
	hits map[string]bool // pattern ids the finding's JSON matched, once asked
}

// hit reports whether the pattern added as id matches the finding. The finding is
// encoded and matched once, for every route and exception pattern together.
func (a *admission) hit(id string) (bool, error) {
	if a.hits == nil {
		doc, err := json.Marshal(a.f)
		if err != nil {
			return false, fmt.Errorf("encode finding %s: %w", a.f.Key(), err)
		}
		ids, err := a.m.Match(doc)
		if err != nil {
			return false, fmt.Errorf("match finding %s: %w", a.f.Key(), err)
		}
		a.hits = make(map[string]bool, len(ids))
		for _, id := range ids {
			a.hits[id] = true
		}
	}
	return a.hits[id], nil
}

// A submitStage does one job to a finding being submitted. It returns false to drop the
// finding (a stage counts what it drops); the stages after it do not see it. The outbox
// stage comes last and takes the findings of one Submit together.
type submitStage interface {
	admit(ctx context.Context, a *admission) (bool, error)
}

var _ = []submitStage{routeStage{}, exceptStage{}, dedupeStage{}}

// outboxStage writes the findings of one Submit for their receivers in one transaction,
// with their dedupe keys, so that a crash never loses one, a concurrent duplicate is still
// caught, and a delivery worker never sees part of an event's findings (they make one
// alert; see groupStage).
type outboxStage struct {
	store  outbox.Store
	window time.Duration
	m      *Metrics
}

func (s outboxStage) accept(as []admission) error {
	es := make([]outbox.Entry, len(as))
	items := make([]outbox.Item, len(as))
	for i := range as {
		a := &as[i]
		names := make([]string, len(a.to))
		for j, q := range a.to {
			names[j] = q.Name
		}
		items[i] = outbox.Item{Finding: *a.f, Accepted: a.now}
		es[i] = outbox.Entry{Key: a.key, Item: &items[i], Queues: names}
	}
	dup, err := s.store.Accept(as[0].now, s.window, es...)
	if err != nil {
		if len(as) == 1 {
			return fmt.Errorf("outbox: accept %s: %w", as[0].f.Key(), err)
		}
		return fmt.Errorf("outbox: accept %s and %d more: %w", as[0].f.Key(), len(as)-1, err)
	}
	for i, d := range dup {
		if d {
			s.m.duplicates.Inc()
			continue
		}
		for _, q := range as[i].to {
			q.added(1)
		}
	}
	return nil
}
