package detect

import (
	"bytes"
	"strings"
	"testing"
)

// TestRepeatedKeys: a record that repeats a key is matched on every occurrence (as
// EventBridge's engine does), and the finding shows all of them, in order, so what the
// alert says is what the rule matched on; the record bytes keep every occurrence.
func TestRepeatedKeys(t *testing.T) {
	y := "rules:\n  - id: trail-deleted\n    title: 'trail deleted: {eventName}'\n    severity: high\n" +
		"    pattern: '{\"detail\":{\"eventName\":[\"DeleteTrail\"]}}'\n"
	rs, err := Parse([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		record, eventName, source string
	}{
		{`{"eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail","eventType":"AwsApiCall","eventName":"ListTrails"}`,
			"DeleteTrail | ListTrails", "cloudtrail.amazonaws.com"},
		{`{"eventName":"ListTrails","eventSource":"cloudtrail.amazonaws.com","userIdentity":{"type":"Root"},"userIdentity":{"type":"IAMUser"},"eventName":"DeleteTrail"}`,
			"ListTrails | DeleteTrail", "cloudtrail.amazonaws.com"},
	} {
		fs := detect(t, e, c.record)
		if len(fs) != 1 {
			t.Fatalf("record %s: %d findings, want 1", c.record, len(fs))
		}
		f := fs[0]
		if f.EventName != c.eventName || f.EventSource != c.source {
			t.Errorf("record %s: eventName %q, eventSource %q; want %q, %q", c.record, f.EventName, f.EventSource, c.eventName, c.source)
		}
		if !strings.Contains(f.Title, c.eventName) {
			t.Errorf("title %q does not show %q", f.Title, c.eventName)
		}
		if !bytes.Contains(f.Record, []byte(`"ListTrails"`)) || !bytes.Contains(f.Record, []byte(`"DeleteTrail"`)) {
			t.Errorf("record bytes %s lost an occurrence", f.Record)
		}
	}
	if fs := detect(t, e, `{"eventName":"ListTrails","eventName":"GetTrail"}`); len(fs) != 0 {
		t.Errorf("no occurrence is DeleteTrail, yet %d findings", len(fs))
	}
}

func TestHasRepeatedKey(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"a":1,"b":2}`:                 false,
		`{"a":1,"a":2}`:                 true,
		`{"a":{"b":1},"c":{"b":1}}`:     false,
		`{"a":[{"b":1,"b":2}]}`:         true,
		`{"a":"\"a\":","b":1}`:          false,
		`{"a":1,"\u0061":2}`:            true,
		`{"x":[{"a":1},{"a":2}],"a":3}`: false,
		`{"k":{"a":1},"k2":1,"k":2}`:    true,
	} {
		if got := hasRepeatedKey([]byte(doc)); got != want {
			t.Errorf("hasRepeatedKey(%s) = %v, want %v", doc, got, want)
		}
	}
}
