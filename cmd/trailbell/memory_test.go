package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestScanMemory: scan runs the rules with memory over examples/memory-story: the story's
// three chains are found with their actors and related events; --state-dir carries the state
// to a second scan, which re-emits the same findings; a tolerance shorter than the story's
// cross-region delay is reported in the summary.
func TestScanMemory(t *testing.T) {
	story := filepath.Join("..", "..", "examples", "memory-story")
	stateful := func(out string) []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var f struct {
				Rule    string
				Related []string
				Actor   *struct{ Name string }
			}
			if err := json.Unmarshal([]byte(l), &f); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			if len(f.Related) > 0 && f.Actor != nil {
				got = append(got, f.Rule+" by "+f.Actor.Name)
			}
		}
		slices.Sort(got)
		return got
	}
	want := []string{"access-denied-sweep by alice", "console-login-after-failures by bob", "new-user-escalation-chain by mallory"}
	dir := t.TempDir()
	for run := range 2 {
		code, out, errs := runCmd(t, "scan", "--format", "json", "--state-dir", dir, story)
		if code != exitFindings {
			t.Fatalf("run %d: exit %d\n%s", run, code, errs)
		}
		if got := stateful(out); !slices.Equal(got, want) {
			t.Errorf("run %d: findings of rules with memory %v, want %v", run, got, want)
		}
		if strings.Contains(errs, "rules with memory:") {
			t.Errorf("run %d: the summary notes trouble with the default tolerance:\n%s", run, errs)
		}
	}
	_, _, errs := runCmd(t, "scan", "--format", "json", "--tolerance", "1m", story)
	if !strings.Contains(errs, "rules with memory: 1 records later than the tolerance") {
		t.Errorf("a one-minute tolerance: summary\n%s", errs)
	}
}
