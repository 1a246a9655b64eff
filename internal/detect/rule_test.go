package detect

import (
	"bytes"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/rules"
)

// TestBuiltinForDetection checks that loading the pack without samples gives the same rules
// as loading it whole, but for their samples, with the same positions.
func TestBuiltinForDetection(t *testing.T) {
	whole, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	lean, err := BuiltinForDetection()
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != len(lean) {
		t.Fatalf("%d rules without samples, %d with", len(lean), len(whole))
	}
	for i := range whole {
		w, l := whole[i], lean[i]
		if len(w.Samples.Match) == 0 {
			t.Errorf("%s: no samples to leave out", w.ID)
		}
		if len(l.Samples.Match)+len(l.Samples.NoMatch) > 0 {
			t.Errorf("%s: samples read", l.ID)
		}
		w.Samples = Samples{}
		if !reflect.DeepEqual(w, l) {
			t.Errorf("%s: loaded without samples:\n%+v\nwith them:\n%+v", w.ID, l, w)
		}
	}
}

func TestBlankSamples(t *testing.T) {
	in := `rules:
  - id: a
    samples:
      match:
      # a comment
      - '{"eventName":
          "X"}'

    # between keys
    title: t
    samples: {match: []}
  - id: b
    samples:   # trailing
      no_match: []
`
	want := `rules:
  - id: a







    title: t
    samples: {match: []}
  - id: b


`
	got := string(blankSamples([]byte(in)))
	if got != want {
		t.Errorf("blankSamples:\n%s\nwant:\n%s", got, want)
	}
	// every built-in file keeps its line count
	err := fs.WalkDir(rules.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := fs.ReadFile(rules.FS, p)
		if err != nil {
			return err
		}
		if a, b := bytes.Count(data, []byte("\n")), bytes.Count(blankSamples(data), []byte("\n")); a != b {
			t.Errorf("%s: %d lines, %d without samples", p, a, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
