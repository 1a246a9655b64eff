package deploy

import (
	"fmt"
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
	for _, r := range rs {
		rules = append(rules, Rule{ID: r.ID, Pattern: r.Pattern})
		for i, s := range r.Samples.Match {
			env, err := detect.Envelope(s)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: rule %s: samples.match[%d]: %w", r.File, r.ID, i, err)
			}
			samples = append(samples, Sample{Rule: r.ID, Name: "samples.match[" + strconv.Itoa(i) + "]", Envelope: env})
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
