package correlate

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/testenv"
)

// BenchmarkArchive takes in the records of the archive bench/gen writes
// (TRAILBELL_BENCH_ARCHIVE) that the built-in pack hands to the rules with memory, as scan
// does: Add for each (in parallel with other inputs in a scan), then Commit (in input order).
func BenchmarkArchive(b *testing.B) {
	dir := testenv.BenchArchive(b)
	_, det := notifytest.Builtin(b)
	files, _ := filepath.Glob(filepath.Join(dir, "AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"))
	type rec struct {
		e cloudtrail.Event
		m detect.Match
	}
	var inputs [][]rec
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		var in []rec
		cloudtrail.Decode(fh, f, func(e cloudtrail.Event) error {
			m, err := det.Match(e.Envelope)
			if err == nil && !m.Empty() {
				in = append(in, rec{e, m})
				n++
			}
			return nil
		})
		fh.Close()
		inputs = append(inputs, in)
	}
	b.Logf("%d records in %d inputs", n, len(inputs))
	for _, phase := range []string{"Add", "Add+Commit"} {
		b.Run(phase, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, err := New(det, Options{})
				if err != nil {
					b.Fatal(err)
				}
				for i, in := range inputs {
					mi := e.Begin(files[i])
					for _, r := range in {
						m := r.m
						m.Findings = append(m.Findings[:0:0], m.Findings...)
						if err := mi.Add(r.e, m); err != nil {
							b.Fatal(err)
						}
					}
					if phase == "Add+Commit" {
						if _, err := mi.Commit(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}
