package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/finding"
)

// CheckSamples runs every event rule's samples through one engine built from all the rules
// and reports each sample that a rule fails to report (match) or reports (no_match). The
// scenarios of stateful rules need memory: correlate.CheckSamples runs them.
func CheckSamples(rs []Rule) error {
	e, err := New(rs)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if r.Kind.Stateful() {
			// scenarios are run by internal/correlate (correlate.CheckSamples)
			continue
		}
		for i, s := range r.Samples.Match {
			if err := e.expect(r.ID, s, true); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: samples.match[%d]: %w", r.File, r.ID, i, err))
			}
		}
		for i, s := range r.Samples.NoMatch {
			if err := e.expect(r.ID, s, false); err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %q: samples.no_match[%d]: %w", r.File, r.ID, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) expect(id string, sample json.RawMessage, want bool) error {
	env, err := Envelope(sample)
	if err != nil {
		return err
	}
	fs, err := e.Detect(env)
	if err != nil {
		return err
	}
	got := slices.ContainsFunc(fs, func(f finding.Finding) bool { return f.Rule == id })
	switch {
	case want && !got:
		return errors.New("rule did not report this sample")
	case !want && got:
		return errors.New("rule reported this sample")
	}
	return nil
}

// Envelope returns an EventBridge envelope for a sample: unchanged when it is one already,
// else the CloudTrail record lifted.
func Envelope(sample []byte) ([]byte, error) {
	var probe struct {
		Detail     json.RawMessage `json:"detail"`
		DetailType *string         `json:"detail-type"`
	}
	if err := json.Unmarshal(sample, &probe); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	if probe.Detail != nil && probe.DetailType != nil {
		return sample, nil
	}
	env, err := cloudtrail.Lift(sample)
	if err != nil {
		return nil, fmt.Errorf("lift sample: %w", err)
	}
	return env, nil
}
