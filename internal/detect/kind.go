package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trailbell/trailbell/internal/duration"

	"go.yaml.in/yaml/v3"

	"github.com/trailbell/trailbell/internal/yamlnode"
	"github.com/trailbell/trailbell/pattern"
)

// Kind says how a rule decides: on one event, or on several with memory between them
// (internal/correlate evaluates those).
type Kind string

const (
	// KindEvent rules report every event their pattern selects.
	KindEvent Kind = ""
	// KindThreshold rules report when the events of a group (or their distinct values of a
	// field) reach a count within a window.
	KindThreshold Kind = "threshold"
	// KindSequence rules report ordered steps joined by equal fields within a window.
	KindSequence Kind = "sequence"
	// KindNewTerms rules report the first time a tuple of values is seen, once a history
	// has been learned.
	KindNewTerms Kind = "new_terms"
)

// Stateful reports whether rules of this kind need memory across events.
func (k Kind) Stateful() bool { return k != KindEvent }

func (k Kind) String() string {
	if k == KindEvent {
		return "event"
	}
	return string(k)
}

// Step is one event pattern of a stateful rule: the rule's own pattern for threshold and
// new_terms rules, one of the steps of a sequence.
type Step struct {
	Name       string
	Pattern    string   // JSON
	Predicates []string // all must hold, with the rule's own
	// By are the fields that join this step to the others of a sequence, after Sequence.By.
	By []string
	// Count is how many events of this step must come before the next one (at least 1).
	Count int

	compiled *pattern.Pattern
}

// Threshold is a threshold rule's settings.
type Threshold struct {
	GroupBy []string      // fields whose values make a group; empty: one group
	Window  time.Duration // the events counted lie within this span
	Count   int           // events (or distinct values) that make a finding
	// Distinct, when set, counts distinct values of this field instead of events.
	Distinct string
	// History, when set, reports only a group that did not reach the count in the history
	// before (and once the rule has watched the stream that long): a sweep by a principal
	// that never did one, quiet for one that does it every day.
	History time.Duration
}

// Sequence is a sequence rule's settings.
type Sequence struct {
	By     []string      // fields every step shares, e.g. actor
	Window time.Duration // from the first step's event to the last one's
	Steps  []Step
}

// NewTerms is a new_terms rule's settings.
type NewTerms struct {
	Fields  []string      // the tuple of values that must be new
	History time.Duration // a tuple not seen for this long is new again
	// Learn is how long a scope is watched before it may report; default History.
	Learn time.Duration
	// LearnBy makes learning (and MaxKnown) per value of these fields, e.g. per access key;
	// empty: the rule learns from the start of the stream.
	LearnBy []string
	// MaxKnown, when set, reports only when the scope knew at most this many tuples (a key
	// that always came from one address: 1), so scopes that roam stay quiet.
	MaxKnown int
	// Report, when set, is a pattern (JSON) that narrows which of the rule's events may
	// report: all of them teach the rule what is known (every call of a key), only those
	// that match this too are reported when new (its IAM calls). It is the rule's second step.
	Report string

	report *pattern.Pattern
}

// Steps returns the event patterns a stateful rule matches on, in order (nil for an event rule).
func (r *Rule) Steps() []Step {
	switch r.Kind {
	case KindThreshold:
		return []Step{{Name: r.ID, Pattern: r.Pattern, Count: 1, compiled: r.compiled.of(r.Pattern, false)}}
	case KindNewTerms:
		steps := []Step{{Name: r.ID, Pattern: r.Pattern, Count: 1, compiled: r.compiled.of(r.Pattern, false)}}
		if r.NewTerms != nil && r.NewTerms.Report != "" {
			steps = append(steps, Step{Name: "report", Pattern: r.NewTerms.Report, Count: 1, compiled: r.NewTerms.report})
		}
		return steps
	case KindSequence:
		if r.Sequence != nil {
			return r.Sequence.Steps
		}
	}
	return nil
}

// Derived field names a stateful rule may group, join or count by, besides the title names
// and record paths: `actor` is the person or workload behind the call (see internal/correlate),
// `sourceNetwork` the caller's address reduced to its /24 (IPv4) or /48 (IPv6).
var keyFieldNames = map[string]bool{"actor": true, "sourceNetwork": true}

// statefulPlaceholders are the title and runbook placeholders of stateful findings.
var statefulPlaceholders = map[string]string{
	"actor":  "the person or workload behind the calls",
	"count":  "the number of events counted (threshold) or in the chain (sequence)",
	"values": "the distinct values counted (threshold with distinct), comma-separated",
	"window": "the rule's window, e.g. 10m",
	"group":  "the values the events were grouped or joined by, comma-separated",
	"terms":  "the new values (new_terms), comma-separated",
	"steps":  "the steps of a sequence, in order: `CreateUser → CreateAccessKey → AttachUserPolicy`",
}

// checkKeyField validates a field a stateful rule groups, joins or counts by.
func checkKeyField(name string) error {
	if keyFieldNames[name] {
		return nil
	}
	if err := checkField(name); err != nil {
		return fmt.Errorf("unknown field %q (use actor, sourceNetwork, a title name such as principal or account, or a record path such as userIdentity.arn)", name)
	}
	return nil
}

// Limits of the stateful settings: they bound what one group keeps in memory.
const (
	maxCount  = 100
	maxSteps  = 10
	maxFields = 5
	maxWindow = 400 * 24 * time.Hour
)

// yaml forms of the stateful settings.
type yamlThreshold struct {
	GroupBy  []string  `yaml:"group_by"`
	Window   posString `yaml:"window"`
	Count    int       `yaml:"count"`
	Distinct string    `yaml:"distinct"`
	History  posString `yaml:"history"`
}

type yamlSequence struct {
	By     []string   `yaml:"by"`
	Window posString  `yaml:"window"`
	Steps  []yamlStep `yaml:"steps"`
}

type yamlStep struct {
	Name       string    `yaml:"name"`
	Pattern    *jsonNode `yaml:"pattern"`
	Predicates []string  `yaml:"predicates"`
	By         []string  `yaml:"by"`
	Count      int       `yaml:"count"`
}

type yamlNewTerms struct {
	Report   *jsonNode `yaml:"report"`
	Fields   []string  `yaml:"fields"`
	History  posString `yaml:"history"`
	Learn    posString `yaml:"learn"`
	LearnBy  []string  `yaml:"learn_by"`
	MaxKnown int       `yaml:"max_known"`
}

// kindParser checks and converts one rule's kind settings; fail reports at a line.
type kindParser struct {
	fail func(line int, format string, a ...any)
}

func (k kindParser) duration(field string, p posString, required bool) time.Duration {
	if p.s == "" {
		if required {
			k.fail(0, "%s is required", field)
		}
		return 0
	}
	d, err := duration.Parse(p.s)
	switch {
	case err != nil:
		k.fail(p.line, "%s: %v", field, err)
	case d <= 0:
		k.fail(p.line, "%s must be positive", field)
	case d > maxWindow:
		k.fail(p.line, "%s: at most %s", field, duration.Format(maxWindow))
	}
	return d
}

func (k kindParser) fields(field string, fs []string, required bool) []string {
	if required && len(fs) == 0 {
		k.fail(0, "%s: name at least one field", field)
	}
	if len(fs) > maxFields {
		k.fail(0, "%s: at most %d fields", field, maxFields)
	}
	for i, f := range fs {
		if err := checkKeyField(f); err != nil {
			k.fail(0, "%s[%d]: %v", field, i, err)
		}
	}
	return fs
}

func (k kindParser) count(field string, n, min int) int {
	if n == 0 {
		n = min
	}
	if n < min || n > maxCount {
		k.fail(0, "%s must be between %d and %d", field, min, maxCount)
	}
	return n
}

func (k kindParser) predicates(field string, ps []string) {
	for _, p := range ps {
		if _, ok := predicates[p]; !ok {
			k.fail(0, "%s: unknown predicate %q (known: %s)", field, p, strings.Join(PredicateNames(), ", "))
		}
	}
}

// kind reads the kind and its settings block into r. The rule's own pattern is the step of
// threshold and new_terms rules; a sequence has patterns only in its steps.
func (y *yamlRule) kind(r *Rule, k kindParser) {
	r.Kind = Kind(y.Kind.s)
	set := map[Kind]bool{KindThreshold: y.Threshold != nil, KindSequence: y.Sequence != nil, KindNewTerms: y.NewTerms != nil}
	switch r.Kind {
	case KindEvent, KindThreshold, KindSequence, KindNewTerms:
	default:
		k.fail(y.Kind.line, "kind %q: want threshold, sequence or new_terms (or none, for a rule on one event)", y.Kind.s)
		return
	}
	for kind, ok := range set {
		if ok && kind != r.Kind {
			k.fail(0, "%s: settings for kind %s, but the rule's kind is %s", kind, kind, r.Kind)
		}
	}
	if r.Kind.Stateful() && !set[r.Kind] {
		k.fail(0, "kind %s needs a %s: block", r.Kind, r.Kind)
		return
	}
	switch r.Kind {
	case KindThreshold:
		t := y.Threshold
		r.Threshold = &Threshold{
			GroupBy: k.fields("threshold.group_by", t.GroupBy, false),
			Window:  k.duration("threshold.window", t.Window, true),
			Count:   k.count("threshold.count", t.Count, 2),
			History: k.duration("threshold.history", t.History, false),
		}
		if t.Distinct != "" {
			if err := checkKeyField(t.Distinct); err != nil {
				k.fail(0, "threshold.distinct: %v", err)
			}
			r.Threshold.Distinct = t.Distinct
		}
	case KindSequence:
		s := y.Sequence
		r.Sequence = &Sequence{
			By:     k.fields("sequence.by", s.By, false),
			Window: k.duration("sequence.window", s.Window, true),
		}
		if len(s.Steps) < 2 || len(s.Steps) > maxSteps {
			k.fail(0, "sequence.steps: want 2 to %d steps", maxSteps)
		}
		if y.Pattern != nil {
			k.fail(y.Pattern.line, "pattern: a sequence has a pattern in each of its steps, not one of its own")
		}
		joins := -1
		for i, ys := range s.Steps {
			field := fmt.Sprintf("sequence.steps[%d]", i)
			st := Step{
				Name: ys.Name, Predicates: ys.Predicates,
				By:    k.fields(field+".by", ys.By, false),
				Count: k.count(field+".count", ys.Count, 1),
			}
			if st.Name == "" {
				st.Name = fmt.Sprintf("step %d", i+1)
			}
			k.predicates(field+".predicates", ys.Predicates)
			if joins >= 0 && len(ys.By) != joins {
				k.fail(0, "%s.by: %d fields, but the first step joins on %d (steps pair their by fields in order)", field, len(ys.By), joins)
			}
			joins = len(ys.By)
			if ys.Pattern == nil {
				k.fail(0, "%s.pattern is required", field)
			} else {
				st.Pattern = ys.Pattern.json
				p, err := pattern.Compile(st.Pattern)
				if err != nil {
					k.fail(ys.Pattern.line, "%s.pattern: %v", field, err)
				}
				st.compiled = p
			}
			r.Sequence.Steps = append(r.Sequence.Steps, st)
		}
		if len(r.Sequence.By) == 0 && joins <= 0 {
			k.fail(0, "sequence: name the fields that join the steps (sequence.by, or by in every step), e.g. actor")
		}
	case KindNewTerms:
		n := y.NewTerms
		r.NewTerms = &NewTerms{
			Fields:   k.fields("new_terms.fields", n.Fields, true),
			History:  k.duration("new_terms.history", n.History, true),
			Learn:    k.duration("new_terms.learn", n.Learn, false),
			LearnBy:  k.fields("new_terms.learn_by", n.LearnBy, false),
			MaxKnown: n.MaxKnown,
		}
		if r.NewTerms.Learn == 0 {
			r.NewTerms.Learn = r.NewTerms.History
		}
		if n.MaxKnown < 0 || n.MaxKnown > 100 {
			k.fail(0, "new_terms.max_known must be between 1 and 100")
		}
		if n.Report != nil {
			p, err := pattern.Compile(n.Report.json)
			if err != nil {
				k.fail(n.Report.line, "new_terms.report: %v", err)
			}
			r.NewTerms.Report, r.NewTerms.report = n.Report.json, p
		}
	}
}

// checkStatefulText rejects stateful placeholders in an event rule's title or runbook, where
// nothing would fill them.
func checkStatefulText(kind Kind, text string) error {
	t, err := parseTemplate(text)
	if err != nil {
		return err
	}
	for _, p := range t {
		if _, ok := statefulPlaceholders[p.field]; ok && !kind.Stateful() {
			return fmt.Errorf("placeholder {%s} is only for threshold, sequence and new_terms rules", p.field)
		}
	}
	return nil
}

// sampleNode is one sample as written: a record (JSON text or YAML mapping) for an event
// rule, a list of records (a scenario, in arrival order) for a stateful one.
type sampleNode struct {
	n *yaml.Node
}

func (s *sampleNode) UnmarshalYAML(n *yaml.Node) error {
	s.n = n
	return nil
}

var errNotObject = errors.New("not a JSON object")

// record reads the sample as one JSON object.
func (s *sampleNode) record() (string, int, error) {
	var j jsonNode
	if err := j.UnmarshalYAML(s.n); err != nil {
		return "", s.n.Line, err
	}
	if !strings.HasPrefix(j.json, "{") { // valid JSON already (jsonNode)
		return "", s.n.Line, errNotObject
	}
	return j.json, s.n.Line, nil
}

// scenario reads the sample as a list of records, as a JSON array. An entry may also be
// `{event: RECORD, repeat: N, every: DURATION}`: the record N times, eventTime advancing by
// every and eventID suffixed -1, -2, ... so samples of long histories stay short.
func (s *sampleNode) scenario() (string, int, error) {
	if s.n.Kind != yaml.SequenceNode || len(s.n.Content) == 0 {
		return "", s.n.Line, fmt.Errorf("want a list of records (a scenario) for a stateful rule")
	}
	var b strings.Builder
	b.WriteByte('[')
	n := 0
	for _, item := range s.n.Content {
		recs, line, err := scenarioItem(item)
		if err != nil {
			return "", line, err
		}
		for _, r := range recs {
			if n > 0 {
				b.WriteByte(',')
			}
			b.Write(r)
			n++
		}
	}
	if n > 10000 {
		return "", s.n.Line, fmt.Errorf("a scenario of %d records: at most 10000", n)
	}
	b.WriteByte(']')
	return b.String(), s.n.Line, nil
}

func scenarioItem(n *yaml.Node) ([][]byte, int, error) {
	if n.Kind == yaml.MappingNode && isRepeat(n) {
		var rep struct {
			Event  *sampleNode `yaml:"event"`
			Repeat int         `yaml:"repeat"`
			Every  posString   `yaml:"every"`
		}
		if err := yamlnode.DecodeNode(n, &rep); err != nil {
			return nil, n.Line, err
		}
		if rep.Event == nil || rep.Repeat < 1 || rep.Repeat > 10000 {
			return nil, n.Line, fmt.Errorf("a repeated entry needs event and repeat (1 to 10000)")
		}
		every, err := duration.Parse(rep.Every.s)
		if err != nil {
			return nil, n.Line, fmt.Errorf("every: %v", err)
		}
		rec, line, err := rep.Event.record()
		if err != nil {
			return nil, line, err
		}
		return repeatRecord([]byte(rec), rep.Repeat, every, line)
	}
	rec, line, err := (&sampleNode{n}).record()
	if err != nil {
		return nil, line, err
	}
	return [][]byte{[]byte(rec)}, line, nil
}

func isRepeat(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "repeat" {
			return true
		}
	}
	return false
}

// repeatRecord makes n copies of rec, the i-th (from 0) with eventTime + i*every and eventID
// suffixed -(i+1).
func repeatRecord(rec []byte, n int, every time.Duration, line int) ([][]byte, int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec, &m); err != nil {
		return nil, line, err
	}
	var at, id string
	if json.Unmarshal(m["eventTime"], &at) != nil || json.Unmarshal(m["eventID"], &id) != nil {
		return nil, line, fmt.Errorf("a repeated record needs eventTime and eventID strings")
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return nil, line, fmt.Errorf("eventTime: %v", err)
	}
	out := make([][]byte, n)
	for i := range n {
		m["eventTime"], _ = json.Marshal(t.Add(time.Duration(i) * every).UTC().Format(time.RFC3339))
		m["eventID"], _ = json.Marshal(fmt.Sprintf("%s-%d", id, i+1))
		out[i], _ = json.Marshal(m)
	}
	return out, line, nil
}
