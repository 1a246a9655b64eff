package detect

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestDetectScaling compares a pass over the bench events with the built-in pack and with
// 10,000 extra rules, taking the fastest of many alternating passes so that other load on a
// shared machine does not decide the ratio. Run with TRAILBELL_SCALING=1.
func TestDetectScaling(t *testing.T) {
	if os.Getenv("TRAILBELL_SCALING") == "" {
		t.Skip("set TRAILBELL_SCALING=1 to measure how detection scales with 10,000 extra rules")
	}
	envs := benchEvents(t)
	base, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	big, err := New(append(builtin(t), extraRules(10000)...))
	if err != nil {
		t.Fatal(err)
	}
	// the extra rules match none of the events, so both engines must report the same
	findings := 0
	for _, env := range envs {
		a, errA := base.Detect(env)
		b, errB := big.Detect(env)
		if errA != nil || errB != nil {
			t.Fatalf("detect: %v, %v", errA, errB)
		}
		if got, want := strings.Join(ruleIDs(b), " "), strings.Join(ruleIDs(a), " "); got != want {
			t.Fatalf("with 10,000 extra rules: findings %s, want %s for %.200s", got, want, env)
		}
		findings += len(a)
	}
	if findings == 0 {
		t.Fatal("no findings: the events exercise nothing")
	}
	pass := func(e *Engine) time.Duration {
		start := time.Now()
		for _, env := range envs {
			if _, err := e.Detect(env); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	minBase, minBig := time.Hour, time.Hour
	for range 30 {
		minBase = min(minBase, pass(base))
		minBig = min(minBig, pass(big))
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(len(envs)) }
	t.Logf("%d events: built-in %.0f ns/event, +10,000 rules %.0f ns/event, ratio %.2f",
		len(envs), per(minBase), per(minBig), float64(minBig)/float64(minBase))
}
