package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/config"
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
		recs = append(recs, trailRecord(fmt.Sprintf("bench-%d", i), name))
	}
	file := gzipped(`{"Records":[` + strings.Join(recs, ",") + `]}`)

	cfg := &config.Config{Notify: config.Notify{
		Receivers: []config.Receiver{{Name: "out", Stdout: &config.Stdout{Format: "json"}}},
		Route:     config.Route{Receiver: "out"},
	}}
	reg := prometheus.NewRegistry()
	d := &daemon{cfg: cfg, m: newRunMetrics(reg), now: time.Now}
	eng, err := buildEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	d.engine.Store(eng)
	d.pipeline, err = BuildPipeline(context.Background(), cfg, nil, NotifyOptions{MemoryOutbox: true, Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer d.pipeline.Close()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.handleLog(context.Background(), "bench", "bench.json.gz", bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}
