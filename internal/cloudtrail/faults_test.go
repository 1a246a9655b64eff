package cloudtrail

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func faultRecord(id string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventID":%q,"eventName":"CreateUser","eventSource":"iam.amazonaws.com","eventTime":"2026-11-01T10:00:00Z","awsRegion":"us-east-1"}`, id)
}

// A bad element of a log file's Records costs that element only: decoding resumes at the
// next record, and the fault names the record and where in the input it is.
func TestDecodeResumesAfterBadRecord(t *testing.T) {
	deep := `{"eventName":"Deep","x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`
	huge := `{"eventName":"Huge","x":[` + strings.Repeat("0,", 600_000) + `0]}` // 1.2 MB
	tests := []struct {
		name, bad string
		problem   string
	}{
		{"bad literal", `{"eventName":"A","x":nul}`, `in record 2: invalid literal, want "null" at line 1, byte `},
		{"bad escape", `{"eventName":"A","x":"\q"}`, `in record 2: invalid escape "\\q" in string at line 1, byte `},
		{"control character", "{\"eventName\":\"A\",\"x\":\"a\x01b\"}", "in record 2: control character 0x01 in string at line 1, byte "},
		{"missing colon", `{"eventName" "A"}`, `in record 2: invalid character '"' after object key, want ':' at line 1, byte `},
		{"nesting over the depth limit", deep, "in record 2: nesting deeper than 512 at line 1, byte "},
		{"record over the size limit", huge, "in record 2: value larger than 1 MiB at line 1, byte "},
		{"deep element that is not an object", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "in record 2: nesting deeper than 512"},
		{"brackets inside strings", `{"eventName":"A","x":"]}]},{","y":tru}`, `in record 2: invalid literal, want "true"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := `{"Records":[` + faultRecord("a") + `,` + tc.bad + `,` + faultRecord("c") + `]}`
			var ids []string
			st, err := Limits{MaxRecord: 1 << 20}.Decode(strings.NewReader(in), "in", func(e Event) error {
				ids = append(ids, e.Origin)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(ids, ",") != "in record 1,in record 3" {
				t.Errorf("events %v, want records 1 and 3", ids)
			}
			if st.Faults != 1 || st.Bad != 1 || st.Whole() {
				t.Errorf("faults %d bad %d whole %v, want one fault: %v", st.Faults, st.Bad, st.Whole(), st.Problems)
			}
			if len(st.Problems) != 1 || !strings.Contains(st.Problems[0].String(), tc.problem) ||
				!strings.Contains(st.Problems[0].String(), "element skipped; resumed at byte") {
				t.Errorf("problems %v, want %q", st.Problems, tc.problem)
			}
		})
	}
}

// A JSON array at the top level resumes past a bad element too.
func TestDecodeTopArrayResumes(t *testing.T) {
	in := `[` + faultRecord("a") + `,{"eventName":"B","x":01},` + faultRecord("c") + "]\n" + faultRecord("d")
	var origins []string
	st, err := Decode(strings.NewReader(in), "in", func(e Event) error { origins = append(origins, e.Origin); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(origins, ",") != "in record 1,in record 3,in line 2" || st.Faults != 1 {
		t.Errorf("origins %v, stats %+v", origins, st)
	}
}

// Records that are well-formed but not CloudTrail records are bad, but the input is whole.
func TestDecodeWholeWithBadRecords(t *testing.T) {
	st, err := Decode(strings.NewReader(`{"Records":[1,{"a":1},`+faultRecord("c")+`]}`), "in", func(Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Bad != 2 || st.Faults != 0 || !st.Whole() || st.Records != 1 {
		t.Errorf("stats %+v, want 2 bad records, no fault", st)
	}
	if st.Inflated != int64(len(`{"Records":[1,{"a":1},`+faultRecord("c")+`]}`)) {
		t.Errorf("inflated %d", st.Inflated)
	}
}

// countingParse wraps a parse function to add up how many bytes it is shown.
type countingParse struct{ shown int }

func (c *countingParse) parse(b []byte) (int, error) {
	c.shown += len(b)
	return skipValue(b, 0)
}

// A large value arriving in small reads (as from gzip) is parsed a small number of times
// over, not once per read: the work on one record is linear in its size. Before, a 4 MB
// value read 4 KB at a time was parsed a thousand times (2 GB of scanning).
func TestNeedIsLinear(t *testing.T) {
	value := []byte(`[` + strings.Repeat("0,", 2<<20) + `0]`)
	d := &decoder{name: "v", maxRecord: 16 << 20}
	d.s = stream{r: &smallReads{r: bytes.NewReader(value), n: 4 << 10}, line: 1}
	var c countingParse
	end, err := d.need(c.parse)
	if err != nil || end != len(value) {
		t.Fatalf("need = %d, %v", end, err)
	}
	if c.shown > 4*len(value) {
		t.Errorf("parsed %d bytes for a %d-byte value: more than 4 times over", c.shown, len(value))
	}
}

type smallReads struct {
	r io.Reader
	n int
}

func (s *smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

func gzipOf(t testing.TB, parts ...func(io.Writer)) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	for _, p := range parts {
		p(w)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func spaces(n int) func(io.Writer) {
	return func(w io.Writer) {
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for ; n > 0; n -= len(chunk) {
			w.Write(chunk[:min(n, len(chunk))])
		}
	}
}

func text(s string) func(io.Writer) { return func(w io.Writer) { io.WriteString(w, s) } }

// A gzip bomb is cut off at the inflated-size budget, with the records before it decoded and
// a fault naming where; the window never holds more than a chunk of the whitespace.
func TestDecodeGzipBomb(t *testing.T) {
	const budget = 8 << 20
	for _, tc := range []struct {
		name  string
		parts []func(io.Writer)
	}{
		{"between records", []func(io.Writer){text(`{"Records":[` + faultRecord("a") + `,`), spaces(64 << 20), text(faultRecord("b") + `]}`)}},
		{"inside a record", []func(io.Writer){text(`{"Records":[` + faultRecord("a") + `,{"eventName":"B","x":`), spaces(64 << 20), text(`1}]}`)}},
		{"JSON lines", []func(io.Writer){text(faultRecord("a") + "\n"), spaces(64 << 20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bomb := gzipOf(t, tc.parts...)
			d := Limits{MaxInflated: budget, MaxRecord: 1 << 20}
			n := 0
			st, err := d.Decode(bytes.NewReader(bomb), "bomb.json.gz", func(Event) error { n++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || st.Whole() || st.Inflated != budget {
				t.Errorf("events %d, stats %+v; want the first record, a fault, %d bytes inflated", n, st, budget)
			}
			last := st.Problems[len(st.Problems)-1].String()
			if !strings.Contains(last, "larger than 8 MiB after decompression: cut off at line ") || !strings.Contains(last, "byte 8388608") {
				t.Errorf("problems %v", st.Problems)
			}
		})
	}
	// an input exactly at the budget is whole
	exact := gzipOf(t, text(`{"Records":[`+faultRecord("a")+`]}`))
	size := int64(len(`{"Records":[` + faultRecord("a") + `]}`))
	st, err := Limits{MaxInflated: size}.Decode(bytes.NewReader(exact), "exact", func(Event) error { return nil })
	if err != nil || !st.Whole() || st.Records != 1 {
		t.Errorf("input of exactly the budget: %+v, %v", st, err)
	}
}

// Skipping a record far over the size limit holds at most about twice the limit.
func TestDecodeSkipsHugeRecordInBoundedMemory(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, `{"Records":[`+faultRecord("a")+`,{"eventName":"B","x":[`)
		chunk := []byte(strings.Repeat("0,", 1<<19))
		for range 48 { // 48 MB
			pw.Write(chunk)
		}
		io.WriteString(pw, `0]},`+faultRecord("c")+`]}`)
		pw.Close()
	}()
	d := &decoder{name: "big", maxRecord: 1 << 20}
	d.s = stream{r: pr, line: 1, max: 1<<20 + 2*readChunk}
	peak := 0
	d.s.r = &peakWatch{r: pr, s: &d.s, peak: &peak}
	var n int
	d.emit = func(Event) error { n++; return nil }
	if err := d.run(); err != nil {
		t.Fatal(err)
	}
	if n != 2 || d.stats.Faults != 1 {
		t.Fatalf("events %d, stats %+v", n, d.stats)
	}
	if peak > 1<<20+2*readChunk {
		t.Errorf("window grew to %d bytes skipping a 48 MB record with a 1 MiB limit", peak)
	}
	if c := cap(d.s.buf); c > readChunk {
		t.Errorf("window still %d bytes after the huge record: not let go", c)
	}
}

// peakWatch notes the largest window its stream reads into.
type peakWatch struct {
	r    io.Reader
	s    *stream
	peak *int
}

func (p *peakWatch) Read(b []byte) (int, error) {
	*p.peak = max(*p.peak, cap(p.s.buf))
	return p.r.Read(b)
}
