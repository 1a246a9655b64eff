package outbox_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
	"github.com/trailbell/trailbell/internal/notify/outbox/outboxtest"
)

func item(id string) *outbox.Item {
	return &outbox.Item{Finding: finding.Finding{Rule: "r", EventID: id}, Accepted: time.Unix(1e9, 0)}
}

// accept enqueues one item with a one-hour dedupe window.
func accept(s outbox.Store, key string, it *outbox.Item, queues []string, now time.Time) (bool, error) {
	dup, err := s.Accept(now, time.Hour, outbox.Entry{Key: key, Item: it, Queues: queues})
	return len(dup) == 1 && dup[0], err
}

func ids(t *testing.T, s outbox.Store, q string) []string {
	t.Helper()
	its, err := s.Head(q, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range its {
		out = append(out, it.Finding.EventID)
	}
	return out
}

// stores runs a test against both kinds of outbox: they keep one contract.
func stores(t *testing.T, test func(t *testing.T, s outbox.Store)) {
	t.Run("memory", func(t *testing.T) { test(t, outbox.NewMemory()) })
	t.Run("bolt", func(t *testing.T) {
		s, err := outbox.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		test(t, s)
	})
}

func TestAcceptDedupesWithinWindow(t *testing.T) {
	stores(t, func(t *testing.T, s outbox.Store) {
		now := time.Unix(2e9, 0)
		to := []string{"a", "b"}
		if dup, err := accept(s, "r/e1", item("e1"), to, now); dup || err != nil {
			t.Fatalf("first accept: dup=%v err=%v", dup, err)
		}
		if seen, _ := s.Seen("r/e1", now.Add(time.Minute), time.Hour); !seen {
			t.Error("Seen forgot an accepted key")
		}
		if dup, _ := accept(s, "r/e1", item("e1"), to, now.Add(time.Minute)); !dup {
			t.Error("second accept inside the window was not a duplicate")
		}
		if n, _ := s.Count("a"); n != 1 {
			t.Errorf("queue a holds %d, want 1", n)
		}
		if err := s.Prune(now.Add(2*time.Hour), time.Hour); err != nil {
			t.Fatal(err)
		}
		if seen, _ := s.Seen("r/e1", now.Add(2*time.Hour), time.Hour); seen {
			t.Error("Prune kept a key older than the window")
		}
		if dup, _ := accept(s, "", item("e1"), to, now); dup {
			t.Error("an empty key is never a duplicate")
		}
		if got := ids(t, s, "b"); strings.Join(got, ",") != "e1,e1" {
			t.Errorf("queue b = %v", got)
		}
	})
}

// TestAcceptAll: the findings of one call go in together, in order, each deduplicated,
// also against an earlier entry of the same call.
func TestAcceptAll(t *testing.T) {
	stores(t, func(t *testing.T, s outbox.Store) {
		now := time.Unix(2e9, 0)
		if _, err := accept(s, "r/e0", item("e0"), []string{"a"}, now); err != nil {
			t.Fatal(err)
		}
		dup, err := s.Accept(now, time.Hour,
			outbox.Entry{Key: "r/e1", Item: item("e1"), Queues: []string{"a", "b"}},
			outbox.Entry{Key: "r/e0", Item: item("e0"), Queues: []string{"a"}},
			outbox.Entry{Key: "r/e1", Item: item("e1"), Queues: []string{"a"}},
			outbox.Entry{Key: "", Item: item("e2"), Queues: []string{"a"}},
			outbox.Entry{Key: "r/e3", Item: item("e3"), Queues: nil})
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{false, true, true, false, false}; !slices.Equal(dup, want) {
			t.Errorf("dup = %v, want %v", dup, want)
		}
		if got := strings.Join(ids(t, s, "a"), ","); got != "e0,e1,e2" {
			t.Errorf("queue a = %s, want e0,e1,e2", got)
		}
		if got := strings.Join(ids(t, s, "b"), ","); got != "e1" {
			t.Errorf("queue b = %s, want e1", got)
		}
		if seen, _ := s.Seen("r/e3", now, time.Hour); !seen {
			t.Error("a key accepted for no queue was not recorded")
		}
	})
}

func TestHeadUpdateMove(t *testing.T) {
	stores(t, func(t *testing.T, s outbox.Store) {
		for i := range 5 {
			if _, err := accept(s, "", item(fmt.Sprint("e", i)), []string{"a"}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		its, _ := s.Head("a", 0, 2)
		if len(its) != 2 || its[0].Finding.EventID != "e0" || its[0].ID >= its[1].ID {
			t.Fatalf("head = %+v", its)
		}
		rest, _ := s.Head("a", its[1].ID, 10)
		if len(rest) != 3 || rest[0].Finding.EventID != "e2" {
			t.Fatalf("head after %d = %d items", its[1].ID, len(rest))
		}
		its[0].Attempts, its[0].LastError, its[0].Sent, its[0].Delivery = 3, "http_503", time.Unix(1e9, 0).UTC(), "d1"
		if err := s.Update("a", its[:1]); err != nil {
			t.Fatal(err)
		}
		back, _ := s.Head("a", 0, 1)
		if b := back[0]; b.Attempts != 3 || b.LastError != "http_503" || !b.Sent.Equal(time.Unix(1e9, 0)) || b.Delivery != "d1" {
			t.Fatalf("update not kept: %+v", b)
		}
		// One move: two delivered, one to the dead letters.
		dead := *rest[0]
		dead.From = "a"
		if err := s.Move("a", []uint64{its[0].ID, its[1].ID, rest[0].ID}, map[string][]*outbox.Item{outbox.Dead: {&dead}}); err != nil {
			t.Fatal(err)
		}
		if got := ids(t, s, "a"); strings.Join(got, ",") != "e3,e4" {
			t.Errorf("queue a = %v", got)
		}
		dl, err := outbox.DeadLetters(s, 10)
		if err != nil || len(dl) != 1 || dl[0].Receiver != "a" || dl[0].Finding.EventID != "e2" {
			t.Fatalf("dead letters %+v (%v)", dl, err)
		}
		moved, err := outbox.Requeue(s, func(r string) bool { return r == "a" }, time.Now())
		if err != nil || moved["a"] != 1 {
			t.Fatalf("requeue %v (%v)", moved, err)
		}
		if got := ids(t, s, "a"); strings.Join(got, ",") != "e3,e4,e2" {
			t.Errorf("after requeue queue a = %v", got)
		}
	})
}

func TestEmptyFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, outbox.FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (*outbox.Bolt, error){"Open": outbox.Open, "OpenReadOnly": outbox.OpenReadOnly} {
		s, err := open(dir)
		if err == nil {
			s.Close()
			t.Fatalf("%s started over on a 0-byte outbox", name)
		}
		if !strings.Contains(err.Error(), "0 bytes") || !strings.Contains(err.Error(), "move it away") {
			t.Errorf("%s: error %q does not say what happened and what to do", name, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, outbox.FileName)); st.Size() != 0 {
		t.Error("the empty file was written over")
	}
}

func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := outbox.OpenReadOnly(dir); err == nil {
		t.Fatal("OpenReadOnly of a directory without an outbox succeeded")
	}
	s, err := outbox.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	dead := item("e1")
	dead.From, dead.LastError = "slack", "no_service"
	if err := s.Move("x", nil, map[string][]*outbox.Item{outbox.Dead: {dead}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	r, err := outbox.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if dl, err := outbox.DeadLetters(r, 10); err != nil || len(dl) != 1 || dl[0].Error != "no_service" {
		t.Fatalf("dead letters read only: %+v (%v)", dl, err)
	}
}

func TestCorruptItemIsSetAside(t *testing.T) {
	dir := t.TempDir()
	s, err := outbox.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		accept(s, "", item(id), []string{"a"}, time.Now())
	}
	s.Close()
	outboxtest.Corrupt(t, dir, "a", 2)
	s, err = outbox.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	its, err := s.Head("a", 0, 10)
	var ce *outbox.CorruptError
	if !errors.As(err, &ce) || ce.Count != 1 || len(its) != 2 {
		t.Fatalf("head: %d items, err %v; want 2 and one corrupt item reported", len(its), err)
	}
	if n, _ := s.Count("a"); n != 2 {
		t.Errorf("the corrupt item is still queued (%d items)", n)
	}
}
