package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/testenv"
)

// BenchmarkHandleLog measures the daemon's work on one gzipped log file of 5,000 records
// (decode, lift, detect with the built-in rules, submit to an in-memory outbox): the rate a
// single poller goroutine can sustain, apart from S3 and the checkpoint.
func BenchmarkHandleLog(b *testing.B) {
	const records = 5000
	var recs []string
	for i := range records {
		name := "DescribeInstances"
		if i%500 == 0 {
			name = "StopLogging" // 10 findings a file
		}
		recs = append(recs, testenv.TrailRecord(fmt.Sprintf("bench-%d", i), name))
	}
	file := testenv.Gzip(`{"Records":[` + strings.Join(recs, ",") + `]}`)

	d := newTestDaemon(b, io.Discard)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.handleLog(context.Background(), "bench", "bench.json.gz", bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}
