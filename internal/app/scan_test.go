package app

import (
	"context"
	"io"
	"testing"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/testenv"
)

// BenchmarkScanArchive scans the archive bench/gen writes (TRAILBELL_BENCH_ARCHIVE) as
// `trailbell scan --format json` does: the built-in pack compiled, rules with memory keeping
// their state in memory, JSON lines out. bench/scan.sh measures the command end to end.
func BenchmarkScanArchive(b *testing.B) {
	dir := testenv.BenchArchive(b)
	b.ReportAllocs()
	for b.Loop() {
		res, err := Scan(context.Background(), &config.Config{}, ScanJob{Paths: []string{dir}, Format: "json"}, Process{Stdout: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Records)/res.Elapsed.Seconds(), "records/s")
	}
}
