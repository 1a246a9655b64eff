package scan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
)

// Every value that came from a record stays on its line and sends no control sequence to the
// terminal: a crafted record cannot forge findings or recolour the screen.
func TestTextSinkNeutralisesControlCharacters(t *testing.T) {
	var out bytes.Buffer
	f := finding.Finding{
		Rule: "r", Severity: finding.High, Title: "t\nHIGH forged",
		EventName: "Attach\x1b[31mUserPolicy", EventTime: "2026-11-20T09:00:00Z\r", EventID: "id\n1",
		Principal: "arn\x07", Account: "1\n2", Region: "us\teast", SourceIPAddress: "1.2.3.4\n",
		Target: "bob\x1b", Origin: "file\nline 3",
	}
	tw := NewTextWriter(&out)
	if err := tw.Write(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("text output has %d lines, want 4:\n%s", n, got)
	}
	for _, c := range got {
		if c != '\n' && (c < 0x20 || c == 0x7f) {
			t.Fatalf("control character %q reached the output:\n%q", c, got)
		}
	}
	for _, want := range []string{"t HIGH forged", "Attach [31mUserPolicy", "id 1", "file line 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestTextWriterOneEntryPerEvent: the findings of one event are one entry led by the most
// severe; another event, or a finding without an eventID, starts a new one.
func TestTextWriterOneEntryPerEvent(t *testing.T) {
	var out bytes.Buffer
	tw := NewTextWriter(&out)
	mk := func(rule, id string, sev finding.Severity) finding.Finding {
		return finding.Finding{Rule: rule, Severity: sev, Title: rule + " title", EventID: id, Account: "111122223333"}
	}
	for _, f := range []finding.Finding{
		mk("iam-write", "e1", finding.Info), mk("admin-attached", "e1", finding.High), mk("iam-policy-changed", "e1", finding.Low),
		mk("iam-write", "e2", finding.Info),
		mk("bad-input", "", finding.Medium), mk("bad-input-2", "", finding.Medium),
	} {
		if err := tw.Write(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	var heads, also []string
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "         also "):
			also = append(also, strings.Fields(line)[1]+" "+strings.Fields(line)[len(strings.Fields(line))-1])
		case line != "" && !strings.HasPrefix(line, " "):
			heads = append(heads, line[strings.LastIndexByte(line, '[')+1:len(line)-1])
		}
	}
	if got := strings.Join(heads, " "); got != "admin-attached iam-write bad-input bad-input-2" {
		t.Errorf("entries %s; want one per event, the most severe leading", got)
	}
	if got := strings.Join(also, ", "); got != "LOW [iam-policy-changed], INFO [iam-write]" {
		t.Errorf("listed under the lead: %s", got)
	}
}

// TestJSONWriter: lines are what encoding/json writes, held until a block fills, a second
// passes or Flush; a record that is not JSON fails the write with encoding/json's reason.
func TestJSONWriter(t *testing.T) {
	fs := []finding.Finding{
		{Rule: "a", Title: "<b> & \u2028 \xff", Record: json.RawMessage(`{ "eventName" : "X" }`)},
		{Rule: "b", Severity: finding.Critical, Tags: []string{"t"}, Actor: &finding.Actor{ID: "i"}, Record: json.RawMessage(`{}`)},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	var out bytes.Buffer
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	jw := NewJSONWriter(&out)
	jw.now = func() time.Time { return clock }
	jw.last = clock
	for _, f := range fs {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
		if err := jw.Write(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("written before a block filled, a second passed or Flush: %s", out.String())
	}
	clock = clock.Add(time.Second)
	if err := jw.Write(t.Context(), fs[0]); err != nil {
		t.Fatal(err)
	}
	enc.Encode(fs[0])
	if out.String() != want.String() {
		t.Errorf("after a second:\n got %s\nwant %s", out.String(), want.String())
	}
	jw.Write(t.Context(), fs[1])
	enc.Encode(fs[1])
	if err := jw.Flush(); err != nil || out.String() != want.String() {
		t.Errorf("after Flush (%v):\n got %s\nwant %s", err, out.String(), want.String())
	}
	bad := finding.Finding{Rule: "c", Record: json.RawMessage(`{"a":1} trailing`)}
	if err := jw.Write(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "after top-level value") {
		t.Errorf("a record that is not JSON: %v", err)
	}
}
