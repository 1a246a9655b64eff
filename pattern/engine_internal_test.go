package pattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// A brute-force reference: decode the event with encoding/json, list every leaf value with
// the array elements it lies in, and try every combination of leaves for every AND-only
// alternative. It shares only the parser with the engine, so it checks the path index, the
// byte scanner, the value indexes, trigger/deferred splitting and the array solver.

type refLeaf struct {
	v     any
	trail [][2]int // (array id, element index) from the root down
}

func refLeaves(v any, path string, trail [][2]int, arrays *int, out map[string][]refLeaf) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := k
			if path != "" {
				p = path + "\x00" + k
			}
			refLeaves(c, p, trail, arrays, out)
		}
	case []any:
		*arrays++
		id := *arrays
		for i, c := range x {
			refLeaves(c, path, append(slices.Clone(trail), [2]int{id, i}), arrays, out)
		}
	default:
		out[path] = append(out[path], refLeaf{v: v, trail: trail})
	}
}

func refCompatible(a, b [][2]int) bool {
	for _, x := range a {
		for _, y := range b {
			if x[0] == y[0] && x[1] != y[1] {
				return false
			}
		}
	}
	return true
}

var refRegexps = map[*wildcard]*regexp.Regexp{}

func refWildcard(w *wildcard, s string) bool {
	if re, ok := refRegexps[w]; ok {
		return re.MatchString(s)
	}
	var b strings.Builder
	b.WriteString("^")
	for i, seg := range w.segs {
		if i > 0 {
			b.WriteString("(?s:.*)")
		}
		b.WriteString(regexp.QuoteMeta(seg))
	}
	b.WriteString("$")
	re := regexp.MustCompile(b.String())
	refRegexps[w] = re
	return re.MatchString(s)
}

// refComparable is event-ruler's ComparableNumber test done with exact rationals: the
// number's value equals that of the shortest decimal of its nearest float64.
func refComparable(text string) (float64, bool) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return f, false
	}
	if mant, exp, _ := strings.Cut(strings.ToLower(text), "e"); strings.Trim(mant, "-0.") == "" {
		// zero: a BigDecimal when its exponent fits an int (see exponentFits)
		return 0, len(strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")) <= 9
	}
	a, ok1 := new(big.Rat).SetString(text)
	b, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return f + 0, ok1 && ok2 && a.Cmp(b) == 0
}

// refFold says whether s is, from its start, one choice per UTF-16 unit of the operand
// (see fold.go), ending at the end of s when whole is set; it tries every choice.
func refFold(units []foldAlt, s string, whole bool) bool {
	if len(units) == 0 {
		return !whole || s == ""
	}
	for _, x := range []string{units[0].a, units[0].b} {
		if x != "" && strings.HasPrefix(s, x) && refFold(units[1:], s[len(x):], whole) {
			return true
		}
	}
	return false
}

func refFoldSuffix(units []foldAlt, s string) bool {
	for i := 0; i <= len(s); i++ {
		if refFold(units, s[i:], true) {
			return true
		}
	}
	return false
}

func refValue(m *valueMatcher, v any) bool {
	s, isStr := v.(string)
	n, isNum := v.(json.Number)
	f, cmp := 0.0, false
	if isNum {
		f, cmp = refComparable(string(n))
	}
	switch m.kind {
	case opExists:
		return true
	case opExactString:
		return isStr && s == m.s
	case opExactNumber:
		if m.cmp {
			return isNum && cmp && f == m.num
		}
		return isNum && string(n) == m.s
	case opExactNull:
		return v == nil
	case opExactTrue:
		return v == true
	case opExactFalse:
		return v == false
	case opPrefix:
		return isStr && strings.HasPrefix(s, m.s)
	case opSuffix:
		return isStr && strings.HasSuffix(s, m.s)
	case opPrefixFold:
		return isStr && refFold(m.fp.alts, s, false)
	case opSuffixFold:
		return isStr && refFoldSuffix(m.fp.alts, s)
	case opEqualsFold:
		return isStr && refFold(m.fp.alts, s, true)
	case opWildcard:
		return isStr && refWildcard(m.wc, s)
	case opNumeric:
		return isNum && cmp && m.rng.contains(f)
	case opCIDR:
		a, ok := ipLiteral(s)
		return isStr && ok && m.cidr.Contains(a)
	case opAnythingBut:
		ab := m.ab
		switch {
		case isStr:
			switch ab.kind {
			case abStrings:
				return !slices.Contains(ab.strs, s)
			case abNumbers:
				return true
			case abPrefix:
				return !slices.ContainsFunc(ab.strs, func(p string) bool { return strings.HasPrefix(s, p) })
			case abSuffix:
				return !slices.ContainsFunc(ab.strs, func(p string) bool { return strings.HasSuffix(s, p) })
			case abFold:
				return !slices.ContainsFunc(ab.folds, func(fp *foldPattern) bool { return refFold(fp.alts, s, true) })
			case abWildcard:
				return !slices.ContainsFunc(ab.wcs, func(w *wildcard) bool { return refWildcard(w, s) })
			}
		case isNum:
			return ab.kind != abNumbers || !cmp || !slices.Contains(ab.nums, f)
		default:
			return true
		}
	}
	panic(fmt.Sprintf("kind %d", m.kind))
}

func refMatches(c *compiled, leaves map[string][]refLeaf) bool {
	for _, alt := range c.alts {
		var pos [][]refLeaf
		var posRank []int
		var absent []refAbsent
		ok := true
		for i, cond := range alt {
			key := strings.Join(cond.path, "\x00")
			if cond.absent {
				absent = append(absent, refAbsent{key, i})
				continue
			}
			var cands []refLeaf
			for _, l := range leaves[key] {
				if slices.ContainsFunc(cond.ms, func(m valueMatcher) bool { return refValue(&m, l.v) }) {
					cands = append(cands, l)
				}
			}
			if len(cands) == 0 {
				ok = false
				break
			}
			pos = append(pos, cands)
			posRank = append(posRank, i)
		}
		if ok && refChoose(pos, posRank, nil, absent, leaves) {
			return true
		}
	}
	return false
}

// refAbsent is an exists:false condition with its position among the alternative's
// conditions (sorted by field name): it is checked against the leaves chosen for the
// conditions before it only, as event-ruler's StructuredFinder walks them.
type refAbsent struct {
	key  string
	rank int
}

func refChoose(pos [][]refLeaf, posRank []int, chosen [][][2]int, absent []refAbsent, leaves map[string][]refLeaf) bool {
	if len(chosen) == len(pos) {
		for _, a := range absent {
			for _, l := range leaves[a.key] {
				compatible := true
				for i, c := range chosen {
					if posRank[i] < a.rank && !refCompatible(c, l.trail) {
						compatible = false
					}
				}
				if compatible {
					return false
				}
			}
		}
		return true
	}
	for _, l := range pos[len(chosen)] {
		if slices.ContainsFunc(chosen, func(c [][2]int) bool { return !refCompatible(c, l.trail) }) {
			continue
		}
		if refChoose(pos, posRank, append(chosen, l.trail), absent, leaves) {
			return true
		}
	}
	return false
}

// Random events and patterns over a small vocabulary, so that they often meet.
var (
	genKeys   = []string{"a", "b", "c"}
	genValues = []string{`"x"`, `"xy"`, `"X"`, `"yx"`, `""`, `1`, `2.5`, `-1`, `null`, `true`, `false`, `"10.0.0.1"`, `"a\"b"`}
)

func genEvent(r *rand.Rand, depth int) string {
	var b strings.Builder
	b.WriteString("{")
	keys := slices.Clone(genKeys)
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for i, k := range keys[:1+r.IntN(len(keys))] {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:%s", k, genValue(r, depth))
	}
	b.WriteString("}")
	return b.String()
}

func genValue(r *rand.Rand, depth int) string { return genValueWith(r, depth, genEvent) }

// genValueWith is genValue with the objects in it made by object.
func genValueWith(r *rand.Rand, depth int, object func(*rand.Rand, int) string) string {
	switch n := r.IntN(10); {
	case depth > 0 && n < 3:
		return object(r, depth-1)
	case depth > 0 && n < 6:
		var parts []string
		for range r.IntN(4) {
			parts = append(parts, genValueWith(r, depth-1, object))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return genValues[r.IntN(len(genValues))]
}

var genMatchers = []string{
	`"x"`, `"xy"`, `1`, `2.5`, `null`, `true`, `""`,
	`{"prefix":"x"}`, `{"suffix":"x"}`, `{"prefix":{"equals-ignore-case":"X"}}`,
	`{"suffix":{"equals-ignore-case":"Y"}}`, `{"equals-ignore-case":"x"}`,
	`{"wildcard":"*x"}`, `{"wildcard":"x*"}`, `{"wildcard":"*y*"}`,
	`{"numeric":[">",0]}`, `{"numeric":[">=",-1,"<",2]}`, `{"numeric":["=",2.5]}`,
	`{"exists":true}`, `{"exists":false}`, `{"cidr":"10.0.0.0/24"}`,
	`{"anything-but":"x"}`, `{"anything-but":[1,2.5]}`, `{"anything-but":{"prefix":"x"}}`,
	`{"anything-but":{"suffix":"y"}}`, `{"anything-but":{"equals-ignore-case":["X","XY"]}}`,
	`{"anything-but":{"wildcard":"*y*"}}`,
}

func genPattern(r *rand.Rand, depth int) string {
	var b strings.Builder
	b.WriteString("{")
	keys := slices.Clone(genKeys)
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	n := 1 + r.IntN(len(keys))
	for i, k := range keys[:n] {
		if i > 0 {
			b.WriteString(",")
		}
		if depth > 0 && r.IntN(3) == 0 {
			fmt.Fprintf(&b, "%q:%s", k, genPattern(r, depth-1))
			continue
		}
		var ms []string
		for range 1 + r.IntN(2) {
			ms = append(ms, genMatchers[r.IntN(len(genMatchers))])
		}
		fmt.Fprintf(&b, "%q:[%s]", k, strings.Join(ms, ","))
	}
	if depth > 0 && r.IntN(5) == 0 {
		fmt.Fprintf(&b, `,"$or":[%s,%s]`, genPattern(r, depth-1), genPattern(r, depth-1))
	}
	b.WriteString("}")
	return b.String()
}

// TestAgainstReference matches random events against many random patterns held in one
// Matcher and compares every verdict with the brute-force reference.
func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for round := range 100 {
		m := New()
		var ids []string
		comp := map[string]*compiled{}
		for len(ids) < 60 {
			p := genPattern(r, 2)
			c, err := compile(p)
			if err != nil {
				continue // e.g. $or alternatives exceeding the cap never happen; skip rejects
			}
			id := fmt.Sprintf("r%d-%d %s", round, len(ids), p)
			if err := m.Add(id, p); err != nil {
				t.Fatalf("Add(%s): %v", p, err)
			}
			ids = append(ids, id)
			comp[id] = c
		}
		for range 150 {
			ev := genEvent(r, 3)
			dec := json.NewDecoder(strings.NewReader(ev))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("generated event %s: %v", ev, err)
			}
			leaves := map[string][]refLeaf{}
			arrays := 0
			refLeaves(v, "", nil, &arrays, leaves)
			got, err := m.Match([]byte(ev))
			if err != nil {
				t.Fatalf("Match(%s): %v", ev, err)
			}
			for _, id := range ids {
				want := refMatches(comp[id], leaves)
				if slices.Contains(got, id) != want {
					t.Fatalf("event %s\npattern %s\ngot match=%v, reference says %v", ev, id, !want, want)
				}
			}
		}
	}
}

// TestEventErrors: invalid JSON in the part read is an error naming the byte offset.
func TestEventErrors(t *testing.T) {
	m := New()
	if err := m.Add("p", `{"a":["x"],"b":{"c":[1]}}`); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{
		``, ` `, `[]`, `"x"`, `{`, `{"a"`, `{"a":}`, `{"a":"x"`, `{"a":"x",}`, `{"a":tru}`,
		`{"a":"\q"}`, `{"a":"x" "b":1}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`,
		`{"b":{"c":[1,]}}`, `{"b":{"c":[1 2]}}`, `{"z":[1,2}`, `{"a":"x\u12"}`, `{"a":"x"} {`,
	} {
		ids, err := m.Match([]byte(ev))
		if err == nil {
			t.Errorf("Match(%q) = %q, nil; want an error", ev, ids)
			continue
		}
		if ids != nil {
			t.Errorf("Match(%q) returned ids %q with error %v", ev, ids, err)
		}
		if !strings.Contains(err.Error(), "byte") {
			t.Errorf("Match(%q): error %q does not give the offset", ev, err)
		}
	}
}

// TestRepeatedKeys: every occurrence of a repeated key is a value of its field, with no
// array element of its own (event-ruler's Event.traverseObject); reading stops early only
// when no named key can occur again, so a repeat after the last interesting key counts,
// escaped or not.
func TestRepeatedKeys(t *testing.T) {
	m := New()
	if err := m.Add("p", `{"a":["x"]}`); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ev   string
		want bool
	}{
		{`{"a":"x","a":"y"}`, true},
		{`{"a":"y","a":"x"}`, true},
		{`{"a":"y","b":{"c":[1,2,{"d":"x"}]},"a":"x"}`, true},
		{`{"b":{"a":"x"},"a":"y"}`, false},
		{`{"a":"y","b":"\"a\"","\u0061":"x"}`, true},
		{`{"a":"y","b":"a\"","c":"x"}`, false},
		{`{"a":"y","b":"a","c":{"a":"x"}}`, false},
	}
	// A field checked only after a trigger fires (lazy) may be skipped by the first scan;
	// a repeat of it after the stop must still count (noRepeat looks for it once the
	// trigger has fired).
	lazy := New()
	if err := lazy.Add("p", `{"a":["1"],"z":{"k":["x"]}}`); err != nil {
		t.Fatal(err)
	}
	if sb := lazy.current().subs[0]; len(sb.deferred) != 1 {
		t.Fatalf("want a deferred a, got %+v", sb)
	}
	for ev, want := range map[string]bool{
		`{"a":"0","z":{"k":"x"},"a":"1"}`:       true,
		`{"z":{"k":"x"},"a":"0","b":2,"a":"1"}`: true,
		`{"a":"1","z":{"k":"y"},"z":{"k":"x"}}`: true,
		`{"a":"0","z":{"k":"x"},"b":{"a":"1"}}`: false,
		`{"a":"0","z":{"k":"x"},"\u0061":"1"}`:  true,
		`{"z":{"k":"x","k":"y"},"a":"1"}`:       true,
	} {
		ids, err := lazy.Match([]byte(ev))
		if err != nil || (len(ids) == 1) != want {
			t.Errorf("lazy field: Match(%s) = %q, %v; want match %v", ev, ids, err, want)
		}
	}
	for _, c := range cases {
		ids, err := m.Match([]byte(c.ev))
		if err != nil || (len(ids) == 1) != c.want {
			t.Errorf("Match(%s) = %q, %v; want match %v", c.ev, ids, err, c.want)
		}
	}
}

func TestDeepAndLarge(t *testing.T) {
	m := New()
	if err := m.Add("p", `{"a":["x"]}`); err != nil {
		t.Fatal(err)
	}
	deep := `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	if _, err := m.Match([]byte(deep)); err == nil {
		t.Error("5000 nested arrays on a named path: no error")
	}
	skipped := `{"b":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `,"a":"x"}`
	if ids, err := m.Match([]byte(skipped)); err != nil || len(ids) != 1 {
		t.Errorf("deep unnamed value: %q, %v", ids, err)
	}
	big := `{"a":[` + strings.Repeat(`"y",`, 200000) + `"x"],"s":"` + strings.Repeat("é\\n", 100000) + `"}`
	if ids, err := m.Match([]byte(big)); err != nil || len(ids) != 1 {
		t.Errorf("large event: %q, %v", ids, err)
	}
	invalid := []byte("{\"a\":\"x\xff\xfe\",\"b\":\"\xc3\x28\"}")
	if ids, err := m.Match(invalid); err != nil || len(ids) != 0 {
		t.Errorf("invalid UTF-8: %q, %v", ids, err)
	}
}

// TestArrayConsistencyScales: tens of thousands of array elements with conditions that
// only hold in different elements are decided quickly, not by trying every pair.
func TestArrayConsistencyScales(t *testing.T) {
	m := New()
	for id, p := range map[string]string{
		"pair":   `{"d":{"a":[1],"b":[{"exists":true}]}}`,
		"absent": `{"d":{"a":[{"exists":true}],"b":[{"exists":false}]}}`,
		"three":  `{"d":{"a":[1],"b":[{"exists":true}],"c":[{"anything-but":"z"}]}}`,
	} {
		if err := m.Add(id, p); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"d":[`)
	for i := range 30000 {
		if i > 0 {
			b.WriteString(",")
		}
		// a:1 never shares an element with b, so "pair" and "three" fail; the elements
		// where a:1 is alone make "absent" match.
		switch i % 3 {
		case 0:
			b.WriteString(`{"a":1}`)
		case 1:
			b.WriteString(`{"b":1,"c":"z"}`)
		default:
			b.WriteString(`{"a":2,"b":1}`)
		}
	}
	b.WriteString(`]}`)
	ids, err := m.Match(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"absent"}) {
		t.Errorf("got %q, want [absent]", ids)
	}
}

// TestReAddAndRemove: a re-added id ORs its patterns; Remove drops them all.
func TestReAddAndRemove(t *testing.T) {
	m := New()
	for _, p := range []string{`{"a":["x"]}`, `{"a":["y"]}`} {
		if err := m.Add("id", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Add("other", `{"a":[{"prefix":""}]}`); err != nil {
		t.Fatal(err)
	}
	check := func(ev string, want ...string) {
		t.Helper()
		got, err := m.Match([]byte(ev))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Match(%s) = %q, %v; want %q", ev, got, err, want)
		}
	}
	check(`{"a":"x"}`, "id", "other")
	check(`{"a":["y","x"]}`, "id", "other")
	check(`{"a":"z"}`, "other")
	m.Remove("id")
	check(`{"a":"x"}`, "other")
	m.Remove("other")
	m.Remove("never added")
	check(`{"a":"x"}`)
}

// TestTriggerChoice: the rarest condition of a pattern becomes its trigger.
func TestTriggerChoice(t *testing.T) {
	var entries []entry
	for i := range 50 {
		c, err := compile(fmt.Sprintf(`{"source":["aws.iam"],"detail":{"eventName":["E%d"],"errorCode":[{"exists":true}]}}`, i))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{id: strconv.Itoa(i), c: c})
	}
	s := build(entries)
	f, _ := s.fieldAt([]string{"detail", "eventName"})
	if len(f.exactStr.m) != 50 {
		t.Errorf("eventName indexes %d values, want all 50 as triggers", len(f.exactStr.m))
	}
	if src, _ := s.fieldAt([]string{"source"}); len(src.exactStr.m) != 0 {
		t.Errorf("source was chosen as a trigger: %v", src.exactStr.m)
	}
}

// TestStringEnd compares the word-at-a-time string scan with a byte-by-byte one.
func TestStringEnd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	alphabet := []byte{'a', '"', '\\', 'é', 0x22 ^ 0x80, 0x5c ^ 0x01, 0xff, ' '}
	for range 20000 {
		n := r.IntN(150)
		b := make([]byte, n)
		for i := range b {
			if r.IntN(8) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte('a' + r.IntN(26))
			}
		}
		data := append([]byte{'"'}, b...)
		wantEnd, wantEsc, wantOK := -1, false, false
		for i := 1; i < len(data); i++ {
			if data[i] == '\\' {
				wantEsc = true
				i++
				continue
			}
			if data[i] == '"' {
				wantEnd, wantOK = i, true
				break
			}
		}
		p := &scanner{data: data}
		end, esc, err := p.stringEnd(1)
		if (err == nil) != wantOK || (wantOK && (end != wantEnd || esc != wantEsc)) {
			t.Fatalf("%q: got %d %v %v, want %d %v ok=%v", data, end, esc, err, wantEnd, wantEsc, wantOK)
		}
	}
}

// TestZeroMatcher: the zero value works like New().
func TestZeroMatcher(t *testing.T) {
	var m Matcher
	if ids, err := m.Match([]byte(`{"a":"x"}`)); ids != nil || err != nil {
		t.Fatalf("empty zero Matcher: %q, %v", ids, err)
	}
	if err := m.Add("p", `{"a":["x"]}`); err != nil {
		t.Fatal(err)
	}
	if ids, err := m.Match([]byte(`{"a":"x"}`)); len(ids) != 1 || err != nil {
		t.Fatalf("zero Matcher after Add: %q, %v", ids, err)
	}
}

// TestNumericBoundaries: comparable numbers compare as float64, at range ends and
// extremes; the others (beyond float64, or with more digits than it keeps) match only
// their own text (event-ruler's ComparableNumber, see number.go).
func TestNumericBoundaries(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{`{"n":[{"numeric":[">",0,"<=",5]}]}`, []string{`5`, `5.0`, `0.000001`, `4.999999999`, `5e0`}, []string{`0`, `-0`, `5.000001`, `"3"`, `null`}},
		{`{"n":[{"numeric":[">=",-5e9,"<",5e9]}]}`, []string{`-5000000000`, `4999999999.999999`}, []string{`5000000000`, `-5000000000.000001`}},
		{`{"n":[{"numeric":["=",0.3]}]}`, []string{`0.3`, `3e-1`}, []string{`0.30000000000000004`}},
		{`{"n":[{"numeric":[">",1e308]}]}`, []string{`1.5e308`}, []string{`1e308`, `-1e400`, `1e400`}},
		{`{"n":[0]}`, []string{`0`, `-0`, `0.0`, `0e5`}, []string{`1e-400`, `1e-300`, `"0"`, `false`}},
		{`{"n":[{"anything-but":[0,1]}]}`, []string{`2`, `"0"`, `null`, `0.5`, `1e400`, `1.00000000000000001`}, []string{`-0`, `1.0`}},
		{`{"n":[9007199254740993]}`, []string{`9007199254740993`}, []string{`9007199254740992`, `9007199254740993.0`}},
	}
	for _, c := range cases {
		m := New()
		if err := m.Add("p", c.pattern); err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		for _, v := range c.match {
			if ids, err := m.Match([]byte(`{"n":` + v + `}`)); err != nil || len(ids) != 1 {
				t.Errorf("%s should match n=%s: %q, %v", c.pattern, v, ids, err)
			}
		}
		for _, v := range c.noMatch {
			if ids, err := m.Match([]byte(`{"n":` + v + `}`)); err != nil || len(ids) != 0 {
				t.Errorf("%s should not match n=%s: %q, %v", c.pattern, v, ids, err)
			}
		}
	}
}

func TestKeyFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	randKey := func() string {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	for _, n := range []int{0, 1, 3, 100, 5000} {
		set := map[string]bool{}
		for len(set) < n {
			set[randKey()] = true
		}
		// Keys that differ only in the middle, like account IDs inside ARNs.
		for i := range n / 2 {
			set[fmt.Sprintf("arn:aws:iam::%012d:role/", i*7919)] = true
		}
		f := newKeyFilter(set)
		for k := range set {
			if !f.mayHave([]byte(k)) {
				t.Fatalf("%d keys: the filter rejects %q, which is in the set", n, k)
			}
		}
		if n < 100 {
			continue
		}
		passed, tries := 0, 20000
		for range tries {
			k := randKey()
			if !set[k] && f.mayHave([]byte(k)) {
				passed++
			}
		}
		if rate := float64(passed) / float64(tries); rate > 0.05 {
			t.Errorf("%d keys: %.1f%% of strings outside the set pass the filter", n, 100*rate)
		}
	}
	var empty keyFilter
	if empty.mayHave([]byte("x")) {
		t.Error("an empty filter passes a key")
	}
}

// TestAppendFold checks the eight-bytes-at-a-time ASCII path of appendFold against folding
// one rune at a time, on every ASCII byte at every offset and on random mixed text.
func TestAppendFold(t *testing.T) {
	slow := func(b []byte) []byte {
		var out []byte
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				out = append(out, b[i])
			case r < utf8.RuneSelf:
				out = append(out, byte(unicode.ToLower(r)))
			default:
				out = append(out, caseOf(foldSpecial, r, func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) })...)
			}
			i += size
		}
		return out
	}
	check := func(b []byte) {
		t.Helper()
		if got, want := appendFold(nil, b), slow(b); !bytes.Equal(got, want) {
			t.Fatalf("appendFold(%q) = %q, want %q", b, got, want)
		}
	}
	for c := range 128 {
		for off := range 9 {
			b := []byte(strings.Repeat("aZ", 9))
			b[off] = byte(c)
			check(b)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("azAZ@[`{09 _-Kk\u212a\u00c9\u00e9\u0130\u03a3")
	for range 20000 {
		var b []byte
		for range r.IntN(40) {
			if r.IntN(20) == 0 {
				b = append(b, byte(0x80+r.IntN(128))) // invalid UTF-8
				continue
			}
			b = utf8.AppendRune(b, alphabet[r.IntN(len(alphabet))])
		}
		check(b)
	}
}

// TestSkipRest checks skipRest, whose long runs go eight bytes at a time, against a
// byte-at-a-time reference on random text rich in the bytes that matter (brackets, quotes,
// backslashes, and 'Y', '_', 'y', DEL, which the eight-byte test lets through) and in long
// runs of digits and spaces.
func TestSkipRest(t *testing.T) {
	ref := func(d []byte) (int, bool) {
		depth := 0
		for i := 0; i < len(d); i++ {
			switch d[i] {
			case '"':
				for i++; i < len(d) && d[i] != '"'; i++ {
					if d[i] == '\\' {
						i++
					}
				}
				if i >= len(d) {
					return 0, false
				}
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth <= 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	}
	pieces := []string{"[", "]", "{", "}", `"`, `\`, `\"`, "Y", "_", "y", "\x7f", "\x80", "\xff", ",", ":",
		"-122.462411479008651, ", "37.787230573742391", "0.0 ", "        ", "eventName", "true", "null", "[ [ [ "}
	r := rand.New(rand.NewPCG(5, 6))
	for range 50000 {
		b := []byte("[")
		for range r.IntN(60) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		wantPos, wantOK := ref(b)
		p := scanner{data: b}
		err := p.skipRest(0)
		if (err == nil) != wantOK || wantOK && p.pos != wantPos {
			t.Fatalf("skipRest(%q) = pos %d, err %v; want pos %d, ok %v", b, p.pos, err, wantPos, wantOK)
		}
	}
}

// TestChildLookup covers both ways a path node finds a key: by comparison when it has at
// most maxSmallChildren children (keys sharing their first eight bytes, keys shorter than
// eight bytes, keys of 63 bytes or more, which share a length bit) and through its map
// when it has more.
func TestChildLookup(t *testing.T) {
	long := strings.Repeat("k", 70)
	small := []string{"", "a", "ab", "abcdefgh", "abcdefgh1", "abcdefgh2", "abcdefgi1", "a\x00", long, long + "x", strings.Repeat("k", 63)}
	var many []string
	for i := range maxSmallChildren + 10 {
		many = append(many, fmt.Sprintf("field%d", i))
	}
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, keys := range [][]string{small, many} {
		m := New()
		for i, k := range keys {
			if err := m.Add(strconv.Itoa(i), fmt.Sprintf(`{"top":{%s:["v"]}}`, quote(k))); err != nil {
				t.Fatal(err)
			}
		}
		probe := append(slices.Clone(keys), "abcdefgh3", "abcdefg", "b", strings.Repeat("k", 64), long[:69], "field")
		for _, k := range probe {
			ev := fmt.Sprintf(`{"top":{%s:"v"}}`, quote(k))
			got, err := m.Match([]byte(ev))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			// "top" + "" is the field name "top.", whose empty step event-ruler does not
			// read (see usedSteps): the pattern is valid and matches nothing
			if i := slices.Index(keys, k); i >= 0 && k != "" {
				want = []string{strconv.Itoa(i)}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%d children, event %s: got %v, want %v", len(keys), ev, got, want)
			}
		}
	}
}

// TestManyChildren finds each of many keys under one object (looked up in a node's table):
// keys that share their length and first eight bytes, keys that differ only in their last
// byte, short keys, and near misses of each that must not be taken for them.
func TestManyChildren(t *testing.T) {
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("requestParameters%02d", i), fmt.Sprintf("k%d", i))
	}
	keys = append(keys, "a", "eventName", "eventNamf", "eventNam", "eventName0123456789")
	m := New()
	for _, k := range keys {
		p, _ := json.Marshal(map[string]any{"detail": map[string]any{k: []string{"v"}}})
		if err := m.Add(k, string(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.current().root.children["detail"]; n.table == nil {
		t.Fatalf("detail has %d children and no table", len(n.children))
	}
	for _, k := range keys {
		ev, _ := json.Marshal(map[string]any{"detail": map[string]any{"x": 1, k: "v", "y": "v"}})
		if got, err := m.Match(ev); err != nil || !slices.Equal(got, []string{k}) {
			t.Errorf("key %q: got %q, %v", k, got, err)
		}
		for _, miss := range []string{k + "x", "x" + k, strings.ToUpper(k) + "Q"} {
			if slices.Contains(keys, miss) {
				continue
			}
			ev, _ := json.Marshal(map[string]any{"detail": map[string]any{miss: "v"}})
			if got, err := m.Match(ev); err != nil || got != nil {
				t.Errorf("key %q: got %q, %v", miss, got, err)
			}
		}
	}
}

// TestAppendMatch keeps what dst held, on a match, on no match and on an error.
func TestAppendMatch(t *testing.T) {
	m := New()
	if err := m.Add("a", `{"x":["1"]}`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		event string
		want  []string
		err   bool
	}{
		{`{"x":"1"}`, []string{"keep", "a"}, false},
		{`{"x":"2"}`, []string{"keep"}, false},
		{`{"x":`, []string{"keep"}, true},
	} {
		dst := append(make([]string, 0, 1), "keep")
		got, err := m.AppendMatch(dst, []byte(c.event))
		if (err != nil) != c.err || !slices.Equal(got, c.want) {
			t.Errorf("%s: got %q, %v; want %q (error %v)", c.event, got, err, c.want, c.err)
		}
		if one, _ := m.Match([]byte(c.event)); !slices.Equal(one, c.want[1:]) && (len(one) > 0 || len(c.want) > 1) {
			t.Errorf("%s: Match gives %q, AppendMatch %q", c.event, one, got[1:])
		}
	}
}
