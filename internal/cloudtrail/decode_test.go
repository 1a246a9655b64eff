package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
)

func decodeAll(t testing.TB, data []byte, name string) ([]Event, Stats) {
	t.Helper()
	var evs []Event
	st, err := Decode(bytes.NewReader(data), name, func(e Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	if st.Records != len(evs) {
		t.Fatalf("Decode(%s): Stats.Records = %d, emitted %d", name, st.Records, len(evs))
	}
	return evs, st
}

// checkEnvelope asserts the envelope shape every event must have.
func checkEnvelope(t testing.TB, e Event) map[string]json.RawMessage {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(e.Envelope, &env); err != nil {
		t.Fatalf("%s: envelope is not JSON: %v\n%s", e.Origin, err, e.Envelope)
	}
	for _, k := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
		if _, ok := env[k]; !ok {
			t.Errorf("%s: envelope lacks %q: %s", e.Origin, k, e.Envelope)
		}
	}
	return env
}

// TestDecodeCorpus decodes one or more files of every corpus folder. Expected counts were
// checked against each file's structure (lines, array length, Records length) and the bad
// ones against what is wrong with them.
func TestDecodeCorpus(t *testing.T) {
	tests := []struct {
		file         string
		records, bad int
		problem      string // part of the first problem, when bad > 0
	}{
		{"111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json", 2, 0, ""},
		{"111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz", 2, 0, ""},
		// CloudTrail's SNS notification is not a record
		{"SQSMessageBody", 0, 1, "SQSMessageBody line 1: not a CloudTrail record"},
		{"SQSMessageBodyWrongFormat", 0, 1, "not a CloudTrail record"},
		{"SerializerAllFieldsNull.json", 2, 0, ""},
		{"SerializerTestFile.json", 6, 0, ""},
		// the first record has only misspelt field names
		{"SerializerTestFileBadFieldName.json", 1, 1, "SerializerTestFileBadFieldName.json record 1: not a CloudTrail record"},
		// userIdentity is not closed: the structure is lost at line 37
		// (the brace it lacks makes record 2 look like part of record 1 when it is skipped)
		{"SerializerTestFileBadJsonFormat.json", 0, 2, "SerializerTestFileBadJsonFormat.json record 1: invalid character '{' looking for an object key at line 37, byte 1293 (element skipped"},
		{"SerializerTestFileCompact.json", 6, 0, ""},
		{"SerializerTestFileCompact.json.gz", 6, 0, ""},
		{"SerializerTestFileLocation.json", 6, 0, ""},
		{"SerializerTestFileMissField.json", 4, 0, ""},
		{"SerializerTestFileNewFieldAtRandomPlaces.json", 2, 0, ""},
		{"SerializerTestFileNewFieldName.json", 1, 1, "record 1: not a CloudTrail record"},
		{"SerializerTestFileNewFieldsInRoot.json", 2, 0, ""},
		{"SerializerTestFileNewFieldsInUserIdentity.json", 2, 0, ""},
		{"SerializerVariousUserIdentityTestFile.json", 1, 0, ""},
		{"aws.defense-evasion.organizations-leave.json", 3, 0, ""},
		{"aws.persistence.iam-create-admin-user.json", 3, 0, ""},
		{"aws_console_login_without_mfa.jsonl", 11, 0, ""},
		{"aws_console_signin.jsonl", 1, 0, ""},
		{"batch-ops-examples-event-bridge-cloud-trail.eventbridge.jsonl", 2, 0, ""},
		{"cloudtrail-event-reference-aws-console-sign-in-events.jsonl", 10, 0, ""},
		{"cloudtrail-integration.jsonl", 7, 0, ""},
		{"cloudtrail_records.jsonl", 41, 0, ""},
		// StreamAlert's test-case wrapper ({"data": ..., "description": ...}) is not an input format
		{"cloudtrail_root_account_usage.json", 0, 2, "cloudtrail_root_account_usage.json record 1: not a CloudTrail record"},
		{"ec2_proxy_s3_exfiltration_2020-09-14011940.json", 103, 0, ""},
		{"event-cloud-trail-catalog-put-resource-policy.json", 1, 0, ""},
		{"eventbridge_envelopes.jsonl", 15, 0, ""},
		{"impossible_travel_login.jsonl", 2, 0, ""},
		{"new_aws_account_logging.jsonl", 2, 0, ""},
		{"test_events.events.jsonl", 9, 0, ""},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/corpus", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			evs, st := decodeAll(t, data, tc.file)
			if st.Records != tc.records || st.Bad != tc.bad {
				t.Errorf("records, bad = %d, %d; want %d, %d; problems: %v", st.Records, st.Bad, tc.records, tc.bad, st.Problems)
			}
			if tc.bad > 0 && (len(st.Problems) == 0 || !strings.Contains(st.Problems[0].String(), tc.problem)) {
				t.Errorf("first problem = %v, want it to contain %q", st.Problems, tc.problem)
			}
			for _, e := range evs {
				checkEnvelope(t, e)
			}
		})
	}
	entries, _ := os.ReadDir("testdata/corpus")
	for _, e := range entries {
		if !seen[e.Name()] {
			t.Errorf("testdata/corpus/%s has no expectation", e.Name())
		}
	}
}

// TestDecodeSharedCorpus runs Decode over every file of the shared corpus when it is present
// (it is on the project's machines, not in the repository): nothing may panic or fail, and
// every emitted envelope must be valid JSON.
func TestDecodeSharedCorpus(t *testing.T) {
	root := "/work/shared/corpus/cloudtrail"
	if _, err := os.Stat(root); err != nil {
		t.Skip("shared corpus not present")
	}
	var files, records, bad int
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		evs, st := decodeAll(t, data, p)
		for _, e := range evs {
			if !json.Valid(e.Envelope) {
				t.Errorf("%s: invalid envelope", e.Origin)
			}
		}
		files++
		records += st.Records
		bad += st.Bad
		return nil
	})
	t.Logf("%d files, %d records, %d bad", files, records, bad)
	if records < 1000 {
		t.Errorf("only %d records decoded from the shared corpus", records)
	}
}

func TestDecodeGzipEqualsPlain(t *testing.T) {
	plain, err := os.ReadFile("testdata/corpus/SerializerTestFile.json")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(plain)
	w.Close()
	a, _ := decodeAll(t, plain, "f")
	b, _ := decodeAll(t, gz.Bytes(), "f")
	if len(a) != 6 || len(a) != len(b) {
		t.Fatalf("plain %d events, gzip %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Envelope, b[i].Envelope) || a[i].Origin != b[i].Origin {
			t.Errorf("event %d differs:\n%s %s\n%s %s", i, a[i].Origin, a[i].Envelope, b[i].Origin, b[i].Envelope)
		}
	}
	if a[2].Origin != "f record 3" {
		t.Errorf("origin = %q, want %q", a[2].Origin, "f record 3")
	}
}

func TestDecodeShapes(t *testing.T) {
	rec := func(id, name string) string {
		return fmt.Sprintf(`{"eventVersion":"1.08","eventID":%q,"eventName":%q,"eventSource":"iam.amazonaws.com","eventType":"AwsApiCall","eventTime":"2026-11-01T10:00:00Z","awsRegion":"us-east-1","recipientAccountId":"111122223333"}`, id, name)
	}
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		name     string
		input    string
		names    []string // eventName of each emitted event, in order
		origins  []string
		bad      int
		problems []string
	}{
		{
			name:    "log file, Records not first",
			input:   `{"Other":{"x":[1,2]},"Records":[` + rec("a", "CreateUser") + `,` + rec("b", "DeleteUser") + `]}`,
			names:   []string{"CreateUser", "DeleteUser"},
			origins: []string{"in line 1 record 1", "in line 1 record 2"},
		},
		{
			name:    "log file with members after Records",
			input:   "{\"Records\":[\n" + rec("a", "CreateUser") + "\n],\"x\":{\"y\":1}}",
			names:   []string{"CreateUser"},
			origins: []string{"in record 1"},
		},
		{
			name:    "empty log file",
			input:   `{"Records":[]}`,
			names:   nil,
			origins: nil,
		},
		{
			name:     "JSON lines with a garbage line and a broken line",
			input:    rec("a", "A") + "\nnot json at all {{{\n" + `{"eventName": "B", "x": ` + "\n" + rec("c", "C") + "\n",
			names:    []string{"A", "C"},
			origins:  []string{"in line 1", "in line 4"},
			bad:      2,
			problems: []string{"in line 2: invalid character 'n': not JSON", "in line 3 (error at line 5): unexpected end of input"},
		},
		{
			name:    "array of records and envelopes",
			input:   `[` + rec("a", "A") + `,{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"1","time":"2026-11-01T10:00:00Z","region":"us-east-1","resources":[],"detail":` + rec("b", "B") + `}]`,
			names:   []string{"A", "B"},
			origins: []string{"in record 1", "in record 2"},
		},
		{
			name:    "LookupEvents output",
			input:   `{"Events":[{"EventId":"a","CloudTrailEvent":` + quoted(rec("a", "A")) + `},{"EventId":"b","CloudTrailEvent":` + quoted(rec("b", "B")) + `}],"NextToken":"t"}`,
			names:   []string{"A", "B"},
			origins: []string{"in line 1 record 1", "in line 1 record 2"},
		},
		{
			name:     "LookupEvents output with a broken CloudTrailEvent",
			input:    `{"Events":[{"CloudTrailEvent":"{\"eventName\":"},{"CloudTrailEvent":` + quoted(rec("b", "B")) + `}]}`,
			names:    []string{"B"},
			origins:  []string{"in line 1 record 2"},
			bad:      1,
			problems: []string{"in line 1 record 1: CloudTrailEvent: unexpected end of input"},
		},
		{
			name:    "single CloudTrailEvent object per line",
			input:   `{"CloudTrailEvent":` + quoted(rec("a", "A")) + "}\n",
			names:   []string{"A"},
			origins: []string{"in line 1"},
		},
		{
			name:    "CloudTrail Lake rows",
			input:   `{"QueryStatus":"FINISHED","QueryResultRows":[[{"eventID":"a"},{"eventName":"A"},{"eventSource":"iam.amazonaws.com"}],[{"CloudTrailEvent":` + quoted(rec("b", "B")) + `}]]}`,
			names:   []string{"A", "B"},
			origins: []string{"in line 1 row 1", "in line 1 row 2"},
		},
		{
			name:     "record that is not an object",
			input:    `{"Records":[1,` + rec("a", "A") + `]}`,
			names:    []string{"A"},
			origins:  []string{"in record 2"},
			bad:      1,
			problems: []string{"in record 1: record is not a JSON object"},
		},
		{
			name:     "truncated log file",
			input:    `{"Records":[` + rec("a", "A") + `,{"eventName":"B","eventID":"b`,
			names:    []string{"A"},
			origins:  []string{"in record 1"},
			bad:      1,
			problems: []string{"in record 2: unexpected end of input at line 1, byte 249 (rest of input skipped)"},
		},
		{
			name:     "truncated JSON line",
			input:    rec("a", "A") + "\n" + `{"eventName":"B"`,
			names:    []string{"A"},
			origins:  []string{"in line 1"},
			bad:      1,
			problems: []string{"in line 2: unexpected end of input"},
		},
		{
			name:    "byte order mark",
			input:   "\xef\xbb\xbf" + `{"Records":[` + rec("a", "A") + `]}`,
			names:   []string{"A"},
			origins: []string{"in record 1"},
		},
		{
			name:  "blank input",
			input: " \n\t\n",
		},
		{
			name:     "Records, Events or QueryResultRows that are not arrays",
			input:    `{"x":1,"Records":5}` + "\n" + `{"Events":"x"}` + "\n" + `{"QueryResultRows":5}` + "\n" + `{"QueryResultRows":[5,[{"eventName":"A"}]]}`,
			names:    []string{"A"},
			origins:  []string{"in line 4 row 2"},
			bad:      4,
			problems: []string{"in line 1: Records is not an array", "in line 2: Events is not an array", "in line 3: QueryResultRows is not an array", "in line 4 row 1: row is not an array"},
		},
		{
			name:     "S3 notification is not a record",
			input:    `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`,
			bad:      1,
			problems: []string{"in record 1: an aws:s3 notification record, not a CloudTrail record"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, st := decodeAll(t, []byte(tc.input), "in")
			var names, origins []string
			for _, e := range evs {
				env := checkEnvelope(t, e)
				var d struct{ EventName string }
				json.Unmarshal(env["detail"], &d)
				names = append(names, d.EventName)
				origins = append(origins, e.Origin)
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.names) {
				t.Errorf("events = %v, want %v", names, tc.names)
			}
			if fmt.Sprint(origins) != fmt.Sprint(tc.origins) {
				t.Errorf("origins = %q, want %q", origins, tc.origins)
			}
			if st.Bad != tc.bad {
				t.Errorf("bad = %d, want %d: %v", st.Bad, tc.bad, st.Problems)
			}
			for i, want := range tc.problems {
				if i >= len(st.Problems) || !strings.Contains(st.Problems[i].String(), want) {
					t.Errorf("problem %d = %v, want it to contain %q", i, st.Problems, want)
				}
			}
		})
	}
}

func TestDecodeTruncatedGzip(t *testing.T) {
	plain, _ := os.ReadFile("testdata/corpus/SerializerTestFile.json")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(plain)
	w.Close()
	cut := gz.Bytes()[:gz.Len()*2/3]
	_, st := decodeAll(t, cut, "cut.json.gz")
	if st.Bad != 1 || st.Whole() || !strings.Contains(st.Problems[0].String(), "cut.json.gz record 4: unexpected EOF: cut off at line 112, byte ") {
		t.Errorf("bad = %d, problems %v; want one fault naming the file, record, line and byte", st.Bad, st.Problems)
	}
	// not gzip at all after the magic bytes
	_, st = decodeAll(t, []byte{0x1f, 0x8b, 'x', 'y', 'z'}, "junk.gz")
	if st.Bad != 1 || !strings.Contains(st.Problems[0].String(), "junk.gz: gzip") {
		t.Errorf("junk gzip: bad = %d, problems %v", st.Bad, st.Problems)
	}
}

func TestDecodeReadErrorIsReturned(t *testing.T) {
	plain, _ := os.ReadFile("testdata/corpus/SerializerTestFile.json")
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(plain[:1000]), iotest.ErrReader(boom))
	_, err := Decode(r, "s3://b/k", func(Event) error { return nil })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "s3://b/k") {
		t.Errorf("err = %v, want the read error naming the input", err)
	}
	// the same through gzip
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(plain)
	w.Close()
	r = io.MultiReader(bytes.NewReader(gz.Bytes()[:300]), iotest.ErrReader(boom))
	_, err = Decode(r, "k.gz", func(Event) error { return nil })
	if !errors.Is(err, boom) {
		t.Errorf("gzip: err = %v, want the read error", err)
	}
}

func TestDecodeEmitErrorStops(t *testing.T) {
	plain, _ := os.ReadFile("testdata/corpus/SerializerTestFile.json")
	stop := errors.New("outbox full")
	n := 0
	st, err := Decode(bytes.NewReader(plain), "f", func(Event) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 || st.Records != 1 {
		t.Errorf("err = %v after %d emits (%d records), want the emit error after 2", err, n, st.Records)
	}
}

// TestDecodeBoundedMemory streams a large log file one byte-slice at a time and checks that
// the window never grows beyond a few chunks: the file is never held whole.
func TestDecodeBoundedMemory(t *testing.T) {
	const n = 30000
	rec := []byte(`{"eventVersion":"1.08","eventID":"00000000-0000-0000-0000-000000000000","eventName":"GetObject","eventSource":"s3.amazonaws.com","eventTime":"2026-11-01T10:00:00Z","awsRegion":"us-east-1","requestParameters":{"bucketName":"b","key":"` + strings.Repeat("k", 800) + `"}}`)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"Records":[`))
		for i := range n {
			if i > 0 {
				pw.Write([]byte{','})
			}
			pw.Write(rec)
		}
		pw.Write([]byte(`]}`))
		pw.Close()
	}()
	d := &decoder{name: "big", emit: func(Event) error { return nil }, maxRecord: DefaultMaxRecord}
	d.s = stream{r: pr, line: 1}
	maxCap := 0
	d.emit = func(Event) error {
		maxCap = max(maxCap, cap(d.s.buf))
		return nil
	}
	if err := d.run(); err != nil {
		t.Fatal(err)
	}
	if d.stats.Records != n || d.stats.Bad != 0 {
		t.Fatalf("records %d bad %d, want %d 0", d.stats.Records, d.stats.Bad, n)
	}
	total := n * len(rec)
	if maxCap > 4*readChunk {
		t.Errorf("window grew to %d bytes for a %d-byte input", maxCap, total)
	}
}

// benchInput is about 4 MB of corpus records (one per line of the files) joined as
// head + records separated by sep + tail.
func benchInput(b *testing.B, files []string, head, sep, tail string) []byte {
	var recs [][]byte
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata/corpus", f))
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				recs = append(recs, l)
			}
		}
	}
	var buf bytes.Buffer
	buf.WriteString(head)
	for i := 0; buf.Len() < 4<<20; i++ {
		if i > 0 {
			buf.WriteString(sep)
		}
		buf.Write(recs[i%len(recs)])
	}
	buf.WriteString(tail)
	return buf.Bytes()
}

func benchDecode(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(data), "bench", func(Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeLogFile: a log file as CloudTrail writes it, streamed record by record.
func BenchmarkDecodeLogFile(b *testing.B) {
	files := []string{"cloudtrail_records.jsonl", "cloudtrail-integration.jsonl", "ec2_proxy_s3_exfiltration_2020-09-14011940.json"}
	benchDecode(b, benchInput(b, files, `{"Records":[`, ",", `]}`))
}

// BenchmarkDecodeRecordsNotFirst: a log file whose Records member is not first, decoded in memory.
func BenchmarkDecodeRecordsNotFirst(b *testing.B) {
	files := []string{"cloudtrail_records.jsonl", "cloudtrail-integration.jsonl"}
	benchDecode(b, benchInput(b, files, `{"Other":1,"Records":[`, ",", `]}`))
}

// BenchmarkDecodeJSONLines: records and EventBridge events, one per line.
func BenchmarkDecodeJSONLines(b *testing.B) {
	files := []string{"cloudtrail_records.jsonl", "cloudtrail-integration.jsonl", "eventbridge_envelopes.jsonl"}
	benchDecode(b, benchInput(b, files, "", "\n", "\n"))
}

// TestDecodeSlabHandedOn decodes inputs one after another, each going on in the slab the last
// one ended with: what an earlier input emitted must stay as it was.
func TestDecodeSlabHandedOn(t *testing.T) {
	type kept struct{ env, copy []byte }
	var all []kept
	for i := range 50 {
		var in bytes.Buffer
		in.WriteString(`{"Records":[`)
		for j := range 1 + i%7 {
			if j > 0 {
				in.WriteByte(',')
			}
			fmt.Fprintf(&in, `{"eventID":"e-%d-%d","eventName":"GetObject","eventSource":"s3.amazonaws.com","eventTime":"2026-11-01T10:00:00Z","requestParameters":{"key":%q}}`, i, j, strings.Repeat("k", 100*i))
		}
		in.WriteString(`]}`)
		_, err := Decode(&in, "f", func(e Event) error {
			all = append(all, kept{e.Envelope, bytes.Clone(e.Envelope)})
			if !json.Valid(e.Envelope) {
				t.Errorf("input %d: invalid envelope %s", i, e.Envelope)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range all {
		if !bytes.Equal(k.env, k.copy) {
			t.Fatalf("envelope %d changed after later inputs: %s, was %s", i, k.env, k.copy)
		}
		if cap(k.env) != len(k.env) {
			t.Errorf("envelope %d has room to append into (cap %d, len %d)", i, cap(k.env), len(k.env))
		}
	}
}

// checkMembers asserts what an event's Record and Members must be: the envelope's detail, and
// its top-level members in order (repeats included) as encoding/json reads them, keys as
// written; a record with members has no key with escapes.
func checkMembers(t testing.TB, e Event) {
	t.Helper()
	if e.Members == nil {
		if e.Record != nil {
			t.Fatalf("%s: a record without its members", e.Origin)
		}
		return
	}
	var env struct{ Detail json.RawMessage }
	if err := json.Unmarshal(e.Envelope, &env); err != nil {
		t.Fatalf("%s: envelope: %v", e.Origin, err)
	}
	if !bytes.Equal(e.Record, env.Detail) || len(e.Record) == 0 || &e.Record[0] != &e.Envelope[len(e.Envelope)-1-len(e.Record)] {
		t.Fatalf("%s: Record %q is not the envelope's detail in place", e.Origin, e.Record)
	}
	dec := json.NewDecoder(bytes.NewReader(e.Record))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: record does not open an object: %v", e.Origin, err)
	}
	n := 0
	for ; dec.More(); n++ {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			t.Fatal(err)
		}
		if n >= len(e.Members) {
			t.Fatalf("%s: %d members, the record has more", e.Origin, len(e.Members))
		}
		m := e.Members[n]
		// encoding/json reads each byte of a key that is not UTF-8 as U+FFFD; Key is as written
		if string([]rune(string(m.Key(e.Record)))) != tok.(string) || !bytes.Equal(m.Value(e.Record), bytes.TrimSpace(val)) {
			t.Fatalf("%s: member %d is %q: %q, want %q: %q", e.Origin, n, m.Key(e.Record), m.Value(e.Record), tok, val)
		}
	}
	if n != len(e.Members) {
		t.Fatalf("%s: %d members, the record has %d", e.Origin, len(e.Members), n)
	}
	if e.Compact {
		var c bytes.Buffer
		if err := json.Compact(&c, e.Record); err != nil || !bytes.Equal(c.Bytes(), e.Record) {
			t.Fatalf("%s: Compact, but the record %q is not compact JSON", e.Origin, e.Record)
		}
	}
}

// TestDecodeCompact: a record without white space between its tokens is Compact, escapes and
// bytes above 0x7f allowed; white space between any two tokens, at any depth, makes it not.
func TestDecodeCompact(t *testing.T) {
	for _, c := range []struct {
		rec     string
		compact bool
	}{
		{`{"eventID":"e1","eventName":"X","a":{"b":[1,"x y",{"c":null}],"d":"q\"\\\u00e9"},"e":-1.5e3}`, true},
		{`{"eventID":"e1","eventName":"X","a":"0123456789abcdef0123456789"}`, true},
		{`{"eventID":"e1","eventName":"X","a":{}, "b":[]}`, false},
		{`{"eventID":"e1","eventName":"X","a":{"b" :1}}`, false},
		{`{"eventID":"e1","eventName":"X","a":{"b": 1}}`, false},
		{`{"eventID":"e1","eventName":"X","a":[1 ,2]}`, false},
		{`{"eventID":"e1","eventName":"X","a":[1,	2]}`, false},
		{`{"eventID":"e1","eventName":"X","a":[1,2 ]}`, false},
		{`{"eventID":"e1","eventName":"X","a":{ "b":1}}`, false},
		{`{"eventID":"e1","eventName":"X","a":{"b":1 }}`, false},
		{`{"eventID":"e1","eventName":"X","a":"\u00e9"}`, true},
		{`{"eventID":"e1","eventName":"X","a":"é","b":{"é":1},"é":"0123456789abcdeé"}`, true},
		{"{\"eventID\":\"e1\",\"eventName\":\"X\",\"a\":\"\xff\"}", true},
		{`{"eventID":"e1","eventName":"X" ,"a":1}`, false},
		{`{"eventID":"e1","eventName":"X", "a":1}`, false},
		{`{ "eventID":"e1","eventName":"X"}`, false},
		{`{"eventID":"e1","eventName":"X"` + "\n}", false},
	} {
		evs, _ := decodeAll(t, []byte(`{"Records":[`+c.rec+`]}`), "t")
		if len(evs) != 1 || evs[0].Record == nil {
			t.Fatalf("%s: %d events, want one with its record", c.rec, len(evs))
		}
		checkMembers(t, evs[0])
		if evs[0].Compact != c.compact {
			t.Errorf("%s: Compact %v, want %v", c.rec, evs[0].Compact, c.compact)
		}
	}
}

// TestDecodeMembers: records read from log files, JSON lines and arrays come with their
// members; those with a key spelled with escapes, and events that were envelopes already or
// embedded strings, without.
func TestDecodeMembers(t *testing.T) {
	const rec = `{"eventID":"e1","eventName":"CreateUser", "userAgent" :	"aws-cli/2" ,"requestParameters":{"userName":"a\"b"},"n":[1,{"x":2}],"eventName":"X"}`
	tests := []struct {
		name, in string
		members  int // of each event; 0: none
		events   int
	}{
		{"log file", `{"Records":[` + rec + `,` + rec + `]}`, 6, 2},
		{"log file, Records not first", `{"x":1,"Records":[` + rec + `]}`, 6, 1},
		{"JSON lines", rec + "\n" + rec + "\n", 6, 2},
		{"array", "[" + rec + "]", 6, 1},
		{"escaped key", `{"Records":[{"eventID":"e1","event\u004eame":"CreateUser"}]}`, 0, 1},
		{"64 KB of members", `{"Records":[{"eventID":"e1","eventName":"X","a":"` + strings.Repeat("x", 65400) + `"}]}`, 3, 1},
		{"longer", `{"Records":[{"eventID":"e1","eventName":"X","a":"` + strings.Repeat("x", 65536) + `"}]}`, 0, 1},
		{"longer after its members", `{"Records":[{"eventID":"e1","eventName":"X","a":"` + strings.Repeat("x", 65400) + `"` + strings.Repeat(" ", 200) + `}]}`, 3, 1},
		{"EventBridge event", `{"detail-type":"AWS API Call via CloudTrail","detail":` + rec + `}`, 0, 1},
		{"LookupEvents", `{"Events":[{"CloudTrailEvent":"{\"eventID\":\"e1\",\"eventName\":\"X\"}"}]}`, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, _ := decodeAll(t, []byte(tt.in), "t")
			if len(evs) != tt.events {
				t.Fatalf("%d events, want %d", len(evs), tt.events)
			}
			for _, e := range evs {
				checkMembers(t, e)
				if len(e.Members) != tt.members {
					t.Errorf("%s: %d members, want %d", e.Origin, len(e.Members), tt.members)
				}
			}
		})
	}
}

// TestDecodeNoIDs: with Limits.NoIDs the envelopes are the same but for their id, zeros of
// the same shape.
func TestDecodeNoIDs(t *testing.T) {
	in := []byte(`{"Records":[{"eventID":"e1","eventName":"A","eventTime":"2026-10-01T00:00:00Z"},{"eventName":"B"}]}`)
	with, _ := decodeAll(t, in, "t")
	var without []Event
	if _, err := (Limits{NoIDs: true}).Decode(bytes.NewReader(in), "t", func(e Event) error {
		without = append(without, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(with) != 2 || len(without) != 2 {
		t.Fatalf("%d and %d events, want 2 each", len(with), len(without))
	}
	for i := range with {
		var a, b map[string]any
		if json.Unmarshal(with[i].Envelope, &a) != nil || json.Unmarshal(without[i].Envelope, &b) != nil {
			t.Fatal("envelopes do not decode")
		}
		if b["id"] != zeroID || a["id"] == zeroID || len(a["id"].(string)) != len(zeroID) {
			t.Errorf("record %d: ids %v and %v", i, a["id"], b["id"])
		}
		delete(a, "id")
		delete(b, "id")
		if !reflect.DeepEqual(a, b) {
			t.Errorf("record %d: envelopes differ beyond the id:\n%s\n%s", i, with[i].Envelope, without[i].Envelope)
		}
		checkMembers(t, without[i])
	}
}
