package pattern

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Reading an event stops as soon as noRepeat shows that the rest can hold no value that
// changes the answer. These tests compare every answer with the same patterns read to the
// end of the event (snapshot.readAll), on events that repeat keys (every occurrence
// counts, as in event-ruler), nest them, and write them with escapes.

// genRepeatEvent is genEvent with keys drawn with replacement, sometimes written with an
// escape, and values that hold key-like text.
func genRepeatEvent(r *rand.Rand, depth int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range 1 + r.IntN(6) {
		if i > 0 {
			b.WriteString(",")
		}
		k := genKeys[r.IntN(len(genKeys))]
		switch r.IntN(12) {
		case 0:
			fmt.Fprintf(&b, `"\u%04x":`, k[0]) // the same key, escaped
		case 1:
			fmt.Fprintf(&b, `"%sz":`, k) // a key that is not named
		default:
			fmt.Fprintf(&b, "%q:", k)
		}
		switch r.IntN(8) {
		case 0:
			b.WriteString(`"\"a\":\"x\""`) // a value that looks like a member
		case 1:
			b.WriteString(`"b"`) // a value that is a key's text
		default:
			b.WriteString(genValueWith(r, depth, genRepeatEvent))
		}
	}
	b.WriteString("}")
	return b.String()
}

// readAllPair returns two matchers with the same random patterns, one reading every event
// to its end.
func readAllPair(r *rand.Rand, n int) (stop, all *Matcher, patterns []string) {
	stop, all = New(), New()
	all.readAll = true
	for len(patterns) < n {
		p := genPattern(r, 2)
		if err := stop.Add(fmt.Sprint(len(patterns)), p); err != nil {
			continue
		}
		if err := all.Add(fmt.Sprint(len(patterns)), p); err != nil {
			panic(err)
		}
		patterns = append(patterns, p)
	}
	return stop, all, patterns
}

// sameAnswer reports how the two matchers' answers on ev differ, or "" when they agree.
// An early stop may leave invalid JSON after it unread, so only events the full read
// accepts are judged.
func sameAnswer(stop, all *Matcher, ev []byte) string {
	want, errAll := all.Match(ev)
	if errAll != nil {
		return ""
	}
	got, err := stop.Match(ev)
	switch {
	case err != nil:
		return fmt.Sprintf("error %v; read to the end: %q", err, want)
	case !slices.Equal(got, want):
		return fmt.Sprintf("%q; read to the end: %q", got, want)
	}
	return ""
}

func TestEarlyStopAgainstReadAll(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for round := range 240 {
		// Few patterns leave most keys lazy or unnamed, many make most of them fast.
		stop, all, patterns := readAllPair(r, []int{1, 1, 2, 2, 3, 5, 8, 40}[round%8])
		for range 200 {
			ev := genRepeatEvent(r, 3)
			if diff := sameAnswer(stop, all, []byte(ev)); diff != "" {
				t.Fatalf("event %s\npatterns %s\ngot %s", ev, strings.Join(patterns, "\n  "), diff)
			}
		}
	}
}

// TestEarlyStopCases pins the ways a value after the last named key can matter.
func TestEarlyStopCases(t *testing.T) {
	cases := []struct {
		name, pattern, event string
		match                bool
	}{
		{"a fast field repeated in the same object", `{"d":{"a":["x"]}}`,
			`{"d":{"a":"y","n":1,"a":"x"}}`, true},
		{"a fast field in a repeat of its object", `{"d":{"a":["x"]}}`,
			`{"d":{"a":"y"},"n":1,"d":{"a":"x"}}`, true},
		{"a fast field deeper in a repeat of an enclosing object", `{"d":{"e":{"a":["x"]}}}`,
			`{"d":{"e":{"a":"y"},"n":1},"d":{"e":{"a":"x"}}}`, true},
		{"a checked field after the trigger, in the enclosing object", `{"s":["1"],"d":{"a":["x"]}}`,
			`{"d":{"a":"x","n":2},"s":"1"}`, true},
		{"a checked field repeated after the trigger", `{"s":["1"],"d":{"a":["x"]}}`,
			`{"s":"0","d":{"a":"x","n":2},"s":"1"}`, true},
		{"exists:false broken by a repeat of the enclosing object", `{"d":{"a":["x"],"b":[{"exists":false}]}}`,
			`{"d":{"a":"x","n":1},"d":{"b":1}}`, false},
		{"a repeat written with an escape", `{"d":{"a":["x"]}}`,
			`{"d":{"a":"y","n":1,"\u0061":"x"}}`, true},
		{"a repeat of a key with a quote, escaped", `{"d":{"a\"b":["x"]}}`,
			`{"d":{"a\"b":"y","n":"\"","a\"b":"x"}}`, true},
		{"the key's text in a value is no repeat", `{"d":{"a":["x"]}}`,
			`{"d":{"a":"y","n":"a","m":"\"a\":\"x\""}}`, false},
		{"the key deeper is another field", `{"d":{"a":["x"]}}`,
			`{"d":{"a":"y","n":{"a":"x"}}}`, false},
		{"a named object that is also a field", `{"d":[{"exists":true}],"e":["1"]}`,
			`{"d":{"k":1},"e":"1","d":"v"}`, true},
		{"a checked field in an object left before the trigger fires",
			`{"$or":[{"a":[{"prefix":"x"}]},{"c":["1"],"a":{"b":[{"exists":true}]}}]}`,
			`{"c":0,"a":"y","a":{"n":1,"b":2},"c":"1"}`, true},
		{"inside an array, the element is read to its end", `{"l":{"a":["x"],"b":["y"]}}`,
			`{"l":[{"a":"x","n":1,"b":"z","b":"y"}]}`, true},
	}
	for _, c := range cases {
		for _, readAll := range []bool{false, true} {
			m := New()
			m.readAll = readAll
			if err := m.Add("p", c.pattern); err != nil {
				t.Fatal(err)
			}
			ids, err := m.Match([]byte(c.event))
			if err != nil || (len(ids) == 1) != c.match {
				t.Errorf("%s (read all %v): Match(%s) = %q, %v; want match %v", c.name, readAll, c.event, ids, err, c.match)
			}
		}
	}
}

// fuzzStopPairs holds the matcher pairs of FuzzEarlyStop by pattern set.
var fuzzStopPairs sync.Map // uint8 -> [2]*Matcher

func fuzzStopPair(set uint8) (stop, all *Matcher) {
	if p, ok := fuzzStopPairs.Load(set); ok {
		pair := p.([2]*Matcher)
		return pair[0], pair[1]
	}
	stop, all, _ = readAllPair(rand.New(rand.NewPCG(uint64(set), 13)), []int{1, 2, 3, 5, 8, 40}[set%6])
	fuzzStopPairs.Store(set, [2]*Matcher{stop, all})
	return stop, all
}

// FuzzEarlyStop compares the matcher with and without early stops on fuzzed events, for
// one of 256 sets of random patterns.
//
//	go test ./pattern -run '^$' -fuzz '^FuzzEarlyStop$' -fuzztime 60s -fuzzminimizetime 5s
func FuzzEarlyStop(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 60 {
		f.Add(uint8(i), []byte(genRepeatEvent(r, 3)))
	}
	for _, ev := range []string{
		`{"a":"x","b":{"c":1,"a":"y"},"a":"xy"}`,
		`{"b":{"c":"x"},"a":1,"b":{"c":"xy","\u0062":2}}`,
		`{"c":[{"a":"x","b":true},{"b":null,"a":"X"}],"c":{"a":"yx"}}`,
		`{"c":[],"a":"x","a":{"b":"b","c":"xy"},"c":["yx"]}`,
	} {
		f.Add(uint8(len(ev)), []byte(ev))
	}
	f.Fuzz(func(t *testing.T, set uint8, ev []byte) {
		stop, all := fuzzStopPair(set)
		if diff := sameAnswer(stop, all, ev); diff != "" {
			t.Fatalf("pattern set %d, event %q: %s", set, ev, diff)
		}
	})
}
