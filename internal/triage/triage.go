// Package triage owns what happens to an alert after it is posted through the Slack Web API:
// people acknowledge it, ask the actor behind the event "did you do this?", and mute its rule
// for its principal for a while, with a reason. It keeps the alerts, the mutes, an audit log
// of every interaction and a queue of jobs in one Store (a bbolt file under state_dir for
// `trailbell run` and the commands, the Lambda's DynamoDB state table), decides what each
// interaction may do and does the slow part afterwards (updating messages, asking the actor,
// escalating, re-raising what nobody acknowledged, ending mutes) through a Slack it is given.
// notify/slack turns Slack's signed requests into calls of Service and renders its state;
// notify's exception stage applies the mutes; internal/app wires it.
package triage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
)

// Rule ids of the findings triage raises.
const (
	// RuleDenied: the actor answered "No, it wasn't me".
	RuleDenied = "trailbell-actor-denied"
	// RuleNoAnswer: the actor did not answer in time.
	RuleNoAnswer = "trailbell-actor-no-answer"
	// RuleUnacknowledged: a high or critical alert nobody acknowledged in time, re-raised to
	// its receiver's fallback.
	RuleUnacknowledged = "trailbell-unacknowledged"
)

// User is a Slack user as Slack's signed payload names them.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// slackUserID is what Slack user and bot user ids look like; a mention is built only of one.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// IsUserID reports whether s is a Slack user id (U… or W…).
func IsUserID(s string) bool { return slackUserID.MatchString(s) }

// Alert is one message an interactive receiver posted, and what people did about it.
type Alert struct {
	ID       string `json:"id"`
	Receiver string `json:"receiver"`
	// Channel and TS name the message once it is posted (the channel's id); Thread is the
	// thread it is in (its own TS, or the first message of its group's thread).
	Channel string    `json:"channel,omitempty"`
	TS      string    `json:"ts,omitempty"`
	Thread  string    `json:"thread,omitempty"`
	Posted  time.Time `json:"posted"`
	// Findings are what the message shows: one alert, a summary of one rule and principal's
	// repeats, or a digest of different alerts.
	Findings []finding.Finding `json:"findings"`

	Ack *Ack `json:"ack,omitempty"`
	Ask *Ask `json:"ask,omitempty"`
	// Mute is the mute made from this alert, while it lasts, and MuteUntil its end.
	Mute      string    `json:"mute,omitempty"`
	MuteUntil time.Time `json:"muteUntil,omitzero"`
	Reraised  time.Time `json:"reraised,omitzero"`
	// ActorUser is the Slack user of the actor behind the event, once found.
	ActorUser string `json:"actorUser,omitempty"`

	version int64
}

// Ack is who acknowledged an alert, and when.
type Ack struct {
	By User      `json:"by"`
	At time.Time `json:"at"`
}

// The states of a question to the actor.
const (
	AskSending  = "sending"   // requested; the direct message is on its way
	AskAsked    = "asked"     // the actor has the question
	AskYes      = "yes"       // "Yes, it was me", with a reason
	AskNo       = "no"        // "No": escalated
	AskNoAnswer = "no_answer" // the deadline passed: escalated
	AskFailed   = "failed"    // the actor could not be reached (no Slack user); may be asked again
)

// Ask is the question to the actor behind an alert.
type Ask struct {
	By    User      `json:"by"` // who asked
	At    time.Time `json:"at"`
	State string    `json:"state"`
	// User is the actor's Slack user, DM and DMTS the direct message with the question.
	User     string    `json:"user,omitempty"`
	DM       string    `json:"dm,omitempty"`
	DMTS     string    `json:"dmTs,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	Answered time.Time `json:"answered,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Kind says what an alert's message holds.
type Kind int

const (
	Single  Kind = iota // one event's alert
	Summary             // repeats of one rule and principal
	Digest              // different alerts sent together from a backlog
)

// Kind is what the alert's message holds.
func (a *Alert) Kind() Kind {
	switch {
	case len(a.Findings) <= 1:
		return Single
	case finding.SameGroup(a.ptrs()):
		return Summary
	}
	return Digest
}

func (a *Alert) ptrs() []*finding.Finding {
	fs := make([]*finding.Finding, len(a.Findings))
	for i := range a.Findings {
		fs[i] = &a.Findings[i]
	}
	return fs
}

// Lead is the finding that stands for the alert: the one (the first of a summary, the most
// severe of a digest).
func (a *Alert) Lead() *finding.Finding {
	if len(a.Findings) == 0 {
		return &finding.Finding{}
	}
	lead := &a.Findings[0]
	for i := range a.Findings {
		if a.Findings[i].Severity > lead.Severity {
			lead = &a.Findings[i]
		}
	}
	return lead
}

// Handled reports whether someone took the alert in hand: acknowledged or muted it, or had
// its actor asked (a question that could not be sent does not count). An alert nobody
// handled is what gets re-raised.
func (a *Alert) Handled() bool {
	return a.Ack != nil || a.Mute != "" || a.Ask != nil && a.Ask.State != AskFailed
}

// Severity is the alert's worst severity.
func (a *Alert) Severity() finding.Severity { return a.Lead().Severity }

// Mute silences one rule's findings for one principal until a time: a time-bound exception
// that notify's exception stage applies in `trailbell run`, the Lambda and (with
// --apply-mutes) `trailbell scan`.
type Mute struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
	// Also are the other rules the alert's event matched, listed under its rule: muting an
	// alert mutes what it showed.
	Also []string `json:"also,omitempty"`
	// Principal is the caller's ARN; with Scope "role", an assumed role's ARN with the
	// session as "*" (arn:aws:sts::ACCOUNT:assumed-role/NAME/*): every session of the role.
	Principal string    `json:"principal"`
	Scope     string    `json:"scope"`
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason"`
	By        User      `json:"by"`
	Created   time.Time `json:"created"`
	// Alert is the alert it was made from.
	Alert string `json:"alert,omitempty"`
}

// Rules are the rules the mute silences.
func (m *Mute) Rules() []string { return append([]string{m.Rule}, m.Also...) }

// Scopes of a mute.
const (
	ScopePrincipal = "principal" // exactly the alert's principal
	ScopeRole      = "role"      // every session of the assumed role
)

// Matches reports whether the mute silences f (at any time: Until is checked by its holder).
func (m *Mute) Matches(f *finding.Finding) bool {
	if f.Rule != m.Rule && !slices.Contains(m.Also, f.Rule) {
		return false
	}
	if m.Scope == ScopeRole {
		return RolePrincipal(f.Principal) == m.Principal
	}
	return f.Principal == m.Principal
}

// RolePrincipal is an assumed-role session ARN with its session as "*", or "" for any other
// principal.
func RolePrincipal(arn string) string {
	pre, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok || !strings.HasPrefix(pre, "arn:") {
		return ""
	}
	role, _, ok := strings.Cut(rest, "/")
	if !ok || role == "" {
		return ""
	}
	return pre + ":assumed-role/" + role + "/*"
}

// Options configure a Service.
type Options struct {
	Store Store
	// Slack does what jobs do in Slack; nil for a Service that only reads (the commands).
	Slack Slack
	// Submit sends findings through the route tree (escalations); SubmitTo to one receiver
	// (re-raises to a fallback). Both return once the findings are durably accepted.
	Submit   func(ctx context.Context, fs ...finding.Finding) error
	SubmitTo func(ctx context.Context, receiver string, fs ...finding.Finding) error
	// Fallbacks maps each interactive receiver to its fallback receiver, if it has one.
	Fallbacks map[string]string
	// Responders are the Slack users who may acknowledge, ask and mute; empty: anyone in the
	// workspace who sees the alert. The actor of an alert may never do so on their own alert.
	Responders []string
	// Identities map an actor (its id, ARN or name, or a principal ARN) to a Slack user id or
	// an e-mail address looked up with users.lookupByEmail.
	Identities map[string]string
	// ReraiseAfter: an unacknowledged high or critical alert is re-raised to its receiver's
	// fallback after this long; 0 never.
	ReraiseAfter time.Duration
	// AskTimeout: an actor who has not answered by then is escalated; default 30m.
	AskTimeout time.Duration
	// MuteDurations are the choices a mute offers; default 1h, 8h, 24h, 7d.
	MuteDurations []time.Duration
	// Retention is how long an alert is remembered after it was posted; default 90 days.
	Retention time.Duration
	// SoleWorker says that only this process does jobs (the daemon, whose state directory is
	// its alone): jobs are not leased, so one left halfway by a crash is done again at once
	// rather than when its lease would end. Lambda instances, which run side by side, lease.
	SoleWorker bool
	Logger     *slog.Logger
	Now        func() time.Time
}

// DefaultMuteDurations are the choices a mute offers when none are configured.
var DefaultMuteDurations = []time.Duration{time.Hour, 8 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Service is triage: interactions in, state and jobs out, jobs done by Run or Work.
type Service struct {
	o   Options
	log *slog.Logger

	wake chan struct{}

	muteMu   sync.Mutex
	mutes    atomic.Pointer[muteSnapshot]
	lookupMu sync.Mutex
	lookups  map[string]lookup // e-mail → Slack user, for the actor check of a click
}

type lookup struct {
	user string
	at   time.Time
}

// New returns a Service over o.Store.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("triage: no store")
	}
	if o.AskTimeout <= 0 {
		o.AskTimeout = 30 * time.Minute
	}
	if len(o.MuteDurations) == 0 {
		o.MuteDurations = DefaultMuteDurations
	}
	o.MuteDurations = slices.Clone(o.MuteDurations)
	slices.Sort(o.MuteDurations)
	if o.Retention <= 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, r := range o.Responders {
		if !IsUserID(r) {
			return nil, fmt.Errorf("triage: responder %q is not a Slack user id (U… or W…)", r)
		}
	}
	return &Service{o: o, log: o.Logger, wake: make(chan struct{}, 1), lookups: map[string]lookup{}}, nil
}

// MuteDurations are the choices a mute offers, shortest first.
func (s *Service) MuteDurations() []time.Duration { return s.o.MuteDurations }

// AskTimeout is how long the actor has to answer.
func (s *Service) AskTimeout() time.Duration { return s.o.AskTimeout }

// AlertID names the alert a receiver posts for a delivery (notify.DeliveryID): the same
// message sent again after a lost answer is the same alert.
func AlertID(receiver, delivery string) string {
	h := sha256.Sum256([]byte(receiver + "\x00" + delivery))
	return hex.EncodeToString(h[:12])
}

// newID is a short random id (mutes, jobs, audit keys).
func newID(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Askable reports whether the alert's actor could be asked: a digest names no one actor,
// and an actor needs a Slack user: mapped in identities, or named by an e-mail address.
func (s *Service) Askable(a *Alert) bool {
	if a.Kind() == Digest {
		return false
	}
	act := a.Lead().Actor
	if act == nil {
		return false
	}
	if a.ActorUser != "" {
		return true
	}
	_, ok := s.identity(a)
	return ok
}

// identity is the Slack user id or e-mail address the alert's actor maps to.
func (s *Service) identity(a *Alert) (string, bool) {
	lead := a.Lead()
	act := lead.Actor
	if act == nil {
		return "", false
	}
	for _, k := range []string{act.ID, act.Name, lead.Principal} {
		if v, ok := s.o.Identities[k]; ok && k != "" {
			return v, true
		}
	}
	if isEmail(act.Name) {
		return act.Name, true
	}
	return "", false
}

func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " <>|\n")
}
