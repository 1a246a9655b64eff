package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/finding"
)

func rec(id, name string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventID":%q,"eventName":%q,"eventSource":"iam.amazonaws.com","eventTime":"2026-11-01T10:00:00Z","awsRegion":"us-east-1","recipientAccountId":"111122223333","userAgent":"ua"}`, id, name)
}

func logFile(recs ...string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
	zw.Close()
	return b.Bytes()
}

// detector finds records whose eventName is in names; "FAIL" makes it fail.
type detector struct{ names []string }

func (d detector) Detect(env []byte) ([]finding.Finding, error) {
	var e struct {
		Detail struct{ EventID, EventName string }
	}
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, err
	}
	if e.Detail.EventName == "FAIL" {
		return nil, errors.New("boom")
	}
	for _, n := range d.names {
		if n == e.Detail.EventName {
			var detail struct {
				Detail json.RawMessage `json:"detail"`
			}
			json.Unmarshal(env, &detail)
			return []finding.Finding{{Rule: "r-" + n, EventID: e.Detail.EventID, Record: detail.Detail}}, nil
		}
	}
	return nil, nil
}

func collect(out *[]string) Found {
	return func(fs []finding.Finding) error {
		for _, f := range fs {
			*out = append(*out, f.Rule+"/"+f.EventID)
		}
		return nil
	}
}

func TestReadReport(t *testing.T) {
	r, err := New(Options{Detector: detector{[]string{"CreateUser"}}})
	if err != nil {
		t.Fatal(err)
	}
	file := logFile(rec("a", "CreateUser"), rec("b", "Describe"), `5`, rec("c", "FAIL"), rec("d", "CreateUser"))
	var got []string
	rep, err := r.Read(t.Context(), Input{Name: "f.json.gz", Body: bytes.NewReader(file)}, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "r-CreateUser/a r-CreateUser/d" {
		t.Errorf("findings %v", got)
	}
	if rep.Records != 3 || rep.Bad != 2 || rep.DetectFailures != 1 || !rep.Whole || rep.Clean() || rep.Findings != 2 {
		t.Errorf("report %+v", rep)
	}
	if rep.Bytes != int64(len(file)) || rep.Inflated <= rep.Bytes {
		t.Errorf("bytes %d (file %d), inflated %d", rep.Bytes, len(file), rep.Inflated)
	}
	if len(rep.Problems) != 2 || !strings.Contains(rep.Problems[0].String(), "f.json.gz record 3: record is not a JSON object") ||
		!strings.Contains(rep.Problems[1].String(), "f.json.gz record 4: detect: boom") {
		t.Errorf("problems %v", rep.Problems)
	}

	// a window: records outside it are counted, not detected on
	r, _ = New(Options{Detector: detector{[]string{"CreateUser"}}, Window: cloudtrail.Window{Since: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}})
	got = nil
	rep, _ = r.Read(t.Context(), Input{Name: "f", Body: bytes.NewReader(logFile(rec("a", "CreateUser")))}, collect(&got))
	if len(got) != 0 || rep.Outside != 1 || rep.Records != 0 || !rep.Clean() {
		t.Errorf("window: findings %v, report %+v", got, rep)
	}
}

// A record's bytes may be anything the input held: the finding carries valid UTF-8.
func TestReadMakesRecordsValidUTF8(t *testing.T) {
	r, _ := New(Options{Detector: detector{[]string{"CreateUser"}}})
	bad := strings.Replace(rec("a", "CreateUser"), `"userAgent":"ua"`, "\"userAgent\":\"u\xff\xfea\"", 1)
	var fs []finding.Finding
	_, err := r.Read(t.Context(), Input{Name: "f", Body: strings.NewReader(bad)}, func(f []finding.Finding) error { fs = append(fs, f...); return nil })
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings %v, %v", fs, err)
	}
	if !utf8.Valid(fs[0].Record) || !strings.Contains(string(fs[0].Record), "u\uFFFD\uFFFDa") {
		t.Errorf("record %q", fs[0].Record)
	}
}

func TestReadStopsWithContext(t *testing.T) {
	r, _ := New(Options{Detector: detector{}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Read(ctx, Input{Name: "f", Body: bytes.NewReader(logFile(rec("a", "X")))}, collect(new([]string))); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the context's", err)
	}
}

// memory is a Memory that logs what it is given and checks that commits never overlap. It
// answers each committed AssumeRole with a finding of its own.
type memory struct {
	mu         sync.Mutex
	log        []string
	committing atomic.Int32
	fail       string // an input whose Commit fails
}

type memoryInput struct {
	m     *memory
	name  string
	added []string
	fs    []finding.Finding
}

func (m *memory) Begin(input string) MemoryInput { return &memoryInput{m: m, name: input} }

func (in *memoryInput) Add(e cloudtrail.Event, m detect.Match) error {
	var r struct {
		Detail struct{ EventID, EventName string }
	}
	json.Unmarshal(e.Envelope, &r)
	if r.Detail.EventName == "Garbled" {
		return errors.New("cannot read its fields")
	}
	in.added = append(in.added, fmt.Sprintf("%s:%d", r.Detail.EventID, len(m.Findings)))
	in.fs = append(in.fs, m.Findings...)
	if r.Detail.EventName == "AssumeRole" {
		in.fs = append(in.fs, finding.Finding{Rule: "memory", EventID: r.Detail.EventID})
	}
	return nil
}

func (in *memoryInput) Commit(context.Context) ([]finding.Finding, error) {
	if in.m.committing.Add(1) != 1 {
		panic("Commit entered concurrently")
	}
	defer in.m.committing.Add(-1)
	if in.name == in.m.fail {
		return nil, errors.New("state store down")
	}
	in.m.mu.Lock()
	defer in.m.mu.Unlock()
	in.m.log = append(in.m.log, in.name+" "+strings.Join(in.added, ","))
	return in.fs, nil
}

// matcher is detector with MatchEvent.
type matcher struct{ detector }

func (d matcher) MatchEvent(e cloudtrail.Event) (detect.Match, error) {
	fs, err := d.Detect(e.Envelope)
	return detect.Match{Findings: fs}, err
}

// With Memory, every record goes to it in input order with what it matched, and the input's
// findings are what Commit returns; a failed Commit fails the input. Commits never overlap.
func TestMemory(t *testing.T) {
	m := &memory{fail: "broken"}
	if _, err := New(Options{Detector: detector{}, Memory: m}); err == nil {
		t.Error("Memory with a detector that cannot match steps: want an error")
	}
	r, err := New(Options{Detector: matcher{detector{[]string{"CreateUser"}}}, Memory: m})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	file := logFile(rec("a1", "AssumeRole"), rec("c", "CreateUser"), rec("g", "Garbled"), rec("a2", "Describe"), rec("a3", "AssumeRole"))
	rep, err := r.Read(t.Context(), Input{Name: "f", Body: bytes.NewReader(file)}, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	if want := "f a1:0,c:1,a2:0,a3:0"; strings.Join(m.log, "|") != want {
		t.Errorf("memory saw %q, want %q", strings.Join(m.log, "|"), want)
	}
	if strings.Join(got, " ") != "memory/a1 r-CreateUser/c memory/a3" || rep.Findings != 3 {
		t.Errorf("findings %v (report says %d)", got, rep.Findings)
	}
	if rep.Bad != 1 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].String(), "f record 3: detect: cannot read its fields") {
		t.Errorf("report %+v: want the record Memory could not take as a bad record", rep)
	}

	m.log = nil
	got = nil
	_, err = r.Read(t.Context(), Input{Name: "broken", Body: strings.NewReader(rec("x", "CreateUser"))}, collect(&got))
	if err == nil || !strings.Contains(err.Error(), "state store down") || len(got) != 0 || len(m.log) != 0 {
		t.Errorf("err %v, findings %v, memory %q: want the error, nothing handed on", err, got, m.log)
	}

	// inputs read at once are committed one at a time
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			recs := []string{rec("x", "AssumeRole"), rec("y", "CreateUser")}
			if _, err := r.Read(context.Background(), Input{Name: fmt.Sprint("in", i), Body: bytes.NewReader(logFile(recs...))}, collect(new([]string))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(m.log) != 8 {
		t.Errorf("memory committed %d inputs, want 8", len(m.log))
	}
}

func TestSwap(t *testing.T) {
	r, _ := New(Options{Detector: detector{[]string{"A"}}})
	if err := r.Swap(detector{[]string{"B"}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	r.Read(t.Context(), Input{Name: "f", Body: strings.NewReader(rec("1", "A") + "\n" + rec("2", "B"))}, collect(&got))
	if strings.Join(got, " ") != "r-B/2" {
		t.Errorf("after Swap: %v", got)
	}
}

func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	clean := Report{Input: "ok", Records: 5, Whole: true}
	bad := Report{Input: "bad", Records: 4, Whole: true, Bad: 1, Problems: []cloudtrail.Problem{{Origin: "bad record 2", Err: errors.New("not a CloudTrail record")}}}
	cut := Report{Input: "cut", Records: 3, Bad: 1, Problems: []cloudtrail.Problem{{Origin: "cut record 4", Err: errors.New("unexpected EOF: cut off at line 1, byte 900")}}}

	alerts, err := Judge("src", now, clean)
	if len(alerts) != 0 || err != nil {
		t.Errorf("clean: %v, %v", alerts, err)
	}
	alerts, err = Judge("src", now, clean, bad)
	if len(alerts) != 1 || err != nil || alerts[0].Rule != BadInputRule || alerts[0].EventID != "bad-input/bad" {
		t.Errorf("bad records, read whole: %+v, %v; want one alert and no error", alerts, err)
	}
	alerts, err = Judge("src", now, bad, cut)
	if len(alerts) != 2 || !errors.Is(err, ErrNotWhole) || !strings.Contains(err.Error(), "cut") || strings.Contains(err.Error(), "bad") {
		t.Fatalf("not whole: %v, %v; want two alerts and ErrNotWhole naming cut", alerts, err)
	}
	a := alerts[1]
	if !strings.Contains(a.Title, "1 unreadable CloudTrail records in cut (not read whole)") || a.Severity != finding.Medium ||
		a.Params[0].Value != "cut record 4: unexpected EOF: cut off at line 1, byte 900" || a.EventTime != "2026-11-01T10:00:00Z" {
		t.Errorf("alert %+v", a)
	}
	var body map[string]any
	if err := json.Unmarshal(a.Record, &body); err != nil || body["whole"] != false || body["records"] != 3.0 || body["source"] != "src" {
		t.Errorf("alert record %s (%v)", a.Record, err)
	}
	if u := Unreadable("m", errors.New("not a notification")); u.Clean() || u.Whole || u.Bad != 1 {
		t.Errorf("Unreadable = %+v", u)
	}
}
