// Package triagetest holds the conformance test every triage.Store passes: the bbolt file
// and the DynamoDB table must agree on versions, conditions, all-or-nothing applies, expiry
// and listing order. Only tests import it.
package triagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/triage"
)

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock is a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Conformance runs the store contract against stores made by open, each empty and on the
// clock it is given.
func Conformance(t *testing.T, open func(t *testing.T, now func() time.Time) triage.Store) {
	put := func(part, key, v string, version int64) triage.Op {
		return triage.Op{Part: part, Key: key, Value: []byte(v), Version: version}
	}
	t.Run("versions and conditions", func(t *testing.T) {
		st := open(t, time.Now)
		ctx := t.Context()
		if it, err := st.Get(ctx, "alert", "a"); err != nil || it.Version != 0 {
			t.Fatalf("missing item: %+v %v", it, err)
		}
		if err := st.Apply(ctx, put("alert", "a", "one", 0)); err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, put("alert", "a", "again", 0)); !errors.Is(err, triage.ErrConflict) {
			t.Fatalf("creating an existing item: %v, want ErrConflict", err)
		}
		it, err := st.Get(ctx, "alert", "a")
		if err != nil || it.Version != 1 || string(it.Value) != "one" {
			t.Fatalf("after create: %+v %v", it, err)
		}
		if err := st.Apply(ctx, put("alert", "a", "two", 1)); err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, put("alert", "a", "stale", 1)); !errors.Is(err, triage.ErrConflict) {
			t.Fatalf("a stale version: %v, want ErrConflict", err)
		}
		if it, _ := st.Get(ctx, "alert", "a"); it.Version != 2 || string(it.Value) != "two" {
			t.Fatalf("after update: %+v", it)
		}
		if err := st.Apply(ctx, triage.Op{Part: "alert", Key: "a", Value: []byte("forced"), Always: true}); err != nil {
			t.Fatal(err)
		}
		if it, _ := st.Get(ctx, "alert", "a"); it.Version != 3 || string(it.Value) != "forced" {
			t.Fatalf("after an unconditional write: %+v", it)
		}
		if err := st.Apply(ctx, triage.Op{Part: "alert", Key: "a", Version: 2}); !errors.Is(err, triage.ErrConflict) {
			t.Fatalf("a stale delete: %v", err)
		}
		if err := st.Apply(ctx, triage.Op{Part: "alert", Key: "a", Version: 3}); err != nil {
			t.Fatal(err)
		}
		if it, _ := st.Get(ctx, "alert", "a"); it.Version != 0 {
			t.Fatalf("after delete: %+v", it)
		}
		if it, _ := st.Get(ctx, "mute", "a"); it.Version != 0 {
			t.Fatal("partitions are not apart")
		}
	})
	t.Run("all or nothing", func(t *testing.T) {
		st := open(t, time.Now)
		ctx := t.Context()
		if err := st.Apply(ctx, put("job", "x", "1", 0)); err != nil {
			t.Fatal(err)
		}
		err := st.Apply(ctx, put("audit", "new", "1", 0), put("mute", "m", "1", 0), put("job", "x", "2", 0))
		if !errors.Is(err, triage.ErrConflict) {
			t.Fatalf("an apply with one failing condition: %v", err)
		}
		for _, k := range [][2]string{{"audit", "new"}, {"mute", "m"}} {
			if it, _ := st.Get(ctx, k[0], k[1]); it.Version != 0 {
				t.Errorf("%s/%s written by a failed apply", k[0], k[1])
			}
		}
		if err := st.Apply(ctx, put("audit", "new", "1", 0), put("mute", "m", "1", 0), triage.Op{Part: "job", Key: "x", Version: 1}); err != nil {
			t.Fatal(err)
		}
		if it, _ := st.Get(ctx, "job", "x"); it.Version != 0 {
			t.Error("the delete of a good apply did not happen")
		}
	})
	t.Run("expiry", func(t *testing.T) {
		c := &Clock{t: time.Unix(1_800_000_000, 0)}
		st := open(t, c.Now)
		ctx := t.Context()
		op := put("seen", "sig", "1", 0)
		op.Expires = c.Now().Add(time.Minute)
		if err := st.Apply(ctx, op); err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, op); !errors.Is(err, triage.ErrConflict) {
			t.Fatalf("the same signature again: %v", err)
		}
		c.Add(2 * time.Minute)
		if it, _ := st.Get(ctx, "seen", "sig"); it.Version != 0 {
			t.Errorf("an expired item is still read: %+v", it)
		}
		if items, _ := st.List(ctx, "seen", "", "", 0); len(items) != 0 {
			t.Errorf("an expired item is still listed")
		}
		op.Expires = c.Now().Add(time.Minute)
		if err := st.Apply(ctx, op); err != nil {
			t.Errorf("writing over an expired item: %v", err)
		}
	})
	t.Run("listing", func(t *testing.T) {
		st := open(t, time.Now)
		ctx := t.Context()
		for _, k := range []string{"d", "b", "e", "a", "c"} {
			if err := st.Apply(ctx, put("audit", k, "v"+k, 0)); err != nil {
				t.Fatal(err)
			}
		}
		keys := func(after, until string, limit int) []string {
			items, err := st.List(ctx, "audit", after, until, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, it := range items {
				out = append(out, it.Key)
				if string(it.Value) != "v"+it.Key || it.Version != 1 {
					t.Errorf("item %+v", it)
				}
			}
			return out
		}
		for _, tc := range []struct {
			after, until string
			limit        int
			want         []string
		}{
			{"", "", 0, []string{"a", "b", "c", "d", "e"}},
			{"b", "", 0, []string{"c", "d", "e"}},
			{"", "c", 0, []string{"a", "b", "c"}},
			{"b", "d", 0, []string{"c", "d"}},
			{"a", "", 2, []string{"b", "c"}},
			{"e", "", 0, nil},
		} {
			if got := keys(tc.after, tc.until, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("after %q until %q limit %d: %v, want %v", tc.after, tc.until, tc.limit, got, tc.want)
			}
		}
		if items, err := st.List(ctx, "nothing", "", "", 0); err != nil || len(items) != 0 {
			t.Errorf("an empty partition: %v %v", items, err)
		}
	})
}
