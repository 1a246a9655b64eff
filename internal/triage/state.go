package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
)

// maxAlertBytes keeps an alert item well inside DynamoDB's 400 KB: past it the records of
// its findings are left out (an update then shows less of who called how).
const maxAlertBytes = 300 << 10

// timeKey is t as a key that sorts in time order.
func timeKey(t time.Time) string { return t.UTC().Format("20060102T150405.000000000Z") }

// keySeq numbers the ordered keys this process makes.
var keySeq atomic.Uint64

// orderedKey is a unique key of time t (audit entries, jobs) that sorts by t, then after every
// key this process made before for the same instant: what happens in one instant keeps its
// order.
func orderedKey(t time.Time) string {
	return fmt.Sprintf("%s/%012x%s", timeKey(t), keySeq.Add(1), newID(""))
}

// Alert returns the alert named id, or nil when none is remembered.
func (s *Service) Alert(ctx context.Context, id string) (*Alert, error) {
	if id == "" {
		return nil, nil
	}
	it, err := s.o.Store.Get(ctx, partAlert, id)
	if err != nil || it.Version == 0 {
		return nil, err
	}
	var a Alert
	if err := json.Unmarshal(it.Value, &a); err != nil {
		return nil, fmt.Errorf("alert %s: %w", id, err)
	}
	a.version = it.Version
	return &a, nil
}

// alertOp writes a as read (its version the condition).
func (s *Service) alertOp(a *Alert) (Op, error) {
	v, err := json.Marshal(a)
	if err != nil {
		return Op{}, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	if len(v) > maxAlertBytes {
		c := *a
		c.Findings = make([]finding.Finding, len(a.Findings))
		for i, f := range a.Findings {
			f.Record = json.RawMessage("null")
			c.Findings[i] = f
		}
		if v, err = json.Marshal(&c); err != nil {
			return Op{}, fmt.Errorf("alert %s: %w", a.ID, err)
		}
	}
	return Op{Part: partAlert, Key: a.ID, Value: v, Version: a.version, Expires: a.Posted.Add(s.o.Retention)}, nil
}

// change applies fn's changes to alert id and the ops it returns, in one Apply with more,
// reading the alert again when another writer changed it meanwhile. fn sees nil for an
// alert that is not remembered; it returns errNoChange to leave everything as it is.
func (s *Service) change(ctx context.Context, id string, fn func(a *Alert) ([]Op, error), more ...Op) error {
	for attempt := 0; ; attempt++ {
		a, err := s.Alert(ctx, id)
		if err != nil {
			return err
		}
		ops, err := fn(a)
		if err != nil {
			return err
		}
		if a != nil {
			op, err := s.alertOp(a)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		err = s.o.Store.Apply(ctx, append(ops, more...)...)
		if !errors.Is(err, ErrConflict) || attempt == 4 {
			return err
		}
	}
}

// errNoChange ends a change without writing anything.
var errNoChange = errors.New("no change")

// Prepare remembers an alert before its message is posted, with its findings, so that its
// buttons name something and a crash after posting loses nothing but the message's
// timestamp (a click fills it in). An alert posted before (the same delivery, sent again
// after a lost answer) is returned as it is, with what people did about it. A high or
// critical alert gets its re-raise check.
func (s *Service) Prepare(ctx context.Context, receiver, delivery string, fs []finding.Finding) (*Alert, error) {
	id := AlertID(receiver, delivery)
	a, err := s.Alert(ctx, id)
	if err != nil || a != nil {
		return a, err
	}
	now := s.o.Now()
	a = &Alert{ID: id, Receiver: receiver, Posted: now, Findings: fs}
	op, err := s.alertOp(a)
	if err != nil {
		return nil, err
	}
	ops := []Op{op}
	if s.o.ReraiseAfter > 0 && a.Severity() >= finding.High && a.Lead().Rule != RuleUnacknowledged {
		ops = append(ops, jobOp(job{Kind: jobReraise, Alert: id}, now.Add(s.o.ReraiseAfter)))
	}
	if err := s.o.Store.Apply(ctx, ops...); err != nil {
		if errors.Is(err, ErrConflict) { // another process prepared it first
			return s.Alert(ctx, id)
		}
		return nil, err
	}
	a.version = 1
	return a, nil
}

// Posted records where an alert's message went: its channel, its timestamp and the thread it
// is in (its own timestamp when it starts none).
func (s *Service) Posted(ctx context.Context, id, channel, ts, thread string) error {
	return s.change(ctx, id, func(a *Alert) ([]Op, error) {
		if a == nil {
			return nil, fmt.Errorf("alert %s: not prepared", id)
		}
		a.Channel, a.TS, a.Thread = channel, ts, thread
		return nil, nil
	})
}

// Fresh records the signature of a request Slack signed at ts and reports whether it is new.
// A replayed request is refused; its signature is kept until requests of its time are
// refused as stale anyway.
func (s *Service) Fresh(ctx context.Context, signature string, ts time.Time) (bool, error) {
	err := s.o.Store.Apply(ctx, Op{Part: partSeen, Key: signature, Value: []byte{1}, Expires: ts.Add(15 * time.Minute)})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}
