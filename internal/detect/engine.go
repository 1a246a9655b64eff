package detect

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/pattern"
)

// Engine holds every rule compiled into one matcher. It is immutable after New and safe for
// concurrent use; a rule reload builds a new Engine.
type Engine struct {
	rules   []Rule
	m       *pattern.Matcher
	entries map[string]entry // matcher id → rule (and which exception)
	titles  []template
	books   []template // runbooks, nil for a rule without one
}

type entry struct {
	rule      int
	exception bool
}

// exceptionID names an exception pattern in the matcher; '#' cannot occur in a rule id.
func exceptionID(rule string, i int) string { return fmt.Sprintf("%s#exception%d", rule, i) }

// New compiles the rules. The matcher selects across all rules at once, so the cost of a
// record that matches nothing does not depend on how many rules there are.
func New(rs []Rule) (*Engine, error) {
	e := &Engine{
		rules:   rs,
		m:       pattern.New(),
		entries: make(map[string]entry, len(rs)),
		titles:  make([]template, len(rs)),
		books:   make([]template, len(rs)),
	}
	var errs []error
	for i, r := range rs {
		if _, dup := e.entries[r.ID]; dup {
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
		if err := e.add(r.ID, r.Pattern, r.compiled.of(r.Pattern, false)); err != nil {
			errs = append(errs, fmt.Errorf("%s: rule %q: pattern: %w", r.File, r.ID, err))
			continue
		}
		e.entries[r.ID] = entry{rule: i}
		for j, x := range r.Exceptions {
			id := exceptionID(r.ID, j)
			if err := e.add(id, x, r.compiled.of(x, true)); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: exceptions[%d]: %w", r.File, r.ID, j, err))
				continue
			}
			e.entries[id] = entry{rule: i, exception: true}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e, nil
}

// add adds a pattern under id: compiled already when loading compiled it, else from text.
func (e *Engine) add(id, text string, compiled *pattern.Pattern) error {
	if compiled != nil {
		e.m.AddPattern(id, compiled)
		return nil
	}
	return e.m.Add(id, text)
}

// Rules returns the compiled rules in load order.
func (e *Engine) Rules() []Rule { return e.rules }

// Detect matches one EventBridge envelope (see cloudtrail.Lift) and returns a finding for
// every rule that matched, was not suppressed by an exception, and whose predicates hold,
// most severe first.
// The record is decoded only when some pattern matched.
func (e *Engine) Detect(env []byte) ([]finding.Finding, error) {
	ids, err := e.m.Match(env)
	if err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// a record matches a handful of rules: on the stack, not allocated per record
	var hitBuf, exceptedBuf [16]int
	hit, excepted := hitBuf[:0], exceptedBuf[:0]
	for _, id := range ids {
		en, ok := e.entries[id]
		if !ok {
			continue
		}
		if en.exception {
			excepted = append(excepted, en.rule)
			continue
		}
		hit = append(hit, en.rule)
	}
	var rec *record
	var out []finding.Finding
	for _, i := range orderedUnique(hit) {
		if slices.Contains(excepted, i) {
			continue
		}
		r := &e.rules[i]
		if !predicatesMayHold(r, env) {
			continue // turned away by bytes, without decoding the record
		}
		if rec == nil {
			if rec, err = envelopeRecord(env); err != nil {
				return nil, err
			}
		}
		if !predicatesHold(r, rec) {
			continue
		}
		out = append(out, e.finding(i, rec))
	}
	// Most severe first, so a consumer that shows one finding per record shows the one
	// that matters; ties keep load order.
	slices.SortStableFunc(out, func(a, b finding.Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	return out, nil
}

// orderedUnique sorts rule indexes (load order gives stable output) and drops repeats.
func orderedUnique(xs []int) []int {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// predicatesMayHold checks the predicates' necessary conditions on the raw envelope.
func predicatesMayHold(r *Rule, env []byte) bool {
	for _, p := range r.Predicates {
		if m := predicates[p].maybe; m != nil && !m(env) {
			return false
		}
	}
	return true
}

func predicatesHold(r *Rule, rec *record) bool {
	for _, p := range r.Predicates {
		if !predicates[p].holds(rec) {
			return false
		}
	}
	return true
}

func (e *Engine) finding(i int, rec *record) finding.Finding {
	r := &e.rules[i]
	return finding.Finding{
		Rule:            r.ID,
		Severity:        r.Severity,
		Title:           e.titles[i].render(rec),
		Description:     r.Description,
		Tags:            slices.Clip(r.Tags), // shared with the rule: clipped so an append cannot write into it
		References:      slices.Clip(r.References),
		Runbook:         e.books[i].renderRunbook(rec),
		EventID:         rec.str("eventID"),
		EventName:       rec.str("eventName"),
		EventSource:     rec.str("eventSource"),
		EventTime:       rec.str("eventTime"),
		Account:         rec.account(),
		Region:          rec.str("awsRegion"),
		Principal:       rec.principal(),
		PrincipalType:   rec.str("userIdentity.type"),
		SourceIPAddress: rec.str("sourceIPAddress"),
		UserAgent:       rec.str("userAgent"),
		ErrorCode:       rec.str("errorCode"),
		ErrorMessage:    rec.str("errorMessage"),
		Target:          rec.target(),
		Params:          rec.params(),
		Grants:          rec.grants(),
		// a copy: the record may sit in a large buffer of envelopes that a kept finding
		// must not keep alive
		Record: bytes.Clone(rec.raw),
	}
}
