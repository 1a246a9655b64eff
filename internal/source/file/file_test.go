package file

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	day := filepath.Join(dir, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01")
	write(t, filepath.Join(day, "111122223333_CloudTrail_us-east-1_20261101T1000Z_a.json.gz"), "x")
	write(t, filepath.Join(day, "111122223333_CloudTrail_us-east-1_20261101T1205Z_b.json.gz"), "x")
	write(t, filepath.Join(dir, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T100000Z.json.gz"), "x")
	write(t, filepath.Join(dir, "notes/README.md"), "# not data")
	write(t, filepath.Join(dir, "notes/events.jsonl"), "{}")
	single := filepath.Join(dir, "SQSMessageBody") // named explicitly: read whatever its name
	write(t, single, "{}")

	walk := func(w cloudtrail.Window, paths ...string) ([]string, Skipped) {
		var got []string
		sk, err := Walk(context.Background(), paths, w, func(in Input) error {
			rel, _ := filepath.Rel(dir, in.Path)
			if in.Path == "-" {
				rel = "-"
			}
			got = append(got, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, sk
	}

	got, sk := walk(cloudtrail.Window{}, dir, single, "-")
	want := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T1000Z_a.json.gz " +
		"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T1205Z_b.json.gz " +
		"notes/events.jsonl SQSMessageBody -"
	if strings.Join(got, " ") != want {
		t.Errorf("walk = %v\nwant %s", got, want)
	}
	if sk != (Skipped{Digest: 1, Other: 2}) { // README.md and SQSMessageBody met in the directory
		t.Errorf("skipped = %+v", sk)
	}

	// file b (12:05) only: a is before since; files without a time in their name stay
	since := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	got, sk = walk(cloudtrail.Window{Since: since}, dir)
	if len(got) != 2 || !strings.HasSuffix(got[0], "_b.json.gz") || sk.OutOfRange != 1 {
		t.Errorf("since: %v %+v", got, sk)
	}

	// day folders outside the window are skipped whole, their files counted
	write(t, filepath.Join(dir, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/30/111122223333_CloudTrail_us-east-1_20261030T1000Z_c.json.gz"), "x")
	write(t, filepath.Join(dir, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/30/111122223333_CloudTrail_us-east-1_20261030T1005Z_d.json.gz"), "x")
	got, sk = walk(cloudtrail.Window{Since: time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)}, filepath.Join(dir, "AWSLogs"))
	if len(got) != 2 || sk.OutOfRange != 2 || sk.Digest != 1 {
		t.Errorf("day pruning, since: %v %+v", got, sk)
	}
	got, sk = walk(cloudtrail.Window{Until: time.Date(2026, 10, 30, 23, 0, 0, 0, time.UTC)}, filepath.Join(dir, "AWSLogs"))
	// the 2026/11/01 folders (logs and digests) start after until + 1h
	if len(got) != 2 || !strings.HasSuffix(got[0], "_c.json.gz") || sk.OutOfRange != 3 || sk.Digest != 0 {
		t.Errorf("day pruning, until: %v %+v", got, sk)
	}

	var lost []error
	if _, err := Walk(context.Background(), []string{filepath.Join(dir, "missing")}, cloudtrail.Window{}, func(in Input) error {
		lost = append(lost, in.Err)
		return nil
	}); err != nil || len(lost) != 1 || lost[0] == nil || !strings.Contains(lost[0].Error(), filepath.Join(dir, "missing")) {
		t.Errorf("a missing path: err = %v, inputs %v; want one input whose error names it", err, lost)
	}
	if err := Check([]string{dir, filepath.Join(dir, "missing"), "-", "-", filepath.Join(dir, "gone")}); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(dir, "missing")) || !strings.Contains(err.Error(), filepath.Join(dir, "gone")) ||
		!strings.Contains(err.Error(), "standard input named twice") {
		t.Errorf("Check = %v, want every bad path named", err)
	}
	if err := Check([]string{dir, single, "-"}); err != nil {
		t.Errorf("Check of good paths = %v", err)
	}
}

// Links to files and folders are followed, each file is read once, and a link back up is a
// loop that is counted, not followed: scanning LINK and LINK/ gives the same inputs.
func TestWalkFollowsLinks(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	write(t, filepath.Join(data, "a.json"), "{}")
	write(t, filepath.Join(data, "sub", "b.json.gz"), "x")
	other := filepath.Join(root, "other")
	write(t, filepath.Join(other, "c.jsonl"), "{}")
	link := func(target, name string) {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	link(other, filepath.Join(data, "elsewhere"))                            // a folder outside: followed
	link(filepath.Join(data, "a.json"), filepath.Join(data, "z-again.json")) // a file already read: once
	link(data, filepath.Join(data, "sub", "loop"))                           // back up: a loop
	link(filepath.Join(root, "nothing"), filepath.Join(data, "sub", "broken.json"))
	link(filepath.Join(other, "c.jsonl"), filepath.Join(data, "sub", "c-link.json")) // reached before c.jsonl itself
	top := filepath.Join(root, "LINK")
	link(data, top)

	walk := func(p string) ([]string, Skipped) {
		var got []string
		sk, err := Walk(context.Background(), []string{p}, cloudtrail.Window{}, func(in Input) error {
			s, _ := filepath.Rel(root, in.Path)
			if in.Err != nil {
				s += " ERROR"
			}
			got = append(got, filepath.ToSlash(s))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, sk
	}
	got, sk := walk(top)
	want := "LINK/a.json LINK/elsewhere/c.jsonl LINK/sub/b.json.gz LINK/sub/broken.json ERROR"
	if strings.Join(got, " ") != want {
		t.Errorf("walk LINK = %v\nwant %s", got, want)
	}
	// z-again.json and c-link.json (c.jsonl was read under elsewhere/ first)
	if sk.Loops != 1 || sk.Repeats != 2 {
		t.Errorf("skipped %+v, want 1 loop and 2 repeats", sk)
	}
	got2, sk2 := walk(top + string(filepath.Separator))
	if strings.Join(got2, " ") != strings.Join(got, " ") || sk2 != sk {
		t.Errorf("walk LINK/ = %v %+v, differs from walk LINK = %v %+v", got2, sk2, got, sk)
	}
	// a link to a file, named
	got, _ = walk(filepath.Join(data, "z-again.json"))
	if strings.Join(got, " ") != "data/z-again.json" {
		t.Errorf("walk of a link to a file = %v", got)
	}
}

func TestOpen(t *testing.T) {
	rc, err := Open(Input{Path: "-"}, strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	if string(b) != "data" {
		t.Errorf("stdin read %q", b)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Open(Input{Path: missing}, nil); !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), missing) != 1 || strings.Count(err.Error(), "open") != 1 {
		t.Errorf("opening a missing file: err = %v, want it to name the file once", err)
	}
	if _, err := Open(Input{Path: "-"}, nil); err == nil {
		t.Error("reading stdin without one succeeded")
	}
}
