package notifytest

import (
	"testing"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

// Builtin returns the built-in rules and an engine of them all.
func Builtin(t testing.TB) ([]detect.Rule, *detect.Engine) {
	t.Helper()
	rules, err := detect.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rules, eng
}

// SampleEvent returns the findings every built-in rule gives for sample i (from 0) of
// rule's positive samples, in detection's order (most severe first): the findings one
// alert merges (finding.Merge).
func SampleEvent(t testing.TB, rule string, i int) []*finding.Finding {
	t.Helper()
	rules, eng := Builtin(t)
	for _, r := range rules {
		if r.ID != rule {
			continue
		}
		if i >= len(r.Samples.Match) {
			t.Fatalf("rule %s has %d positive samples, not %d", rule, len(r.Samples.Match), i+1)
		}
		env, err := detect.Envelope(r.Samples.Match[i])
		if err != nil {
			t.Fatal(err)
		}
		fs, err := eng.Detect(env)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]*finding.Finding, len(fs))
		for j := range fs {
			out[j] = &fs[j]
		}
		return out
	}
	t.Fatalf("no built-in rule %s", rule)
	return nil
}
