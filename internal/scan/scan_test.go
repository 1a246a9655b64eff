package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/ingest"
	"github.com/trailbell/trailbell/internal/testenv"
)

// fakeDetector finds every record whose eventName is in names; "FAIL" makes it error.
type fakeDetector struct{ names map[string]bool }

func (d fakeDetector) Detect(env []byte) ([]finding.Finding, error) {
	var e struct {
		Detail struct {
			EventID, EventName, EventTime string
		}
	}
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, err
	}
	if e.Detail.EventName == "FAIL" {
		return nil, errors.New("boom")
	}
	if !d.names[e.Detail.EventName] {
		return nil, nil
	}
	return []finding.Finding{{Rule: "r-" + e.Detail.EventName, Severity: finding.High, EventID: e.Detail.EventID, EventName: e.Detail.EventName, EventTime: e.Detail.EventTime}}, nil
}

func rec(id, name, t string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventID":%q,"eventName":%q,"eventSource":"iam.amazonaws.com","eventTime":%q,"awsRegion":"us-east-1","recipientAccountId":"111122223333"}`, id, name, t)
}

func writeLog(t *testing.T, dir string, at time.Time, recs ...string) string {
	t.Helper()
	p := filepath.Join(dir, "AWSLogs/111122223333/CloudTrail/us-east-1", at.Format("2006/01/02"),
		"111122223333_CloudTrail_us-east-1_"+at.Format("20060102T1504Z")+"_abc.json.gz")
	os.MkdirAll(filepath.Dir(p), 0o755)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
	zw.Close()
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeArchive writes files log files of perFile records, five minutes apart, every
// every-th record a CreateUser; it returns the CreateUser event ids in order and the files.
func writeArchive(t *testing.T, dir string, files, perFile, every int) (ids, paths []string) {
	t.Helper()
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range files {
		at := start.Add(time.Duration(i) * 5 * time.Minute)
		var recs []string
		for j := range perFile {
			id := fmt.Sprintf("f%02d-r%02d", i, j)
			name := "Describe"
			if j%every == 0 {
				name = "CreateUser"
				ids = append(ids, id)
			}
			recs = append(recs, rec(id, name, at.Add(-time.Minute).Format(time.RFC3339)))
		}
		paths = append(paths, writeLog(t, dir, at, recs...))
	}
	return ids, paths
}

func collect(out *[]string) Sink {
	return func(_ context.Context, f finding.Finding) error {
		*out = append(*out, f.EventID)
		return nil
	}
}

// TestScanOrderAndSummary checks that output follows input order whatever the number of
// workers, and that the summary counts records, findings, skips and problems.
func TestScanOrderAndSummary(t *testing.T) {
	testenv.NoLeaks(t)
	dir := t.TempDir()
	want, _ := writeArchive(t, dir, 40, 30, 7)
	os.MkdirAll(filepath.Join(dir, "AWSLogs/111122223333/CloudTrail-Digest"), 0o755)
	os.WriteFile(filepath.Join(dir, "AWSLogs/111122223333/CloudTrail-Digest/d.json.gz"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(rec("b1", "CreateUser", "2026-11-01T09:00:00Z")+"\nnot json\n"+rec("b2", "FAIL", "2026-11-01T09:00:00Z")+"\n"), 0o644)
	want = append(want, "b1")

	for _, workers := range []int{1, 2, 7} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			var got []string
			sum, err := Run(context.Background(), Options{
				Paths:    []string{dir},
				Detector: fakeDetector{map[string]bool{"CreateUser": true}},
				Sinks:    []Sink{collect(&got)},
				Workers:  workers,
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("findings out of order:\n got %v\nwant %v", got, want)
			}
			if sum.Files != 41 || sum.Records != 40*30+1 || sum.SkippedDigest != 1 || sum.Findings != len(want) {
				t.Errorf("summary: files %d records %d digests %d findings %d", sum.Files, sum.Records, sum.SkippedDigest, sum.Findings)
			}
			// one bad line, one record the detector failed on
			if sum.Bad != 2 || sum.DetectFailures != 1 || len(sum.Problems) != 2 {
				t.Errorf("bad %d, detect failures %d, problems %v", sum.Bad, sum.DetectFailures, sum.Problems)
			}
			if len(sum.BadByInput) != 1 || sum.BadByInput[filepath.Join(dir, "bad.jsonl")] != 2 {
				t.Errorf("bad by input %v", sum.BadByInput)
			}
			if sum.PerRule["r-CreateUser"] != len(want) || sum.PerDay["2026-11-01"] != len(want) {
				t.Errorf("per rule %v, per day %v", sum.PerRule, sum.PerDay)
			}
			var text bytes.Buffer
			sum.WriteText(&text)
			for _, s := range []string{"scanned 41 files", "1201 records", "skipped 1 digest files", "findings: 201 (201 high)",
				"r-CreateUser", "2026-11-01", "bad records: 2 (1 failed detection)", "bad.jsonl line 2: invalid character 'n'", "bad.jsonl line 3: detect: boom"} {
				if !strings.Contains(text.String(), s) {
					t.Errorf("summary lacks %q:\n%s", s, text.String())
				}
			}
		})
	}
}

func TestScanWindow(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	writeLog(t, dir, day.Add(-24*time.Hour), rec("old", "CreateUser", "2026-10-31T00:00:00Z"))
	writeLog(t, dir, day.Add(10*time.Minute), rec("in", "CreateUser", "2026-11-01T00:05:00Z"), rec("early", "CreateUser", "2026-10-31T23:59:00Z"))
	writeLog(t, dir, day.Add(48*time.Hour), rec("new", "CreateUser", "2026-11-03T00:00:00Z"))
	os.WriteFile(filepath.Join(dir, "lines.jsonl"), []byte(rec("l-in", "CreateUser", "2026-11-01 12:00:00")+"\n"+rec("l-out", "CreateUser", "2026-11-05T00:00:00Z")+"\n"), 0o644)
	var got []string
	sum, err := Run(context.Background(), Options{
		Paths:    []string{dir},
		Detector: fakeDetector{map[string]bool{"CreateUser": true}},
		Sinks:    []Sink{collect(&got)},
		Window:   cloudtrail.Window{Since: day, Until: day.Add(24 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "in l-in" {
		t.Errorf("findings %v, want [in l-in]", got)
	}
	if sum.SkippedByTime != 2 || sum.RecordsByTime != 2 {
		t.Errorf("skipped files %d, records %d; want 2, 2", sum.SkippedByTime, sum.RecordsByTime)
	}
}

func TestScanErrors(t *testing.T) {
	testenv.NoLeaks(t)
	dir := t.TempDir()
	writeLog(t, dir, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), rec("a", "CreateUser", "2026-11-01T00:00:00Z"), rec("b", "CreateUser", "2026-11-01T00:00:00Z"))
	det := fakeDetector{map[string]bool{"CreateUser": true}}

	// a failing sink stops the scan with its error
	boom := errors.New("outbox full")
	_, err := Run(context.Background(), Options{Paths: []string{dir}, Detector: det,
		Sinks: []Sink{func(context.Context, finding.Finding) error { return boom }}})
	if !errors.Is(err, boom) {
		t.Errorf("sink error: got %v", err)
	}

	// a missing path is an error
	if _, err := Run(context.Background(), Options{Paths: []string{filepath.Join(dir, "nope")}, Detector: det}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nope")) {
		t.Errorf("missing path: got %v, want an error naming it", err)
	}

	// an input that fails while being read is reported by name and the others are still
	// scanned (this case does not depend on file permissions, which root ignores)
	reset := errors.New("connection reset")
	var fromStdin []string
	sum, err := Run(context.Background(), Options{Paths: []string{"-", dir}, Stdin: iotest.ErrReader(reset),
		Detector: det, Sinks: []Sink{collect(&fromStdin)}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Unreadable) != 1 || !errors.Is(sum.Unreadable[0], reset) || !strings.Contains(sum.Unreadable[0].Error(), "stdin") || len(fromStdin) != 2 {
		t.Errorf("read error: unreadable %v, findings %v; want stdin's error and 2 findings", sum.Unreadable, fromStdin)
	}

	// an unreadable file is reported and the others are still scanned
	unreadable := filepath.Join(dir, "locked.json")
	os.WriteFile(unreadable, []byte("{}"), 0o000)
	if f, err := os.Open(unreadable); err == nil {
		f.Close()
		t.Log("running as root: cannot make a file unreadable")
	} else {
		var got []string
		sum, err := Run(context.Background(), Options{Paths: []string{unreadable, dir}, Detector: det, Sinks: []Sink{collect(&got)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Unreadable) != 1 || len(got) != 2 {
			t.Errorf("unreadable %v, findings %v", sum.Unreadable, got)
		}
	}

	// cancellation ends the scan
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{Paths: []string{dir}, Detector: det}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

func TestSinks(t *testing.T) {
	f := finding.Finding{Rule: "r", Severity: finding.Critical, Title: "t\x1b[31m\nx", EventID: "e", EventName: "StopLogging",
		EventTime: "2026-11-01T00:00:00Z", Account: "1", Region: "us-east-1", Principal: "arn:p", SourceIPAddress: "1.2.3.4",
		ErrorCode: "AccessDenied", Origin: "f record 1", Record: json.RawMessage(`{"eventName":"StopLogging"}`)}
	var j bytes.Buffer
	jw := NewJSONWriter(&j)
	if err := jw.Write(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := jw.Flush(); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rule", "severity", "title", "eventID", "eventName", "eventTime", "account", "region", "principal", "sourceIPAddress", "record"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON finding lacks %q: %s", k, j.String())
		}
	}
	if back["severity"] != "critical" || strings.Count(j.String(), "\n") != 1 {
		t.Errorf("JSON line: %s", j.String())
	}
	var txt bytes.Buffer
	tw := NewTextWriter(&txt)
	tw.Write(context.Background(), f)
	tw.Flush()
	if s := txt.String(); !strings.HasPrefix(s, "CRITICAL t [31m x  [r]\n") || strings.Contains(s, "\x1b") || !strings.Contains(s, "(failed: AccessDenied)") {
		t.Errorf("text:\n%s", s)
	}
}

// TestScanLargeFileChunks: a file with more findings than one chunk is flushed in pieces and
// still in order, before and after smaller files.
func TestScanLargeFileChunks(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for i := range 3 {
		n := 10
		if i == 1 {
			n = 3*512 + 7 // more than three chunks of findings
		}
		var recs []string
		for j := range n {
			id := fmt.Sprintf("f%d-%05d", i, j)
			recs = append(recs, rec(id, "CreateUser", start.Format(time.RFC3339)))
			want = append(want, id)
		}
		writeLog(t, dir, start.Add(time.Duration(i)*5*time.Minute), recs...)
	}
	var got []string
	sum, err := Run(context.Background(), Options{Paths: []string{dir}, Detector: fakeDetector{map[string]bool{"CreateUser": true}},
		Sinks: []Sink{collect(&got)}, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || sum.Files != 3 || sum.Findings != len(want) {
		t.Errorf("%d findings (want %d), files %d, in order %v", len(got), len(want), sum.Files, strings.Join(got, " ") == strings.Join(want, " "))
	}
}

func TestScanProgress(t *testing.T) {
	testenv.NoLeaks(t)
	dir := t.TempDir()
	writeLog(t, dir, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), rec("a", "CreateUser", "2026-11-01T00:00:00Z"))
	var buf bytes.Buffer
	_, err := Run(context.Background(), Options{Paths: []string{dir}, Detector: fakeDetector{}, Progress: &buf})
	if err != nil {
		t.Fatal(err)
	}
	// the line is always erased at the end, so nothing is left over the summary
	if s := buf.String(); !strings.HasSuffix(s, "\r\033[K") {
		t.Errorf("progress output %q does not end by erasing its line", s)
	}
	var line bytes.Buffer
	p := &progress{w: &line, now: time.Now, start: time.Now().Add(-time.Second)}
	p.listed.Store(4)
	p.listingDone.Store(true)
	p.files.Store(2)
	p.draw()
	if !strings.Contains(line.String(), "[############............] files 2/4") {
		t.Errorf("progress line %q", line.String())
	}
}

// orderMemory is a Memory that logs the inputs committed to it and the CreateUser records
// they held, answering each with a finding of its own, and one more when flushed.
type orderMemory struct{ log []string }

type orderInput struct {
	m    *orderMemory
	name string
	ids  []string
}

func (m *orderMemory) Begin(input string) ingest.MemoryInput { return &orderInput{m: m, name: input} }

func (m *orderMemory) Flush(ctx context.Context, deliver func(context.Context, []finding.Finding) error) error {
	m.log = append(m.log, "flush")
	return deliver(ctx, []finding.Finding{{Rule: "memory", EventID: "flushed"}})
}

func (in *orderInput) Add(e cloudtrail.Event, m detect.Match) error {
	if len(m.Findings) > 0 {
		in.ids = append(in.ids, m.Findings[0].EventID)
	}
	return nil
}

func (in *orderInput) Commit(context.Context) ([]finding.Finding, error) {
	in.m.log = append(in.m.log, in.ids...)
	in.m.log = append(in.m.log, "commit "+filepath.Base(in.name))
	var fs []finding.Finding
	for _, id := range in.ids {
		fs = append(fs, finding.Finding{Rule: "r", EventID: id})
	}
	for _, id := range in.ids {
		fs = append(fs, finding.Finding{Rule: "memory", EventID: "m-" + id})
	}
	return fs, nil
}

// matchingDetector is fakeDetector with MatchEvent, as detect.Engine has.
type matchingDetector struct{ fakeDetector }

func (d matchingDetector) MatchEvent(e cloudtrail.Event) (detect.Match, error) {
	fs, err := d.Detect(e.Envelope)
	return detect.Match{Findings: fs}, err
}

// Detection with memory sees the records in input order whatever the number of workers, each
// input committed after its last record; its findings follow the input's own.
func TestScanMemoryOrder(t *testing.T) {
	testenv.NoLeaks(t)
	dir := t.TempDir()
	ids, files := writeArchive(t, dir, 12, 20, 5)
	var wantLog, wantOut []string
	for i, f := range files {
		mine := ids[4*i : 4*i+4] // records 0, 5, 10 and 15 of each file
		wantLog = append(append(wantLog, mine...), "commit "+filepath.Base(f))
		wantOut = append(wantOut, mine...)
		for _, id := range mine {
			wantOut = append(wantOut, "m-"+id)
		}
	}
	for _, workers := range []int{1, 7} {
		m := &orderMemory{}
		var got []string
		_, err := Run(context.Background(), Options{Paths: []string{dir}, Detector: matchingDetector{fakeDetector{map[string]bool{"CreateUser": true}}},
			Memory: m, Sinks: []Sink{collect(&got)}, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(m.log, " ") != strings.Join(append(wantLog, "flush"), " ") {
			t.Errorf("workers=%d: memory saw\n%v\nwant\n%v", workers, m.log, wantLog)
		}
		if strings.Join(got, " ") != strings.Join(append(wantOut, "flushed"), " ") {
			t.Errorf("workers=%d: output\n%v\nwant\n%v", workers, got, wantOut)
		}
	}
}

// TestSummaryDay: the day a finding is counted under is its event time's UTC day, whether
// or not the time before it shared its day, and "unknown" for what is not a time.
func TestSummaryDay(t *testing.T) {
	var s Summary
	for _, c := range []struct{ time, day string }{
		{"2026-10-01T00:44:30Z", "2026-10-01"},
		{"2026-10-01T23:59:59Z", "2026-10-01"},
		{"2026-10-01T23:59:59Z", "2026-10-01"},
		{"2026-10-02T00:00:00Z", "2026-10-02"},
		{"2026-10-02T01:00:00+02:00", "2026-10-01"},
		{"2026-10-01T23:30:00.123Z", "2026-10-01"},
		{"2026-10-01T23:30:00-01:00", "2026-10-02"},
		{"not a time", "unknown"},
		{"2026-10-02T00:00:00Z", "2026-10-02"},
		{"", "unknown"},
	} {
		if got := s.day(c.time); got != c.day {
			t.Errorf("day(%q) = %q, want %q", c.time, got, c.day)
		}
	}
}
