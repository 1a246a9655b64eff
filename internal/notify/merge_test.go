package notify_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
)

// alerts records what a notifier got, one string per message: each alert as
// "lead-rule/eventID" and "+rule" for each rule merged under it, alerts joined by spaces.
type alerts struct {
	mu   sync.Mutex
	msgs []string
}

func (a *alerts) fake() *fake {
	return &fake{fn: func(_ int, fs []*finding.Finding) (bool, error) {
		var parts []string
		for _, f := range fs {
			s := f.Rule + "/" + f.EventID
			for _, m := range f.Also {
				s += "+" + m.Rule
			}
			parts = append(parts, s)
		}
		a.mu.Lock()
		a.msgs = append(a.msgs, strings.Join(parts, " "))
		a.mu.Unlock()
		return false, nil
	}}
}

func (a *alerts) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.msgs)
}

// event is the findings several rules give for one record, in detection's order.
func event(id, principal string, rules ...string) []finding.Finding {
	sev := map[string]finding.Severity{"iam-write": finding.Low, "user-created": finding.Medium,
		"admin-attached": finding.High, "root-used": finding.Critical}
	var fs []finding.Finding
	for _, r := range rules {
		fs = append(fs, mk(r, principal, id, sev[r]))
	}
	return fs
}

// TestOneAlertPerEvent: an event several rules match is one alert on every receiver that
// gets more than one of its findings, led by the most severe; a receiver gets only the
// rules routed to it; a PerRule receiver gets them one by one.
func TestOneAlertPerEvent(t *testing.T) {
	var sec, pager, lines alerts
	p := newPipeline(t, notify.Options{
		Receivers: []notify.Receiver{
			{Name: "sec", Notifier: sec.fake()},
			{Name: "pager", Notifier: pager.fake(), MinSeverity: finding.High},
			{Name: "lines", Notifier: lines.fake(), PerRule: true},
		},
		Route: notify.Route{Receiver: "sec", Routes: []notify.Route{
			{Receiver: "sec", Continue: true},
			{Receiver: "pager", Continue: true},
			{Receiver: "lines"},
		}},
	})
	for _, ev := range [][]finding.Finding{
		event("e1", "alice", "iam-write", "admin-attached", "user-created"),
		event("e2", "alice", "iam-write"),
		event("e3", "bob", "root-used", "admin-attached"),
	} {
		if err := p.Submit(t.Context(), ev...); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"sec", sec.got(), []string{"admin-attached/e1+user-created+iam-write", "iam-write/e2", "root-used/e3+admin-attached"}},
		{"pager (high and above)", pager.got(), []string{"admin-attached/e1", "root-used/e3+admin-attached"}},
		// Flush sends a group's repeats together: e1's and e2's iam-write are one summary.
		{"lines (per rule)", lines.got(), []string{"iam-write/e1 iam-write/e2", "admin-attached/e1", "user-created/e1",
			"root-used/e3", "admin-attached/e3"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestMergedAlertAcrossRestart: an event's findings accepted before a crash and redelivered
// after it (at-least-once input) are deduplicated, a rule the new process adds joins them,
// and the event is still one alert, sent once.
func TestMergedAlertAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var got alerts
	o := notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: got.fake()}}, Route: notify.Route{Receiver: "a"}, StateDir: dir}
	p, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(t.Context(), event("e1", "alice", "iam-write", "user-created")...); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil { // the crash: nothing delivered
		t.Fatal(err)
	}
	p, err = notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The source reads its input again; a reloaded rule pack now has admin-attached too.
	if err := p.Submit(t.Context(), event("e1", "alice", "iam-write", "user-created", "admin-attached")...); err != nil {
		t.Fatal(err)
	}
	if n := p.Pending(); n != 3 {
		t.Fatalf("%d pending, want 3 (two from before the crash, one new)", n)
	}
	for range 2 {
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"admin-attached/e1+user-created+iam-write"}; !slices.Equal(got.got(), want) {
		t.Errorf("got %q, want %q", got.got(), want)
	}
}

// TestEventsStayWholeInDigestsAndSummaries: a backlog's digest lists alerts, one per event,
// and repeats of a group (by the leading rule and principal) are summarised as alerts.
func TestEventsStayWholeInDigestsAndSummaries(t *testing.T) {
	var digest, summary alerts
	p := newPipeline(t, notify.Options{
		Receivers: []notify.Receiver{
			{Name: "digest", Notifier: digest.fake(), DigestAfter: 3},
			{Name: "summary", Notifier: summary.fake(), GroupWindow: time.Hour},
		},
		Route: notify.Route{Receiver: "digest", Routes: []notify.Route{{Receiver: "digest", Continue: true}, {Receiver: "summary"}}},
	})
	for _, ev := range [][]finding.Finding{
		event("e1", "alice", "iam-write", "admin-attached"),
		event("e2", "alice", "admin-attached", "iam-write"),
		event("e3", "bob", "iam-write"),
	} {
		if err := p.Submit(t.Context(), ev...); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"admin-attached/e1+iam-write admin-attached/e2+iam-write iam-write/e3"}; !slices.Equal(digest.got(), want) {
		t.Errorf("digest receiver got %q, want %q", digest.got(), want)
	}
	if want := []string{"admin-attached/e1+iam-write admin-attached/e2+iam-write", "iam-write/e3"}; !slices.Equal(summary.got(), want) {
		t.Errorf("summary receiver got %q, want %q", summary.got(), want)
	}
}
