package notify

// Each stage alone, on a queue of its own over an in-memory outbox. The pipeline tests
// (pipeline_test.go, chaos_test.go) check them together.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
	"github.com/trailbell/trailbell/pattern"
)

var t0 = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)

func fnd(rule, principal, id string, sev finding.Severity) finding.Finding {
	return finding.Finding{Rule: rule, Principal: principal, EventID: id, Severity: sev, Account: "111122223333", Record: []byte(`{}`)}
}

// testQueue is a receiver's queue with its own metrics and nothing else attached.
func testQueue(name string, r Receiver) *queue {
	r.Name = name
	q := &queue{Receiver: r, wake: make(chan struct{}, 1), m: NewMetrics(nil).receiver(name), moved: func() {}}
	q.health.h.Name = name
	return q
}

// fill puts findings into q's outbox queue as accepted at t0.
func fill(t *testing.T, s outbox.Store, q *queue, fs ...finding.Finding) {
	t.Helper()
	for _, f := range fs {
		if _, err := s.Accept(t0, time.Hour, outbox.Entry{Item: &outbox.Item{Finding: f, Accepted: t0}, Queues: []string{q.Name}}); err != nil {
			t.Fatal(err)
		}
		q.added(1)
	}
}

func batchIDs(b *batch) []string {
	var ids []string
	for _, f := range b.fs {
		ids = append(ids, f.EventID)
	}
	return ids
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRouteStage(t *testing.T) {
	queues := map[string]*queue{"sec": testQueue("sec", Receiver{}), "pager": testQueue("pager", Receiver{}),
		"quiet": testQueue("quiet", Receiver{MinSeverity: finding.High})}
	m := pattern.New()
	root, err := compileRoute(Route{Receiver: "sec", MinSeverity: finding.Low, Accounts: []string{"111122223333"},
		Match: `{"rule":[{"anything-but":"ignored-rule"}]}`, Routes: []Route{
			{Receiver: "pager", MinSeverity: finding.Critical, Continue: true},
			{Receiver: "quiet", Rules: []string{"r"}},
		}}, "", m, "route", queues)
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(nil)
	s := routeStage{root: root, m: metrics}
	for _, tc := range []struct {
		name string
		f    finding.Finding
		want []string
	}{
		{"below the root's severity", fnd("r", "p", "e", finding.Info), nil},
		{"another account than the root's", func() finding.Finding { f := fnd("x", "p", "e", finding.High); f.Account = "9"; return f }(), nil},
		{"the root's pattern does not match", fnd("ignored-rule", "p", "e", finding.High), nil},
		{"no child matches: the root's receiver", fnd("x", "p", "e", finding.Medium), []string{"sec"}},
		{"a child continues into the next", fnd("r", "p", "e", finding.Critical), []string{"pager", "quiet"}},
		{"the receiver's own minimum severity", fnd("r", "p", "e", finding.Medium), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission{f: &tc.f, m: m}
			ok, err := s.admit(t.Context(), a)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, q := range a.to {
				got = append(got, q.Name)
			}
			if ok != (len(tc.want) > 0) || !slices.Equal(got, tc.want) {
				t.Errorf("admitted %v to %v, want %v", ok, got, tc.want)
			}
		})
	}
	if n := value(metrics.unrouted); n != 3 {
		t.Errorf("unrouted = %v, want 3", n)
	}
	if n := value(queues["quiet"].m.filtered); n != 1 {
		t.Errorf("quiet's below-minimum count = %v, want 1", n)
	}
}

func TestExceptStage(t *testing.T) {
	m := pattern.New()
	list, err := compileExceptions([]Exception{
		{Name: "ci", Rules: []string{"create-user"}, Match: `{"principal":[{"suffix":"/ci"}]}`},
		{Name: "noisy", Rules: []string{"noisy"}},
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	s := exceptStage{list: list, m: NewMetrics(nil), log: discard()}
	for _, tc := range []struct {
		f    finding.Finding
		keep bool
	}{
		{fnd("create-user", "role/ci", "e", finding.High), false},
		{fnd("create-user", "role/admin", "e", finding.High), true},
		{fnd("other", "role/ci", "e", finding.High), true},
		{fnd("noisy", "anyone", "e", finding.Critical), false},
	} {
		if ok, err := s.admit(t.Context(), &admission{f: &tc.f, m: m}); err != nil || ok != tc.keep {
			t.Errorf("%s by %s: kept %v (%v), want %v", tc.f.Rule, tc.f.Principal, ok, err, tc.keep)
		}
	}
	if _, err := compileExceptions([]Exception{{Name: "everything"}}, m); err == nil {
		t.Error("an exception with neither rules nor match was accepted")
	}
}

func TestDedupeStage(t *testing.T) {
	store := outbox.NewMemory()
	s := dedupeStage{store: store, window: time.Hour, m: NewMetrics(nil)}
	f := fnd("r", "p", "e1", finding.High)
	a := &admission{f: &f, now: t0}
	if ok, _ := s.admit(t.Context(), a); !ok || a.key != "r/e1" {
		t.Fatalf("a new finding: kept %v with key %q", ok, a.key)
	}
	store.Accept(t0, time.Hour, outbox.Entry{Key: a.key, Item: &outbox.Item{}})
	if ok, _ := s.admit(t.Context(), &admission{f: &f, now: t0.Add(59 * time.Minute)}); ok {
		t.Error("a finding accepted 59 minutes ago was kept")
	}
	if ok, _ := s.admit(t.Context(), &admission{f: &f, now: t0.Add(61 * time.Minute)}); !ok {
		t.Error("a finding accepted past the window was dropped")
	}
	noID := fnd("r", "p", "", finding.High)
	if ok, _ := s.admit(t.Context(), &admission{f: &noID, now: t0}); !ok {
		t.Error("a finding without an eventID was dropped")
	}
	if n := value(s.m.duplicates); n != 1 {
		t.Errorf("duplicates = %v", n)
	}
}

func TestGroupStage(t *testing.T) {
	store := outbox.NewMemory()
	q := testQueue("a", Receiver{GroupWindow: time.Minute, DigestAfter: 6})
	g := newGroupStage(store, q.Receiver, 3, discard(), func(error) {})
	step := func(now time.Time, drain bool, o outcome) *batch {
		b := &batch{q: q, now: now, drain: drain}
		if err := g.exec(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		if len(b.items) > 0 {
			b.outcome = o
			if o == delivered {
				store.Move(q.Name, b.ids(), nil)
				q.removed(len(b.items))
			}
			g.settled(b)
		}
		return b
	}
	if b := step(t0, false, delivered); !b.idle {
		t.Fatal("an empty queue is not idle")
	}
	fill(t, store, q, fnd("r", "alice", "a1", finding.High), fnd("r", "bob", "b1", finding.High), fnd("r", "alice", "a2", finding.High))
	if b := step(t0, false, delivered); !slices.Equal(batchIDs(b), []string{"a1", "a2"}) {
		t.Fatalf("first message %v: want alice's group, oldest first", batchIDs(b))
	}
	fill(t, store, q, fnd("r", "alice", "a3", finding.High))
	if b := step(t0.Add(time.Second), false, retrying); !slices.Equal(batchIDs(b), []string{"b1"}) {
		t.Fatalf("then %v: alice's window is open, bob's group goes", batchIDs(b))
	}
	// bob's attempt failed: his items stay; after it, alice's group waits for its window.
	if b := step(t0.Add(2*time.Second), false, delivered); !slices.Equal(batchIDs(b), []string{"b1"}) {
		t.Fatalf("retry %v, want b1 again", batchIDs(b))
	}
	if b := step(t0.Add(3*time.Second), false, delivered); !b.held || b.wait != time.Minute-3*time.Second {
		t.Fatalf("alice's repeat inside the window: held %v for %v, want 57s", b.held, b.wait)
	}
	if b := step(t0.Add(3*time.Second), true, delivered); !slices.Equal(batchIDs(b), []string{"a3"}) {
		t.Fatalf("a drain sends at once: %v", batchIDs(b))
	}
	// A backlog over DigestAfter goes out as digests of MaxBatch different findings.
	for i := range 7 {
		fill(t, store, q, fnd(fmt.Sprint("rule", i), "p", fmt.Sprint("d", i), finding.High))
	}
	if b := step(t0.Add(4*time.Second), false, delivered); len(b.items) != 3 || finding.SameGroup(b.fs) {
		t.Fatalf("backlog of 7: got %v, want a digest of 3", batchIDs(b))
	}
	// A message sent with no answer is picked again as it was, before anything else.
	its, _ := store.Head(q.Name, 0, 10)
	its[1].Sent, its[1].Delivery = t0, "x"
	its[3].Sent, its[3].Delivery = t0, "x"
	store.Update(q.Name, []*outbox.Item{its[1], its[3]})
	g.reset()
	if b := step(t0.Add(5*time.Second), false, delivered); !slices.Equal(batchIDs(b), []string{its[1].Finding.EventID, its[3].Finding.EventID}) {
		t.Fatalf("in-flight message: got %v", batchIDs(b))
	}
}

func TestLimitStage(t *testing.T) {
	l := newLimitStage(RateLimit{Every: time.Second, Burst: 2})
	send := func(now time.Time, attempted bool) time.Duration {
		b := &batch{now: now}
		l.exec(t.Context(), b)
		if !b.held {
			b.attempted = attempted
			l.settled(b)
		}
		return b.wait
	}
	if send(t0, true) != 0 || send(t0, true) != 0 {
		t.Fatal("a burst of 2 was held")
	}
	if w := send(t0, true); w != time.Second {
		t.Fatalf("third message waits %v, want 1s", w)
	}
	if send(t0.Add(time.Second), false) != 0 {
		t.Fatal("a token should be back after a second")
	}
	// That batch made no call (held by a later stage): its token is still there.
	if send(t0.Add(time.Second), true) != 0 {
		t.Fatal("a token was spent without a message")
	}
}

// fakeNotifier answers each call with the next of its answers, then success.
type fakeNotifier struct {
	answers []error
	retry   bool
	calls   int
	// posted answers Delivered when set (a Confirmer).
	posted func(since time.Time, fs []*finding.Finding) (bool, error)
}

func (n *fakeNotifier) Notify(_ context.Context, fs ...*finding.Finding) (bool, error) {
	n.calls++
	if len(n.answers) == 0 {
		return false, nil
	}
	err := n.answers[0]
	n.answers = n.answers[1:]
	return n.retry, err
}

type confirmingNotifier struct{ *fakeNotifier }

func (n confirmingNotifier) Delivered(_ context.Context, since time.Time, fs ...*finding.Finding) (bool, error) {
	return n.posted(since, fs)
}

func testRetry(store outbox.Store, n Notifier, now *time.Time) *retryStage {
	o := Options{Deadline: time.Hour, Backoff: Backoff{Initial: time.Second, Max: time.Minute}, Now: func() time.Time { return *now }}
	o.defaults()
	o.Jitter = func() float64 { return 1 }
	return newRetryStage(store, n, o, discard())
}

func pickAll(t *testing.T, store outbox.Store, q *queue, now time.Time) *batch {
	t.Helper()
	its, err := store.Head(q.Name, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	b := &batch{q: q, now: now, items: its}
	for _, it := range its {
		b.fs = append(b.fs, &it.Finding)
	}
	return b
}

func TestRetryStage(t *testing.T) {
	store := outbox.NewMemory()
	q := testQueue("a", Receiver{})
	fill(t, store, q, fnd("r", "p", "e1", finding.High))
	now := t0
	n := &fakeNotifier{retry: true, answers: []error{
		&Error{Reason: "rate_limited", RetryAfter: 30 * time.Second},
		&Error{Reason: "http_503"},
	}}
	s := testRetry(store, n, &now)
	run := func() *batch {
		b := pickAll(t, store, q, now)
		if err := s.exec(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := run(); b.outcome != retrying || b.wait != 30*time.Second || b.reason != "rate_limited" {
		t.Fatalf("429: outcome %v, wait %v, reason %s; want a retry after the 30s asked for", b.outcome, b.wait, b.reason)
	}
	if its, _ := store.Head(q.Name, 0, 1); its[0].Attempts != 1 || !strings.Contains(its[0].LastError, "rate_limited") {
		t.Fatalf("the attempt is not recorded in the outbox: %+v", its[0])
	}
	now = now.Add(10 * time.Second)
	if b := run(); !b.held || b.wait != 20*time.Second || n.calls != 1 {
		t.Fatalf("before the retry time: held %v for %v after %d calls", b.held, b.wait, n.calls)
	}
	now = now.Add(20 * time.Second)
	if b := run(); b.outcome != retrying || b.wait != 2*time.Second {
		t.Fatalf("second failure: wait %v, want the 2s backoff step", b.wait)
	}
	now = now.Add(2 * time.Second)
	if b := run(); b.outcome != delivered || n.calls != 3 {
		t.Fatalf("third attempt: outcome %v after %d calls", b.outcome, n.calls)
	}

	// Permanent at once; transient past the deadline becomes "deadline".
	n.answers, n.retry = []error{&Error{Reason: "no_service"}}, false
	if b := run(); b.outcome != failed || b.reason != "no_service" {
		t.Fatalf("permanent failure: outcome %v reason %s", b.outcome, b.reason)
	}
	now = t0.Add(2 * time.Hour)
	n.answers, n.retry = []error{&Error{Reason: "http_500"}}, true
	if b := run(); b.outcome != failed || b.reason != "deadline" || !strings.Contains(b.err.Error(), "gave up after 1h0m0s") {
		t.Fatalf("past the deadline: outcome %v reason %s err %v", b.outcome, b.reason, b.err)
	}
}

// TestRetryStageConfirms: before a Confirmer is called, the batch is marked in the outbox;
// a lost answer keeps the mark; next time the destination is asked first, and a message
// it already has is not sent again.
func TestRetryStageConfirms(t *testing.T) {
	store := outbox.NewMemory()
	q := testQueue("a", Receiver{})
	fill(t, store, q, fnd("r", "p", "e1", finding.High), fnd("r", "p", "e2", finding.High))
	now := t0
	var asked []time.Time
	posted := false
	n := &fakeNotifier{retry: true, answers: []error{&Error{Reason: "timeout", Err: context.DeadlineExceeded}}}
	n.posted = func(since time.Time, fs []*finding.Finding) (bool, error) {
		asked = append(asked, since)
		return posted, nil
	}
	s := testRetry(store, confirmingNotifier{n}, &now)
	b := pickAll(t, store, q, now)
	if err := s.exec(t.Context(), b); err != nil || b.outcome != retrying {
		t.Fatalf("lost answer: %v %v", b.outcome, err)
	}
	its, _ := store.Head(q.Name, 0, 10)
	id := DeliveryID(b.fs...)
	if its[0].Delivery != id || its[1].Delivery != id || !its[0].Sent.Equal(t0) {
		t.Fatalf("in-flight mark not kept after a lost answer: %+v", its[0])
	}
	if len(asked) != 0 {
		t.Fatal("asked before anything was sent")
	}
	now = now.Add(time.Minute)
	posted = true
	b = pickAll(t, store, q, now)
	if err := s.exec(t.Context(), b); err != nil || b.outcome != delivered || !b.confirmed {
		t.Fatalf("posted before: outcome %v confirmed %v (%v)", b.outcome, b.confirmed, err)
	}
	if n.calls != 1 || len(asked) != 1 || !asked[0].Equal(t0.Add(-time.Minute)) {
		t.Fatalf("%d calls, asked %v; want one call and one question about messages since a minute before the send", n.calls, asked)
	}
	// A definite answer (not a lost one) clears the mark: nothing to ask next time.
	store2 := outbox.NewMemory()
	fill(t, store2, q, fnd("r", "p", "e3", finding.High))
	n2 := &fakeNotifier{retry: true, answers: []error{&Error{Reason: "http_503"}}}
	n2.posted = n.posted
	s2 := testRetry(store2, confirmingNotifier{n2}, &now)
	b = pickAll(t, store2, q, now)
	s2.exec(t.Context(), b)
	if its, _ := store2.Head(q.Name, 0, 1); its[0].Delivery != "" {
		t.Fatalf("mark kept after a definite refusal: %+v", its[0])
	}
}

func TestFallbackStage(t *testing.T) {
	store := outbox.NewMemory()
	q, pager := testQueue("slack", Receiver{}), testQueue("pager", Receiver{})
	fill(t, store, q, fnd("r", "p", "e1", finding.High))
	s := &fallbackStage{store: store, fb: pager, deadline: time.Hour, failingAlert: 10 * time.Minute, log: discard()}
	transient := &Error{Reason: "http_503"}
	for _, at := range []time.Duration{0, 5 * time.Minute, 11 * time.Minute, 12 * time.Minute} {
		b := pickAll(t, store, q, t0.Add(at))
		b.outcome, b.err, b.reason = retrying, transient, "http_503"
		if err := s.exec(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	if its, _ := store.Head("pager", 0, 10); len(its) != 1 || !strings.Contains(its[0].Finding.Title, "failing for 11m0s, still retrying") {
		t.Fatalf("after 12 minutes of failures the fallback holds %d items, want one streak alert", len(its))
	}
	b := pickAll(t, store, q, t0.Add(13*time.Minute))
	b.outcome, b.err, b.reason = failed, &Error{Reason: "no_service"}, "no_service"
	if err := s.exec(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	its, _ := store.Head("pager", 0, 10)
	if len(its) != 3 || its[1].Finding.EventID != "e1" || its[1].From != "slack" || its[2].Finding.Rule != DeliveryFailureRule {
		t.Fatalf("fallback queue %d items; want the streak alert, e1 and a failure alert", len(its))
	}
	if n, _ := store.Count("slack"); n != 0 || pager.pending.Load() != 3 {
		t.Fatalf("slack holds %d, pager's pending %d", n, pager.pending.Load())
	}
	// On the fallback, a failure has nowhere else to go: dead letters.
	fs := &fallbackStage{store: store, log: discard()}
	b = pickAll(t, store, pager, t0)
	b.outcome, b.err, b.reason = failed, &Error{Reason: "invalid_auth"}, "invalid_auth"
	if err := fs.exec(t.Context(), b); err != nil || !b.dead {
		t.Fatalf("dead %v (%v)", b.dead, err)
	}
	if dl, _ := outbox.DeadLetters(store, 10); len(dl) != 3 || dl[0].Receiver != "pager" || !strings.Contains(dl[0].Error, "invalid_auth") {
		t.Fatalf("dead letters %+v", dl)
	}
}

func TestRecordStage(t *testing.T) {
	store := outbox.NewMemory()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	q := testQueue("a", Receiver{})
	q.m = m.receiver("a")
	var reports []error
	s := recordStage{store: store, report: func(err error) { reports = append(reports, err) }}
	fill(t, store, q, fnd("r", "p", "e1", finding.High))
	b := pickAll(t, store, q, t0.Add(time.Minute))
	b.outcome, b.attempted, b.err, b.reason = failed, true, &Error{Reason: "no_service"}, "no_service"
	b.dead = true
	store.Move(q.Name, b.ids(), nil) // where the fallback stage would have put it
	if err := s.exec(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	h := q.health.get()
	if value(q.m.failing) != 1 || !h.Failing || h.Reason != "no_service" || len(reports) != 1 {
		t.Fatalf("after a failure: failing gauge %v, health %+v, %d reports", value(q.m.failing), h, len(reports))
	}
	if v := value(m.failed.WithLabelValues("a", "no_service")); v != 1 {
		t.Errorf("failed_total = %v", v)
	}
	fill(t, store, q, fnd("r", "p", "e2", finding.High))
	b = pickAll(t, store, q, t0.Add(2*time.Minute))
	b.outcome, b.attempted = delivered, true
	if err := s.exec(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if n, _ := store.Count("a"); n != 0 || q.pending.Load() != 0 {
		t.Fatalf("delivered items still queued: %d (pending %d)", n, q.pending.Load())
	}
	h = q.health.get()
	if value(q.m.failing) != 0 || h.Failing || !h.LastDelivered.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after a delivery: failing %v, health %+v", value(q.m.failing), h)
	}
	if v := value(q.m.delivered); v != 1 {
		t.Errorf("delivered_total = %v", v)
	}
	if errors.Is(reports[0], context.Canceled) || !strings.Contains(reports[0].Error(), "receiver a: 1 finding(s) undeliverable (no_service)") {
		t.Errorf("report %v", reports[0])
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func TestOutboxStage(t *testing.T) {
	store := outbox.NewMemory()
	a, b := testQueue("a", Receiver{}), testQueue("b", Receiver{})
	s := outboxStage{store: store, window: time.Hour, m: NewMetrics(nil)}
	f := fnd("r", "p", "e1", finding.High)
	if err := s.accept([]admission{{f: &f, now: t0, to: []*queue{a, b}, key: "r/e1"}}); err != nil {
		t.Fatalf("accept: %v", err)
	}
	for _, q := range []*queue{a, b} {
		if n, _ := store.Count(q.Name); n != 1 || q.pending.Load() != 1 {
			t.Errorf("queue %s holds %d (pending %d), want the finding once", q.Name, n, q.pending.Load())
		}
	}
	// A duplicate that got past dedupe (submitted concurrently) is caught by the write.
	if err := s.accept([]admission{{f: &f, now: t0, to: []*queue{a}, key: "r/e1"}}); err != nil || value(s.m.duplicates) != 1 || a.pending.Load() != 1 {
		t.Errorf("concurrent duplicate written: err %v, duplicates %v", err, value(s.m.duplicates))
	}
	if its, _ := store.Head("a", 0, 10); len(its) != 1 || !its[0].Accepted.Equal(t0) || its[0].Finding.EventID != "e1" {
		t.Fatalf("queue a = %+v", its)
	}
}

// TestGroupStageMergesEvents: the findings of one event are one alert, led by the most
// severe; a full page does not cut an event in two; PerRule keeps them apart.
func TestGroupStageMergesEvents(t *testing.T) {
	alone := func(id string) finding.Finding { return fnd("r", "p", id, finding.Medium) }
	write, admin := fnd("iam-write", "alice", "ev", finding.Low), fnd("admin-attached", "alice", "ev", finding.High)
	for _, tc := range []struct {
		name    string
		perRule bool
		want    []string // per message: the leading rule and event, then the rules under it
	}{
		{"one alert per event", false, []string{"r/s1", "r/s2", "r/s3", "admin-attached/ev+iam-write"}},
		{"per rule", true, []string{"r/s1", "r/s2", "r/s3", "iam-write/ev", "admin-attached/ev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := outbox.NewMemory()
			q := testQueue("a", Receiver{PerRule: tc.perRule})
			g := newGroupStage(store, q.Receiver, 1, discard(), func(error) {}) // pages of 4 items
			fill(t, store, q, alone("s1"), alone("s2"), alone("s3"), write, admin)
			var got []string
			for range 6 {
				b := &batch{q: q, now: t0}
				if err := g.exec(t.Context(), b); err != nil {
					t.Fatal(err)
				}
				if b.idle {
					break
				}
				if len(b.fs) != 1 {
					t.Fatalf("a message of %d alerts; want one at a time", len(b.fs))
				}
				f := b.fs[0]
				s := f.Rule + "/" + f.EventID
				for _, a := range f.Also {
					s += "+" + a.Rule
				}
				got = append(got, s)
				if n := 1 + len(f.Also); n != len(b.items) {
					t.Errorf("%s: %d items for %d rules", s, len(b.items), n)
				}
				b.outcome = delivered
				store.Move(q.Name, b.ids(), nil)
				q.removed(len(b.items))
				g.settled(b)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("messages %v, want %v", got, tc.want)
			}
			if write.Also != nil || admin.Also != nil {
				t.Error("merging changed a stored finding")
			}
		})
	}
}

// countingStore counts Accept calls.
type countingStore struct {
	outbox.Store
	calls, entries int
}

func (s *countingStore) Accept(now time.Time, window time.Duration, es ...outbox.Entry) ([]bool, error) {
	s.calls++
	s.entries += len(es)
	return s.Store.Accept(now, window, es...)
}

// TestSubmitAcceptsTogether: the findings of one Submit reach the outbox in one Accept, so a
// delivery worker never sees part of an event.
func TestSubmitAcceptsTogether(t *testing.T) {
	p, err := New(Options{Receivers: []Receiver{{Name: "a", Notifier: &fakeNotifier{}}}, Route: Route{Receiver: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cs := &countingStore{Store: p.store}
	p.accept.store, p.dedupe.store = cs, cs
	ev := []finding.Finding{fnd("iam-write", "alice", "ev", finding.Low), fnd("admin-attached", "alice", "ev", finding.High),
		fnd("iam-write", "alice", "ev", finding.Low)} // a repeat inside one call is a duplicate
	if err := p.Submit(t.Context(), ev...); err != nil {
		t.Fatal(err)
	}
	if cs.calls != 1 || cs.entries != 3 {
		t.Errorf("%d Accept calls with %d entries; want 1 with 3", cs.calls, cs.entries)
	}
	if n := p.Pending(); n != 2 {
		t.Errorf("%d pending, want 2 (the repeat dropped)", n)
	}
}
