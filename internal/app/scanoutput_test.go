package app

import (
	"bytes"
	"strings"
	"testing"

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
	if err := TextSink(&out)(t.Context(), f); err != nil {
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
