package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/pattern"
)

// Sample is an event a rule must report, as an EventBridge envelope.
type Sample struct {
	Rule     string
	Name     string // "samples.match[2]"
	Envelope []byte
}

// FromDetect returns the pre-filter view of detection rules and their positive samples.
func FromDetect(rs []detect.Rule) ([]Rule, []Sample, error) {
	rules := make([]Rule, 0, len(rs))
	var samples []Sample
	stateful := false
	for _, r := range rs {
		if r.Kind.Stateful() {
			stateful = true
			rs, ss, err := statefulRule(r)
			if err != nil {
				return nil, nil, err
			}
			rules, samples = append(rules, rs...), append(samples, ss...)
			continue
		}
		rules = append(rules, Rule{ID: r.ID, Pattern: r.Pattern, Narrow: prefilters(r.Predicates)})
		for i, s := range r.Samples.Match {
			env, err := detect.Envelope(s)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: rule %s: samples.match[%d]: %w", r.File, r.ID, i, err)
			}
			samples = append(samples, Sample{Rule: r.ID, Name: "samples.match[" + strconv.Itoa(i) + "]", Envelope: env})
		}
	}
	if stateful {
		// actors behind role sessions are followed through the STS calls that issue them
		rules = append(rules, Rule{ID: CredentialsRule, Pattern: detect.CredentialsPattern})
	}
	return rules, samples, nil
}

// prefilters returns the EventBridge patterns the named predicates give the pre-filter.
func prefilters(predicates []string) []string {
	var out []string
	for _, p := range predicates {
		if pf := detect.PredicatePrefilter(p); pf != "" {
			out = append(out, pf)
		}
	}
	return out
}

// CredentialsRule names detect.CredentialsPattern among the pre-filter's rules.
const CredentialsRule = "trailbell-credentials"

// statefulRule returns one pre-filter rule per step of a stateful rule, named RULE#stepN, and
// as samples the records of its match scenarios that some step selects (a scenario may hold
// other records, which only move time along).
func statefulRule(r detect.Rule) ([]Rule, []Sample, error) {
	var rules []Rule
	m := pattern.New()
	for i, st := range r.Steps() {
		if r.Kind == detect.KindNewTerms && i > 0 {
			break // the report pattern narrows the rule's own: nothing more to deliver
		}
		id := r.ID + "#step" + strconv.Itoa(i+1)
		rules = append(rules, Rule{ID: id, Pattern: st.Pattern, Narrow: prefilters(append(slices.Clone(r.Predicates), st.Predicates...))})
		if err := m.Add(id, st.Pattern); err != nil {
			return nil, nil, fmt.Errorf("%s: rule %s: step %d: %w", r.File, r.ID, i+1, err)
		}
	}
	var samples []Sample
	for i, s := range r.Samples.Match {
		var recs []json.RawMessage
		if err := json.Unmarshal(s, &recs); err != nil {
			return nil, nil, fmt.Errorf("%s: rule %s: samples.match[%d]: %w", r.File, r.ID, i, err)
		}
		for j, rec := range recs {
			name := fmt.Sprintf("samples.match[%d][%d]", i, j)
			env, err := detect.Envelope(rec)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: rule %s: %s: %w", r.File, r.ID, name, err)
			}
			if ids, err := m.Match(env); err == nil && len(ids) > 0 {
				samples = append(samples, Sample{Rule: r.ID, Name: name, Envelope: env})
			}
		}
	}
	return rules, samples, nil
}

// Uncovered returns the samples that none of the patterns matches: events EventBridge would
// never deliver to trailbell.
func Uncovered(patterns []string, samples []Sample) ([]Sample, error) {
	m := pattern.New()
	for i, p := range patterns {
		if err := m.Add(strconv.Itoa(i), p); err != nil {
			return nil, fmt.Errorf("pattern %d: %w", i+1, err)
		}
	}
	var out []Sample
	for _, s := range samples {
		ids, err := m.Match(s.Envelope)
		if err != nil {
			return nil, fmt.Errorf("rule %s %s: %w", s.Rule, s.Name, err)
		}
		if len(ids) == 0 {
			out = append(out, s)
		}
	}
	return out, nil
}
