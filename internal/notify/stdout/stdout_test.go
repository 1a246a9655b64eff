package stdout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/stdout"
)

func TestFormats(t *testing.T) {
	f := &finding.Finding{Rule: "r", Severity: finding.High, Title: "bad\nthing", EventID: "e1", EventName: "X",
		Principal: "p\r\nFAKE LINE", Account: "1", Region: "us-east-1", EventTime: "t", Record: json.RawMessage(`{"a":1}`)}
	var b bytes.Buffer
	n, err := stdout.New(&b, "json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), f, f); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("json: %d lines, want 2", len(lines))
	}
	var back finding.Finding
	if err := json.Unmarshal([]byte(lines[0]), &back); err != nil || back.EventID != "e1" {
		t.Fatalf("json line does not round-trip: %v", err)
	}
	b.Reset()
	if n, err = stdout.New(&b, "text"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "HIGH") {
		t.Fatalf("text output %q: want one line; event strings must not add lines", b.String())
	}
	// An alert that merged an event's findings names the other rules on its line.
	b.Reset()
	m := *f
	m.Also = []finding.Match{{Rule: "iam-write\nFAKE", Severity: finding.Info}, {Rule: "iam-policy-changed", Severity: finding.Low}}
	if _, err := n.Notify(t.Context(), &m); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "  also iam-write FAKE (info), iam-policy-changed (low)\n") {
		t.Fatalf("text output %q: want the other rules at the end of its one line", got)
	}
	if _, err := stdout.New(&b, "xml"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteErrorIsPermanent(t *testing.T) {
	n, _ := stdout.New(brokenPipe{}, "")
	retry, err := n.Notify(t.Context(), &finding.Finding{Rule: "r"})
	if err == nil || retry || notify.Reason(err) != "write" {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
}
