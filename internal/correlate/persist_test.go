package correlate

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func boltHarness(t *testing.T, path, rules string) (*harness, *BoltStore) {
	t.Helper()
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newHarness(t, rules, Options{Store: s}), s
}

// TestReplayAfterRestart: inputs read again after a restart (a checkpoint that had not moved)
// re-emit their findings and count nothing twice.
func TestReplayAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	alice := user("alice")
	m := time.Minute
	a := []map[string]any{denied("a1", t0, alice, "s3.amazonaws.com"), denied("a2", t0.Add(m), alice, "ec2.amazonaws.com")}
	b := []map[string]any{denied("b1", t0.Add(2*m), alice, "iam.amazonaws.com")}
	c := []map[string]any{denied("c1", t0.Add(3*m), alice, "kms.amazonaws.com")}
	later := []map[string]any{rec("tick", t0.Add(time.Hour), "eventName", "Noise")}

	h, s := boltHarness(t, path, thresholdRule)
	h.input("a", a...)
	h.input("b", b...)
	s.Close()

	reg := prometheus.NewRegistry()
	s2, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	h2 := newHarness(t, thresholdRule, Options{Store: s2, Metrics: NewMetrics(reg)})
	if fs := h2.input("a", a...); len(fs) != 0 {
		t.Errorf("replayed a: %v", keys(fs))
	}
	if fs := h2.input("b", b...); len(fs) != 0 {
		t.Errorf("replayed b: %v", keys(fs))
	}
	if n := testutil.ToFloat64(h2.e.o.Metrics.replays); n != 2 {
		t.Errorf("replays counted %v", n)
	}
	if fs := h2.input("c", c...); len(fs) != 0 {
		t.Errorf("c before the tolerance passed: %v", keys(fs))
	}
	fs := h2.input("later", later...)
	if got := keys(fs); !slices.Equal(got, []string{"denied-sweep/c1"}) {
		t.Fatalf("findings %v, want the fourth service's event once", got)
	}
	if !slices.Equal(fs[0].Related, []string{"a1", "a2", "b1"}) {
		t.Errorf("related %v", fs[0].Related)
	}
	// the input that evaluated it, read again, re-emits the same finding
	if again := h2.input("later", later...); !slices.Equal(keys(again), keys(fs)) || again[0].Title != fs[0].Title {
		t.Errorf("replayed later: %v", keys(again))
	}
}

// TestConflict: a commit computed from a state another writer has changed since is refused
// and nothing of it is kept; the retry reloads and succeeds.
func TestConflict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	h, s := boltHarness(t, path, thresholdRule)
	h.input("a", denied("a1", t0, user("alice"), "s3.amazonaws.com"))
	v, err := s.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// another writer commits
	if err := s.Commit(context.Background(), Batch{Version: v, Put: map[string]Item{"x": {Value: []byte("1")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.try("b", denied("b1", t0, user("alice"), "ec2.amazonaws.com")); err != nil {
		t.Fatalf("after another writer: %v (the engine should reload)", err)
	}
	// a stale batch is refused
	if err := s.Commit(context.Background(), Batch{Version: v}); !errors.Is(err, ErrConflict) {
		t.Errorf("stale commit: %v", err)
	}
}

// crashFiles is the story's log files in one delivery order, for the crash test.
func crashFiles() []file { return files(story(3), rand.New(rand.NewPCG(3, 4)), 15*time.Minute) }

// TestCrashChild is the process TestKill9 kills: it reads every file from the first (as a
// restarted daemon whose checkpoints had not moved would), appends each commit's findings to
// the output file, and flushes at the end.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("TRAILBELL_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	out, err := os.OpenFile(filepath.Join(dir, "findings"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(ks []string) {
		for _, k := range ks {
			out.WriteString(k + "\n")
		}
		out.Sync()
	}
	h, _ := boltHarness(t, filepath.Join(dir, "state.db"), orderRules)
	for _, f := range crashFiles() {
		emit(keys(h.input(f.name, f.recs...)))
	}
	emit(keys(h.flush()))
	out.WriteString("done\n")
	out.Sync()
}

// TestKill9: a process killed at random points and restarted, reading its inputs again,
// ends with exactly the findings of an uninterrupted run: none lost (a half-seen sequence
// survives), none fired twice under another key.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a process many times")
	}
	h := newHarness(t, orderRules, Options{})
	var want []string
	for _, f := range crashFiles() {
		want = append(want, keys(h.input(f.name, f.recs...))...)
	}
	want = append(want, keys(h.flush())...)
	slices.Sort(want)

	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(9, 9))
	kills := 0
	for run := 0; ; run++ {
		if run == 60 {
			t.Fatal("the child never finished")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TRAILBELL_CRASH_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child: %v", err)
			}
		case <-time.After(time.Duration(20+rnd.IntN(400+100*run)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			continue
		}
		break
	}
	f, err := os.Open(filepath.Join(dir, "findings"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "done" && l != "" {
			seen[l] = true
		}
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(got, want) {
		t.Errorf("after %d kills, findings\n got %v\nwant %v", kills, got, want)
	}
	if kills == 0 {
		t.Log("the child was never killed: it ran faster than the shortest wait")
	}
	t.Logf("%d kills, %d findings: %s", kills, len(want), strings.Join(want[:min(5, len(want))], " "))
}
