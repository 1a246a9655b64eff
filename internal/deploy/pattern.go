// Package deploy owns what trailbell needs to know about its own deployment in AWS: the
// EventBridge pre-filter patterns generated from the enabled rules, and the checks that catch a
// deployment that would silently never fire (IAM rules outside us-east-1, stale patterns).
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultMaxSize is EventBridge's default quota for an event pattern, in characters ("Event
// pattern size: 2,048", adjustable to 4,096 through Service Quotas).
const DefaultMaxSize = 2048

// maxClauses bounds the $or expansion of one rule (and every step of it); past it the rule's
// $or parts are dropped, which only widens the pre-filter.
const maxClauses = 64

// maxBranches bounds the $or branches packed into one generated pattern, well under
// EventBridge's limit on $or combinations.
const maxBranches = 50

// cloudTrailDetailTypes are every detail-type a lifted CloudTrail record can carry; a rule that
// constrains none of the pre-filter fields is covered by them.
var cloudTrailDetailTypes = []string{
	"AWS API Call via CloudTrail",
	"AWS Console Action via CloudTrail",
	"AWS Console Sign In via CloudTrail",
	"AWS Insight via CloudTrail",
	"AWS Service Event via CloudTrail",
}

// Rule is the part of a detection rule the pre-filter needs.
type Rule struct {
	ID      string
	Pattern string // EventBridge pattern JSON
	// Narrow are patterns that every event the rule reports also matches (its predicates'
	// pre-filters, see detect.PredicatePrefilter): the pre-filter keeps their conjunction
	// with Pattern.
	Narrow []string
}

// Options tune Generate.
type Options struct {
	MaxSize int // characters per pattern; 0 means DefaultMaxSize
}

// Pattern is one generated EventBridge rule pattern.
type Pattern struct {
	JSON  string   // compact pattern, at most MaxSize characters
	Rules []string // ids of the rules it pre-filters for, sorted
	// Broad lists the rules that constrain neither the service nor the event name, so that
	// this pattern lets through a whole class of events (every call by an assumed role, say):
	// each such event costs an invocation.
	Broad []string
}

// mainFields are what the pre-filter keeps of a rule, in output order. Other fields are kept
// only by a clause that constrains none of these (root activity: userIdentity.type), so that
// such a rule does not open the pre-filter to every event. Dropping a field only widens what
// the generated pattern matches. Paths join their segments with sep.
var mainFields = []string{"source", "detail-type", eventSource, eventName}

const (
	sep         = "\x00"
	eventSource = "detail" + sep + "eventSource"
	eventName   = "detail" + sep + "eventName"
)

// clause is one conjunction: values[path] lists the matchers (canonical JSON) allowed for the
// field at path; an absent path is unconstrained.
type clause struct {
	values map[string][]string
	rules  []string
}

// Generate turns rules into EventBridge patterns whose union matches at least everything any
// rule matches: each rule is reduced to its source, detail-type, eventSource and eventName
// constraints (exact values and string operators), alternatives ($or) are expanded, clauses with the
// same source, detail-type and eventSource are merged by uniting their eventNames, and the
// result is packed into as few patterns of at most MaxSize characters as possible.
func Generate(rules []Rule, opt Options) ([]Pattern, error) {
	if opt.MaxSize == 0 {
		opt.MaxSize = DefaultMaxSize
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("no rules enabled: nothing to pre-filter")
	}
	var all []clause
	for _, r := range rules {
		cs, err := ruleClauses(r)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
	}
	groups := mergeSources(merge(all))
	var parts []clause
	for _, g := range groups {
		split, err := splitToFit(g, opt.MaxSize)
		if err != nil {
			return nil, err
		}
		parts = append(parts, split...)
	}
	return pack(parts, opt.MaxSize), nil
}

func ruleClauses(r Rule) ([]clause, error) {
	cs, err := patternClauses(r.ID, "pattern", r.Pattern)
	if err != nil {
		return nil, err
	}
	for _, n := range r.Narrow {
		ns, err := patternClauses(r.ID, "predicate pre-filter", n)
		if err != nil {
			return nil, err
		}
		if len(cs)*len(ns) <= maxClauses {
			cs = product(cs, ns) // the conjunction; past the bound, the rule's own pattern alone is wider and so still sound
		}
	}
	for i := range cs {
		cs[i].rules = []string{r.ID}
		cs[i].reduce()
	}
	return cs, nil
}

// patternClauses returns one pattern as a disjunction of clauses.
func patternClauses(id, what, p string) ([]clause, error) {
	dec := json.NewDecoder(strings.NewReader(p))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("rule %s: %s: %w", id, what, err)
	}
	if top == nil {
		return nil, fmt.Errorf("rule %s: %s is not a JSON object", id, what)
	}
	cs, ok := expand(top, "")
	if !ok || len(cs) > maxClauses {
		cs, _ = expand(dropOr(top), "") // cannot overflow: no $or left
	}
	return cs, nil
}

// expand returns the pattern object as a disjunction of clauses over its fields, or false when
// the expansion of its $or parts grows past maxClauses (the caller then drops them).
func expand(obj map[string]any, prefix string) ([]clause, bool) {
	out := []clause{{values: map[string][]string{}}}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		var alts []clause
		switch {
		case k == "$or":
			list, ok := v.([]any)
			if !ok {
				continue // not a combinator here: an odd field name; unconstrained
			}
			for _, alt := range list {
				m, ok := alt.(map[string]any)
				if !ok {
					alts = nil
					break
				}
				sub, ok := expand(m, prefix)
				if !ok || len(alts)+len(sub) > maxClauses {
					return nil, false
				}
				alts = append(alts, sub...)
			}
			if len(alts) == 0 {
				continue
			}
		default:
			switch val := v.(type) {
			case map[string]any:
				var ok bool
				if alts, ok = expand(val, prefix+k+sep); !ok {
					return nil, false
				}
			case []any:
				ms, ok := matchers(val)
				if !ok {
					continue
				}
				alts = []clause{{values: map[string][]string{prefix + k: ms}}}
			default:
				continue
			}
		}
		if len(out)*len(alts) > maxClauses {
			return nil, false
		}
		out = product(out, alts)
	}
	return out, true
}

// product is the conjunction of two disjunctions.
func product(a, b []clause) []clause {
	out := make([]clause, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, and(x, y))
		}
	}
	return out
}

// and intersects two clauses. A field constrained on both sides keeps the narrower side when
// one is a subset, else the union: never narrower than the real intersection.
func and(x, y clause) clause {
	c := clause{values: make(map[string][]string, len(x.values)+len(y.values))}
	for k, v := range x.values {
		c.values[k] = v
	}
	for k, w := range y.values {
		v, ok := c.values[k]
		switch {
		case !ok || subset(w, v):
			c.values[k] = w
		case subset(v, w):
		default:
			c.values[k] = union(v, w)
		}
	}
	return c
}

func dropOr(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k == "$or" {
			if _, isList := v.([]any); isList {
				continue
			}
		}
		if m, ok := v.(map[string]any); ok {
			v = dropOr(m)
		}
		out[k] = v
	}
	return out
}

// matchers returns the canonical JSON of each value in a pattern leaf when every value is an
// exact string or one of EventBridge's string operators (prefix, suffix and their
// equals-ignore-case forms, equals-ignore-case, wildcard), kept as written; anything else
// (numbers, anything-but, exists, ...) makes the field unconstrained in the pre-filter.
func matchers(list []any) ([]string, bool) {
	if len(list) == 0 {
		return nil, false
	}
	var out []string
	for _, v := range list {
		switch val := v.(type) {
		case string:
			out = append(out, quote(val))
		case bool:
			out = append(out, strconv.FormatBool(val))
		case map[string]any:
			m, ok := stringOperator(val)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		default:
			return nil, false
		}
	}
	return union(nil, out), true
}

// stringOperator returns the canonical JSON of {"prefix"|"suffix": s or {"equals-ignore-case": s}},
// {"equals-ignore-case": s} or {"wildcard": s}.
func stringOperator(op map[string]any) (string, bool) {
	if len(op) != 1 {
		return "", false
	}
	for k, v := range op {
		switch k {
		case "equals-ignore-case", "wildcard":
			if _, ok := v.(string); !ok {
				return "", false
			}
		case "prefix", "suffix":
			if f, isObj := v.(map[string]any); isObj {
				if _, ok := f["equals-ignore-case"].(string); !ok || len(f) != 1 {
					return "", false
				}
			} else if _, ok := v.(string); !ok {
				return "", false
			}
		default:
			return "", false
		}
	}
	b, _ := json.Marshal(op) // decoded JSON always re-encodes; keys are sorted
	return string(b), true
}

// reduce keeps the main fields when the clause constrains any, else everything it has, else
// every CloudTrail detail-type (trailbell sees nothing else).
func (c *clause) reduce() {
	main := false
	for _, f := range mainFields {
		if c.values[f] != nil {
			main = true
		}
	}
	if main {
		for k := range c.values {
			if !slices.Contains(mainFields, k) {
				delete(c.values, k)
			}
		}
	}
	if len(c.values) == 0 {
		c.values = map[string][]string{"detail-type": quoteAll(cloudTrailDetailTypes)}
	}
}

// paths returns the clause's paths: main fields in their order, then the rest sorted.
func (c clause) paths() []string {
	var out, rest []string
	for _, f := range mainFields {
		if c.values[f] != nil {
			out = append(out, f)
		}
	}
	for k := range c.values {
		if !slices.Contains(mainFields, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// merge unites clauses that agree on every field but eventName.
func merge(cs []clause) []clause {
	byKey := map[string]*clause{}
	var keys []string
	for _, c := range cs {
		var kb strings.Builder
		for _, p := range c.paths() {
			if p != eventName {
				kb.WriteString(p + "=" + strings.Join(c.values[p], ",") + "\x01")
			}
		}
		k := kb.String()
		g, ok := byKey[k]
		if !ok {
			cp := clause{values: maps.Clone(c.values), rules: slices.Clone(c.rules)}
			byKey[k] = &cp
			keys = append(keys, k)
			continue
		}
		gn, gok := g.values[eventName]
		cn, cok := c.values[eventName]
		if gok && cok {
			g.values[eventName] = union(gn, cn)
		} else {
			delete(g.values, eventName) // one rule wants every eventName of this group
		}
		g.rules = union(g.rules, c.rules)
	}
	sort.Strings(keys)
	out := make([]clause, 0, len(keys))
	for _, k := range keys {
		c := *byKey[k]
		for p, v := range c.values {
			if p == eventName {
				v = byVerb(v)
			}
			c.values[p] = simplify(v)
		}
		out = append(out, c)
	}
	return out
}

// writeVerbs are the leading words of API names that change something; a pre-filter prefix on
// one of them never lets read-only calls (Get, List, Describe) through.
var writeVerbs = []string{"Associate", "Attach", "Cancel", "Close", "Connect", "Create", "Deactivate",
	"Delete", "Detach", "Disable", "Disassociate", "Disconnect", "Enable", "Import", "Leave", "Put",
	"Remove", "Schedule", "Set", "Start", "Stop", "Update"}

// minVerbGroup is how many event names of one service must share a write verb before the
// pre-filter matches the verb as a prefix instead of listing them: a pack that watches most of
// a service's deletions then costs one short prefix, and the pre-filter widens only to other
// changes of that service, never to reads.
const minVerbGroup = 4

// byVerb replaces, in a list of eventName matchers, each group of at least minVerbGroup exact
// names that start with the same write verb by a prefix on the verb.
func byVerb(ms []string) []string {
	groups := map[string][]string{}
	for _, m := range ms {
		var s string
		if json.Unmarshal([]byte(m), &s) != nil {
			continue // a prefix matcher already
		}
		for _, v := range writeVerbs {
			if rest, ok := strings.CutPrefix(s, v); ok && (rest == "" || rest[0] >= 'A' && rest[0] <= 'Z') {
				groups[v] = append(groups[v], m)
				break
			}
		}
	}
	out := slices.Clone(ms)
	for v, names := range groups {
		if len(names) < minVerbGroup {
			continue
		}
		out = slices.DeleteFunc(out, func(m string) bool { return slices.Contains(names, m) })
		b, _ := json.Marshal(map[string]string{"prefix": v})
		out = append(out, string(b))
	}
	return union(nil, out)
}

// simplify drops matchers another matcher of the list already covers: exact values and
// longer prefixes under a prefix. The list matches the same values, in fewer characters.
func simplify(ms []string) []string {
	var prefixes []string
	for _, m := range ms {
		var p struct {
			Prefix *string `json:"prefix"`
		}
		if strings.HasPrefix(m, "{") && json.Unmarshal([]byte(m), &p) == nil && p.Prefix != nil {
			prefixes = append(prefixes, *p.Prefix)
		}
	}
	if len(prefixes) == 0 {
		return ms
	}
	covered := func(s string, self int) bool {
		for i, p := range prefixes {
			if i != self && strings.HasPrefix(s, p) && (len(p) < len(s) || i < self) {
				return true
			}
		}
		return false
	}
	out := ms[:0:0]
	pi := 0
	for _, m := range ms {
		if strings.HasPrefix(m, "{") {
			var p struct {
				Prefix *string `json:"prefix"`
			}
			if json.Unmarshal([]byte(m), &p) == nil && p.Prefix != nil {
				self := pi
				pi++
				if covered(*p.Prefix, self) {
					continue
				}
			}
			out = append(out, m)
			continue
		}
		var s string
		if json.Unmarshal([]byte(m), &s) == nil && covered(s, -1) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// mergeSources unites clauses that differ only in their eventSource (the same event names of
// macie and macie2, or of events and eventbridge): the union of the sources with the same names
// matches exactly what the clauses matched together, in fewer characters.
func mergeSources(cs []clause) []clause {
	byKey := map[string]int{}
	var out []clause
	for _, c := range cs {
		if c.values[eventSource] == nil {
			out = append(out, c)
			continue
		}
		var kb strings.Builder
		for _, p := range c.paths() {
			if p != eventSource {
				kb.WriteString(p + "=" + strings.Join(c.values[p], ",") + "\x01")
			}
		}
		k := kb.String()
		if i, ok := byKey[k]; ok {
			g := &out[i]
			g.values[eventSource] = union(g.values[eventSource], c.values[eventSource])
			g.rules = union(g.rules, c.rules)
			continue
		}
		byKey[k] = len(out)
		out = append(out, clause{values: maps.Clone(c.values), rules: slices.Clone(c.rules)})
	}
	return out
}

// splitToFit splits a clause whose pattern is too long into several by its eventNames.
func splitToFit(c clause, max int) ([]clause, error) {
	if len(render(c)) <= max {
		return []clause{c}, nil
	}
	names := c.values[eventName]
	if len(names) < 2 {
		return nil, fmt.Errorf("rules %s: pre-filter pattern %s is %d characters, over the limit of %d",
			strings.Join(c.rules, ", "), render(c), len(render(c)), max)
	}
	a := clause{values: maps.Clone(c.values), rules: c.rules}
	b := clause{values: maps.Clone(c.values), rules: c.rules}
	a.values[eventName] = names[:len(names)/2]
	b.values[eventName] = names[len(names)/2:]
	sa, err := splitToFit(a, max)
	if err != nil {
		return nil, err
	}
	sb, err := splitToFit(b, max)
	if err != nil {
		return nil, err
	}
	return append(sa, sb...), nil
}

// pack combines clauses into patterns with a top-level $or, first fit in generation order.
func pack(cs []clause, max int) []Pattern {
	// first fit: each clause goes into the first pattern it fits in, so a small clause left at
	// the end fills a gap instead of opening a pattern of its own (the templates have few slots)
	var groups [][]clause
	for _, c := range cs {
		placed := false
		for i, g := range groups {
			if len(g) < maxBranches && len(renderAll(append(slices.Clone(g), c))) <= max {
				groups[i] = append(g, c)
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, []clause{c})
		}
	}
	out := make([]Pattern, 0, len(groups))
	for _, g := range groups {
		p := Pattern{JSON: renderAll(g)}
		for _, c := range g {
			p.Rules = union(p.Rules, c.rules)
			if c.values["source"] == nil && c.values[eventSource] == nil && c.values[eventName] == nil {
				p.Broad = union(p.Broad, c.rules)
			}
		}
		out = append(out, p)
	}
	return out
}

func renderAll(cs []clause) string {
	if len(cs) == 1 {
		return render(cs[0])
	}
	var b bytes.Buffer
	b.WriteString(`{"$or":[`)
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(render(c))
	}
	b.WriteString(`]}`)
	return b.String()
}

// render writes a clause as compact pattern JSON with a fixed key order, so generated patterns
// are stable across runs and diff well in templates.
func render(c clause) string {
	type node struct {
		keys     []string
		children map[string]*node
		leaf     []string
	}
	root := &node{children: map[string]*node{}}
	for _, p := range c.paths() {
		n := root
		for _, seg := range strings.Split(p, sep) {
			child, ok := n.children[seg]
			if !ok {
				child = &node{children: map[string]*node{}}
				n.children[seg] = child
				n.keys = append(n.keys, seg)
			}
			n = child
		}
		n.leaf = c.values[p]
	}
	var b strings.Builder
	var write func(n *node)
	write = func(n *node) {
		if n.leaf != nil {
			b.WriteString("[" + strings.Join(n.leaf, ",") + "]")
			return
		}
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quote(k) + ":")
			write(n.children[k])
		}
		b.WriteByte('}')
	}
	write(root)
	return b.String()
}

func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

// union returns the sorted, deduplicated union of two lists; never nil.
func union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	sort.Strings(out)
	return slices.Compact(out)
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
