package deploy

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/pattern"
)

var update = flag.Bool("update", false, "rewrite the patterns in deploy/ from the built-in rules")

func builtinPatterns(t *testing.T) ([]Pattern, []Rule, []Sample) {
	t.Helper()
	rs, err := detect.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	rules, samples, err := FromDetect(rs)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Generate(rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ps, rules, samples
}

// TestBuiltinSamplesMatchGeneratedPatterns is the proof that the pre-filter is a superset of
// the pack: every positive sample of every rule matches one of the generated patterns, under
// the same pattern engine that trailbell matches with.
func TestBuiltinSamplesMatchGeneratedPatterns(t *testing.T) {
	ps, rules, samples := builtinPatterns(t)
	if len(samples) < len(rules) {
		t.Fatalf("%d positive samples for %d rules", len(samples), len(rules))
	}
	var jsons []string
	covered := map[string]bool{}
	for i, p := range ps {
		if err := pattern.Validate(p.JSON); err != nil {
			t.Errorf("pattern %d is not a valid EventBridge pattern: %v", i+1, err)
		}
		if len(p.JSON) > DefaultMaxSize {
			t.Errorf("pattern %d has %d characters, over %d", i+1, len(p.JSON), DefaultMaxSize)
		}
		jsons = append(jsons, p.JSON)
		for _, r := range p.Rules {
			covered[r] = true
		}
	}
	for _, r := range rules {
		if !covered[r.ID] {
			t.Errorf("rule %s is in no generated pattern", r.ID)
		}
	}
	missed, err := Uncovered(jsons, samples)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range missed {
		t.Errorf("rule %s %s matches no generated pattern", s.Rule, s.Name)
	}
	t.Logf("%d rules, %d positive samples, %d patterns", len(rules), len(samples), len(ps))

	// The pre-filter must still filter: routine read-only calls stay out.
	routine := []Sample{
		{Rule: "-", Name: "kms Decrypt", Envelope: []byte(`{"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail","source":"aws.kms","account":"1","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"eventSource":"kms.amazonaws.com","eventName":"Decrypt","userIdentity":{"type":"IAMUser"},"eventType":"AwsApiCall"}}`)},
		{Rule: "-", Name: "iam GetUser", Envelope: []byte(`{"version":"0","id":"2","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"1","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"eventSource":"iam.amazonaws.com","eventName":"GetUser","userIdentity":{"type":"IAMUser"},"eventType":"AwsApiCall"}}`)},
	}
	passed, err := Uncovered(jsons, routine)
	if err != nil {
		t.Fatal(err)
	}
	if len(passed) != len(routine) {
		t.Errorf("the generated patterns let routine read-only calls through (%d of %d filtered)", len(passed), len(routine))
	}
}

// TestDeployFilesCarryGeneratedPatterns checks that the defaults in deploy/ deliver every
// positive sample of the built-in pack; -update rewrites them with what `trailbell deploy
// pattern` prints.
func TestDeployFilesCarryGeneratedPatterns(t *testing.T) {
	ps, _, _ := builtinPatterns(t)
	cfn := []string{
		filepath.Join(deployDir, "cloudformation", "template.yaml"),
		filepath.Join(deployDir, "cloudformation", "member-forwarder.yaml"),
	}
	tf := filepath.Join(deployDir, "terraform", "event-patterns.json")
	if *update {
		if len(ps) > 4 {
			t.Fatalf("%d patterns, but the templates have 4 slots", len(ps))
		}
		for _, f := range cfn {
			writeCFNDefaults(t, f, ps)
		}
		var b strings.Builder
		b.WriteString("[\n")
		for i, p := range ps {
			b.WriteString("  " + p.JSON)
			if i < len(ps)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("]\n")
		if err := os.WriteFile(tf, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, _, samples := builtinPatterns(t)
	for _, f := range append(cfn, tf) {
		deployed, err := TemplatePatterns(f)
		if err != nil {
			t.Fatal(err)
		}
		// A shipped pattern that misses a rule's sample is a bug; one that merely differs
		// from today's generation (the pack grew, still covered) is worth a note only.
		missed, err := Uncovered(deployed, samples)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range missed {
			t.Errorf("%s: rule %s %s matches no shipped pattern (run go test ./internal/deploy -run DeployFiles -update)", f, s.Rule, s.Name)
		}
		w, err := CheckStale(deployed, ps)
		if err != nil {
			t.Fatal(err)
		}
		if len(w) > 0 {
			t.Logf("%s: patterns differ from a fresh generation but cover every sample; -update regenerates them", f)
		}
	}
}

var defaultLine = regexp.MustCompile(`(?m)^(  EventPattern(\d):\n(?:    [A-Za-z]+:.*\n)*?    Default: ).*$`)

func writeCFNDefaults(t *testing.T, path string, ps []Pattern) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	out := defaultLine.ReplaceAllStringFunc(string(b), func(m string) string {
		sub := defaultLine.FindStringSubmatch(m)
		i := int(sub[2][0] - '1')
		v := `""`
		if i < len(ps) {
			v = "'" + strings.ReplaceAll(ps[i].JSON, "'", "''") + "'"
		}
		n++
		return sub[1] + v
	})
	if n != 4 {
		t.Fatalf("%s: found %d EventPatternN defaults, want 4", path, n)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
