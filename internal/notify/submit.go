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
// finding (a stage counts what it drops); the stages after it do not see it.
type submitStage interface {
	admit(ctx context.Context, a *admission) (bool, error)
}

var _ = []submitStage{routeStage{}, exceptStage{}, dedupeStage{}, outboxStage{}}

// outboxStage writes the finding for its receivers, atomically with its dedupe key, so
// that a crash never loses it and a concurrent duplicate is still caught.
type outboxStage struct {
	store  outbox.Store
	window time.Duration
	m      *Metrics
}

func (s outboxStage) admit(_ context.Context, a *admission) (bool, error) {
	names := make([]string, len(a.to))
	for i, q := range a.to {
		names[i] = q.Name
	}
	dup, err := s.store.Accept(a.key, &outbox.Item{Finding: *a.f, Accepted: a.now}, names, a.now, s.window)
	if err != nil {
		return false, fmt.Errorf("outbox: accept %s: %w", a.f.Key(), err)
	}
	if dup {
		s.m.duplicates.Inc()
		return false, nil
	}
	for _, q := range a.to {
		q.added(1)
	}
	return true, nil
}
