package pattern_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trailbell/trailbell/pattern"
)

// Fuzz tests of the two parsers: patterns (Add/Validate) and events (Match).
// Seed corpora live in testdata/fuzz/FuzzAdd and testdata/fuzz/FuzzMatch; the seeds added
// here in code are the ones too large or too regular to keep as files.
//
//	go test ./pattern -run '^$' -fuzz '^FuzzAdd$' -fuzztime 60s -fuzzminimizetime 5s
//	go test ./pattern -run '^$' -fuzz '^FuzzMatch$' -fuzztime 60s -fuzzminimizetime 5s
//
// (add -parallel 1 on a shared machine). The short minimisation time matters: minimising a
// large interesting input for the default 60 s looks like a hang.

// fuzzEvents are matched against every pattern FuzzAdd accepts.
var fuzzEvents = [][]byte{
	[]byte(`{}`),
	[]byte(`{"a":"x","b":1,"c":null,"d":true,"e":[1,"x",{"f":"g"}],"detail":{"state":"running","n":5.5}}`),
	[]byte(`{"source":"aws.iam","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"CreateUser","sourceIPAddress":"10.0.0.1"}}`),
	[]byte(`{"a":[{"b":1,"c":2},{"b":3,"c":4}],"$or":"10.0.0.7"}`),
}

func FuzzAdd(f *testing.F) {
	for _, g := range semantics {
		for _, c := range g.cases {
			f.Add(c.pattern)
		}
	}
	f.Add(iamSeedPattern)
	f.Add(`{"n":[37.807807921694092,{"numeric":[">",0,"<=",1e308]}],"s":[{"equals-ignore-case":"straße"}]}`)
	f.Add(`{"a.b":["10.0.0.1"],"a":{"b.c":[{"cidr":"10.0.0.0/31"}]},"x":[{"anything-but":{"prefix":["a","b"]}},{"exactly":"y"}]}`)
	f.Add("{\n  \"a\": [\"x\",]\n}")
	f.Add(strings.Repeat(`{"a":`, 2000) + `["x"]` + strings.Repeat(`}`, 2000))
	f.Add(`{"a":[` + strings.Repeat(`"x",`, 5000) + `"y"]}`)
	f.Add(`{"$or":[` + strings.Repeat(`{"$or":[{"a":["1"]},`, 30) + `{"b":["2"]}` + strings.Repeat(`]},{"c":["3"]}`, 30) + `]}`)
	f.Fuzz(func(t *testing.T, p string) {
		errV := pattern.Validate(p)
		m := pattern.New()
		errA := m.Add("fuzz", p)
		if (errV == nil) != (errA == nil) {
			t.Fatalf("Validate and Add disagree on %q: %v vs %v", p, errV, errA)
		}
		if errA != nil {
			if errA.Error() == "" {
				t.Fatalf("empty error for %q", p)
			}
			return
		}
		if !json.Valid([]byte(p)) {
			t.Fatalf("accepted a pattern that is not valid JSON: %q", p)
		}
		for _, ev := range fuzzEvents {
			ids, err := m.Match(ev)
			if err != nil {
				t.Fatalf("pattern %q: Match(%s): %v", p, ev, err)
			}
			if len(ids) > 1 || (len(ids) == 1 && ids[0] != "fuzz") {
				t.Fatalf("pattern %q: Match(%s) = %q", p, ev, ids)
			}
		}
		m.Remove("fuzz")
		for _, ev := range fuzzEvents {
			if ids, _ := m.Match(ev); len(ids) != 0 {
				t.Fatalf("after Remove: Match(%s) = %q", ev, ids)
			}
		}
		// The same pattern among many others must answer as it does alone.
		shared, err := fuzzMatcher()
		if err != nil {
			t.Fatal(err)
		}
		if err := shared.Add("fuzz", p); err != nil {
			t.Fatalf("Add to the shared matcher: %v", err)
		}
		defer shared.Remove("fuzz")
		single := pattern.New()
		_ = single.Add("fuzz", p)
		for _, ev := range fuzzEvents {
			ids, _ := shared.Match(ev)
			alone, _ := single.Match(ev)
			if slices.Contains(ids, "fuzz") != (len(alone) == 1) {
				t.Fatalf("pattern %q on %s: %v among others, %v alone", p, ev, slices.Contains(ids, "fuzz"), len(alone) == 1)
			}
		}
	})
}

// fuzzMatcher holds every semantics pattern plus a few simple ones the reference in
// FuzzMatch can judge.
var fuzzMatcher = sync.OnceValues(func() (*pattern.Matcher, error) {
	m := pattern.New()
	for _, g := range semantics {
		for _, c := range g.cases {
			if err := m.Add(g.group+"/"+c.name, c.pattern); err != nil {
				return nil, err
			}
		}
	}
	for id, p := range refPatterns {
		if err := m.Add(id, p); err != nil {
			return nil, err
		}
	}
	return m, nil
})

// refPatterns are judged by refMatch, an independent reading with encoding/json.
var refPatterns = map[string]string{
	"ref-exact":  `{"a":["x"]}`,
	"ref-prefix": `{"a":[{"prefix":"x"}]}`,
	"ref-absent": `{"a":[{"exists":false}]}`,
}

// refMatch says whether the reference patterns match top-level field "a" of obj; ok is
// false where the reference does not judge (values that are neither a string nor a flat
// array of scalars).
func refMatch(obj map[string]any) (exact, prefix, absent, ok bool) {
	v, present := obj["a"]
	if !present {
		return false, false, true, true
	}
	var strs []string
	switch a := v.(type) {
	case string:
		strs = []string{a}
	case []any:
		if len(a) == 0 {
			return false, false, false, false // whether [] "exists" is the engine's documented choice
		}
		for _, e := range a {
			switch s := e.(type) {
			case string:
				strs = append(strs, s)
			case map[string]any, []any:
				return false, false, false, false
			}
		}
	case map[string]any:
		return false, false, false, false
	}
	for _, s := range strs {
		exact = exact || s == "x"
		prefix = prefix || strings.HasPrefix(s, "x")
	}
	return exact, prefix, false, true
}

// hasDuplicateKeys reports whether any object in a valid JSON text repeats a key:
// encoding/json keeps the last value, the matcher takes every occurrence (as event-ruler
// does), so the encoding/json reference cannot judge such an event.
func hasDuplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj  bool
		key  bool // next string token is a key
		seen map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			return true // not judged
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, isKey := tok.(string); isKey && top != nil && top.obj && top.key {
			if top.seen[k] {
				return true
			}
			top.seen[k] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, key: true, seen: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true // a value ended: a key comes next
		}
	}
}

// nestingDepth returns the deepest bracket nesting of a valid JSON text.
func nestingDepth(data []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func FuzzMatch(f *testing.F) {
	for _, g := range semantics {
		for _, c := range g.cases {
			for _, ev := range append(slices.Clone(c.match), c.noMatch...) {
				f.Add([]byte(ev))
			}
		}
	}
	// Large inputs make the fuzzer's minimisation crawl; the really huge ones are in
	// TestHugeAndDeepEvents.
	f.Add([]byte(strings.Repeat("[", 2000)))
	f.Add([]byte(`{"a":` + strings.Repeat("[", 1500) + `"x"` + strings.Repeat("]", 1500) + `}`))
	f.Add([]byte(strings.Repeat(`{"a":`, 1500) + `"x"` + strings.Repeat("}", 1500)))
	f.Add([]byte(`{"a":[` + strings.Repeat(`"y",`, 2000) + `"x"]}`))
	f.Add([]byte(`{"detail":{"state":"` + strings.Repeat("\\u00e9", 500) + `"}}`))
	f.Add([]byte("{\"a\":\"x\xff\xfe\",\"\xc3\x28\":\"running\"}"))
	f.Add([]byte(`{"a":"x","a":"y"}`))
	f.Add([]byte(`{"a":"y","b":{"c":[1,2]},"\u0061":"x"}`))
	f.Add([]byte(`{"n":37.807807921694092,"m":0.10000000000000001,"k":9007199254740993,"ip":"010.0.0.1","ip6":"::ffff:a00:1"}`))
	f.Add([]byte(`{"s":"STRASSE","k":"\u212a","sigma":"ς","detail.eventName":"CreateUser"}`))
	f.Add([]byte(`{"price":1e400,"x":-0,"n":0.1e-400}`))
	f.Fuzz(func(t *testing.T, ev []byte) {
		m, err := fuzzMatcher()
		if err != nil {
			t.Fatal(err)
		}
		ids, err := m.Match(ev)
		ids2, err2 := m.Match(ev)
		if (err == nil) != (err2 == nil) || !slices.Equal(ids, ids2) {
			t.Fatalf("Match is not deterministic: %q, %v then %q, %v", ids, err, ids2, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			if len(ids) != 0 {
				t.Fatalf("ids %q returned with error %v", ids, err)
			}
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("id %q returned twice", id)
			}
			seen[id] = true
		}
		if !json.Valid(ev) {
			return // no crash is all that is asked; an early-exit scan may not see the flaw
		}
		var obj map[string]any
		if json.Unmarshal(ev, &obj) != nil || obj == nil {
			return // valid JSON but not an object
		}
		// The package doc caps array nesting at 1000 levels, and the work spent on array
		// element combinations (ErrTooComplex): such events may be refused.
		if err != nil && nestingDepth(ev) <= 1000 && !errors.Is(err, pattern.ErrTooComplex) {
			t.Fatalf("error for a valid JSON object: %v", err)
		}
		if err != nil {
			return
		}
		if hasDuplicateKeys(ev) {
			return
		}
		if exact, prefix, absent, ok := refMatch(obj); ok {
			for id, want := range map[string]bool{"ref-exact": exact, "ref-prefix": prefix, "ref-absent": absent} {
				if seen[id] != want {
					t.Fatalf("%s %s on %q: got %v, reference says %v", id, refPatterns[id], ev, seen[id], want)
				}
			}
		}
		differentialOnEvent(t, ev)
	})
}

// differentialOnEvent draws patterns from the event's own values (as
// TestDifferentialCloudTrail does from the corpus) and compares the matcher's verdict with
// the reference's.
func differentialOnEvent(t *testing.T, ev []byte) {
	dec := json.NewDecoder(bytes.NewReader(ev))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return
	}
	// encoding/json turns invalid UTF-8 and lone surrogates into U+FFFD; the matcher
	// compares bytes. Such events are not judged here.
	if re, err := json.Marshal(doc); err != nil || bytes.Contains(re, []byte("\ufffd")) || bytes.ContainsRune(re, utf8.RuneError) {
		return
	}
	events := []any{doc}
	r := rand.New(rand.NewPCG(uint64(len(ev)), 7))
	arrays := multiArrays(events)
	for range 4 {
		p, ok := genDiffPattern(r, events, arrays)
		if !ok {
			continue
		}
		want, judged := p.eval(doc)
		if !judged || slices.ContainsFunc(p, func(c diffCond) bool { return len(c.path) > 60 }) {
			continue // deeper patterns than the package doc's limit of 64 levels
		}
		m := pattern.New()
		if err := m.Add("d", p.json()); err != nil {
			t.Fatalf("generated pattern %s: %v", p.json(), err)
		}
		ids, err := m.Match(ev)
		if err != nil {
			t.Fatalf("pattern %s on %q: %v", p.json(), ev, err)
		}
		if got := len(ids) == 1; got != want {
			t.Fatalf("pattern %s on %q: got %v, reference %v", p.json(), ev, got, want)
		}
	}
}

// TestHugeAndDeepEvents: events far larger or deeper than real ones are answered, quickly
// and without a panic; times are logged, not asserted.
func TestHugeAndDeepEvents(t *testing.T) {
	m, err := fuzzMatcher()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		event   string
		wantIDs []string // ids that must be among the answer (nil: error allowed)
	}{
		{"100k open brackets", strings.Repeat("[", 100_000), nil},
		{"100k open brackets under a named field", `{"a":` + strings.Repeat("[", 100_000), nil},
		{"50k nested objects", strings.Repeat(`{"a":`, 50_000) + `"x"` + strings.Repeat("}", 50_000), []string{}},
		{"30k nested arrays of objects", strings.Repeat(`{"items":[`, 30_000) + `"x"` + strings.Repeat("]}", 30_000), []string{}},
		{"100k-element string array", `{"a":[` + strings.Repeat(`"y",`, 100_000) + `"x"]}`, []string{"ref-exact", "ref-prefix"}},
		{"100k objects, match in the last", `{"items":[` + strings.Repeat(`{"kind":"pen"},`, 100_000) + `{"kind":"book"}]}`,
			[]string{"arrays in events/objects inside arrays"}},
		{"100k objects, two fields each", `{"a":[` + strings.Repeat(`{"b":1,"c":4},`, 100_000) + `{"b":1,"c":2}]}`,
			[]string{"array consistency/same element"}},
		{"1 MB string", `{"detail":{"state":"` + strings.Repeat("\\u00e9", 200_000) + `"},"a":"x"}`, []string{"ref-exact"}},
	}
	for _, c := range cases {
		start := time.Now()
		ids, err := m.Match([]byte(c.event))
		t.Logf("%s (%d bytes): %v, %d ids, err %v", c.name, len(c.event), time.Since(start).Round(time.Microsecond), len(ids), err)
		if c.wantIDs == nil {
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, id := range c.wantIDs {
			if !slices.Contains(ids, id) {
				t.Errorf("%s: %q not matched; got %q", c.name, id, ids)
			}
		}
	}
}

// TestManyPartialArrayElements: event-ruler's perf scenarios objArrayAllPartial and
// objArrayLastValid at 10,000 elements (80 KB). event-ruler answers them in linear time;
// an answer is required here too, not ErrTooComplex.
func TestManyPartialArrayElements(t *testing.T) {
	m := pattern.New()
	if err := m.Add("p", `{"d":{"a":[{"exists":true}],"b":[{"exists":true}]}}`); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for i := range 5_000 { // distinct values, as real elements have
		fmt.Fprintf(&sb, `{"a":%d},{"b":%d},`, 2*i, 2*i+1)
	}
	partial := sb.String()
	for _, c := range []struct {
		name  string
		event string
		match bool
	}{
		{"all partial", `{"d":[` + partial + `{"a":1}]}`, false},
		{"last complete", `{"d":[` + partial + `{"a":1,"b":2}]}`, true},
	} {
		start := time.Now()
		ids, err := m.Match([]byte(c.event))
		t.Logf("%s (%d bytes): %v", c.name, len(c.event), time.Since(start))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if (len(ids) == 1) != c.match {
			t.Errorf("%s: Match = %q, want match %v", c.name, ids, c.match)
		}
	}
}
