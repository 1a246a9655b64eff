package deploy

import (
	"flag"
	"os"
	"path/filepath"
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
// positive sample of the built-in pack, that the CloudFormation templates have
// deploy.TemplateSlots pattern slots, and that the pack leaves SlotHeadroom of them free;
// -update rewrites them with what `trailbell deploy pattern` prints.
func TestDeployFilesCarryGeneratedPatterns(t *testing.T) {
	ps, _, _ := builtinPatterns(t)
	if len(ps) > TemplateSlots-SlotHeadroom {
		t.Errorf("the built-in pack needs %d pre-filter patterns, leaving fewer than %d of the templates' %d slots for people's own rules: raise deploy.TemplateSlots and run go test ./internal/deploy -run DeployFiles -update",
			len(ps), SlotHeadroom, TemplateSlots)
	}
	cfn := []string{
		filepath.Join(deployDir, "cloudformation", "template.yaml"),
		filepath.Join(deployDir, "cloudformation", "member-forwarder.yaml"),
	}
	tf := filepath.Join(deployDir, "terraform", "event-patterns.json")
	jsons := make([]string, len(ps))
	for i, p := range ps {
		jsons[i] = p.JSON
	}
	for _, f := range cfn {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		defaults := jsons
		if !*update {
			// the structure must be current whatever the defaults: regenerate with the shipped ones
			if defaults, err = TemplatePatterns(f); err != nil {
				t.Fatal(err)
			}
		}
		out, err := RegenerateCFN(filepath.Base(f), string(b), defaults)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if out != string(b) {
			t.Errorf("%s: its generated pre-filter sections are not those of %d slots (run go test ./internal/deploy -run DeployFiles -update)", f, TemplateSlots)
		}
	}
	if *update {
		var b strings.Builder
		b.WriteString("[\n")
		for i, p := range jsons {
			b.WriteString("  " + p)
			if i < len(jsons)-1 {
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
