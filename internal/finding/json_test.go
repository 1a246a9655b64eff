package finding

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// encodingJSON is what `scan --format json` wrote before AppendJSON, without the newline.
func encodingJSON(t testing.TB, f *Finding) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(f)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// hostileStrings are what event fields may hold: escapes, control characters, HTML, line
// and paragraph separators, bytes that are not UTF-8, long runs for the eight-byte loop.
var hostileStrings = []string{
	"", "plain", `quote " and \ backslash`, "line\nbreak\ttab\r\b\f\x00\x1f\x7f", "<b>&amp;</b>",
	"sep\u2028par\u2029", "bad \xff utf-8 \xc3", "é € 😀 ≠", "\xed\xa0\x80 surrogate bytes",
	"0123456789abcdef0123456789abcdef\"0123456789abcdef", "\u2028\u2028\xff", "ok\u2027\u202a",
}

// fill sets every exported field of v (a struct, reached through pointers and slices) to
// random values from hostileStrings, so that a field added to Finding is compared too.
func fill(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(hostileStrings[r.IntN(len(hostileStrings))])
	case reflect.Int:
		v.SetInt(int64(r.IntN(7) - 1)) // a Severity, out of range too
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			return // nil
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem())
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			recs := []string{`{"a": [1, 2.5e3, "x y"], "b" : {"c":null,"d":true}}`, "\n {\"e\":\"\\u2028 \\\" <>\"}\t", `null`}
			if n := r.IntN(len(recs) + 1); n < len(recs) {
				v.SetBytes([]byte(recs[n]))
			}
			return
		}
		n := r.IntN(4) - 1 // nil, empty, one or two elements
		if n < 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(r, v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i))
			}
		}
	default:
		panic("fill: add a case for " + v.Kind().String())
	}
}

// TestAppendJSONAsEncodingJSON: AppendJSON writes exactly what encoding/json writes, for
// every field of Finding filled with hostile values, and appends to what b held; so does an
// Encoder, which meets each description many times.
func TestAppendJSONAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var enc Encoder
	for i := range 5000 {
		var f Finding
		fill(r, reflect.ValueOf(&f).Elem())
		want, err := encodingJSON(t, &f)
		if err != nil {
			t.Fatalf("case %d: encoding/json: %v", i, err)
		}
		got, ok := f.AppendJSON([]byte("prefix"))
		if !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("case %d: ok %v\n got %s\nwant prefix%s", i, ok, got, want)
		}
		got, ok = enc.Append([]byte("prefix"), &f)
		if !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("case %d: Encoder: ok %v\n got %s\nwant prefix%s", i, ok, got, want)
		}
	}
}

// TestAppendJSONRecords: a record is written compact when it is one valid JSON value and
// refused (for encoding/json to say why) when encoding/json refuses it.
func TestAppendJSONRecords(t *testing.T) {
	for _, rec := range []string{
		`{"a":1}`, ` { "a" : [ 1 , { } , [ ] ] , "b":"x  y" } `, `"s"`, `-0.5E+3`, `[true,false,null]`,
		"{\"k\":\"\xff\"}", `{"a":"\u00e9\/"}`,
		// refused
		``, ` `, `{"a":1} x`, `{"a":1,}`, `{"a":01}`, `{"a":"\x01"}`, `{"a":"\q"}`, `{"a":tru}`, `[1,]`,
		`{"a"}`, `{1:2}`, `{"a":1.}`, `{"a":-}`, `{"a":"\u12g4"}`, `{"a":"unterminated}`,
	} {
		f := Finding{Rule: "r", Record: json.RawMessage(rec)}
		want, err := encodingJSON(t, &f)
		got, ok := f.AppendJSON(nil)
		switch {
		case err != nil && ok:
			t.Errorf("%q: written as %s; encoding/json refuses it: %v", rec, got, err)
		case err == nil && (!ok || !bytes.Equal(got, want)):
			t.Errorf("%q: ok %v\n got %s\nwant %s", rec, ok, got, want)
		}
	}
}

// FuzzAppendJSON compares AppendJSON with encoding/json on any strings and record.
func FuzzAppendJSON(f *testing.F) {
	f.Add("title \u2028 \xff", "<runbook>", []byte(`{"a": [1, "x"]}`))
	f.Add("", "", []byte(`nul`))
	f.Add("", "", []byte(`{"a":"\"\\","b":[1,{"c":"\u00e9 \u2028"}]}`))
	f.Fuzz(func(t *testing.T, title, runbook string, rec []byte) {
		fd := Finding{Rule: "r", Title: title, Runbook: runbook, Tags: []string{title}, Record: rec,
			Actor: &Actor{Name: runbook}, Events: []Event{{Value: title}}}
		want, err := encodingJSON(t, &fd)
		got, ok := fd.AppendJSON(nil)
		switch {
		case err != nil && ok:
			t.Fatalf("%q: written; encoding/json refuses it: %v", rec, err)
		case err == nil && (!ok || !bytes.Equal(got, want)):
			t.Fatalf("ok %v\n got %s\nwant %s", ok, got, want)
		}
		if json.Valid(rec) { // as the decoder's records are: set by SetValidRecord, the same
			fd.SetValidRecord(rec)
			if got, ok := fd.AppendJSON(nil); !ok || !bytes.Equal(got, want) {
				t.Fatalf("SetValidRecord (plain %v): ok %v\n got %s\nwant %s", fd.PlainRecord(), ok, got, want)
			}
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	f := Finding{Rule: "iam-user-created", Title: "IAM user bob created by role/Admin (alice)", Tags: []string{"persistence"},
		Runbook: "Check who created the user:\n  aws iam get-user --user-name bob\n", EventID: "0b5c1b9e-2f7c-4b0e-9a3e-3f0f0c0d0e0f",
		EventName: "CreateUser", EventTime: "2026-10-01T00:00:00Z", Account: "111122223333", Region: "us-east-1",
		Principal: "arn:aws:sts::111122223333:assumed-role/Admin/alice", SourceIPAddress: "203.0.113.7",
		UserAgent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22", Target: "bob",
		Params: []Param{{Name: "userName", Value: "bob"}}, Origin: "AWSLogs/111122223333/x.json.gz record 17",
		Record: json.RawMessage(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice"},"eventTime":"2026-10-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0","requestParameters":{"userName":"bob"},"responseElements":{"user":{"userName":"bob","arn":"arn:aws:iam::111122223333:user/bob"}}}`)}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = f.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		enc := json.NewEncoder(&bytes.Buffer{})
		enc.SetEscapeHTML(false)
		for b.Loop() {
			enc.Encode(&f)
		}
	})
}

// TestSetValidRecord: a valid record set by SetValidRecord is plain, and written as it is,
// only when it is valid UTF-8 without white space between its tokens; either way AppendJSON
// writes what encoding/json writes. A record set otherwise since is not plain.
func TestSetValidRecord(t *testing.T) {
	for _, c := range []struct {
		rec   string
		plain bool
	}{
		{`{"a":1,"b":[true,null,-2.5e3],"c":{"d":"x y\tz"}}`, true},
		{`{"a":"\"quoted\" \\ \u00e9 é € 😀","b":"\u2028 sep"}`, true},
		{`{"a":"0123456789abcdef0123456789abcdef"}`, true},
		{`"s"`, true},
		{`7`, true},
		{`{"a": 1}`, false},
		{`{"a":1 }`, false},
		{"{\n\"a\":1}", false},
		{` {"a":1}`, false},
		{`[1, 2]`, false},
		{"{\"a\":\"\xff\"}", false},
		{"{\"a\":\"0123456789\xc3\"}", false},
		{"{\"a\":\"\xed\xa0\x80\"}", false},
	} {
		var f Finding
		f.SetValidRecord(json.RawMessage(c.rec))
		if f.PlainRecord() != c.plain {
			t.Errorf("%q: plain %v, want %v", c.rec, f.PlainRecord(), c.plain)
		}
		want, err := encodingJSON(t, &f)
		if err != nil {
			t.Fatalf("%q: encoding/json: %v", c.rec, err)
		}
		if got, ok := f.AppendJSON(nil); !ok || !bytes.Equal(got, want) {
			t.Errorf("%q: ok %v\n got %s\nwant %s", c.rec, ok, got, want)
		}
		g := f // a copy is as plain
		if g.PlainRecord() != c.plain {
			t.Errorf("%q: a copy: plain %v, want %v", c.rec, g.PlainRecord(), c.plain)
		}
		g.Record = json.RawMessage(c.rec)
		if g.PlainRecord() {
			t.Errorf("%q: plain after Record was set to other bytes", c.rec)
		}
		if c.plain && len(c.rec) > 1 {
			g.Record = f.Record[:len(f.Record)-1]
			if g.PlainRecord() {
				t.Errorf("%q: plain after Record was cut", c.rec)
			}
		}
	}
}

// TestEncoderBound: an Encoder remembers at most maxDescriptions descriptions and writes the
// rest as AppendJSON does.
func TestEncoderBound(t *testing.T) {
	var enc Encoder
	for i := range maxDescriptions + 100 {
		f := Finding{Rule: "r", Description: "description \"" + strconv.Itoa(i%(maxDescriptions+50)) + "\"\n"}
		want, _ := f.AppendJSON(nil)
		if got, ok := enc.Append(nil, &f); !ok || !bytes.Equal(got, want) {
			t.Fatalf("%d: ok %v\n got %s\nwant %s", i, ok, got, want)
		}
	}
	if len(enc.descriptions) != maxDescriptions {
		t.Errorf("remembers %d descriptions, want %d", len(enc.descriptions), maxDescriptions)
	}
}

// plainOracle is what plainJSON must say of a valid JSON value: encoding/json's compact
// form of it is itself, and it is valid UTF-8.
func plainOracle(t testing.TB, b []byte) bool {
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return bytes.Equal(c.Bytes(), b) && utf8.Valid(b)
}

// TestPlainJSONRandom compares plainJSON with plainOracle on random JSON values whose strings
// hold quotes, backslashes, spaces, multi-byte and broken UTF-8 at every offset of a word,
// with and without white space between tokens.
func TestPlainJSONRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 3))
	pieces := []string{`a`, ` `, `\"`, `\\`, `\u00e9`, `\/`, `é`, `€`, "\xff", "\xe2\x82", `{`, `}`, `:`, `,`, `0123456`}
	var str func() string
	str = func() string {
		var s strings.Builder
		s.WriteByte('"')
		for range rng.IntN(20) {
			s.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s.WriteByte('"')
		return s.String()
	}
	space := func(loose bool) string {
		if loose && rng.IntN(6) == 0 {
			return []string{" ", "\n", "\t", "\r", "  "}[rng.IntN(5)]
		}
		return ""
	}
	var value func(depth int, loose bool) string
	// container is an object or an array, between open and closing, of up to four members
	// or elements, each made by elem
	container := func(open, closing string, loose bool, elem func() string) string {
		var s strings.Builder
		s.WriteString(open + space(loose))
		for j := range rng.IntN(5) {
			if j > 0 {
				s.WriteString("," + space(loose))
			}
			s.WriteString(elem() + space(loose))
		}
		s.WriteString(closing)
		return s.String()
	}
	value = func(depth int, loose bool) string {
		switch k := rng.IntN(6); {
		case k == 0 && depth < 4:
			return container("{", "}", loose, func() string {
				return str() + space(loose) + ":" + space(loose) + value(depth+1, loose)
			})
		case k == 1 && depth < 4:
			return container("[", "]", loose, func() string { return value(depth+1, loose) })
		case k == 2:
			return []string{"true", "false", "null", "-12.5e3", "0"}[rng.IntN(5)]
		default:
			return str()
		}
	}
	plain, loose := 0, 0
	for i := range 200000 {
		b := []byte(value(0, i%3 == 0))
		if !json.Valid(b) {
			t.Fatalf("generated invalid JSON %q", b)
		}
		want := plainOracle(t, b)
		if got := plainJSON(b); got != want {
			t.Fatalf("plainJSON(%q) = %v, want %v", b, got, want)
		}
		if want {
			plain++
		} else {
			loose++
		}
	}
	if plain < 10000 || loose < 10000 {
		t.Fatalf("%d plain and %d not: the generator should give many of each", plain, loose)
	}
}

// FuzzPlainJSON compares plainJSON with plainOracle on any valid JSON.
func FuzzPlainJSON(f *testing.F) {
	f.Add([]byte(`{"a":"x\\\" y","b":[1,{"c":"\u00e9"}]}`))
	f.Add([]byte(`{"a" :1}`))
	f.Add([]byte("[\"\xff\"]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if got, want := plainJSON(b), plainOracle(t, b); got != want {
			t.Fatalf("plainJSON(%q) = %v, want %v", b, got, want)
		}
	})
}
