package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Slack is what jobs do in Slack, with the bot token of the alert's receiver
// (notify/slack.Triage). An error wrapping ErrPermanent is not retried.
type Slack interface {
	// UpdateAlert shows the alert's state in its message (chat.update).
	UpdateAlert(ctx context.Context, a *Alert) error
	// Note posts text (mrkdwn) in the alert's thread, also to the channel with broadcast.
	Note(ctx context.Context, a *Alert, text string, broadcast bool) error
	// Ask opens a direct message with a.Ask.User and asks "Did you do this?"; it returns
	// the DM's channel and the question's timestamp.
	Ask(ctx context.Context, a *Alert) (dm, ts string, err error)
	// UpdateQuestion shows the answer (or its absence) in the question's message.
	UpdateQuestion(ctx context.Context, a *Alert) error
	// LookupEmail finds the Slack user with an e-mail address (users.lookupByEmail).
	LookupEmail(ctx context.Context, receiver, email string) (string, error)
	// Ephemeral tells the user behind a response_url something only they see.
	Ephemeral(ctx context.Context, responseURL, text string) error
}

// ErrPermanent marks a failure that trying again cannot fix.
var ErrPermanent = errors.New("permanent")

// Kinds of jobs.
const (
	jobUpdate    = "update"    // show the alert's state in its message
	jobNote      = "note"      // a line in the alert's thread
	jobAsk       = "ask"       // find the actor and ask them
	jobQuestion  = "question"  // show the answer in the question's message
	jobEscalate  = "escalate"  // a critical finding through the route tree
	jobEphemeral = "ephemeral" // tell the clicking user why nothing was done
	jobReraise   = "reraise"   // timer: re-raise the alert if nobody acknowledged it
	jobDeadline  = "deadline"  // timer: escalate the question if the actor did not answer
	jobExpire    = "expire"    // timer: end a mute
)

// job is one step done after an interaction, or at a time.
type job struct {
	Kind      string    `json:"kind"`
	Alert     string    `json:"alert,omitempty"`
	Mute      string    `json:"mute,omitempty"`
	Text      string    `json:"text,omitempty"`
	Broadcast bool      `json:"broadcast,omitempty"`
	URL       string    `json:"url,omitempty"` // a response_url
	Rule      string    `json:"rule,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	Lease     time.Time `json:"lease,omitzero"`
}

// jobOp queues j to run at due.
func jobOp(j job, due time.Time) Op {
	v, _ := json.Marshal(j) // a job's fields always encode
	return Op{Part: partJob, Key: orderedKey(due), Value: v}
}

const (
	lease       = 2 * time.Minute // a job being run is left alone by other workers this long
	maxAttempts = 12              // then a failing Slack call is given up (about 4 hours)
)

// backoff is the wait before attempt n+1 of a job.
func backoff(n int) time.Duration { return min(15*time.Second<<min(n, 10), 30*time.Minute) }

// Kick wakes Run: jobs were queued.
func (s *Service) Kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run does jobs until ctx ends: those due, then waits for the next one, a Kick, or 30 seconds
// (jobs another process queued: `trailbell mutes remove`). It also keeps the mutes fresh and
// prunes what expired from a BoltStore every hour.
func (s *Service) Run(ctx context.Context) error {
	var pruned time.Time
	for {
		next, err := s.Work(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Error("triage jobs failed; retried shortly", "err", err)
		}
		now := s.o.Now()
		if p, ok := s.o.Store.(interface {
			Prune(context.Context) (int, error)
		}); ok && now.Sub(pruned) >= time.Hour {
			pruned = now
			if n, err := p.Prune(ctx); err != nil {
				s.log.Error("pruning triage state failed", "err", err)
			} else if n > 0 {
				s.log.Info("pruned expired triage state", "items", n)
			}
		}
		wait := 30 * time.Second
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(now), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Work does the jobs that are due and returns when none is left (or ctx ends), with when
// the next one is due (zero: none queued). Several workers may run at once (Lambda
// instances): each job is leased by one.
func (s *Service) Work(ctx context.Context) (time.Time, error) {
	for {
		now := s.o.Now()
		items, err := s.o.Store.List(ctx, partJob, "", timeKey(now)+"/\xff", 50)
		if err != nil {
			return time.Time{}, err
		}
		ran := 0
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return time.Time{}, err
			}
			var j job
			if err := json.Unmarshal(it.Value, &j); err != nil {
				s.log.Error("unreadable triage job dropped", "key", it.Key, "err", err)
				_ = s.o.Store.Apply(ctx, Op{Part: partJob, Key: it.Key, Version: it.Version})
				continue
			}
			if j.Lease.After(now) && !s.o.SoleWorker {
				continue
			}
			if err := s.runJob(ctx, it, j); err != nil {
				return time.Time{}, err
			}
			ran++
		}
		if ran == 0 { // jobs the ones done queued are due too: another pass
			break
		}
	}
	first, err := s.o.Store.List(ctx, partJob, "", "", 1)
	if err != nil || len(first) == 0 {
		return time.Time{}, err
	}
	due, err := time.Parse("20060102T150405.000000000Z", strings.SplitN(first[0].Key, "/", 2)[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("job key %s: %w", first[0].Key, err)
	}
	return due, nil
}

// runJob leases one job, does it and removes it, or queues it again for later. The error is
// the store failing.
func (s *Service) runJob(ctx context.Context, it Item, j job) error {
	now := s.o.Now()
	done := Op{Part: partJob, Key: it.Key, Version: it.Version}
	if !s.o.SoleWorker {
		j.Lease = now.Add(lease)
		v, _ := json.Marshal(j)
		if err := s.o.Store.Apply(ctx, Op{Part: partJob, Key: it.Key, Value: v, Version: it.Version}); err != nil {
			if errors.Is(err, ErrConflict) {
				return nil // another worker has it
			}
			return err
		}
		done.Version++
	}
	err := s.exec(ctx, j, done)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict):
		return nil // the lease ran out and another worker did it, or state moved: it is retried
	case ctx.Err() != nil:
		return ctx.Err()
	}
	j.Attempts++
	j.Lease = time.Time{}
	log := s.log.With("job", j.Kind, "alert", j.Alert, "attempt", j.Attempts)
	if errors.Is(err, ErrPermanent) || j.Attempts >= maxAttempts {
		log.Error("triage job failed for good; given up", "err", err)
		e := Entry{Time: now, Who: SystemWho, Action: AuditJobAbandoned, Alert: j.Alert, Mute: j.Mute,
			Detail: fmt.Sprintf("%s: %v", j.Kind, err)}
		aop, aerr := auditOp(e)
		if aerr != nil {
			return aerr
		}
		return ignoreConflict(s.o.Store.Apply(ctx, done, aop))
	}
	log.Warn("triage job failed; tried again later", "err", err, "in", backoff(j.Attempts-1))
	return ignoreConflict(s.o.Store.Apply(ctx, done, jobOp(j, now.Add(backoff(j.Attempts-1)))))
}

func ignoreConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// exec does one job; done removes it, in the same Apply as the state it changes.
func (s *Service) exec(ctx context.Context, j job, done Op) error {
	if s.o.Slack == nil {
		return fmt.Errorf("%w: no Slack to do %s jobs with", ErrPermanent, j.Kind)
	}
	switch j.Kind {
	case jobEphemeral:
		if err := s.o.Slack.Ephemeral(ctx, j.URL, j.Text); err != nil {
			return err
		}
		return s.o.Store.Apply(ctx, done)
	case jobReraise:
		return s.reraise(ctx, j, done)
	case jobDeadline:
		return s.deadline(ctx, j, done)
	case jobExpire:
		return s.expire(ctx, j, done)
	case jobAsk:
		return s.ask(ctx, j, done)
	}
	a, err := s.Alert(ctx, j.Alert)
	if err != nil {
		return err
	}
	if a == nil {
		return s.o.Store.Apply(ctx, done) // forgotten: nothing to show it in
	}
	switch j.Kind {
	case jobUpdate:
		if a.TS != "" {
			err = s.o.Slack.UpdateAlert(ctx, a)
		}
	case jobNote:
		if a.Channel != "" {
			err = s.o.Slack.Note(ctx, a, j.Text, j.Broadcast)
		}
	case jobQuestion:
		if a.Ask != nil && a.Ask.DM != "" {
			err = s.o.Slack.UpdateQuestion(ctx, a)
		}
	case jobEscalate:
		return s.escalate(ctx, a, j, done)
	default:
		err = fmt.Errorf("%w: unknown job %q", ErrPermanent, j.Kind)
	}
	if err != nil {
		return err
	}
	return s.o.Store.Apply(ctx, done)
}

// escalate hands the critical finding of an actor's "No" or silence to the route tree.
func (s *Service) escalate(ctx context.Context, a *Alert, j job, done Op) error {
	if s.o.Submit == nil {
		return fmt.Errorf("%w: no route tree to escalate to", ErrPermanent)
	}
	f := escalation(a, j.Rule, s.o.AskTimeout)
	if err := s.o.Submit(ctx, f); err != nil {
		return err
	}
	e := entry(s.o.Now(), User{}, AuditEscalate, a)
	e.Detail = fmt.Sprintf("%s (critical) handed to the route tree", j.Rule)
	aop, err := auditOp(e)
	if err != nil {
		return err
	}
	return s.o.Store.Apply(ctx, done, aop)
}

// reraise sends an alert nobody acknowledged to its receiver's fallback, once.
func (s *Service) reraise(ctx context.Context, j job, done Op) error {
	a, err := s.Alert(ctx, j.Alert)
	if err != nil {
		return err
	}
	if a == nil || a.Handled() || !a.Reraised.IsZero() || a.TS == "" {
		return s.o.Store.Apply(ctx, done) // someone is on it, re-raised already, or never posted
	}
	fb := s.o.Fallbacks[a.Receiver]
	if fb != "" {
		if s.o.SubmitTo == nil {
			return fmt.Errorf("%w: no pipeline to re-raise to %s", ErrPermanent, fb)
		}
		if err := s.o.SubmitTo(ctx, fb, reraised(a, s.o.ReraiseAfter)); err != nil {
			return err
		}
	}
	now := s.o.Now()
	return s.change(ctx, a.ID, func(a *Alert) ([]Op, error) {
		if a == nil {
			return nil, nil
		}
		a.Reraised = now
		e := entry(now, User{}, AuditReraise, a)
		note := fmt.Sprintf(":arrow_double_up: Nobody acknowledged this %s alert within %s", a.Severity(), span(s.o.ReraiseAfter))
		if fb != "" {
			e.Detail = "re-raised to receiver " + fb
			note += ": re-raised to " + text(fb) + "."
		} else {
			e.Detail = "the receiver has no fallback: re-raised in the channel"
			note += ". <!here> please acknowledge it or say why it is fine."
		}
		aop, err := auditOp(e)
		if err != nil {
			return nil, err
		}
		return []Op{aop, jobOp(job{Kind: jobNote, Alert: a.ID, Text: note, Broadcast: fb == ""}, now),
			jobOp(job{Kind: jobUpdate, Alert: a.ID}, now)}, nil
	}, done)
}

// deadline escalates a question the actor did not answer in time.
func (s *Service) deadline(ctx context.Context, j job, done Op) error {
	now := s.o.Now()
	err := s.change(ctx, j.Alert, func(a *Alert) ([]Op, error) {
		if a == nil || a.Ask == nil || a.Ask.State != AskAsked || a.Ask.Deadline.After(now) {
			return nil, errNoChange
		}
		a.Ask.State, a.Ask.Answered = AskNoAnswer, now
		e := entry(now, User{}, AuditNoAnswer, a)
		e.Detail = fmt.Sprintf("no answer from %s within %s", mention(a.Ask.User), span(s.o.AskTimeout))
		aop, err := auditOp(e)
		if err != nil {
			return nil, err
		}
		note := fmt.Sprintf(":rotating_light: %s did not answer within %s whether they did this: escalated as critical (%s).",
			mention(a.Ask.User), span(s.o.AskTimeout), code(RuleNoAnswer))
		return []Op{aop,
			jobOp(job{Kind: jobEscalate, Alert: a.ID, Rule: RuleNoAnswer}, now),
			jobOp(job{Kind: jobNote, Alert: a.ID, Text: note, Broadcast: true}, now),
			jobOp(job{Kind: jobQuestion, Alert: a.ID}, now),
			jobOp(job{Kind: jobUpdate, Alert: a.ID}, now)}, nil
	}, done)
	if errors.Is(err, errNoChange) {
		return s.o.Store.Apply(ctx, done)
	}
	return err
}

// expire ends a mute whose time is up, and says so in its alert's thread.
func (s *Service) expire(ctx context.Context, j job, done Op) error {
	it, err := s.o.Store.Get(ctx, partMute, j.Mute)
	if err != nil {
		return err
	}
	var m Mute
	if it.Version != 0 {
		if err := json.Unmarshal(it.Value, &m); err != nil {
			return fmt.Errorf("mute %s: %w", j.Mute, err)
		}
	}
	now := s.o.Now()
	if it.Version == 0 || m.Until.After(now) {
		return s.o.Store.Apply(ctx, done) // removed before its time (or not yet due)
	}
	e := Entry{Time: now, Who: SystemWho, Action: AuditMuteExpired, Mute: m.ID, Until: m.Until, Rule: m.Rule,
		Principal: m.Principal, Alert: m.Alert}
	aop, err := auditOp(e)
	if err != nil {
		return err
	}
	note := fmt.Sprintf(":bell: Mute %s ended: %s alerts again for %s.", code(m.ID), rules(&m), code(m.Principal))
	err = s.change(ctx, m.Alert, func(a *Alert) ([]Op, error) {
		if a == nil {
			return nil, nil
		}
		if a.Mute == m.ID {
			a.Mute, a.MuteUntil = "", time.Time{}
		}
		return []Op{jobOp(job{Kind: jobNote, Alert: a.ID, Text: note}, now), jobOp(job{Kind: jobUpdate, Alert: a.ID}, now)}, nil
	}, Op{Part: partMute, Key: m.ID, Version: it.Version}, aop, done)
	if err == nil {
		s.forgetMutes()
	}
	return err
}

// ask finds the actor's Slack user and sends them the question.
func (s *Service) ask(ctx context.Context, j job, done Op) error {
	a, err := s.Alert(ctx, j.Alert)
	if err != nil {
		return err
	}
	if a == nil || a.Ask == nil || a.Ask.State != AskSending {
		return s.o.Store.Apply(ctx, done)
	}
	now := s.o.Now()
	user, err := s.actorUser(ctx, a)
	var dm, ts string
	deadline := now.Add(s.o.AskTimeout)
	if err == nil {
		q := *a
		ask := *a.Ask
		ask.State, ask.User, ask.Deadline = AskAsked, user, deadline
		q.Ask = &ask
		dm, ts, err = s.o.Slack.Ask(ctx, &q)
	}
	if err != nil && !errors.Is(err, ErrPermanent) {
		return err
	}
	failure := err
	return s.change(ctx, a.ID, func(a *Alert) ([]Op, error) {
		if a == nil || a.Ask == nil || a.Ask.State != AskSending {
			return nil, nil
		}
		if failure != nil {
			a.Ask.State, a.Ask.Error = AskFailed, strings.TrimPrefix(failure.Error(), ErrPermanent.Error()+": ")
			e := entry(now, User{}, AuditAskFailed, a)
			e.Detail = a.Ask.Error
			aop, err := auditOp(e)
			if err != nil {
				return nil, err
			}
			note := fmt.Sprintf(":warning: Could not ask the actor (%s): %s", actorName(a), text(a.Ask.Error))
			return []Op{aop, jobOp(job{Kind: jobNote, Alert: a.ID, Text: note}, now), jobOp(job{Kind: jobUpdate, Alert: a.ID}, now)}, nil
		}
		a.ActorUser = user
		a.Ask.State, a.Ask.User, a.Ask.DM, a.Ask.DMTS, a.Ask.Deadline = AskAsked, user, dm, ts, deadline
		e := entry(now, User{}, AuditAsked, a)
		e.Detail = "asked " + user + " (" + actorName(a) + ")"
		aop, err := auditOp(e)
		if err != nil {
			return nil, err
		}
		note := fmt.Sprintf(":speech_balloon: Asked %s (%s) whether they did this, for %s. No answer by %s escalates it.",
			mention(user), actorName(a), mention(a.Ask.By.ID), clock(deadline))
		return []Op{aop,
			jobOp(job{Kind: jobDeadline, Alert: a.ID}, deadline),
			jobOp(job{Kind: jobNote, Alert: a.ID, Text: note}, now),
			jobOp(job{Kind: jobUpdate, Alert: a.ID}, now)}, nil
	}, done)
}

// actorUser is the Slack user of the alert's actor: known already, mapped in identities, or
// looked up by e-mail. ErrPermanent says there is none to be found.
func (s *Service) actorUser(ctx context.Context, a *Alert) (string, error) {
	if a.ActorUser != "" {
		return a.ActorUser, nil
	}
	v, ok := s.identity(a)
	if !ok {
		return "", fmt.Errorf("%w: no Slack user is known for %s: map it in interactive.identities", ErrPermanent, actorName(a))
	}
	if IsUserID(v) {
		return v, nil
	}
	if !isEmail(v) {
		return "", fmt.Errorf("%w: interactive.identities maps %s to %q, neither a Slack user id nor an e-mail address",
			ErrPermanent, actorName(a), v)
	}
	s.lookupMu.Lock()
	l, ok := s.lookups[v]
	s.lookupMu.Unlock()
	if ok && s.o.Now().Sub(l.at) < time.Hour {
		return l.user, nil
	}
	if s.o.Slack == nil {
		return "", fmt.Errorf("no Slack to look %s up with", v)
	}
	u, err := s.o.Slack.LookupEmail(ctx, a.Receiver, v)
	if err != nil {
		return "", err
	}
	s.lookupMu.Lock()
	s.lookups[v] = lookup{user: u, at: s.o.Now()}
	s.lookupMu.Unlock()
	return u, nil
}
