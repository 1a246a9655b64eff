package detect

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/pattern"
)

// Engine holds every rule compiled into one matcher. It is immutable after New and safe for
// concurrent use; a rule reload builds a new Engine.
type Engine struct {
	rules []Rule
	m     *pattern.Matcher
	// byID maps a matcher id to its rule (and which exception or step): a record some
	// pattern matched looks up each id it matched (see strTable)
	byID   strTable[entry]
	titles []template
	books  []template // runbooks, nil for a rule without one
	// preds are each rule's predicates, and stepPreds each of its steps', looked up by name
	// once: they are tested on most records
	preds     [][]*Predicate
	stepPreds [][][]*Predicate
	// index holds the paths a finding reads and those the rules' titles, runbooks and
	// fields with memory read (see indexRecord)
	index *pathIndex
	// readsID says some pattern tests the envelope's id (ReadsEnvelopeID)
	readsID bool
}

type entry struct {
	rule      int
	exception bool
	step      int // for a step of a stateful rule: its index + 1
	creds     bool
}

// exceptionID names an exception pattern in the matcher; '#' cannot occur in a rule id.
func exceptionID(rule string, i int) string { return fmt.Sprintf("%s#exception%d", rule, i) }

// stepID names a step of a stateful rule in the matcher.
func stepID(rule string, i int) string { return fmt.Sprintf("%s#step%d", rule, i) }

// credentialsID names CredentialsPattern in the matcher.
const credentialsID = "#credentials"

// CredentialsPattern selects the STS calls that issue temporary credentials. Their
// responseElements.credentials.accessKeyId is the accessKeyId the new session's calls carry,
// which is how a role session is followed back to the person who started it (see Match).
const CredentialsPattern = `{"source":["aws.sts"],"detail":{"eventSource":["sts.amazonaws.com"],` +
	`"eventName":["AssumeRole","AssumeRoleWithSAML","AssumeRoleWithWebIdentity","GetFederationToken","GetSessionToken"],` +
	`"errorCode":[{"exists":false}]}}`

// New compiles the rules. The matcher selects across all rules at once, so the cost of a
// record that matches nothing does not depend on how many rules there are.
func New(rs []Rule) (*Engine, error) {
	e := &Engine{
		rules:     rs,
		m:         pattern.New(),
		titles:    make([]template, len(rs)),
		books:     make([]template, len(rs)),
		preds:     make([][]*Predicate, len(rs)),
		stepPreds: make([][][]*Predicate, len(rs)),
	}
	entries := make(map[string]entry, len(rs)) // byID, while the patterns are added
	var errs []error
	for i, r := range rs {
		if _, dup := entries[r.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate rule id %q", r.File, r.ID))
			continue
		}
		t, err := parseTemplate(r.Title)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: rule %q: title: %w", r.File, r.ID, err))
			continue
		}
		e.titles[i] = t
		if e.books[i], err = parseTemplate(r.Runbook); err != nil {
			errs = append(errs, fmt.Errorf("%s: rule %q: runbook: %w", r.File, r.ID, err))
			continue
		}
		for _, p := range r.Predicates {
			if _, ok := predicates[p]; !ok {
				errs = append(errs, fmt.Errorf("%s: rule %q: unknown predicate %q", r.File, r.ID, p))
			}
		}
		e.preds[i] = predicatesOf(r.Predicates)
		for _, st := range r.Steps() {
			e.stepPreds[i] = append(e.stepPreds[i], predicatesOf(st.Predicates))
		}
		if r.Kind.Stateful() {
			if err := e.addSteps(i, &r, entries); err != nil {
				errs = append(errs, err)
				continue
			}
		} else {
			if err := e.add(r.ID, r.Pattern, r.compiled.of(r.Pattern, false)); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: pattern: %w", r.File, r.ID, err))
				continue
			}
			entries[r.ID] = entry{rule: i}
		}
		for j, x := range r.Exceptions {
			id := exceptionID(r.ID, j)
			if err := e.add(id, x, r.compiled.of(x, true)); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: exceptions[%d]: %w", r.File, r.ID, j, err))
				continue
			}
			entries[id] = entry{rule: i, exception: true}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e.index = staticIndex.with(e.readPaths())
	if err := e.add(credentialsID, CredentialsPattern, nil); err != nil {
		return nil, fmt.Errorf("credentials pattern: %w", err)
	}
	entries[credentialsID] = entry{creds: true}
	e.byID = newStrTable(entries)
	return e, nil
}

// addSteps adds the steps of stateful rule i to the matcher and to entries; the rule id
// itself names no pattern.
func (e *Engine) addSteps(i int, r *Rule, entries map[string]entry) error {
	steps := r.Steps()
	if len(steps) == 0 {
		return fmt.Errorf("%s: rule %q: kind %s without steps", r.File, r.ID, r.Kind)
	}
	var errs []error
	for j, st := range steps {
		for _, p := range st.Predicates {
			if _, ok := predicates[p]; !ok {
				errs = append(errs, fmt.Errorf("%s: rule %q: step %d: unknown predicate %q", r.File, r.ID, j+1, p))
			}
		}
		if err := e.add(stepID(r.ID, j), st.Pattern, st.compiled); err != nil {
			errs = append(errs, fmt.Errorf("%s: rule %q: step %d: pattern: %w", r.File, r.ID, j+1, err))
			continue
		}
		entries[stepID(r.ID, j)] = entry{rule: i, step: j + 1}
	}
	entries[r.ID] = entry{rule: i, step: -1} // reserves the id; names no pattern
	return errors.Join(errs...)
}

// add adds a pattern under id: compiled already when loading compiled it, else from text.
func (e *Engine) add(id, text string, compiled *pattern.Pattern) error {
	if compiled == nil {
		var err error
		if compiled, err = pattern.Compile(text); err != nil {
			return err
		}
	}
	e.readsID = e.readsID || slices.Contains(compiled.Fields(), "id")
	e.m.AddPattern(id, compiled)
	return nil
}

// ReadsEnvelopeID reports whether some pattern of the engine tests the envelope's id, which
// the decoder may otherwise leave out (cloudtrail.Limits.NoIDs).
func (e *Engine) ReadsEnvelopeID() bool { return e.readsID }

// Rules returns the compiled rules in load order.
func (e *Engine) Rules() []Rule { return e.rules }

// Detect matches one EventBridge envelope (see cloudtrail.Lift) and returns a finding for
// every event rule that matched, was not suppressed by an exception, and whose predicates
// hold, most severe first. The record is decoded only when some pattern matched.
func (e *Engine) Detect(env []byte) ([]finding.Finding, error) {
	m, err := e.Match(env)
	return m.Findings, err
}

// StepHit names a step of a stateful rule: the rule's id (ids outlive a rule reload, indexes
// do not) and an index into its Steps().
type StepHit struct {
	Rule string
	Step int
}

// stepRef is a step hit by index, while matching.
type stepRef struct{ rule, step int }

// Match is what one envelope matched.
type Match struct {
	// Findings are the event rules' findings, most severe first (see Detect).
	Findings []finding.Finding
	// Steps are the steps of stateful rules the envelope matched, exceptions and predicates
	// applied, in rule order; internal/correlate remembers them.
	Steps []StepHit
	// Credentials says the record is an STS call that issued temporary credentials.
	Credentials bool
	// Record is the record, when matching decoded it; nil otherwise.
	Record *Record
}

// Empty reports whether nothing matched.
func (m *Match) Empty() bool { return len(m.Findings) == 0 && len(m.Steps) == 0 && !m.Credentials }

// Match matches one EventBridge envelope against every rule: the findings of event rules,
// and the steps of stateful rules for internal/correlate. Safe for concurrent use.
func (e *Engine) Match(env []byte) (Match, error) { return e.match(env, nil, nil, false) }

// MatchEvent is Match for a decoded event: the byte pre-checks read the record's members
// where the decoder gives them (cloudtrail.Event.Members).
func (e *Engine) MatchEvent(ev cloudtrail.Event) (Match, error) {
	return e.match(ev.Envelope, ev.Record, ev.Members, ev.Compact)
}

// match is Match; top, when not nil, are the top-level members of rec0, the envelope's
// record, which compact says has no white space between its tokens (cloudtrail.Event.Compact).
func (e *Engine) match(env, rec0 []byte, top []cloudtrail.Member, compact bool) (Match, error) {
	var out Match
	var idBuf [16]string // the ids a record matches, without a slice allocated for each
	ids, err := e.m.AppendMatch(idBuf[:0], env)
	if err != nil {
		return out, fmt.Errorf("match: %w", err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	// a record matches a handful of rules: on the stack, not allocated per record
	var hitBuf, exceptedBuf [16]int
	var stepBuf [8]stepRef
	hit, excepted, steps := hitBuf[:0], exceptedBuf[:0], stepBuf[:0]
	for _, id := range ids {
		en, ok := get(&e.byID, id)
		switch {
		case !ok:
		case en.creds:
			out.Credentials = true
		case en.exception:
			excepted = append(excepted, en.rule)
		case en.step > 0:
			steps = append(steps, stepRef{en.rule, en.step - 1})
		default:
			hit = append(hit, en.rule)
		}
	}
	var rec *record
	decode := func() error {
		if rec == nil {
			if rec, err = matchedRecord(env, rec0, top, e.index); err != nil {
				return err
			}
			// the decoder's record, which it checked is valid JSON
			rec.valid = len(rec0) > 0 && len(rec.raw) == len(rec0) && &rec.raw[0] == &rec0[0]
			rec.compact = rec.valid && compact
		}
		return nil
	}
	hit = orderedUnique(hit)
	held := hit[:0] // the rules whose findings the record makes
	for _, i := range hit {
		if slices.Contains(excepted, i) {
			continue
		}
		if !predicatesMayHold(e.preds[i], env, rec0, top) {
			continue // turned away by bytes, without decoding the record
		}
		if err := decode(); err != nil {
			return Match{}, err
		}
		if !predicatesHold(e.preds[i], rec) {
			continue
		}
		held = append(held, i)
	}
	if len(held) > 0 {
		// Most severe first, so a consumer that shows one finding per record shows the one
		// that matters; ties keep load order. The rules are ordered, not their findings (half
		// a kilobyte each), which are made in place in a slice made to measure.
		slices.SortStableFunc(held, func(a, b int) int { return cmp.Compare(e.rules[b].Severity, e.rules[a].Severity) })
		out.Findings = make([]finding.Finding, len(held))
		for k, i := range held {
			e.fill(&out.Findings[k], i, rec, nil)
		}
	}

	slices.SortFunc(steps, func(a, b stepRef) int { return cmp.Or(cmp.Compare(a.rule, b.rule), cmp.Compare(a.step, b.step)) })
	for _, h := range slices.Compact(steps) {
		if slices.Contains(excepted, h.rule) {
			continue
		}
		sp := e.stepPreds[h.rule][h.step]
		if !predicatesMayHold(e.preds[h.rule], env, rec0, top) || !predicatesMayHold(sp, env, rec0, top) {
			continue
		}
		if len(e.preds[h.rule])+len(sp) > 0 {
			if err := decode(); err != nil {
				return Match{}, err
			}
			if !predicatesHold(e.preds[h.rule], rec) || !predicatesHold(sp, rec) {
				continue
			}
		}
		out.Steps = append(out.Steps, StepHit{Rule: e.rules[h.rule].ID, Step: h.step})
	}
	if rec != nil {
		out.Record = &Record{rec}
	}
	return out, nil
}

// readPaths are the record paths the rules' titles and runbooks name, and the fields their
// rules with memory key on, in rule order.
func (e *Engine) readPaths() []string {
	var out []string
	add := func(name string) {
		if p := strings.TrimPrefix(name, "detail."); strings.Contains(p, ".") {
			out = append(out, p)
		}
	}
	for i := range e.rules {
		for _, t := range []template{e.titles[i], e.books[i]} {
			for _, p := range t {
				add(p.field)
			}
		}
		r := &e.rules[i]
		var fields []string
		if t := r.Threshold; t != nil {
			fields = append(append(fields, t.GroupBy...), t.Distinct)
		}
		if q := r.Sequence; q != nil {
			fields = append(fields, q.By...)
			for _, st := range q.Steps {
				fields = append(fields, st.By...)
			}
		}
		if n := r.NewTerms; n != nil {
			fields = append(append(fields, n.Fields...), n.LearnBy...)
		}
		for _, f := range fields {
			add(f)
		}
	}
	return out
}

// orderedUnique sorts rule indexes (load order gives stable output) and drops repeats.
func orderedUnique(xs []int) []int {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// predicatesOf looks up predicates by name; New reports the unknown ones.
func predicatesOf(names []string) []*Predicate {
	var out []*Predicate
	for _, n := range names {
		if p, ok := predicates[n]; ok {
			out = append(out, &p)
		}
	}
	return out
}

// predicatesMayHold checks the predicates' necessary conditions on the raw envelope.
// predicatesMayHold applies the predicates' byte pre-checks to an envelope; top, when not
// nil, are the top-level members of rec, its record.
func predicatesMayHold(ps []*Predicate, env, rec []byte, top []cloudtrail.Member) bool {
	for _, p := range ps {
		switch {
		case p.userAgentSays != nil && top != nil:
			if !userAgentMembersSay(rec, top, p.userAgentSays) {
				return false
			}
		case p.maybe != nil && !p.maybe(env):
			return false
		}
	}
	return true
}

func predicatesHold(ps []*Predicate, rec *record) bool {
	for _, p := range ps {
		if !p.holds(rec) {
			return false
		}
	}
	return true
}

// finding builds rule i's finding for rec; extra fills the placeholders of stateful rules.
func (e *Engine) finding(i int, rec *record, extra func(name string) (string, bool)) finding.Finding {
	var f finding.Finding
	e.fill(&f, i, rec, extra)
	return f
}

// fill is finding, made in f.
func (e *Engine) fill(f *finding.Finding, i int, rec *record, extra func(name string) (string, bool)) {
	r := &e.rules[i]
	*f = *rec.eventPart()
	f.Rule = r.ID
	f.Severity = r.Severity
	f.Title, f.Runbook = renderBoth(e.titles[i], e.books[i], rec, extra)
	f.Description = r.Description
	f.Tags = slices.Clip(r.Tags) // shared with the rule: clipped so an append cannot write into it
	f.References = slices.Clip(r.References)
}

// eventPart is what every finding of rec says about the event, worked out once per record.
// Its slices and record are shared by those findings, clipped like the rules' tags.
func (rec *record) eventPart() *finding.Finding {
	if rec.event != nil {
		return rec.event
	}
	ua, source := rec.strOf(&pathUserAgent), rec.strOf(&pathEventSource)
	rec.ev = finding.Finding{
		EventID:         rec.strOf(&pathEventID),
		EventName:       rec.strOf(&pathEventName),
		EventSource:     source,
		EventTime:       rec.strOf(&pathEventTime),
		Account:         rec.fieldAt(fieldAccount, "", ""),
		Region:          rec.strOf(&pathRegion),
		Principal:       rec.fieldAt(fieldPrincipal, "", ""),
		PrincipalType:   rec.strOf(&pathCallerType),
		SourceIPAddress: rec.strOf(&pathSourceIP),
		UserAgent:       ua,
		AttackTool:      AttackTool(ua, source),
		ErrorCode:       rec.strOf(&pathErrorCode),
		ErrorMessage:    rec.strOf(&pathErrorMessage),
		Target:          rec.fieldAt(fieldTarget, "", ""),
		Params:          slices.Clip(rec.params()),
		Grants:          slices.Clip(rec.grants()),
	}
	rec.event = &rec.ev // in the record: not an allocation of its own
	// a copy: the record may sit in a large buffer of envelopes that a kept finding must not
	// keep alive
	switch raw := bytes.Clone(rec.raw); {
	case rec.compact:
		rec.event.SetCompactRecord(raw) // as the decoder saw it: written as it is if UTF-8
	case rec.valid:
		rec.event.SetValidRecord(raw) // checked for writing once for all the record's findings
	default:
		rec.event.Record = raw
	}
	return rec.event
}
