package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
)

// muteRefresh is how stale the mutes a process applies may get: a mute made or removed by
// another process (`trailbell mutes remove`, another Lambda instance) counts within it.
const muteRefresh = 15 * time.Second

type muteSnapshot struct {
	at     time.Time
	mutes  []Mute
	byRule map[string][]*Mute // the mutes silencing each rule
}

func newSnapshot(at time.Time, ms []Mute) *muteSnapshot {
	snap := &muteSnapshot{at: at, mutes: ms, byRule: map[string][]*Mute{}}
	for i := range ms {
		for _, r := range ms[i].Rules() {
			snap.byRule[r] = append(snap.byRule[r], &ms[i])
		}
	}
	return snap
}

// Mutes lists the mutes in force, soonest end first.
func (s *Service) Mutes(ctx context.Context) ([]Mute, error) {
	items, err := s.o.Store.List(ctx, partMute, "", "", 0)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	var out []Mute
	for _, it := range items {
		var m Mute
		if err := json.Unmarshal(it.Value, &m); err != nil {
			return nil, fmt.Errorf("mute %s: %w", it.Key, err)
		}
		if m.Until.After(now) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Mute) int { return a.Until.Compare(b.Until) })
	return out, nil
}

// Muted says whether a mute in force silences f, and names it. It reads the mutes again when
// they are older than 15 seconds; when that fails it goes on with those it has (none on the
// first read: an unreadable store never silences anything).
func (s *Service) Muted(ctx context.Context, f *finding.Finding) (string, bool) {
	snap := s.mutes.Load()
	now := s.o.Now()
	if snap == nil || now.Sub(snap.at) >= muteRefresh {
		snap = s.refreshMutes(ctx, snap)
	}
	for _, m := range snap.byRule[f.Rule] {
		if m.Until.After(now) && m.Matches(f) {
			return m.ID, true
		}
	}
	return "", false
}

func (s *Service) refreshMutes(ctx context.Context, old *muteSnapshot) *muteSnapshot {
	s.muteMu.Lock()
	defer s.muteMu.Unlock()
	if cur := s.mutes.Load(); cur != old && cur != nil {
		return cur // refreshed meanwhile
	}
	ms, err := s.Mutes(ctx)
	if err != nil {
		s.log.Error("reading mutes failed; applying those read before", "err", err)
		if old != nil {
			ms = old.mutes
		}
	}
	snap := newSnapshot(s.o.Now(), ms)
	s.mutes.Store(snap)
	return snap
}

// forgetMutes makes the next Muted read the mutes again (this process changed them).
func (s *Service) forgetMutes() { s.mutes.Store(nil) }

// ErrNoMute is a mute id that names no mute in force.
var ErrNoMute = errors.New("no such mute in force")

// RemoveMute ends mute id before its time, as who (e.g. "cli:alice") says, for reason. The
// alert's thread is told (by the worker of `trailbell run` or the Lambda).
func (s *Service) RemoveMute(ctx context.Context, id, whoName, reason string) (*Mute, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, errors.New("a reason is required")
	}
	it, err := s.o.Store.Get(ctx, partMute, id)
	if err != nil {
		return nil, err
	}
	if it.Version == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoMute, id)
	}
	var m Mute
	if err := json.Unmarshal(it.Value, &m); err != nil {
		return nil, fmt.Errorf("mute %s: %w", id, err)
	}
	now := s.o.Now()
	e := Entry{Time: now, Who: whoName, Action: AuditUnmute, Mute: id, Until: m.Until, Reason: reason,
		Rule: m.Rule, Principal: m.Principal, Alert: m.Alert}
	aop, err := auditOp(e)
	if err != nil {
		return nil, err
	}
	del := Op{Part: partMute, Key: id, Version: it.Version}
	note := fmt.Sprintf(":bell: Mute %s was removed by %s: %s alerts again for %s. Reason: %s", code(id), text(whoName),
		rules(&m), code(m.Principal), quote(reason))
	err = s.change(ctx, m.Alert, func(a *Alert) ([]Op, error) {
		if a == nil {
			return nil, nil
		}
		if a.Mute == id {
			a.Mute, a.MuteUntil = "", time.Time{}
		}
		return []Op{jobOp(job{Kind: jobNote, Alert: a.ID, Text: note}, now), jobOp(job{Kind: jobUpdate, Alert: a.ID}, now)}, nil
	}, del, aop)
	if errors.Is(err, ErrConflict) {
		return nil, fmt.Errorf("mute %s changed meanwhile; try again", id)
	}
	if err != nil {
		return nil, err
	}
	s.forgetMutes()
	s.Kick()
	return &m, nil
}
