package pattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxAlternatives bounds how many AND-only sub-patterns one pattern may expand into
// through $or and exists:false alternatives, so one pattern cannot exhaust memory.
const maxAlternatives = 4096

// maxPatternDepth bounds the nesting of a pattern.
const maxPatternDepth = 64

// PatternError reports why a pattern is invalid and where: Path is the JSON path of the
// offending element ("detail.eventName[1].prefix"), empty for the pattern as a whole.
type PatternError struct {
	Path   string
	Reason string
}

func (e *PatternError) Error() string {
	if e.Path == "" {
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
	s    string // operand; already case-folded for the fold kinds
	num  float64
	rng  numRange
	wc   *wildcard
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

// anythingBut matches a present string or number value that is not excluded.
type anythingBut struct {
	kind abKind
	strs []string // abStrings, abFold (folded)
	nums []float64
	s    string // abPrefix, abSuffix
	wcs  []*wildcard
}

// condition is one field test of an AND-only sub-pattern: the field at path has a leaf
// value accepted by one of ms, or, when absent is set, has no leaf value at all.
type condition struct {
	path   []string
	ms     []valueMatcher
	absent bool
}

// compiled is one pattern after parsing: an OR of AND-only alternatives.
type compiled struct {
	alts [][]condition
}

// Pattern is a compiled event pattern. It is immutable and may be added to any number of
// Matchers (AddPattern), so a pattern checked once when it is loaded is not parsed again.
type Pattern struct {
	c *compiled
}

// Compile parses p, returning a *PatternError naming the JSON path and the reason when it
// is not a valid event pattern.
func Compile(p string) (*Pattern, error) {
	c, err := compile(p)
	if err != nil {
		return nil, err
	}
	return &Pattern{c: c}, nil
}

// Validate reports whether p is a valid event pattern, returning a *PatternError naming
// the JSON path and the reason when it is not.
func Validate(p string) error {
	_, err := compile(p)
	return err
}

func compile(p string) (*compiled, error) {
	dec := json.NewDecoder(strings.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, perr("", "not valid JSON: %v", err)
	}
	if rest := strings.TrimLeft(p[dec.InputOffset():], " \t\r\n"); rest != "" {
		return nil, perr("", "unexpected data after the pattern object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, perr("", "a pattern must be a JSON object")
	}
	if len(obj) == 0 {
		return nil, perr("", "a pattern must not be an empty object")
	}
	alts, err := compileObject(obj, nil, "", 0)
	if err != nil {
		return nil, err
	}
	for _, alt := range alts {
		for _, c := range alt {
			for i := range c.ms {
				if c.ms[i].key == "" {
					c.ms[i].key = matcherKey(c.path, &c.ms[i])
				}
			}
		}
	}
	return &compiled{alts: alts}, nil
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

var operatorNames = map[string]bool{
	"prefix": true, "suffix": true, "equals-ignore-case": true, "wildcard": true,
	"anything-but": true, "numeric": true, "exists": true, "cidr": true,
}

// isOrOperator tells whether a "$or" key is the OR operator or an ordinary field name, the
// way event-ruler decides: it is the operator when its value is an array whose first element
// is an object whose keys are field names rather than match operators.
func isOrOperator(v any) bool {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return false
	}
	first, ok := arr[0].(map[string]any)
	if !ok || len(first) == 0 {
		return false
	}
	for k := range first {
		if operatorNames[k] {
			return false
		}
	}
	return true
}

// compileObject turns a pattern object at path into its AND-only alternatives.
func compileObject(obj map[string]any, prefix []string, jpath string, depth int) ([][]condition, error) {
	if depth > maxPatternDepth {
		return nil, perr(jpath, "nested deeper than %d levels", maxPatternDepth)
	}
	alts := [][]condition{nil}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		val := obj[key]
		kpath := joinPath(jpath, key)
		var keyAlts [][]condition
		var err error
		if key == "$or" && isOrOperator(val) {
			keyAlts, err = compileOr(val.([]any), prefix, kpath, depth)
		} else {
			keyAlts, err = compileField(val, append(prefix[:len(prefix):len(prefix)], key), kpath, depth)
		}
		if err != nil {
			return nil, err
		}
		if len(alts)*len(keyAlts) > maxAlternatives {
			return nil, perr(kpath, "too complex: $or and exists:false combinations exceed %d alternatives", maxAlternatives)
		}
		next := make([][]condition, 0, len(alts)*len(keyAlts))
		for _, a := range alts {
			for _, b := range keyAlts {
				c := make([]condition, 0, len(a)+len(b))
				c = append(append(c, a...), b...)
				next = append(next, c)
			}
		}
		alts = next
	}
	return alts, nil
}

func compileOr(arr []any, prefix []string, jpath string, depth int) ([][]condition, error) {
	if len(arr) < 2 {
		return nil, perr(jpath, "$or needs at least two alternatives")
	}
	var alts [][]condition
	for i, el := range arr {
		epath := fmt.Sprintf("%s[%d]", jpath, i)
		obj, ok := el.(map[string]any)
		if !ok {
			return nil, perr(epath, "each $or alternative must be a JSON object")
		}
		if len(obj) == 0 {
			return nil, perr(epath, "a $or alternative must not be an empty object")
		}
		sub, err := compileObject(obj, prefix, epath, depth+1)
		if err != nil {
			return nil, err
		}
		alts = append(alts, sub...)
		if len(alts) > maxAlternatives {
			return nil, perr(jpath, "too complex: $or combinations exceed %d alternatives", maxAlternatives)
		}
	}
	return alts, nil
}

// compileField handles the value under one field key: a nested object or a list of matchers.
func compileField(val any, path []string, jpath string, depth int) ([][]condition, error) {
	switch v := val.(type) {
	case map[string]any:
		if len(v) == 0 {
			return nil, perr(jpath, "must not be an empty object")
		}
		return compileObject(v, path, jpath, depth+1)
	case []any:
		if len(v) == 0 {
			return nil, perr(jpath, "must not be an empty array")
		}
		var ms []valueMatcher
		absent := false
		for i, el := range v {
			m, isAbsent, err := compileMatcher(el, fmt.Sprintf("%s[%d]", jpath, i))
			if err != nil {
				return nil, err
			}
			if isAbsent {
				absent = true
				continue
			}
			ms = append(ms, m)
		}
		var alts [][]condition
		if len(ms) > 0 {
			alts = append(alts, []condition{{path: path, ms: ms}})
		}
		if absent {
			alts = append(alts, []condition{{path: path, absent: true}})
		}
		return alts, nil
	default:
		return nil, perr(jpath, "must be an object or an array, got %s", describe(val))
	}
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return "number " + x.String()
	case string:
		return strconv.Quote(x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func parseNumber(n json.Number, jpath string) (float64, error) {
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, perr(jpath, "number %s is out of range", n)
	}
	return f, nil
}

// compileMatcher compiles one element of a field's matcher list. It reports exists:false
// separately because that is a condition on absence, not on a value.
func compileMatcher(el any, jpath string) (valueMatcher, bool, error) {
	switch v := el.(type) {
	case string:
		return valueMatcher{kind: opExactString, s: v}, false, nil
	case json.Number:
		f, err := parseNumber(v, jpath)
		return valueMatcher{kind: opExactNumber, num: f}, false, err
	case nil:
		return valueMatcher{kind: opExactNull}, false, nil
	case bool:
		if v {
			return valueMatcher{kind: opExactTrue}, false, nil
		}
		return valueMatcher{kind: opExactFalse}, false, nil
	case []any:
		return valueMatcher{}, false, perr(jpath, "a match value must be a string, number, boolean, null or operator object, got an array")
	case map[string]any:
		if len(v) != 1 {
			return valueMatcher{}, false, perr(jpath, "an operator object must have exactly one key, got %d", len(v))
		}
		for op, arg := range v {
			return compileOperator(op, arg, joinPath(jpath, op))
		}
	}
	return valueMatcher{}, false, perr(jpath, "unsupported value %s", describe(el))
}

func compileOperator(op string, arg any, jpath string) (valueMatcher, bool, error) {
	switch op {
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
			s = foldString(s)
		}
		return valueMatcher{kind: kind, s: s}, false, nil
	case "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return valueMatcher{}, false, perr(jpath, "equals-ignore-case takes a string, got %s", describe(arg))
		}
		return valueMatcher{kind: opEqualsFold, s: foldString(s)}, false, nil
	case "wildcard":
		s, ok := arg.(string)
		if !ok {
			return valueMatcher{}, false, perr(jpath, "wildcard takes a string, got %s", describe(arg))
		}
		wc, err := compileWildcard(s, jpath)
		if err != nil {
			return valueMatcher{}, false, err
		}
		return valueMatcher{kind: opWildcard, wc: wc}, false, nil
	case "numeric":
		r, err := compileNumeric(arg, jpath)
		return valueMatcher{kind: opNumeric, rng: r}, false, err
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return valueMatcher{}, false, perr(jpath, "exists takes true or false, got %s", describe(arg))
		}
		return valueMatcher{kind: opExists}, !b, nil
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return valueMatcher{}, false, perr(jpath, "cidr takes a string, got %s", describe(arg))
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return valueMatcher{}, false, perr(jpath, "invalid CIDR %q", s)
		}
		return valueMatcher{kind: opCIDR, cidr: p.Masked()}, false, nil
	case "anything-but":
		ab, err := compileAnythingBut(arg, jpath)
		return valueMatcher{kind: opAnythingBut, ab: ab}, false, err
	}
	return valueMatcher{}, false, perr(jpath, "unrecognized match type %q", op)
}

// stringOrFold accepts "x" or {"equals-ignore-case": "x"} (prefix and suffix operands).
func stringOrFold(arg any, jpath string) (string, bool, error) {
	switch v := arg.(type) {
	case string:
		return v, false, nil
	case map[string]any:
		if len(v) == 1 {
			if s, ok := v["equals-ignore-case"].(string); ok {
				return s, true, nil
			}
		}
	}
	return "", false, perr(jpath, "takes a string or {\"equals-ignore-case\": string}, got %s", describe(arg))
}

func compileNumeric(arg any, jpath string) (numRange, error) {
	arr, ok := arg.([]any)
	if !ok || len(arr) == 0 || len(arr)%2 != 0 || len(arr) > 4 {
		return numRange{}, perr(jpath, "numeric takes [op, number] or [lower-op, number, upper-op, number]")
	}
	r := numRange{lo: math.Inf(-1), hi: math.Inf(1), loIncl: true, hiIncl: true}
	var haveLo, haveHi, haveEq bool
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok {
			return numRange{}, perr(fmt.Sprintf("%s[%d]", jpath, i), "expected a comparison operator, got %s", describe(arr[i]))
		}
		npath := fmt.Sprintf("%s[%d]", jpath, i+1)
		n, ok := arr[i+1].(json.Number)
		if !ok {
			return numRange{}, perr(npath, "expected a number after %q, got %s", op, describe(arr[i+1]))
		}
		f, err := parseNumber(n, npath)
		if err != nil {
			return numRange{}, err
		}
		switch op {
		case "=":
			if len(arr) != 2 {
				return numRange{}, perr(jpath, "\"=\" cannot be combined with other comparisons")
			}
			r = numRange{lo: f, hi: f, loIncl: true, hiIncl: true}
			haveEq = true
		case ">", ">=":
			if haveLo {
				return numRange{}, perr(jpath, "more than one lower bound")
			}
			haveLo = true
			r.lo, r.loIncl = f, op == ">="
		case "<", "<=":
			if haveHi {
				return numRange{}, perr(jpath, "more than one upper bound")
			}
			haveHi = true
			r.hi, r.hiIncl = f, op == "<="
		default:
			return numRange{}, perr(fmt.Sprintf("%s[%d]", jpath, i), "unrecognized numeric operator %q", op)
		}
	}
	if !haveEq && haveLo && haveHi && !(r.lo < r.hi) {
		return numRange{}, perr(jpath, "the lower bound must be less than the upper bound")
	}
	return r, nil
}

func compileAnythingBut(arg any, jpath string) (*anythingBut, error) {
	switch v := arg.(type) {
	case string:
		return &anythingBut{kind: abStrings, strs: []string{v}}, nil
	case json.Number:
		f, err := parseNumber(v, jpath)
		return &anythingBut{kind: abNumbers, nums: []float64{f}}, err
	case []any:
		if len(v) == 0 {
			return nil, perr(jpath, "anything-but list must not be empty")
		}
		ab := &anythingBut{}
		for i, el := range v {
			epath := fmt.Sprintf("%s[%d]", jpath, i)
			switch x := el.(type) {
			case string:
				if len(ab.nums) > 0 {
					return nil, perr(epath, "anything-but list must hold only strings or only numbers")
				}
				ab.strs = append(ab.strs, x)
			case json.Number:
				if len(ab.strs) > 0 {
					return nil, perr(epath, "anything-but list must hold only strings or only numbers")
				}
				f, err := parseNumber(x, epath)
				if err != nil {
					return nil, err
				}
				ab.nums = append(ab.nums, f)
				ab.kind = abNumbers
			default:
				return nil, perr(epath, "anything-but list elements must be strings or numbers, got %s", describe(el))
			}
		}
		return ab, nil
	case map[string]any:
		if len(v) != 1 {
			return nil, perr(jpath, "anything-but object must have exactly one key")
		}
		for op, x := range v {
			opath := joinPath(jpath, op)
			switch op {
			case "prefix", "suffix":
				s, ok := x.(string)
				if !ok {
					return nil, perr(opath, "takes a string, got %s", describe(x))
				}
				if s == "" {
					return nil, perr(opath, "must not be empty")
				}
				if op == "prefix" {
					return &anythingBut{kind: abPrefix, s: s}, nil
				}
				return &anythingBut{kind: abSuffix, s: s}, nil
			case "equals-ignore-case":
				strs, err := stringOrStrings(x, opath)
				if err != nil {
					return nil, err
				}
				for i := range strs {
					strs[i] = foldString(strs[i])
				}
				return &anythingBut{kind: abFold, strs: strs}, nil
			case "wildcard":
				strs, err := stringOrStrings(x, opath)
				if err != nil {
					return nil, err
				}
				ab := &anythingBut{kind: abWildcard}
				for i, s := range strs {
					wc, err := compileWildcard(s, fmt.Sprintf("%s[%d]", opath, i))
					if err != nil {
						return nil, err
					}
					ab.wcs = append(ab.wcs, wc)
				}
				return ab, nil
			}
			return nil, perr(opath, "unsupported inside anything-but (use prefix, suffix, equals-ignore-case or wildcard)")
		}
	}
	return nil, perr(jpath, "anything-but takes a string, a number, a list of them, or an object, got %s", describe(arg))
}

func stringOrStrings(x any, jpath string) ([]string, error) {
	switch v := x.(type) {
	case string:
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, perr(jpath, "list must not be empty")
		}
		out := make([]string, 0, len(v))
		for i, el := range v {
			s, ok := el.(string)
			if !ok {
				return nil, perr(fmt.Sprintf("%s[%d]", jpath, i), "expected a string, got %s", describe(el))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, perr(jpath, "takes a string or a list of strings, got %s", describe(x))
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
	if !bytes.HasPrefix(v, []byte(first)) || !bytes.HasSuffix(v[len(first):], []byte(last)) {
		return false
	}
	rest := v[len(first) : len(v)-len(last)]
	for _, seg := range segs[1 : len(segs)-1] {
		i := bytes.Index(rest, []byte(seg))
		if i < 0 {
			return false
		}
		rest = rest[i+len(seg):]
	}
	return true
}
