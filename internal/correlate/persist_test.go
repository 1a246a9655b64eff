package correlate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/bbolt"

	"github.com/trailbell/trailbell/internal/finding"
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
func crashFiles() []file {
	// three stories, one after another, so that the child runs long enough to be killed
	var recs []map[string]any
	for i := range 3 {
		for _, r := range story(uint64(3 + i)) {
			at, _ := time.Parse(time.RFC3339, r["eventTime"].(string))
			r["eventTime"] = at.Add(time.Duration(i) * 6 * time.Hour).Format(time.RFC3339)
			r["eventID"] = fmt.Sprintf("s%d-%s", i, r["eventID"])
			recs = append(recs, r)
		}
	}
	return files(recs, rand.New(rand.NewPCG(3, 4)), 15*time.Minute)
}

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
	// TRAILBELL_CRASH_AFTER=K: die by SIGKILL right after the K-th commit that gave findings
	// of rules with memory, before they are written: the worst moment, committed but not
	// handed on (an input read again must give them again)
	after, _ := strconv.Atoi(os.Getenv("TRAILBELL_CRASH_AFTER"))
	h, _ := boltHarness(t, filepath.Join(dir, "state.db"), orderRules)
	n := 0
	for _, f := range crashFiles() {
		fs := h.input(f.name, f.recs...)
		if slices.ContainsFunc(fs, func(f finding.Finding) bool { return len(f.Events) > 0 }) {
			if n++; n == after {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		emit(keys(fs))
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

	child := func(dir string, after int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TRAILBELL_CRASH_DIR="+dir, fmt.Sprintf("TRAILBELL_CRASH_AFTER=%d", after))
		return cmd
	}
	// how long an uninterrupted child takes here: kills land inside that
	start := time.Now()
	if out, err := child(t.TempDir(), 0).CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	whole := time.Since(start)

	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(9, 9))
	kills := 0
	// Six runs kill themselves right after a commit, at random inputs; six more are killed
	// from outside at random moments (inside a commit, perhaps); then one runs to the end.
	for run := 0; ; run++ {
		if run == 30 {
			t.Fatal("the child never finished")
		}
		after := 0
		if run < 6 {
			after = 1 + rnd.IntN(8)
		}
		cmd := child(dir, after)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		wait := whole * 4 // let it finish
		if run >= 6 && run < 12 {
			wait = time.Duration(rnd.Int64N(int64(whole)))
		}
		var err error
		select {
		case err = <-done:
		case <-time.After(wait):
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() {
			kills++
			continue
		}
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		if run >= 12 {
			break
		}
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
	if kills < 3 {
		t.Errorf("the child was killed %d times in a run of %s: the test did not test restarts", kills, whole)
	}
	t.Logf("%d kills, %d findings: %s", kills, len(want), strings.Join(want[:min(5, len(want))], " "))
}

// TestPrune: the slots of a rule whose settings changed are deleted from the state file once
// the new rules run, so a file does not keep what nothing will read again.
func TestPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	h, s := boltHarness(t, path, thresholdRule)
	h.input("a", denied("a1", t0, user("alice"), "s3.amazonaws.com"))
	h.input("b", rec("x", t0.Add(time.Hour), "eventName", "Noise")) // evaluates a1: a group is stored
	slots := func() map[string]int {
		out := map[string]int{}
		s.db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket(boltBucket).ForEach(func(k, _ []byte) error {
				if key := string(k); strings.HasPrefix(key, "s/r:") {
					out[key[:strings.LastIndexByte(key, '/')]]++
				}
				return nil
			})
		})
		return out
	}
	before := slots()
	if len(before) != 1 {
		t.Fatalf("rule tables stored: %v", before)
	}
	changed := newHarness(t, strings.Replace(thresholdRule, "window: 10m", "window: 20m", 1), Options{})
	if err := h.e.Swap(changed.det); err != nil {
		t.Fatal(err)
	}
	h.det = changed.det
	h.input("c", denied("c1", t0.Add(2*time.Hour), user("bob"), "s3.amazonaws.com"))
	after := slots()
	for name := range before {
		if after[name] > 0 {
			t.Errorf("the changed rule's old table %s is still stored: %v", name, after)
		}
	}
}

// TestSameNameOtherContent: an input under a name that does not say what it holds (stdin,
// a pipe) is a replay only when it holds the same records.
func TestSameNameOtherContent(t *testing.T) {
	h, _ := boltHarness(t, filepath.Join(t.TempDir(), "state.db"), thresholdRule)
	alice := user("alice")
	h.input("stdin", denied("a1", t0, alice, "s3.amazonaws.com"), denied("a2", t0, alice, "ec2.amazonaws.com"))
	h.input("stdin", denied("a3", t0.Add(time.Minute), alice, "iam.amazonaws.com"), denied("a4", t0.Add(time.Minute), alice, "kms.amazonaws.com"))
	if fs := h.flush(); !slices.Equal(keys(fs), []string{"denied-sweep/a4"}) {
		t.Errorf("a second stdin with other records was taken for a replay: %v", keys(fs))
	}
}

// TestFlushRemembered: a backtest run again with the same state ends with the same findings,
// those its end evaluated included.
func TestFlushRemembered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	alice := user("alice")
	recs := []map[string]any{denied("a1", t0, alice, "s3.amazonaws.com"), denied("a2", t0, alice, "ec2.amazonaws.com"),
		denied("a3", t0, alice, "iam.amazonaws.com"), denied("a4", t0, alice, "kms.amazonaws.com")}
	var got [2][]string
	for run := range 2 {
		s, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, thresholdRule, Options{Store: s})
		fs := h.input("file", recs...)
		got[run] = keys(append(fs, h.flush()...))
		s.Close()
	}
	if !slices.Equal(got[0], []string{"denied-sweep/a4"}) || !slices.Equal(got[1], got[0]) {
		t.Errorf("first scan %v, the same scan again %v", got[0], got[1])
	}
}

// TestPendingStored: a buffered record is stored as it was when it held its caller by value
// (state written by an earlier version reads the same), and one stored without a caller
// reads as the empty caller.
func TestPendingStored(t *testing.T) {
	id := identity{Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/r/s", AccessKeyID: "ASIA1"}
	p := pending{T: 7, A: 8, ID: "e1", N: "ListUsers", H: []hit{{R: "r", S: 1, V: []string{"a"}}}, O: "f.json.gz record 3", C: &id, Rec: json.RawMessage(`{"eventID":"e1"}`)}
	byValue := struct {
		T   int64           `json:"t"`
		A   int64           `json:"a"`
		ID  string          `json:"id"`
		N   string          `json:"n,omitempty"`
		H   []hit           `json:"h"`
		O   string          `json:"o,omitempty"`
		C   identity        `json:"c"`
		Rec json.RawMessage `json:"r"`
	}{p.T, p.A, p.ID, p.N, p.H, p.O, id, p.Rec}
	got, _ := json.Marshal(&p)
	want, _ := json.Marshal(byValue)
	if string(got) != string(want) {
		t.Errorf("stored as\n%s\nwas\n%s", got, want)
	}
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Commit(context.Background(), Batch{Put: map[string]Item{
		p.key(): {Value: want}, "b|00000000000000000009|e2": {Value: []byte(`{"t":9,"a":9,"id":"e2","h":null,"c":null,"r":null}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	e := newHarness(t, thresholdRule, Options{Store: s}).e
	if err := e.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, x := range e.st.buf {
		switch x.id {
		case "e1":
			if *x.p.C != id {
				t.Errorf("e1's caller read as %+v", *x.p.C)
			}
		case "e2":
			if x.p.C == nil || *x.p.C != (identity{}) {
				t.Errorf("e2's caller read as %v", x.p.C)
			}
		}
	}
	if len(e.st.buf) != 2 {
		t.Errorf("%d records buffered, want 2", len(e.st.buf))
	}
}
