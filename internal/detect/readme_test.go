package detect

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeCoverage keeps rules/README.md honest: every rule id it names exists, and every
// built-in rule appears in its coverage table.
func TestReadmeCoverage(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "rules", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(text), "## Coverage of the catalogue")
	if !ok {
		t.Fatal("rules/README.md has no coverage section")
	}
	table, _, _ = strings.Cut(table, "### Planned")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9]+(?:-[a-z0-9]+)+)`").FindAllStringSubmatch(table, -1) {
		named[m[1]] = true
	}
	var ids []string
	for _, r := range builtin(t) {
		ids = append(ids, r.ID)
		if !named[r.ID] {
			t.Errorf("rule %s is missing from the coverage table of rules/README.md", r.ID)
		}
	}
	for id := range named {
		if !slices.Contains(ids, id) {
			t.Errorf("rules/README.md names %s, which is not a built-in rule", id)
		}
	}
	for name := range fieldNames {
		if !strings.Contains(string(text), "`"+name+"`") {
			t.Errorf("title placeholder %s is not documented in rules/README.md", name)
		}
	}
	for _, p := range PredicateNames() {
		if !strings.Contains(string(text), "`"+p+"`") {
			t.Errorf("predicate %s is not documented in rules/README.md", p)
		}
	}
}

// TestBuiltinRunbooksAndTitles: every built-in rule tells on-call what to check and how to undo
// it, and its title names people and things briefly: full ARNs ({principal}, {target},
// {policy}) belong in the alert's fields, not in its header.
func TestBuiltinRunbooksAndTitles(t *testing.T) {
	for _, r := range builtin(t) {
		if strings.TrimSpace(r.Runbook) == "" {
			t.Errorf("%s: rule %s has no runbook", r.File, r.ID)
		}
		for _, arn := range []string{"{principal}", "{target}", "{policy}"} {
			if strings.Contains(r.Title, arn) {
				t.Errorf("%s: rule %s's title uses %s (a full ARN); use {who}, {targetName} or {policyName}", r.File, r.ID, arn)
			}
		}
	}
}
