package detect

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// jsonValueCases are the corners where a decoder is most likely to differ from encoding/json.
var jsonValueCases = []string{
	`{"a":"plain","b":1,"c":-0.5e+10,"d":true,"e":false,"f":null,"g":[],"h":{},"i":[1,"x",{"j":[null]}]}`,
	`{"esc":"q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u20ac"}`,
	`{"pair":"\ud83d\ude00","lone high":"\ud83dx","lone low":"\ude00","high then other":"\ud83d\u0041","two highs":"\ud83d\ud83d\ude00"}`,
	"{\"invalid utf-8\":\"a\xffb\xc3\",\"\xe9\":\"key not utf-8\",\"surrogate bytes\":\"\xed\xa0\x80\"}",
	`{"k":1,"k":"two","k":{"x":3},"o":{"r":1,"r":2},"arr":[{"s":1,"s":2}]}`,
	`{"\u0061":1,"a":2}`,
	` {"space" : [ 1 , 2 ] , "x" : { } } trailing`,
	`{"num":0,"n2":-0,"n3":1.0e-3,"n4":123456789012345678901234567890}`,
	`{"policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:*\"}]}"}`,
	`[1,2,3]`, `"text"`, `12`, `null`,
	// invalid: parseJSON must refuse each (encoding/json words the error)
	`{"a":01}`, `{"a":1.}`, `{"a":.1}`, `{"a":1e}`, `{"a":-}`, `{"a":tru}`, `{"a":"\x01"}`, `{"a":"\q"}`,
	`{"a":"\u12"}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1,]`, `{"a":"unterminated}`, `{"a":[1}`, ``, `   `,
}

// TestParseJSONAsEncodingJSON: parseJSON reads what encoding/json reads, to the same values,
// and refuses what it refuses.
func TestParseJSONAsEncodingJSON(t *testing.T) {
	for _, c := range jsonValueCases {
		checkParseJSON(t, []byte(c))
	}
	// every record and policy of the corpus
	files, _ := filepath.Glob("../cloudtrail/testdata/corpus/*.json*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			checkParseJSON(t, line)
		}
		checkParseJSON(t, b)
	}
}

// FuzzParseJSON compares parseJSON with encoding/json on any input.
func FuzzParseJSON(f *testing.F) {
	for _, c := range jsonValueCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkParseJSON(t, b) })
}

func checkParseJSON(t *testing.T, b []byte) {
	t.Helper()
	for _, repeats := range []bool{false, true} {
		got, end, ok := parseJSON(b, repeats)
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var want any
		var err error
		if repeats {
			want, err = decodeValue(d)
		} else {
			err = d.Decode(&want)
		}
		switch {
		case err != nil && ok:
			t.Fatalf("repeats %v: parseJSON read %q, which encoding/json refuses (%v): %#v", repeats, b, err, got)
		case err != nil:
		case !ok:
			t.Fatalf("repeats %v: parseJSON refused %q, which encoding/json reads as %#v", repeats, b, want)
		case !reflect.DeepEqual(got, want):
			t.Fatalf("repeats %v: %q:\n got %#v\nwant %#v", repeats, b, got, want)
		case repeats && end != int(d.InputOffset()):
			// decodeValue reads tokens: its offset is the value's end
			t.Fatalf("%q: end %d, encoding/json %d", b, end, d.InputOffset())
		}
		// parseJSONText reads the same, parts of the string where parseJSON copies
		if got2, end2, ok2 := parseJSONText(b, string(b), repeats); ok2 != ok || end2 != end || !reflect.DeepEqual(got2, got) {
			t.Fatalf("repeats %v: %q: parseJSONText %#v, %d, %v; parseJSON %#v, %d, %v", repeats, b, got2, end2, ok2, got, end, ok)
		}
	}
}

// FuzzLiftedDetail: liftedDetail finds the record where reading the envelope's head with
// encoding/json does: after the first liftMarker, behind members whose values are scalars.
func FuzzLiftedDetail(f *testing.F) {
	for _, s := range []string{
		`{"version":"0","id":"x","time":"2026-01-01T00:00:00Z","resources":[],"detail":{"a":1}}`,
		`{ "a" : 1 , "b":true,"c":null,"d":-1.5e3 ,"resources":[],"detail": {"a":1} } `,
		`{"a":"\u00e9\"","resources":[],"detail":{}}`, `{"a":01,"resources":[],"detail":{}}`, `{"resources":[],"detail":{}}`,
		`{"a":"{[","resources":[],"detail":{}}`, `{"a":{"b":1},"resources":[],"detail":{}}`, "{\"a\":\"\x01\",\"resources\":[],\"detail\":{}}",
		`{"a":1,"resources":[],"detail":{"b":2},"resources":[],"detail":{}}`, `{"a":1,"resources":[],"detail":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, env []byte) {
		got, ok := liftedDetail(env)
		// what the head must be: its members, with the marker's comma, a valid object start
		i := bytes.Index(env, liftMarker)
		want := i > 0 && env[0] == '{' && !bytes.ContainsAny(env[1:i], "{[") &&
			json.Valid(append(append([]byte(nil), env[:i]...), `,"r":0}`...))
		end := len(bytes.TrimRight(env, " \t\r\n"))
		want = want && end > 0 && env[end-1] == '}'
		switch {
		case ok && !want && !bytes.ContainsAny(env[1:i], "{["):
			t.Fatalf("%q: read as Lift's layout, which it is not", env)
		case !ok && want:
			t.Fatalf("%q: Lift's layout not read", env)
		case ok && want && string(got) != string(bytes.TrimSpace(env[i+len(liftMarker):end-1])):
			t.Fatalf("%q: record %q", env, got)
		}
	})
}
