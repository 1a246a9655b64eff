package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
)

// strangerRecord is one line of testdata/coverage/stranger.jsonl: a record written afresh from
// the AWS API reference for one variant of a public rule (not taken from the pack's samples),
// and what trailbell must make of it.
type strangerRecord struct {
	Source  string          `json:"source"`  // "sigma rules/...yml" or "benign look-alike of ..."
	Level   string          `json:"level"`   // the source rule's level
	Expect  string          `json:"expect"`  // the least severity reported, or "below-medium"
	Variant string          `json:"variant"` // which event name or condition it exercises
	Record  json.RawMessage `json:"record"`
}

// TestStrangerRecords runs records written by someone other than the rules' authors through
// `trailbell scan --format json`: each cited rule's record must be reported at least at the
// level expected (its authors' level, up to medium), each benign look-alike below medium.
func TestStrangerRecords(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "coverage", "stranger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []strangerRecord
	var input strings.Builder
	sources := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var c strangerRecord
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("stranger.jsonl:%d: %v", line, err)
		}
		cases = append(cases, c)
		input.Write(c.Record)
		input.WriteByte('\n')
		sources[strings.TrimPrefix(c.Source, "benign look-alike of ")] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(sources) < 30 {
		t.Fatalf("records of %d source rules, want at least 30", len(sources))
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "records.jsonl")
	writeFile(t, in, []byte(input.String()))
	code, out, errOut := runCmd(t, "scan", "--format", "json", "--no-progress", in)
	if code != exitFindings {
		t.Fatalf("scan exit %d: %s", code, errOut)
	}
	top := map[string]finding.Severity{}
	rules := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var fd struct {
			Rule, Severity, EventID string
		}
		if err := json.Unmarshal([]byte(l), &fd); err != nil {
			t.Fatalf("scan output %q: %v", l, err)
		}
		sev, err := finding.ParseSeverity(fd.Severity)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := top[fd.EventID]; !ok || sev > s {
			top[fd.EventID] = sev
		}
		rules[fd.EventID] = append(rules[fd.EventID], fd.Rule+" "+fd.Severity)
	}
	for i, c := range cases {
		var rec struct{ EventID string }
		if err := json.Unmarshal(c.Record, &rec); err != nil || rec.EventID == "" {
			t.Fatalf("stranger.jsonl:%d: record without an eventID", i+1)
		}
		got, found := top[rec.EventID]
		if !found {
			got = -1
		}
		if c.Expect == "below-medium" {
			if got >= finding.Medium {
				t.Errorf("stranger.jsonl:%d: %s (%s) reaches %s: %v", i+1, c.Source, c.Variant, got, rules[rec.EventID])
			}
			continue
		}
		want, err := finding.ParseSeverity(c.Expect)
		if err != nil {
			t.Fatalf("stranger.jsonl:%d: expect: %v", i+1, err)
		}
		if got < want {
			t.Errorf("stranger.jsonl:%d: %s rates %s (%s); trailbell reports %v, want %s or above",
				i+1, c.Source, c.Level, c.Variant, rules[rec.EventID], want)
		}
	}
	t.Logf("%d records of %d source rules", len(cases), len(sources))
}
