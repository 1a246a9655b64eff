package detect

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/rules"
)

// citation is a sample comment naming a public rule and the level its authors gave it:
// "# sigma rules/cloud/aws/cloudtrail/aws_x.yml (high): ..." or "# elastic rules/integrations/aws/x.toml (medium)".
var citation = regexp.MustCompile(`\b(sigma|elastic) (rules/\S+\.(?:yml|toml)) \((informational|low|medium|high|critical)\)`)

// lookalike is a no_match comment for a benign record modelled on a public rule's filter.
var lookalike = regexp.MustCompile(`benign look-alike of (sigma|elastic) (rules/\S+\.(?:yml|toml))`)

// TestSourceSamples holds the pack to the public rules its samples cite. A sample whose comment
// cites a Sigma or Elastic rule with its level must be reported, by whichever rule, at least at
// that level up to medium (what reaches Slack); a no_match sample described as a benign
// look-alike of such a rule's filter must not reach medium by any rule.
func TestSourceSamples(t *testing.T) {
	e, err := New(builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	cited, lookalikes := 0, 0
	err = fs.WalkDir(rules.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := fs.ReadFile(rules.FS, p)
		if err != nil {
			return err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return err
		}
		for _, s := range commentedSamples(&doc) {
			top := maxSeverity(t, e, s.json)
			for _, m := range citation.FindAllStringSubmatch(s.comment, -1) {
				if s.match {
					cited++
					want := min(sourceLevel(m[3]), finding.Medium)
					if top < want {
						t.Errorf("%s:%d: %s %s rates this %s; the pack reports it at %s", p, s.line, m[1], m[2], m[3], top)
					}
				}
			}
			if !s.match && lookalike.MatchString(s.comment) {
				lookalikes++
				if top >= finding.Medium {
					t.Errorf("%s:%d: a benign look-alike reaches %s", p, s.line, top)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cited samples, %d benign look-alikes", cited, lookalikes)
	if cited < 50 || lookalikes < 10 {
		t.Errorf("only %d cited samples and %d look-alikes: the comment convention is not being read", cited, lookalikes)
	}
}

type commentedSample struct {
	comment, json string
	match         bool
	line          int
}

// commentedSamples walks a rule file's samples.match and samples.no_match lists and returns
// each entry with the comment lines written above it.
func commentedSamples(n *yaml.Node) []commentedSample {
	var out []commentedSample
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if (k.Value == "match" || k.Value == "no_match") && v.Kind == yaml.SequenceNode {
					for _, s := range v.Content {
						if s.Kind != yaml.ScalarNode {
							continue // a stateful rule's scenario (correlate runs those)
						}
						out = append(out, commentedSample{comment: s.HeadComment, json: s.Value, match: k.Value == "match", line: s.Line})
					}
					continue
				}
				walk(v)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

// sourceLevel maps a Sigma or Elastic level to ours (Sigma's informational counts as low).
func sourceLevel(s string) finding.Severity {
	if s == "informational" {
		return finding.Low
	}
	sev, _ := finding.ParseSeverity(s)
	return sev
}

// maxSeverity is the most severe finding any rule reports for a record (-1 for none).
func maxSeverity(t *testing.T, e *Engine, rec string) finding.Severity {
	t.Helper()
	env, err := Envelope([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := e.Detect(env)
	if err != nil {
		t.Fatal(err)
	}
	top := finding.Severity(-1)
	for _, f := range fs {
		top = max(top, f.Severity)
	}
	return top
}

// TestCoverageNamesRules: every rule id named in rules/COVERAGE.md (a backticked kebab-case
// word) is a built-in rule, so the table cannot point at a rule that was renamed or removed.
func TestCoverageNamesRules(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "rules", "COVERAGE.md"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range builtin(t) {
		ids[r.ID] = true
	}
	named := 0
	for _, m := range regexp.MustCompile("`([a-z0-9]+(?:-[a-z0-9]+)+)`").FindAllStringSubmatch(string(text), -1) {
		named++
		if !ids[m[1]] {
			t.Errorf("rules/COVERAGE.md names %s, which is not a built-in rule", m[1])
		}
	}
	if named < 40 {
		t.Errorf("rules/COVERAGE.md names only %d rules", named)
	}
}
