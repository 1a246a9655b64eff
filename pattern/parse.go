package pattern

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxAlternatives bounds how many AND-only sub-patterns one pattern may expand into
// through $or and exists:false alternatives, so one pattern cannot exhaust memory.
const maxAlternatives = 4096

// maxPatternDepth bounds the nesting of a pattern.
const maxPatternDepth = 64

// PatternError reports why a pattern is invalid and where: Path is the JSON path of the
// offending element ("detail.eventName[1].prefix"), empty for the pattern as a whole;
// Line and Column (1-based) locate a JSON syntax error, zero otherwise.
type PatternError struct {
	Path         string
	Line, Column int
	Reason       string
}

func (e *PatternError) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("invalid pattern: line %d, column %d: %s", e.Line, e.Column, e.Reason)
	case e.Path == "":
		return "invalid pattern: " + e.Reason
	}
	return "invalid pattern at " + e.Path + ": " + e.Reason
}

func perr(path, format string, args ...any) error {
	return &PatternError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

type opKind uint8

const (
	opExactString opKind = iota
	opExactNumber
	opExactNull
	opExactTrue
	opExactFalse
	opPrefix
	opPrefixFold
	opSuffix
	opSuffixFold
	opEqualsFold
	opWildcard
	opNumeric
	opCIDR
	opExists // exists:true; exists:false becomes condition.absent
	opAnythingBut
)

// valueMatcher is one element of a field's list of accepted values.
type valueMatcher struct {
	kind opKind
	s    string // operand; the canonical case-folded key for the fold kinds; a number's text
	num  float64
	// cmp: the number is comparable (see number.go); an exact number that is not matches
	// only the same text.
	cmp  bool
	rng  numRange
	wc   *wildcard
	fp   *foldPattern
	cidr netip.Prefix
	ab   *anythingBut
	key  string // identifies the matcher with its path, see matcherKey
}

type numRange struct {
	lo, hi         float64
	loIncl, hiIncl bool
}

func (r numRange) contains(v float64) bool {
	if v < r.lo || (v == r.lo && !r.loIncl) {
		return false
	}
	if v > r.hi || (v == r.hi && !r.hiIncl) {
		return false
	}
	return true
}

type abKind uint8

const (
	abStrings abKind = iota
	abNumbers
	abPrefix
	abSuffix
	abFold
	abWildcard
)

// anythingBut matches a present value that is not excluded.
type anythingBut struct {
	kind  abKind
	strs  []string  // abStrings, abPrefix, abSuffix; abFold: canonical keys
	nums  []float64 // abNumbers, all comparable
	folds []*foldPattern
	wcs   []*wildcard
}

// condition is one field test of an AND-only sub-pattern: the field at path has a leaf
// value accepted by one of ms, or, when absent is set, has no leaf value at all. name is
// the flattened field name (the path joined with dots), which orders the conditions.
type condition struct {
	name   string
	path   []string
	ms     []valueMatcher
	absent bool
}

// compiled is one pattern after parsing: an OR of AND-only alternatives, each with its
// conditions in event-ruler's order of field names (see javaLess).
type compiled struct {
	alts [][]condition
}

// Pattern is a compiled event pattern. It is immutable and may be added to any number of
// Matchers (AddPattern), so a pattern checked once when it is loaded is not parsed again.
type Pattern struct {
	c *compiled
}

// Compile parses p, returning a *PatternError naming the JSON path and the reason when it
// is not a valid event pattern (or the line and column of a JSON syntax error).
func Compile(p string) (*Pattern, error) {
	c, err := compile(p)
	if err != nil {
		return nil, err
	}
	return &Pattern{c: c}, nil
}

// Fields returns the flattened names of the event fields p tests ("detail.eventName"), in
// any of its alternatives, sorted, each once: a caller that builds events can leave out what
// no pattern reads.
func (p *Pattern) Fields() []string {
	var out []string
	for _, alt := range p.c.alts {
		for _, c := range alt {
			out = append(out, c.name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Validate reports whether p is a valid event pattern, returning a *PatternError naming
// the JSON path and the reason when it is not.
func Validate(p string) error {
	_, err := compile(p)
	return err
}

// fieldSpec is what a pattern says of one flattened field name.
type fieldSpec struct {
	ms     []valueMatcher
	absent bool
}

// branch is one AND-only alternative being built: flattened field names in the order
// first written, and what each says. Writing a name again replaces its spec, as
// event-ruler's compiler does (JsonRuleCompiler.writeRules, withOverriding).
type branch struct {
	names  []string
	fields map[string]*fieldSpec
}

func (b *branch) clone() *branch {
	return &branch{names: slices.Clone(b.names), fields: maps.Clone(b.fields)}
}

func (b *branch) put(name string, f *fieldSpec) {
	if b.fields == nil {
		b.fields = map[string]*fieldSpec{}
	}
	if _, ok := b.fields[name]; !ok {
		b.names = append(b.names, name)
	}
	b.fields[name] = f
}

// compiler walks a pattern as event-ruler's JsonRuleCompiler does: nested objects extend
// a dotted field name, "$or" forks the branches built so far.
type compiler struct {
	branches []*branch
}

func compile(p string) (*compiled, error) {
	root, err := readPattern(p)
	if err != nil {
		return nil, err
	}
	if root.kind != 'o' {
		return nil, perr("", "a pattern must be a JSON object")
	}
	var c compiler
	if err := c.object(root, "", false, "", 0); err != nil {
		return nil, err
	}
	out := &compiled{}
	for _, b := range c.branches {
		alts := [][]condition{nil}
		names := slices.Clone(b.names)
		slices.SortFunc(names, javaCompare)
		for _, name := range names {
			f := b.fields[name]
			var opts []condition
			if len(f.ms) > 0 {
				opts = append(opts, condition{name: name, path: strings.Split(name, "."), ms: f.ms})
			}
			if f.absent {
				opts = append(opts, condition{name: name, path: strings.Split(name, "."), absent: true})
			}
			if len(alts)*len(opts) > maxAlternatives {
				return nil, perr("", "too complex: $or and exists:false combinations exceed %d alternatives", maxAlternatives)
			}
			next := make([][]condition, 0, len(alts)*len(opts))
			for _, a := range alts {
				for _, o := range opts {
					next = append(next, append(slices.Clip(a), o))
				}
			}
			alts = next
		}
		out.alts = append(out.alts, alts...)
		if len(out.alts) > maxAlternatives {
			return nil, perr("", "too complex: $or and exists:false combinations exceed %d alternatives", maxAlternatives)
		}
	}
	for _, alt := range out.alts {
		for _, c := range alt {
			for i := range c.ms {
				c.ms[i].key = matcherKey(c.path, &c.ms[i])
			}
		}
	}
	return out, nil
}

// javaCompare orders field names as Java's String.compareTo does (by UTF-16 code unit),
// the order in which event-ruler walks a rule's fields.
func javaCompare(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return cmpUTF16(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// cmpUTF16 compares two runes by their first UTF-16 code unit, then by value.
func cmpUTF16(a, b rune) int {
	unit := func(r rune) rune {
		if r >= 0x10000 {
			return 0xD800 + (r-0x10000)>>10
		}
		return r
	}
	if ua, ub := unit(a), unit(b); ua != ub {
		return int(ua - ub)
	}
	return int(a - b)
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

var operatorNames = map[string]bool{
	"prefix": true, "suffix": true, "equals-ignore-case": true, "wildcard": true,
	"anything-but": true, "numeric": true, "exists": true, "cidr": true, "exactly": true,
}

// isOrOperator tells whether a "$or" key is the OR operator or an ordinary field name, the
// way event-ruler decides: it is the operator when its value is an array whose first element
// is an object whose keys are field names rather than match operators.
func isOrOperator(v *jvalue) bool {
	if v.kind != 'a' || len(v.vals) == 0 {
		return false
	}
	first := v.vals[0]
	if first.kind != 'o' || len(first.keys) == 0 {
		return false
	}
	for _, k := range first.keys {
		if operatorNames[k] {
			return false
		}
	}
	return true
}

// object reads a pattern object whose fields are named below prefix (a flattened name).
func (c *compiler) object(obj *jvalue, prefix string, nested bool, jpath string, depth int) error {
	if depth > maxPatternDepth {
		return perr(jpath, "nested deeper than %d levels", maxPatternDepth)
	}
	if len(obj.keys) == 0 {
		if jpath == "" {
			return perr("", "a pattern must not be an empty object")
		}
		return perr(jpath, "must not be an empty object")
	}
	for i, key := range obj.keys {
		val := obj.vals[i]
		kpath := joinPath(jpath, key)
		if key == "$or" && isOrOperator(val) {
			if err := c.or(val, prefix, nested, kpath, depth); err != nil {
				return err
			}
			continue
		}
		name := key
		if nested {
			name = prefix + "." + key
		}
		switch val.kind {
		case 'o':
			if err := c.object(val, name, true, kpath, depth+1); err != nil {
				return err
			}
		case 'a':
			f, err := compileField(val, kpath)
			if err != nil {
				return err
			}
			if len(c.branches) == 0 {
				c.branches = append(c.branches, &branch{})
			}
			if nested && prefix == "" {
				// The field's enclosing objects are one named "" at the top: event-ruler's
				// Path.extendedName adds no dot to an empty base name, so the field is named
				// key alone ({"":{"a":[1]}} is {"a":[1]}).
				name = key
			}
			for _, b := range c.branches {
				b.put(name, f)
			}
		default:
			return perr(kpath, "must be an object or an array, got %s", val.describe())
		}
	}
	return nil
}

// or forks the branches built so far, once per alternative.
func (c *compiler) or(arr *jvalue, prefix string, nested bool, jpath string, depth int) error {
	if len(arr.vals) < 2 {
		return perr(jpath, "$or needs at least two alternatives")
	}
	current := c.branches
	c.branches = nil
	var all []*branch
	for i, el := range arr.vals {
		epath := fmt.Sprintf("%s[%d]", jpath, i)
		if el.kind != 'o' {
			return perr(epath, "each $or alternative must be a JSON object")
		}
		if len(el.keys) == 0 {
			return perr(epath, "a $or alternative must not be an empty object")
		}
		sub := compiler{}
		for _, b := range current {
			sub.branches = append(sub.branches, b.clone())
		}
		if len(sub.branches) == 0 {
			sub.branches = []*branch{{}}
		}
		if err := sub.object(el, prefix, nested, epath, depth+1); err != nil {
			return err
		}
		all = append(all, sub.branches...)
		if len(all) > maxAlternatives {
			return perr(jpath, "too complex: $or combinations exceed %d alternatives", maxAlternatives)
		}
	}
	c.branches = all
	return nil
}

// compileField compiles the list of matchers under one field name.
func compileField(v *jvalue, jpath string) (*fieldSpec, error) {
	if len(v.vals) == 0 {
		return nil, perr(jpath, "must not be an empty array")
	}
	f := &fieldSpec{}
	for i, el := range v.vals {
		m, isAbsent, err := compileMatcher(el, fmt.Sprintf("%s[%d]", jpath, i))
		if err != nil {
			return nil, err
		}
		if isAbsent {
			f.absent = true
			continue
		}
		f.ms = append(f.ms, m)
	}
	return f, nil
}

// compileMatcher compiles one element of a field's matcher list. It reports exists:false
// separately because that is a condition on absence, not on a value.
func compileMatcher(el *jvalue, jpath string) (valueMatcher, bool, error) {
	switch el.kind {
	case 's':
		// event-ruler compares a string that is an IP address literal as an address
		// (JsonRuleCompiler.writeRules: CIDR.ipToRangeIfPossible).
		if a, ok := ipLiteral(el.s); ok {
			return valueMatcher{kind: opCIDR, cidr: netip.PrefixFrom(a, a.BitLen()), s: el.s}, false, nil
		}
		return valueMatcher{kind: opExactString, s: el.s}, false, nil
	case 'n':
		f, cmp := numberText(el.s)
		return valueMatcher{kind: opExactNumber, s: el.s, num: f, cmp: cmp}, false, nil
	case 'z':
		return valueMatcher{kind: opExactNull}, false, nil
	case 't':
		return valueMatcher{kind: opExactTrue}, false, nil
	case 'f':
		return valueMatcher{kind: opExactFalse}, false, nil
	case 'a':
		return valueMatcher{}, false, perr(jpath, "a match value must be a string, number, boolean, null or operator object, got an array")
	}
	if len(el.keys) != 1 {
		return valueMatcher{}, false, perr(jpath, "an operator object must have exactly one key, got %d", len(el.keys))
	}
	op := el.keys[0]
	return compileOperator(op, el.vals[0], joinPath(jpath, op))
}

func compileOperator(op string, arg *jvalue, jpath string) (valueMatcher, bool, error) {
	switch op {
	case "exactly":
		if arg.kind != 's' {
			return valueMatcher{}, false, perr(jpath, "exactly takes a string, got %s", arg.describe())
		}
		return valueMatcher{kind: opExactString, s: arg.s}, false, nil
	case "prefix", "suffix":
		s, fold, err := stringOrFold(arg, jpath)
		if err != nil {
			return valueMatcher{}, false, err
		}
		kind := opPrefix
		switch {
		case op == "prefix" && fold:
			kind = opPrefixFold
		case op == "suffix" && !fold:
			kind = opSuffix
		case op == "suffix" && fold:
			kind = opSuffixFold
		}
		if fold {
			fp := newFoldPattern(s)
			return valueMatcher{kind: kind, s: fp.key, fp: fp}, false, nil
		}
		return valueMatcher{kind: kind, s: s}, false, nil
	case "equals-ignore-case":
		if arg.kind != 's' {
			return valueMatcher{}, false, perr(jpath, "equals-ignore-case takes a string, got %s", arg.describe())
		}
		fp := newFoldPattern(arg.s)
		return valueMatcher{kind: opEqualsFold, s: fp.key, fp: fp}, false, nil
	case "wildcard":
		if arg.kind != 's' {
			return valueMatcher{}, false, perr(jpath, "wildcard takes a string, got %s", arg.describe())
		}
		wc, err := compileWildcard(arg.s, jpath)
		if err != nil {
			return valueMatcher{}, false, err
		}
		return valueMatcher{kind: opWildcard, wc: wc}, false, nil
	case "numeric":
		r, err := compileNumeric(arg, jpath)
		return valueMatcher{kind: opNumeric, rng: r}, false, err
	case "exists":
		switch arg.kind {
		case 't':
			return valueMatcher{kind: opExists}, false, nil
		case 'f':
			return valueMatcher{kind: opExists}, true, nil
		}
		return valueMatcher{}, false, perr(jpath, "exists takes true or false, got %s", arg.describe())
	case "cidr":
		if arg.kind != 's' {
			return valueMatcher{}, false, perr(jpath, "cidr takes a string, got %s", arg.describe())
		}
		p, err := parseCIDR(arg.s)
		if err != nil {
			return valueMatcher{}, false, perr(jpath, "%v", err)
		}
		return valueMatcher{kind: opCIDR, cidr: p}, false, nil
	case "anything-but":
		ab, err := compileAnythingBut(arg, jpath)
		return valueMatcher{kind: opAnythingBut, ab: ab}, false, err
	}
	return valueMatcher{}, false, perr(jpath, "unrecognized match type %q", op)
}

// stringOrFold accepts "x" or {"equals-ignore-case": "x"} (prefix and suffix operands).
func stringOrFold(arg *jvalue, jpath string) (string, bool, error) {
	switch arg.kind {
	case 's':
		return arg.s, false, nil
	case 'o':
		if len(arg.keys) == 1 && arg.keys[0] == "equals-ignore-case" && arg.vals[0].kind == 's' {
			return arg.vals[0].s, true, nil
		}
	}
	return "", false, perr(jpath, "takes a string or {\"equals-ignore-case\": string}, got %s", arg.describe())
}

// comparableNumber returns the value of a pattern number that numeric comparisons and
// anything-but use; event-ruler rejects the pattern when the number is not comparable.
func comparableNumber(v *jvalue, jpath string) (float64, error) {
	if v.kind != 'n' {
		return 0, perr(jpath, "expected a number, got %s", v.describe())
	}
	f, cmp := numberText(v.s)
	if !cmp {
		return 0, perr(jpath, "number %s cannot be compared: it is not the shortest decimal of a finite float64 (event-ruler's ComparableNumber)", v.s)
	}
	return f, nil
}

// compileNumeric accepts the forms event-ruler's JsonRuleCompiler does: ["=", n],
// [">"|">=", n], ["<"|"<=", n] and [">"|">=", n, "<"|"<=", m] with n < m.
func compileNumeric(arg *jvalue, jpath string) (numRange, error) {
	const form = `numeric takes ["=", n], [">"|">=", n], ["<"|"<=", n] or [">"|">=", n, "<"|"<=", m]`
	if arg.kind != 'a' || (len(arg.vals) != 2 && len(arg.vals) != 4) {
		return numRange{}, perr(jpath, form)
	}
	el := func(i int) string { return fmt.Sprintf("%s[%d]", jpath, i) }
	op := func(i int) (string, error) {
		if arg.vals[i].kind != 's' {
			return "", perr(el(i), "expected a comparison operator, got %s", arg.vals[i].describe())
		}
		return arg.vals[i].s, nil
	}
	first, err := op(0)
	if err != nil {
		return numRange{}, err
	}
	f, err := comparableNumber(arg.vals[1], el(1))
	if err != nil {
		return numRange{}, err
	}
	r := numRange{lo: math.Inf(-1), hi: math.Inf(1), loIncl: true, hiIncl: true}
	switch first {
	case "=":
		r = numRange{lo: f, hi: f, loIncl: true, hiIncl: true}
	case ">", ">=":
		r.lo, r.loIncl = f, first == ">="
	case "<", "<=":
		r.hi, r.hiIncl = f, first == "<="
	default:
		return numRange{}, perr(el(0), "unrecognized numeric operator %q", first)
	}
	if len(arg.vals) == 2 {
		return r, nil
	}
	if first != ">" && first != ">=" {
		return numRange{}, perr(jpath, "%s: only a lower bound may be followed by an upper bound", form)
	}
	second, err := op(2)
	if err != nil {
		return numRange{}, err
	}
	if second != "<" && second != "<=" {
		return numRange{}, perr(el(2), "expected \"<\" or \"<=\" after a lower bound, got %q", second)
	}
	hi, err := comparableNumber(arg.vals[3], el(3))
	if err != nil {
		return numRange{}, err
	}
	r.hi, r.hiIncl = hi, second == "<="
	if !(r.lo < r.hi) {
		return numRange{}, perr(jpath, "the lower bound must be less than the upper bound")
	}
	return r, nil
}

func compileAnythingBut(arg *jvalue, jpath string) (*anythingBut, error) {
	switch arg.kind {
	case 's':
		return &anythingBut{kind: abStrings, strs: []string{arg.s}}, nil
	case 'n':
		f, err := comparableNumber(arg, jpath)
		return &anythingBut{kind: abNumbers, nums: []float64{f}}, err
	case 'a':
		ab := &anythingBut{}
		for i, el := range arg.vals {
			epath := fmt.Sprintf("%s[%d]", jpath, i)
			switch el.kind {
			case 's':
				if len(ab.nums) > 0 {
					return nil, perr(epath, "anything-but list must hold only strings or only numbers")
				}
				ab.strs = append(ab.strs, el.s)
			case 'n':
				if len(ab.strs) > 0 {
					return nil, perr(epath, "anything-but list must hold only strings or only numbers")
				}
				f, err := comparableNumber(el, epath)
				if err != nil {
					return nil, err
				}
				ab.nums = append(ab.nums, f)
				ab.kind = abNumbers
			default:
				return nil, perr(epath, "anything-but list elements must be strings or numbers, got %s", el.describe())
			}
		}
		if len(arg.vals) == 0 {
			return nil, perr(jpath, "anything-but list must not be empty")
		}
		return ab, nil
	case 'o':
		if len(arg.keys) != 1 {
			return nil, perr(jpath, "anything-but object must have exactly one key")
		}
		op, x := arg.keys[0], arg.vals[0]
		opath := joinPath(jpath, op)
		kinds := map[string]abKind{"prefix": abPrefix, "suffix": abSuffix, "equals-ignore-case": abFold, "wildcard": abWildcard}
		kind, ok := kinds[op]
		if !ok {
			return nil, perr(opath, "unsupported inside anything-but (use prefix, suffix, equals-ignore-case or wildcard)")
		}
		strs, err := stringOrStrings(x, opath)
		if err != nil {
			return nil, err
		}
		ab := &anythingBut{kind: kind}
		for i, s := range strs {
			spath := opath
			if x.kind == 'a' {
				spath = fmt.Sprintf("%s[%d]", opath, i)
			}
			switch kind {
			case abPrefix, abSuffix:
				if s == "" {
					return nil, perr(spath, "must not be empty")
				}
				ab.strs = append(ab.strs, s)
			case abFold:
				fp := newFoldPattern(s)
				ab.folds = append(ab.folds, fp)
				ab.strs = append(ab.strs, fp.key)
			case abWildcard:
				wc, err := compileWildcard(s, spath)
				if err != nil {
					return nil, err
				}
				ab.wcs = append(ab.wcs, wc)
			}
		}
		return ab, nil
	}
	return nil, perr(jpath, "anything-but takes a string, a number, a list of them, or an object, got %s", arg.describe())
}

// stringOrStrings accepts a string or a list of strings; event-ruler accepts an empty
// list inside anything-but's object forms, which then excludes nothing.
func stringOrStrings(x *jvalue, jpath string) ([]string, error) {
	switch x.kind {
	case 's':
		return []string{x.s}, nil
	case 'a':
		out := make([]string, 0, len(x.vals))
		for i, el := range x.vals {
			if el.kind != 's' {
				return nil, perr(fmt.Sprintf("%s[%d]", jpath, i), "expected a string, got %s", el.describe())
			}
			out = append(out, el.s)
		}
		return out, nil
	}
	return nil, perr(jpath, "takes a string or a list of strings, got %s", x.describe())
}

// wildcard is a pattern where '*' matches any run of characters: the literal segments
// between stars must appear in order, the first anchored at the start unless the pattern
// starts with '*', the last at the end unless it ends with '*'.
type wildcard struct {
	segs   []string
	minLen int
}

func compileWildcard(s, jpath string) (*wildcard, error) {
	wc := &wildcard{}
	var cur bytes.Buffer
	lastStar := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, perr(jpath, "invalid escape in wildcard %q: only \\* and \\\\ are allowed", s)
			}
			i++
			cur.WriteByte(s[i])
			lastStar = false
		case '*':
			if lastStar {
				return nil, perr(jpath, "consecutive wildcard characters are not allowed in %q", s)
			}
			wc.segs = append(wc.segs, cur.String())
			cur.Reset()
			lastStar = true
		default:
			cur.WriteByte(c)
			lastStar = false
		}
	}
	wc.segs = append(wc.segs, cur.String())
	for _, seg := range wc.segs {
		wc.minLen += len(seg)
	}
	return wc, nil
}

// match reports whether v matches. Greedy leftmost placement of the middle segments is
// exact for patterns whose only metacharacter is '*', so this runs in linear time.
func (w *wildcard) match(v []byte) bool {
	if len(v) < w.minLen {
		return false
	}
	segs := w.segs
	if len(segs) == 1 {
		return string(v) == segs[0]
	}
	first, last := segs[0], segs[len(segs)-1]
	s := unsafeString(v) // searched, not kept: no copy of each segment to compare with
	if !strings.HasPrefix(s, first) || !strings.HasSuffix(s[len(first):], last) {
		return false
	}
	rest := s[len(first) : len(s)-len(last)]
	for _, seg := range segs[1 : len(segs)-1] {
		i := strings.Index(rest, seg)
		if i < 0 {
			return false
		}
		rest = rest[i+len(seg):]
	}
	return true
}
