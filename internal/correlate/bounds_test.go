package correlate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailbell/trailbell/internal/finding"
)

// TestBounded: groups past a rule's capacity are dropped (oldest expiry first) and counted,
// so memory stays bounded whatever the number of principals.
func TestBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, thresholdRule, Options{MaxGroups: 100, Metrics: NewMetrics(reg)})
	h.stream(deniedMany(2000)...)
	entries := 0
	r := h.e.set.Load().rules[0]
	for _, s := range r.thr.cache {
		entries += len(s)
	}
	if slots := int(r.thr.slots); entries > slots*entriesPerSlot || slots > 100*5/4/entriesPerSlot+1 {
		t.Errorf("%d entries in %d slots for a capacity of 100", entries, slots)
	}
	if d := testutil.ToFloat64(h.e.o.Metrics.drops.WithLabelValues("denied-sweep")); d < 2000-float64(entries) {
		t.Errorf("dropped %v of 2000 groups, %d kept", d, entries)
	}
}

// TestTick: a stream too quiet to move event time along still gets its findings once the
// tolerance has passed by the wall clock; they are delivered before the state is stored.
func TestTick(t *testing.T) {
	now := t0.Add(time.Hour)
	h := newHarness(t, sequenceRule, Options{Now: func() time.Time { return now }})
	mal := user("mallory")
	h.input("1", iam("s1", t0, mal, "CreateUser", "eve"), iam("s2", t0, mal, "CreateAccessKey", "eve"), admin("s3", t0, mal, "eve"))
	var got []finding.Finding
	deliver := func(_ context.Context, fs []finding.Finding) error { got = append(got, fs...); return nil }
	if err := h.e.Tick(context.Background(), deliver); err != nil || len(got) != 0 {
		t.Fatalf("tick before the tolerance: %v %v", err, keys(got))
	}
	now = now.Add(DefaultTolerance)
	if err := h.e.Tick(context.Background(), deliver); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(got), []string{"escalation/s3"}) {
		t.Errorf("tick after the tolerance: %v", keys(got))
	}
}

// TestTickDeliveryFails: findings a Tick could not deliver are evaluated again next time.
func TestTickDeliveryFails(t *testing.T) {
	path := t.TempDir() + "/state.db"
	h, _ := boltHarness(t, path, sequenceRule)
	now := time.Now()
	h.e.o.Now = func() time.Time { return now }
	mal := user("mallory")
	h.input("1", iam("s1", t0, mal, "CreateUser", "eve"), iam("s2", t0, mal, "CreateAccessKey", "eve"), admin("s3", t0, mal, "eve"))
	now = now.Add(time.Hour)
	fail := func(context.Context, []finding.Finding) error { return fmt.Errorf("outbox full") }
	if err := h.e.Tick(context.Background(), fail); err == nil {
		t.Fatal("tick with a failing delivery succeeded")
	}
	var got []finding.Finding
	if err := h.e.Tick(context.Background(), func(_ context.Context, fs []finding.Finding) error { got = fs; return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(got), []string{"escalation/s3"}) {
		t.Errorf("after a failed delivery: %v", keys(got))
	}
}

// TestLate: a record older than what was evaluated is still evaluated, at once, and counted.
func TestLate(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, thresholdRule, Options{Metrics: NewMetrics(reg)})
	alice := user("alice")
	h.input("1", denied("a1", t0, alice, "s3.amazonaws.com"), denied("a2", t0, alice, "ec2.amazonaws.com"), denied("a3", t0, alice, "iam.amazonaws.com"))
	// bob's record at 30 minutes is evaluated once event time reaches 50
	h.input("2", denied("b1", t0.Add(30*time.Minute), user("bob"), "s3.amazonaws.com"), rec("x", t0.Add(time.Hour), "eventName", "Noise"))
	fs := h.input("3", denied("a4", t0.Add(time.Minute), alice, "kms.amazonaws.com"))
	if !slices.Equal(keys(fs), []string{"denied-sweep/a4"}) {
		t.Errorf("late record: %v", keys(fs))
	}
	if n := testutil.ToFloat64(h.e.o.Metrics.events.WithLabelValues("late")); n != 1 {
		t.Errorf("late counted %v", n)
	}
}

// TestSwap: a rule reload keeps the state of rules whose settings did not change.
func TestSwap(t *testing.T) {
	h := newHarness(t, thresholdRule, Options{})
	alice := user("alice")
	h.input("1", denied("a1", t0, alice, "s3.amazonaws.com"), denied("a2", t0, alice, "ec2.amazonaws.com"), denied("a3", t0, alice, "iam.amazonaws.com"))
	h.input("2", rec("x", t0.Add(time.Hour), "eventName", "Noise")) // a1..a3 evaluated: three of four
	other := newHarness(t, thresholdRule+strings.TrimPrefix(newTermsRule, "\nrules:\n"), Options{})
	if err := h.e.Swap(other.det); err != nil {
		t.Fatal(err)
	}
	h.det = other.det
	fs := append(h.input("3", denied("a4", t0.Add(time.Minute), alice, "kms.amazonaws.com")), h.flush()...)
	if !slices.Equal(keys(fs), []string{"denied-sweep/a4"}) {
		t.Errorf("after a reload: %v", keys(fs))
	}
}

// TestBufferBound: past MaxBuffered held-back records the oldest are evaluated early, and
// counted, so a burst of traffic cannot grow memory without bound.
func TestBufferBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, thresholdRule, Options{MaxBuffered: 10, Metrics: NewMetrics(reg)})
	h.input("burst", deniedMany(30)...)
	if n := len(h.e.st.buf); n > 10 {
		t.Errorf("%d records held back, bound 10", n)
	}
	if n := testutil.ToFloat64(h.e.o.Metrics.events.WithLabelValues("early")); n != 20 {
		t.Errorf("early counted %v, want 20", n)
	}
}

// deniedMany is n refusals by n different users, a second apart.
func deniedMany(n int) []map[string]any {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = denied(fmt.Sprintf("e%04d", i), t0.Add(time.Duration(i)*time.Second), user(fmt.Sprintf("u%d", i)), "s3.amazonaws.com")
	}
	return recs
}
