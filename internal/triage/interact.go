package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The action ids of the buttons triage puts on alerts and questions.
const (
	ActAck    = "trailbell_ack"
	ActAsk    = "trailbell_ask"
	ActMute   = "trailbell_mute"
	ActUnmute = "trailbell_unmute"
	ActYes    = "trailbell_yes"
	ActNo     = "trailbell_no"
)

// The modals triage has opened (their callback ids).
const (
	ModalMute   = "trailbell_mute"
	ModalReason = "trailbell_reason"
)

// MaxReason bounds a reason typed into a modal.
const MaxReason = 500

var (
	// ErrForged is a signed request that names a user, channel or message other than the
	// ones it acts on: the acting user is always the one Slack signed for, and answers come
	// only from the user asked, in the conversation they were asked in.
	ErrForged = errors.New("interaction does not match the user, channel or message it acts on")
	// ErrUnknownAction is an action or modal trailbell never made.
	ErrUnknownAction = errors.New("unknown action")
)

// Click is a button pressed on an alert or a question, as Slack signed it.
type Click struct {
	Action string
	Value  string // the button's value: an alert id (a mute id for ActUnmute)
	User   User   // who pressed it
	// Channel and MessageTS name the message the button is on.
	Channel, MessageTS string
	ResponseURL        string
}

// Submission is a modal submitted, as Slack signed it.
type Submission struct {
	Modal string // ModalMute or ModalReason
	User  User   // who submitted it
	// Alert and Opener come from the modal's private metadata: the alert it is about and the
	// user it was opened for.
	Alert, Opener string
	Reason        string
	Duration      time.Duration // a mute's
	Scope         string        // a mute's
}

// Reply says what the HTTP side does once an interaction is handled.
type Reply struct {
	// Modal asks for a modal to be opened now, with the click's trigger (ModalMute or
	// ModalReason), about Alert.
	Modal string
	Alert *Alert
	// Errors are messages for a submitted modal's blocks, by block id: the modal stays open.
	Errors map[string]string
	// Changed says that jobs wait (state changed, or the user is to be told why not).
	Changed bool
}

// Click handles a button. The error is ErrForged, ErrUnknownAction, or the store failing;
// a click that may not do what it asks changes nothing and has the user told why.
func (s *Service) Click(ctx context.Context, c Click) (Reply, error) {
	if c.Action == ActUnmute {
		return s.unmute(ctx, c)
	}
	switch c.Action {
	case ActAck, ActAsk, ActMute, ActYes, ActNo:
	default:
		return Reply{}, fmt.Errorf("%w %q", ErrUnknownAction, c.Action)
	}
	if !IsUserID(c.User.ID) {
		return Reply{}, fmt.Errorf("%w: no user", ErrForged)
	}
	a, err := s.Alert(ctx, c.Value)
	if err != nil {
		return Reply{}, err
	}
	if a == nil {
		return s.refuse(ctx, c, "trailbell no longer remembers this alert (alerts are kept for "+span(s.o.Retention)+").")
	}
	if c.Action == ActYes || c.Action == ActNo {
		return s.answer(ctx, c, a)
	}
	// The button must be on the alert's own message.
	if a.Channel != "" && a.Channel != c.Channel || a.TS != "" && a.TS != c.MessageTS {
		return Reply{}, fmt.Errorf("%w: alert %s is not the message clicked", ErrForged, a.ID)
	}
	if why, err := s.mayAct(ctx, a, c.User); err != nil || why != "" {
		if err != nil {
			return Reply{}, err
		}
		return s.refuse(ctx, c, why)
	}
	now := s.o.Now()
	switch c.Action {
	case ActAck:
		if a.Ack != nil {
			return s.refuse(ctx, c, fmt.Sprintf("%s acknowledged this alert already, at %s.", mention(a.Ack.By.ID), clock(a.Ack.At)))
		}
	case ActAsk:
		if !s.Askable(a) {
			return s.refuse(ctx, c, "This alert names no actor trailbell can reach in Slack.")
		}
		if a.Ask != nil && a.Ask.State != AskFailed {
			return s.refuse(ctx, c, fmt.Sprintf("%s asked already, at %s.", mention(a.Ask.By.ID), clock(a.Ask.At)))
		}
	case ActMute:
		if a.Kind() == Digest {
			return s.refuse(ctx, c, "A digest holds several rules and principals: mute from one alert.")
		}
		if a.Mute != "" {
			return s.refuse(ctx, c, "This rule is muted for this principal already.")
		}
		return Reply{Modal: ModalMute, Alert: a}, nil
	}
	err = s.change(ctx, a.ID, func(cur *Alert) ([]Op, error) {
		if cur == nil {
			return nil, errNoChange
		}
		if cur.TS == "" { // posted, but its timestamp was not recorded
			cur.Channel, cur.TS, cur.Thread = c.Channel, c.MessageTS, c.MessageTS
		}
		if a.ActorUser != "" { // found by mayAct
			cur.ActorUser = a.ActorUser
		}
		var action string
		switch c.Action {
		case ActAck:
			if cur.Ack != nil {
				return nil, errNoChange
			}
			cur.Ack, action = &Ack{By: c.User, At: now}, AuditAcknowledge
		case ActAsk:
			if cur.Ask != nil && cur.Ask.State != AskFailed {
				return nil, errNoChange
			}
			cur.Ask, action = &Ask{By: c.User, At: now, State: AskSending}, AuditAsk
		}
		aop, err := auditOp(entry(now, c.User, action, cur))
		if err != nil {
			return nil, err
		}
		ops := []Op{aop, jobOp(job{Kind: jobUpdate, Alert: cur.ID}, now)}
		if c.Action == ActAsk {
			ops = append(ops, jobOp(job{Kind: jobAsk, Alert: cur.ID}, now))
		}
		return ops, nil
	})
	if errors.Is(err, errNoChange) {
		return s.refuse(ctx, c, "Someone else did this a moment ago.")
	}
	if err != nil {
		return Reply{}, err
	}
	s.Kick()
	return Reply{Changed: true}, nil
}

// mayAct says why u may not act on a, or "" when they may: they must be a responder (when
// responders are configured) and must not be the alert's actor. Finding the actor may need
// Slack (users.lookupByEmail); that failing refuses, since it cannot be ruled out.
func (s *Service) mayAct(ctx context.Context, a *Alert, u User) (string, error) {
	if why := s.responder(u); why != "" {
		return why, nil
	}
	if a.Lead().Actor == nil {
		return "", nil
	}
	if _, ok := s.identity(a); !ok && a.ActorUser == "" {
		return "", nil
	}
	lctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	actor, err := s.actorUser(lctx, a)
	switch {
	case errors.Is(err, ErrPermanent):
		return "", nil // the actor has no Slack user: not the one clicking
	case err != nil:
		s.log.Warn("could not find the actor's Slack user to tell them apart from the clicking user", "alert", a.ID, "err", err)
		return "trailbell could not check that you are not this alert's actor (Slack did not answer); try again.", nil
	}
	a.ActorUser = actor
	if actor == u.ID {
		return "This alert is about something you did: someone else has to acknowledge, ask about or mute it.", nil
	}
	return "", nil
}

// responder says why u may not act on alerts at all, or "".
func (s *Service) responder(u User) string {
	if len(s.o.Responders) > 0 && !slices.Contains(s.o.Responders, u.ID) {
		return "Only the responders named in trailbell's configuration (interactive.responders) may act on alerts."
	}
	return ""
}

// refuse tells the clicking user why nothing was done (through the click's response_url).
func (s *Service) refuse(ctx context.Context, c Click, why string) (Reply, error) {
	s.log.Info("interaction refused", "action", c.Action, "user", c.User.ID, "why", why)
	if c.ResponseURL == "" {
		return Reply{}, nil
	}
	if err := s.o.Store.Apply(ctx, jobOp(job{Kind: jobEphemeral, URL: c.ResponseURL, Text: ":no_entry_sign: " + why}, s.o.Now())); err != nil {
		return Reply{}, err
	}
	s.Kick()
	return Reply{Changed: true}, nil
}

// answer handles the actor's "Yes" (a modal for the reason) or "No" (escalated at once).
func (s *Service) answer(ctx context.Context, c Click, a *Alert) (Reply, error) {
	q := a.Ask
	switch {
	case q == nil || q.User == "":
		return Reply{}, fmt.Errorf("%w: nobody was asked about alert %s", ErrForged, a.ID)
	case c.User.ID != q.User:
		return Reply{}, fmt.Errorf("%w: %s answered the question put to %s", ErrForged, c.User.ID, q.User)
	case c.Channel != q.DM || c.MessageTS != q.DMTS:
		return Reply{}, fmt.Errorf("%w: the answer is not from the question's message", ErrForged)
	case q.State != AskAsked:
		return s.refuse(ctx, c, "This question is closed: "+askState(q)+".")
	}
	if c.Action == ActYes {
		return Reply{Modal: ModalReason, Alert: a}, nil
	}
	now := s.o.Now()
	err := s.change(ctx, a.ID, func(cur *Alert) ([]Op, error) {
		if cur == nil || cur.Ask == nil || cur.Ask.State != AskAsked {
			return nil, errNoChange
		}
		cur.Ask.State, cur.Ask.Answered = AskNo, now
		aop, err := auditOp(entry(now, c.User, AuditAnswerNo, cur))
		if err != nil {
			return nil, err
		}
		note := fmt.Sprintf(":rotating_light: %s says they did *not* do this: escalated as critical (%s) at %s.",
			mention(c.User.ID), code(RuleDenied), clock(now))
		return []Op{aop,
			jobOp(job{Kind: jobEscalate, Alert: cur.ID, Rule: RuleDenied}, now),
			jobOp(job{Kind: jobNote, Alert: cur.ID, Text: note, Broadcast: true}, now),
			jobOp(job{Kind: jobQuestion, Alert: cur.ID}, now),
			jobOp(job{Kind: jobUpdate, Alert: cur.ID}, now)}, nil
	})
	if errors.Is(err, errNoChange) {
		return s.refuse(ctx, c, "This question was answered or closed a moment ago.")
	}
	if err != nil {
		return Reply{}, err
	}
	s.Kick()
	return Reply{Changed: true}, nil
}

// askState says in words where a question stands.
func askState(q *Ask) string {
	switch q.State {
	case AskYes:
		return "answered Yes"
	case AskNo:
		return "answered No, and escalated"
	case AskNoAnswer:
		return "not answered in time, and escalated"
	}
	return q.State
}

// unmute ends a mute from its alert's Unmute button.
func (s *Service) unmute(ctx context.Context, c Click) (Reply, error) {
	if !IsUserID(c.User.ID) {
		return Reply{}, fmt.Errorf("%w: no user", ErrForged)
	}
	if why := s.responder(c.User); why != "" {
		return s.refuse(ctx, c, why)
	}
	it, err := s.o.Store.Get(ctx, partMute, c.Value)
	if err != nil {
		return Reply{}, err
	}
	if it.Version == 0 {
		return s.refuse(ctx, c, "This mute has ended already.")
	}
	m, err := s.RemoveMute(ctx, c.Value, who(c.User), "removed in Slack by "+c.User.ID)
	if errors.Is(err, ErrNoMute) {
		return s.refuse(ctx, c, "This mute has ended already.")
	}
	if err != nil {
		return Reply{}, err
	}
	if a, err := s.Alert(ctx, m.Alert); err == nil && a != nil && (a.Channel != c.Channel || a.TS != c.MessageTS) {
		s.log.Warn("mute removed from a message that is not its alert's", "mute", m.ID, "user", c.User.ID)
	}
	return Reply{Changed: true}, nil
}

// Submit handles a submitted modal. Problems with what was typed come back as Reply.Errors
// for the modal to show; the error is ErrForged, ErrUnknownAction or the store failing.
func (s *Service) Submit(ctx context.Context, sub Submission) (Reply, error) {
	if sub.Modal != ModalMute && sub.Modal != ModalReason {
		return Reply{}, fmt.Errorf("%w: modal %q", ErrUnknownAction, sub.Modal)
	}
	if !IsUserID(sub.User.ID) || sub.User.ID != sub.Opener {
		return Reply{}, fmt.Errorf("%w: modal opened for %q submitted by %q", ErrForged, sub.Opener, sub.User.ID)
	}
	a, err := s.Alert(ctx, sub.Alert)
	if err != nil {
		return Reply{}, err
	}
	if a == nil {
		return Reply{Errors: map[string]string{"reason": "trailbell no longer remembers this alert."}}, nil
	}
	reason := strings.TrimSpace(sub.Reason)
	switch {
	case reason == "":
		return Reply{Errors: map[string]string{"reason": "Say why, in a few words."}}, nil
	case utf8.RuneCountInString(reason) > MaxReason:
		return Reply{Errors: map[string]string{"reason": fmt.Sprintf("At most %d characters.", MaxReason)}}, nil
	}
	if sub.Modal == ModalReason {
		return s.confirmed(ctx, sub, a, reason)
	}
	return s.mute(ctx, sub, a, reason)
}

// confirmed records the actor's "Yes" and reason.
func (s *Service) confirmed(ctx context.Context, sub Submission, a *Alert, reason string) (Reply, error) {
	if a.Ask == nil || a.Ask.User != sub.User.ID {
		return Reply{}, fmt.Errorf("%w: %s confirmed a question not put to them", ErrForged, sub.User.ID)
	}
	now := s.o.Now()
	err := s.change(ctx, a.ID, func(cur *Alert) ([]Op, error) {
		if cur == nil || cur.Ask == nil || cur.Ask.State != AskAsked {
			return nil, errNoChange
		}
		cur.Ask.State, cur.Ask.Answered, cur.Ask.Reason = AskYes, now, reason
		e := entry(now, sub.User, AuditAnswerYes, cur)
		e.Reason = reason
		aop, err := auditOp(e)
		if err != nil {
			return nil, err
		}
		note := fmt.Sprintf(":white_check_mark: %s confirmed they did this: %s", mention(sub.User.ID), quote(reason))
		return []Op{aop,
			jobOp(job{Kind: jobNote, Alert: cur.ID, Text: note}, now),
			jobOp(job{Kind: jobQuestion, Alert: cur.ID}, now),
			jobOp(job{Kind: jobUpdate, Alert: cur.ID}, now)}, nil
	})
	if errors.Is(err, errNoChange) {
		return Reply{Errors: map[string]string{"reason": "This question is closed: " + askState(a.Ask) + "."}}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	s.Kick()
	return Reply{Changed: true}, nil
}

// mute makes a mute from an alert's modal.
func (s *Service) mute(ctx context.Context, sub Submission, a *Alert, reason string) (Reply, error) {
	if why, err := s.mayAct(ctx, a, sub.User); err != nil || why != "" {
		if err != nil {
			return Reply{}, err
		}
		return Reply{Errors: map[string]string{"reason": why}}, nil
	}
	if !slices.Contains(s.o.MuteDurations, sub.Duration) {
		return Reply{Errors: map[string]string{"duration": "Choose one of the durations offered."}}, nil
	}
	lead := a.Lead()
	principal := lead.Principal
	switch sub.Scope {
	case ScopePrincipal, "":
		sub.Scope = ScopePrincipal
	case ScopeRole:
		if principal = RolePrincipal(lead.Principal); principal == "" {
			return Reply{Errors: map[string]string{"scope": "This principal is not a role session."}}, nil
		}
	default:
		return Reply{Errors: map[string]string{"scope": "Choose one of the scopes offered."}}, nil
	}
	if principal == "" || a.Kind() == Digest {
		return Reply{Errors: map[string]string{"reason": "This alert names no one principal to mute."}}, nil
	}
	now := s.o.Now()
	var also []string
	for _, x := range lead.Also {
		also = append(also, x.Rule)
	}
	m := Mute{ID: newID("m-"), Rule: lead.Rule, Also: also, Principal: principal, Scope: sub.Scope, Until: now.Add(sub.Duration),
		Reason: reason, By: sub.User, Created: now, Alert: a.ID}
	mop, err := muteOp(m)
	if err != nil {
		return Reply{}, err
	}
	err = s.change(ctx, a.ID, func(cur *Alert) ([]Op, error) {
		if cur == nil || cur.Mute != "" {
			return nil, errNoChange
		}
		cur.Mute, cur.MuteUntil = m.ID, m.Until
		if a.ActorUser != "" {
			cur.ActorUser = a.ActorUser
		}
		e := entry(now, sub.User, AuditMute, cur)
		e.Mute, e.Until, e.Reason, e.Principal = m.ID, m.Until, reason, m.Principal
		aop, err := auditOp(e)
		if err != nil {
			return nil, err
		}
		note := fmt.Sprintf(":no_bell: %s muted %s for %s for %s, until %s (mute %s): %s\nEnd it early with the alert's Unmute button or `trailbell mutes remove %s`.",
			mention(sub.User.ID), rules(&m), code(m.Principal), span(sub.Duration), clock(m.Until), code(m.ID), quote(reason), m.ID)
		return []Op{aop,
			jobOp(job{Kind: jobNote, Alert: cur.ID, Text: note, Broadcast: true}, now),
			jobOp(job{Kind: jobUpdate, Alert: cur.ID}, now),
			jobOp(job{Kind: jobExpire, Mute: m.ID}, m.Until)}, nil
	}, mop)
	if errors.Is(err, errNoChange) {
		return Reply{Errors: map[string]string{"reason": "This rule is muted for this principal already."}}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	s.forgetMutes()
	s.Kick()
	return Reply{Changed: true}, nil
}

// muteOp stores a new mute; it is dropped a month after its end at the latest (its expiry
// job removes it at the end).
func muteOp(m Mute) (Op, error) {
	v, err := json.Marshal(m)
	if err != nil {
		return Op{}, fmt.Errorf("mute %s: %w", m.ID, err)
	}
	return Op{Part: partMute, Key: m.ID, Value: v, Expires: m.Until.Add(30 * 24 * time.Hour)}, nil
}
