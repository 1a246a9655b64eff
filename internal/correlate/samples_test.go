package correlate

import (
	"testing"

	"github.com/trailbell/trailbell/internal/detect"
)

// TestBuiltinScenarios runs the scenarios of the built-in stateful rules: each rule reports
// over its match scenarios and stays quiet over its benign controls.
func TestBuiltinScenarios(t *testing.T) {
	rs, err := detect.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if r.Kind.Stateful() {
			n++
			if len(r.Samples.Match) == 0 || len(r.Samples.NoMatch) == 0 {
				t.Errorf("rule %s: want scenarios that must and must not report", r.ID)
			}
		}
	}
	if n < 10 {
		t.Errorf("%d stateful built-in rules", n)
	}
	if err := CheckSamples(rs); err != nil {
		t.Error(err)
	}
}
