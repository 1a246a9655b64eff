// Package finding owns the Finding: what detection hands to routing and notifiers.
// It is the one domain type every stage shares, so it imports nothing of the project but the
// lexical layer of JSON it writes findings with (internal/jsonlex).
package finding

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Severity orders findings for routing; the zero value is Info.
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(name, n) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("unknown severity %q (want one of %s)", name, strings.Join(severityNames[:], ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Param is one key request parameter worth showing (policy ARN, target user, access key id),
// kept in the order the rule considers most telling.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Finding is one rule matching one CloudTrail record. The JSON field names are a contract of
// `trailbell scan --format json` and of the generic webhook.
type Finding struct {
	Rule        string   `json:"rule"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	References  []string `json:"references,omitempty"`
	// Runbook is the rule's runbook filled with this event's values: what to check and how
	// to undo it (AWS CLI commands), as plain multi-line text. An event value with a space or
	// a shell character is one quoted word: 'like this' in a command (a shell word),
	// “like this” in the words around it.
	Runbook string `json:"runbook,omitempty"`

	EventID         string `json:"eventID"`
	EventName       string `json:"eventName"`
	EventSource     string `json:"eventSource,omitempty"`
	EventTime       string `json:"eventTime"`
	Account         string `json:"account"`
	Region          string `json:"region"`
	Principal       string `json:"principal"`
	PrincipalType   string `json:"principalType,omitempty"`
	SourceIPAddress string `json:"sourceIPAddress"`
	UserAgent       string `json:"userAgent,omitempty"`
	// AttackTool names the attack or secret-scanning tool the user agent gives away (Kali
	// Linux, Pacu, TruffleHog ...; see detect.AttackTool), whatever rule matched.
	AttackTool   string `json:"attackTool,omitempty"`
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`

	// Target is who or what was acted on (user, role, group, policy, trail), when known.
	Target string `json:"target,omitempty"`
	// Params are the key request parameters of this event type.
	Params []Param `json:"params,omitempty"`
	// Grants says in words what a policy document in the record allows, when there is one.
	Grants []string `json:"grants,omitempty"`

	// Actor is the person or workload behind the call, when the stream shows it (see Actor).
	Actor *Actor `json:"actor,omitempty"`
	// Related are the eventIDs of the other events behind a finding of a threshold, sequence
	// or new_terms rule, oldest first; this finding's own event is the one that completed it.
	Related []string `json:"related,omitempty"`
	// Events describe all of those events, oldest first, this finding's own event last.
	Events []Event `json:"events,omitempty"`

	// Also lists the other rules the same event matched, most severe first, when this
	// finding leads one alert for the event (see Merge). Delivery sets it for people's
	// destinations; detection and `scan --format json` never do: one finding per rule.
	Also []Match `json:"also,omitempty"`

	// Origin says where the record came from: file and position, S3 key, message id.
	Origin string `json:"origin,omitempty"`
	// Record is the CloudTrail record (the EventBridge envelope's detail).
	Record json.RawMessage `json:"record"`
	// plain is Record when SetValidRecord found it plain (see PlainRecord); a Record set
	// otherwise since is not
	plain json.RawMessage
}

// SetValidRecord sets f.Record to rec, which must be one valid JSON value, as the decoder's
// records are (cloudtrail.Event.Record), and notes whether it is plain (PlainRecord): the
// findings of a record, copies of one, then have it checked once rather than each.
func (f *Finding) SetValidRecord(rec json.RawMessage) {
	f.Record, f.plain = rec, nil
	if plainJSON(rec) {
		f.plain = rec
	}
}

// SetCompactRecord is SetValidRecord for a record the caller knows has no white space between
// its tokens, as the decoder found it (cloudtrail.Event.Compact): it is plain when it is valid
// UTF-8, which is all there is left to check (utf8.Valid reads ASCII eight bytes a step).
func (f *Finding) SetCompactRecord(rec json.RawMessage) {
	f.Record, f.plain = rec, nil
	if utf8.Valid(rec) {
		f.plain = rec
	}
}

// PlainRecord reports whether f.Record is a valid JSON value set by SetValidRecord that is
// valid UTF-8 and has no white space between its tokens: what AppendJSON writes of it is
// the record itself.
func (f *Finding) PlainRecord() bool {
	return len(f.plain) > 0 && len(f.plain) == len(f.Record) && &f.plain[0] == &f.Record[0]
}

// Actor is the person or workload behind a call: an IAM user, root, an Identity Center user,
// a SAML or web-identity subject, a source identity, or the AWS service running a workload.
// For a role session it is whoever started the chain of AssumeRole calls that issued the
// session's access key. An actor the stream does not show stays unknown (nil), never guessed.
type Actor struct {
	// ID identifies the actor across accounts and sessions: the ARN of an IAM user or root,
	// "identitycenter:NAME", "saml:ISSUER:SUBJECT", "webidentity:PROVIDER:SUBJECT",
	// "sourceidentity:VALUE", "service:NAME" or "account:ID".
	ID string `json:"id"`
	// Type is IAMUser, Root, IdentityCenterUser, SAMLUser, WebIdentityUser, SourceIdentity,
	// AWSService or AWSAccount.
	Type string `json:"type"`
	// Name is what people call the actor: a user name, an e-mail, a subject.
	Name string `json:"name"`
	// Via are the role sessions between the actor and the call (ARNs), the first one
	// assumed first.
	Via []string `json:"via,omitempty"`
}

// String is the actor as people read it: "alice (IAMUser)", "jane@example.com
// (IdentityCenterUser) via role/Admin".
func (a *Actor) String() string {
	if a == nil {
		return "unknown"
	}
	s := a.Name
	if s == "" {
		s = a.ID
	}
	s += " (" + a.Type + ")"
	for _, v := range a.Via {
		s += " → " + shortSession(v)
	}
	return s
}

// shortSession shortens a role session ARN to role/NAME.
func shortSession(arn string) string {
	_, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok {
		return arn
	}
	role, _, _ := strings.Cut(rest, "/")
	return "role/" + role
}

// Event is one of the events behind a finding of a stateful rule.
type Event struct {
	Step      string `json:"step,omitempty"` // the sequence step it matched
	EventID   string `json:"eventID"`
	EventName string `json:"eventName"`
	EventTime string `json:"eventTime"`
	// Value is the value it counted, for a threshold on distinct values.
	Value string `json:"value,omitempty"`
}

// RunbookCommand matches where an AWS CLI command starts in a line of a runbook: "aws
// SERVICE VERB" at the start, after a space or after "(". Detection quotes the event values
// it puts in a runbook by it, and chat destinations find the commands to show as code.
var RunbookCommand = regexp.MustCompile(`(?:^|[ (])(aws [a-z0-9-]+ [a-z0-9-]+)`)

// Match is one more rule an event matched, listed under the finding that leads its alert.
type Match struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Tags     []string `json:"tags,omitempty"`
	Runbook  string   `json:"runbook,omitempty"`
}

// Key identifies a finding for deduplication across retries and duplicate inputs.
func (f *Finding) Key() string { return f.Rule + "/" + f.EventID }

// Failed reports whether the recorded call was refused or failed.
func (f *Finding) Failed() bool { return f.ErrorCode != "" || f.ErrorMessage != "" }
