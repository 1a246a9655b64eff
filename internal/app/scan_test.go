package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// TestScanEnvelopeIDs: a scan leaves the envelopes' ids out only when no pattern tests them
// (cloudtrail.Limits.NoIDs): a rule that tests the id still sees the eventID's hash, and the
// built-in pack, which never tests it, has them left out.
func TestScanEnvelopeIDs(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	// any id but the zeros of a left-out one, of a CreateUser
	if err := os.WriteFile(rules, []byte(`rules:
  - id: user-created-with-id
    title: "{eventName} with an envelope id"
    severity: low
    pattern: '{"id":[{"anything-but":"00000000-0000-0000-0000-000000000000"}],"detail":{"eventName":["CreateUser"]}}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a","accountId":"111122223333"},"eventTime":"2026-10-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":"aws-cli/2","requestParameters":{"userName":"b"},"eventID":"e-1","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	if err := os.WriteFile(filepath.Join(logs, "x.json"), []byte(`{"Records":[`+rec+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Run: config.Daemon{Rules: []string{rules}}}
	var out bytes.Buffer
	res, err := Scan(context.Background(), cfg, ScanJob{Paths: []string{logs}, Format: "json"}, Process{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"rule":"user-created-with-id"`) {
		t.Errorf("the rule testing the id found nothing (%d findings): %s", res.Findings, out.String())
	}

	eng, err := engine(&config.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if eng.ReadsEnvelopeID() || !scanLimits(&config.Config{}, eng).NoIDs {
		t.Error("the built-in pack tests the envelope's id: its scans hash every eventID")
	}
	if eng, err = engine(cfg); err != nil || !eng.ReadsEnvelopeID() || scanLimits(cfg, eng).NoIDs {
		t.Errorf("a rule testing the id: ReadsEnvelopeID false or NoIDs set (%v)", err)
	}
}
