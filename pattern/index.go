package pattern

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// pathNode is one step of the tree of field paths that some pattern names. The scanner
// walks the event and this tree together and skips every key that has no node.
type pathNode struct {
	id       int32
	children map[string]*pathNode
	field    int32 // index into snapshot.fields, -1 when no pattern tests a value here
	// bloom rejects most keys that are not children without hashing them.
	bloom bloom
	// small holds the children when there are at most maxSmallChildren of them, so that
	// a key is found by comparing a length and a word rather than by hashing it; lens
	// has bit min(len, 63) set for the length of each child.
	small []smallChild
	lens  uint64
	// table holds the children of a node with more of them, open-addressed by childHash
	// (len(table) a power of two, at least twice the children; an empty slot has no node):
	// a probe or two instead of hashing the key for the map.
	table  []smallChild
	tshift uint8
	// fast: some field at or below this node must always be read (a trigger, or an
	// exists:false of a pattern without trigger). Reading an object may stop once its
	// fast children (nfast of them) are seen, and reads on when a trigger that has fired
	// needs a lazy child.
	fast  bool
	nfast int
	lazy  []*pathNode
	// parent, depth (the root's is 0) and self, this node's key as noRepeat looks for it
	// in an event.
	parent *pathNode
	depth  int
	self   needle
	// cover: keys on the paths from this node (its own key included) down to its fast
	// fields, at least one on each path, so that when none of them occurs in the rest of
	// an event no value of those fields does either; the cheapest such set (by
	// needle.cost), found bottom-up. coverOK is false when there is none (a key noRepeat
	// cannot look for, or too many).
	cover     []needle
	coverCost int
	coverOK   bool
	// covers: the cover of each fast child, by child.
	covers   []childNeedle
	coversOK bool
	// stopKeys: the keys noRepeat looks for when reading stops in this object and no
	// triggered pattern needs a field: for this object and each enclosing one, the covers
	// of its fast children other than the one being read (whose fields the deeper objects
	// cover), and the key of that one when it is a fast field itself (a repeat of it may
	// hold a value). stopOK is false when some key cannot be looked for, or there are too
	// many.
	stopKeys []needle
	stopOK   bool
}

type childNeedle struct {
	needle
	child *pathNode
}

// maxSmallChildren is the most children a node looks up by comparing each (smallChild)
// instead of through its table.
const maxSmallChildren = 4

type smallChild struct {
	word uint64 // the first eight bytes of key, zero-padded
	key  string
	node *pathNode
}

// firstWord returns the first eight bytes of k as a little-endian word, zero-padded.
func firstWord(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.LittleEndian.Uint64(k)
	}
	var w uint64
	for i := len(k) - 1; i >= 0; i-- {
		w = w<<8 | uint64(k[i])
	}
	return w
}

// child returns the child of n under key, or nil.
func (n *pathNode) child(key []byte) *pathNode {
	if n.lens&(1<<min(len(key), 63)) == 0 {
		return nil
	}
	if n.small == nil {
		if n.table == nil || !n.bloom.mayHave(key) {
			return nil
		}
		w := firstWord(key)
		mask := len(n.table) - 1
		for i := int(childHash(w, key) >> n.tshift); ; i = (i + 1) & mask {
			c := &n.table[i]
			if c.node == nil {
				return nil
			}
			if c.word == w && len(c.key) == len(key) && (len(key) <= 8 || string(key[8:]) == c.key[8:]) {
				return c.node
			}
		}
	}
	w := firstWord(key)
	for i := range n.small {
		c := &n.small[i]
		if c.word == w && len(c.key) == len(key) && (len(key) <= 8 || string(key[8:]) == c.key[8:]) {
			return c.node
		}
	}
	return nil
}

// childHash mixes a key's length, its first word w and its last eight bytes, for the
// table of a node's children.
func childHash(w uint64, k []byte) uint64 {
	h := (w ^ uint64(len(k))<<56) * 0x9e3779b97f4a7c15
	if len(k) > 8 {
		h ^= binary.LittleEndian.Uint64(k[len(k)-8:]) * 0xc2b2ae3d27d4eb4f
	}
	return h ^ h>>32
}

// layoutTable fills n.table with n's children.
func (n *pathNode) layoutTable() {
	size := 4
	for size < 2*len(n.children) {
		size *= 2
	}
	n.table = make([]smallChild, size)
	n.tshift = uint8(64 - bits.TrailingZeros(uint(size)))
	for k, c := range n.children {
		w := firstWord([]byte(k))
		for i := int(childHash(w, []byte(k)) >> n.tshift); ; i = (i + 1) & (size - 1) {
			if n.table[i].node == nil {
				n.table[i] = smallChild{word: w, key: k, node: c}
				break
			}
		}
	}
}

// bloom is a 256-bit filter over a key's length and first and last bytes.
type bloom [4]uint64

func bloomHash(k []byte) uint8 {
	if len(k) == 0 {
		return 0
	}
	return uint8(len(k)*131 + int(k[0])*31 + int(k[len(k)-1]))
}

func (b *bloom) add(k string) {
	h := bloomHash([]byte(k))
	b[h>>6] |= 1 << (h & 63)
}

func (b *bloom) mayHave(k []byte) bool {
	h := bloomHash(k)
	return b[h>>6]&(1<<(h&63)) != 0
}

// target is what a value hit satisfies: one positive condition of one sub-pattern.
type target = int32

// keyFilter is a blocked Bloom filter over a set of strings, sized to the set (16 bits a
// key, two bits in one 64-bit word). It sits in front of the maps of exact values and
// affixes so that a value no pattern names costs a hash of a few words of it, not a map
// lookup into thousands of keys: that is what keeps the cost of an event flat as
// patterns that cannot match it are added.
type keyFilter struct {
	words []uint64
	shift uint8 // 64 - log2(len(words))
}

func newKeyFilter[V any](m map[string]V) keyFilter {
	n := 1
	for n*4 < len(m) {
		n *= 2
	}
	f := keyFilter{words: make([]uint64, n), shift: uint8(64 - bits.TrailingZeros(uint(n)))}
	for k := range m {
		h := keyHash([]byte(k))
		f.words[f.word(h)] |= keyBits(h)
	}
	return f
}

func (f *keyFilter) word(h uint64) uint64 {
	if f.shift == 64 {
		return 0
	}
	return h >> f.shift
}

func keyBits(h uint64) uint64 { return 1<<(h&63) | 1<<(h>>6&63) }

// mayHave reports whether k may be in the set; false is certain.
func (f *keyFilter) mayHave(k []byte) bool {
	if len(f.words) == 0 {
		return false
	}
	h := keyHash(k)
	b := keyBits(h)
	return f.words[f.word(h)]&b == b
}

// keyHash mixes the length of k with its first, middle and last eight bytes (all of it up
// to 24 bytes). Keys that agree on those still work: the map behind the filter decides.
func keyHash(k []byte) uint64 {
	n := len(k)
	var a, b, c uint64
	switch {
	case n >= 8:
		a = binary.LittleEndian.Uint64(k)
		b = binary.LittleEndian.Uint64(k[n-8:])
		if n > 16 {
			c = binary.LittleEndian.Uint64(k[n/2-4:])
		}
	case n >= 4:
		a = uint64(binary.LittleEndian.Uint32(k))
		b = uint64(binary.LittleEndian.Uint32(k[n-4:]))
	case n > 0:
		a = uint64(k[0]) | uint64(k[n/2])<<8 | uint64(k[n-1])<<16
	}
	h := (a^uint64(n)<<56)*0x9e3779b97f4a7c15 ^ (b+c*0xd6e8feb86659fd93)*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	h *= 0xff51afd7ed558ccd
	return h ^ h>>29
}

// strIndex maps strings to entries, with a keyFilter in front of the map.
type strIndex[T any] struct {
	m      map[string][]T
	filter keyFilter
}

func (ix *strIndex[T]) add(key string, v T) {
	if ix.m == nil {
		ix.m = map[string][]T{}
	}
	ix.m[key] = append(ix.m[key], v)
}

// finish builds the filter once every key is added.
func (ix *strIndex[T]) finish() {
	if ix.m != nil {
		ix.filter = newKeyFilter(ix.m)
	}
}

func (ix *strIndex[T]) get(k []byte) []T {
	if !ix.filter.mayHave(k) {
		return nil
	}
	return ix.m[string(k)]
}

// lenIndex finds the keys that are a prefix (or suffix) of a value with one filtered map
// lookup per distinct key length, so thousands of prefixes cost a handful of probes.
type lenIndex[T any] struct {
	lens []int // ascending
	ixs  []strIndex[T]
}

func (ix *lenIndex[T]) add(key string, v T) {
	i, found := slices.BinarySearch(ix.lens, len(key))
	if !found {
		ix.lens = slices.Insert(ix.lens, i, len(key))
		ix.ixs = slices.Insert(ix.ixs, i, strIndex[T]{})
	}
	ix.ixs[i].add(key, v)
}

func (ix *lenIndex[T]) finish() {
	for i := range ix.ixs {
		ix.ixs[i].finish()
	}
}

// lookup yields the entries of every key that is a prefix of s (with suffix, a suffix).
func (ix *lenIndex[T]) lookup(s []byte, suffix bool) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for i, n := range ix.lens {
			if n > len(s) {
				return
			}
			k := s[:n]
			if suffix {
				k = s[len(s)-n:]
			}
			if vs := ix.ixs[i].get(k); vs != nil && !yield(vs) {
				return
			}
		}
	}
}

type wcTarget struct {
	wc *wildcard
	t  target
}

// foldTarget is an equals-ignore-case operand indexed by its canonical fold, checked in
// full when the fold of a value meets it.
type foldTarget struct {
	fp *foldPattern
	t  target
}

type numTarget struct {
	r numRange
	t target
}

// abGroup is one distinct anything-but with every target that uses it, so identical
// anything-but lists in many patterns are evaluated once.
type abGroup struct {
	ab      *anythingBut
	targets []target
}

// cidrIndex maps masked prefixes, one map per distinct prefix length.
type cidrIndex struct {
	bits []int
	maps []map[netip.Prefix][]target
}

func (ix *cidrIndex) add(p netip.Prefix, t target) {
	i := slices.Index(ix.bits, p.Bits())
	if i < 0 {
		ix.bits = append(ix.bits, p.Bits())
		ix.maps = append(ix.maps, map[netip.Prefix][]target{})
		i = len(ix.bits) - 1
	}
	ix.maps[i][p] = append(ix.maps[i][p], t)
}

// field indexes every value test that patterns make at one path.
type field struct {
	exactStr   strIndex[target]
	exactNum   map[uint64][]target // comparable numbers, by float64 bits
	exactText  strIndex[target]    // numbers that are not comparable, by their text
	nulls      []target
	trues      []target
	falses     []target
	exists     []target // exists:true: any leaf value
	fold       strIndex[foldTarget]
	prefix     lenIndex[target]
	prefixFold lenIndex[foldTarget]
	suffix     lenIndex[target]
	suffixFold lenIndex[foldTarget]
	// Wildcards are indexed by their leading literal, else their trailing literal;
	// candidates are then checked in full.
	wcPrefix  lenIndex[wcTarget]
	wcSuffix  lenIndex[wcTarget]
	wcOther   []wcTarget
	numeric   []numTarget
	cidrs     cidrIndex
	anyBut    []abGroup
	anyButAll []target // every anything-but target, for values no anything-but can exclude
	abKeys    map[string]int
	node      *pathNode // where the field is in the tree of paths
	// presence: some sub-pattern needs this field absent or checks it lazily, so every
	// leaf value is recorded as an occurrence.
	presence bool
	// fast: the field is a trigger or an exists:false of a pattern without trigger.
	fast bool
	// needFold: whether string values must be folded at all.
	needFold bool
	// numKeys: every finite number the field's patterns compare event numbers with, in
	// triggers and deferred conditions, sorted (see numberValue).
	numKeys []float64
}

// deferredCond is a condition of a sub-pattern other than its trigger: it is checked
// against the recorded occurrences of its field only when the trigger already holds.
type deferredCond struct {
	field int32
	ms    []valueMatcher
	rank  int32 // position of the condition in event-ruler's order of field names
}

// sub is one AND-only alternative of a pattern. Its trigger condition is the target
// first (npos is 1, or 0 when it has only exists:false conditions); absent lists the
// fields that must have no (compatible) leaf value; deferred conditions are checked last.
type sub struct {
	id       int32 // index into snapshot.ids (a re-added id ORs its patterns)
	first    int32
	npos     int32
	absent   []int32
	deferred []deferredCond
	// rank is the trigger's position in event-ruler's order of the sub's field names,
	// absentRank each exists:false's: an exists:false is checked against the array
	// elements chosen by the fields before it only (see absentOK).
	rank       int32
	absentRank []int32
}

// snapshot is an immutable compiled form of every pattern of a Matcher.
type snapshot struct {
	root   *pathNode
	nodes  int
	fields []*field
	subs   []sub
	tsub   []int32 // target -> sub
	// direct: for a target that is the only condition of its sub-pattern, the id that
	// matches as soon as it is hit (no trail or occurrence to check); -1 for the others.
	direct  []int32
	negOnly []int32 // subs without eager conditions, checked on every event
	ids     []string
	// readAll: never stop reading early (for tests comparing the two).
	readAll bool
}

func newPathNode(id int32) *pathNode {
	return &pathNode{id: id, field: -1}
}

// build compiles the patterns (in add order) into one snapshot.
func build(entries []entry) *snapshot {
	s := &snapshot{root: newPathNode(0), nodes: 1}
	// How many conditions use each (path, matcher): a trigger should be a rare one.
	freq := map[string]int{}
	for _, e := range entries {
		for _, alt := range e.c.alts {
			for _, c := range alt {
				for _, m := range c.ms {
					freq[m.key]++
				}
			}
		}
	}
	steps := usedSteps(entries)
	idPos := map[string]int32{}
	for _, e := range entries {
		ix, ok := idPos[e.id]
		if !ok {
			ix = int32(len(s.ids))
			idPos[e.id] = ix
			s.ids = append(s.ids, e.id)
		}
		for _, alt := range e.c.alts {
			if alt, ok := reachable(alt, steps); ok {
				s.addSub(ix, alt, freq)
			}
		}
	}
	s.direct = make([]int32, len(s.tsub))
	for t, si := range s.tsub {
		s.direct[t] = -1
		if sb := &s.subs[si]; sb.npos == 1 && len(sb.absent) == 0 && len(sb.deferred) == 0 {
			s.direct[t] = sb.id
		}
	}
	s.root.finish(s.fields)
	s.root.finishStops(s.fields, nil, true)
	for _, f := range s.fields {
		f.finishNumbers()
		f.finishIndexes()
	}
	return s
}

// usedSteps returns the key steps event-ruler reads in events: every field name of every
// pattern split at its dots as Java's String.split does, which drops trailing empty steps
// (GenericMachine.recordFieldStep); Event.java skips every other event key, and so every
// event key that contains a dot.
func usedSteps(entries []entry) map[string]bool {
	steps := map[string]bool{}
	for _, e := range entries {
		for _, alt := range e.c.alts {
			for _, c := range alt {
				path := c.path
				for len(path) > 1 && path[len(path)-1] == "" {
					path = path[:len(path)-1]
				}
				for _, k := range path {
					steps[k] = true
				}
			}
		}
	}
	return steps
}

// reachable drops the conditions on field names no event can have, because one of their
// steps is an empty key event-ruler does not read ({"a.":["x"]} names "a" then ""): such
// an exists:false holds, any other condition fails the alternative.
func reachable(alt []condition, steps map[string]bool) ([]condition, bool) {
	unreachable := func(c condition) bool {
		return slices.ContainsFunc(c.path, func(k string) bool { return !steps[k] })
	}
	if !slices.ContainsFunc(alt, unreachable) {
		return alt, true
	}
	var kept []condition
	for _, c := range alt {
		switch {
		case !unreachable(c):
			kept = append(kept, c)
		case !c.absent:
			return nil, false
		}
	}
	return kept, true
}

// addSub adds one AND-only alternative. Only its trigger, the condition expected to hold
// least often, is indexed; the others are checked on recorded occurrences once the trigger
// fires. So an event costs work for the patterns whose rarest condition it meets, not for
// every pattern sharing a common value such as "source": ["aws.iam"].
func (s *snapshot) addSub(id int32, alt []condition, freq map[string]int) {
	si := int32(len(s.subs))
	sb := sub{id: id, first: int32(len(s.tsub))}
	trigger, best := -1, triggerCost{}
	for i, c := range alt {
		if c.absent {
			continue
		}
		if cost := conditionCost(c, freq); trigger < 0 || cost.less(best) {
			trigger, best = i, cost
		}
	}
	for i, c := range alt {
		f, fi := s.fieldAt(c.path)
		switch {
		case c.absent:
			f.presence = true
			sb.absent = append(sb.absent, fi)
			sb.absentRank = append(sb.absentRank, int32(i))
			if trigger < 0 {
				f.fast = true
			}
		case i != trigger:
			f.presence = true
			sb.deferred = append(sb.deferred, deferredCond{field: fi, ms: c.ms, rank: int32(i)})
			for j := range c.ms {
				f.addNumKeys(&c.ms[j])
			}
		default:
			t := target(len(s.tsub))
			s.tsub = append(s.tsub, si)
			sb.npos++
			sb.rank = int32(i)
			f.fast = true
			for _, m := range c.ms {
				f.add(m, t)
			}
		}
	}
	s.subs = append(s.subs, sb)
	if sb.npos == 0 {
		s.negOnly = append(s.negOnly, si)
	}
}

// triggerCost ranks conditions as triggers, most selective first: by how many conditions
// share its most shared matcher (weighted by how broad the operator is), then deeper paths
// first (top-level envelope fields such as "source" or "detail-type" hold few distinct
// values; fields deep in "detail" are specific), then fewer alternatives.
type triggerCost struct {
	shared float64
	depth  int
	n      int
}

func (a triggerCost) less(b triggerCost) bool {
	if a.shared != b.shared {
		return a.shared < b.shared
	}
	if a.depth != b.depth {
		return a.depth > b.depth
	}
	return a.n < b.n
}

func conditionCost(c condition, freq map[string]int) triggerCost {
	cost := triggerCost{depth: len(c.path), n: len(c.ms)}
	for _, m := range c.ms {
		w := 1.0
		switch m.kind {
		case opPrefix, opPrefixFold, opSuffix, opSuffixFold, opWildcard:
			w = 2
		case opNumeric, opCIDR, opExactNull, opExactTrue, opExactFalse:
			w = 4
		case opExists, opAnythingBut:
			w = 1e6
		}
		cost.shared = max(cost.shared, w*float64(freq[m.key]))
	}
	return cost
}

// matcherKey identifies a matcher at a path, for counting how many conditions share it.
func matcherKey(path []string, m *valueMatcher) string {
	var b strings.Builder
	for _, k := range path {
		b.WriteString(k)
		b.WriteByte(0)
	}
	b.WriteByte(byte('A' + m.kind))
	switch m.kind {
	case opExactNumber:
		if m.cmp {
			b.WriteString(strconv.FormatFloat(m.num, 'g', -1, 64))
		} else {
			b.WriteString("text:" + m.s)
		}
	case opNumeric:
		fmt.Fprintf(&b, "%v", m.rng)
	case opCIDR:
		b.WriteString(m.cidr.String())
	case opWildcard:
		b.WriteString(strings.Join(m.wc.segs, "\x01"))
	case opAnythingBut:
		b.WriteString(m.ab.key())
	default:
		b.WriteString(m.s)
	}
	return b.String()
}

// finish lays out each node's children for lookup and computes fast, nfast, lazy and
// the covers, bottom-up.
func (n *pathNode) finish(fields []*field) {
	n.small, n.lens, n.table = nil, 0, nil
	if len(n.children) > maxSmallChildren {
		n.layoutTable()
	}
	n.fast = n.field >= 0 && fields[n.field].fast
	n.nfast, n.lazy, n.covers = 0, nil, nil
	for k, c := range n.children {
		if len(n.children) <= maxSmallChildren {
			n.small = append(n.small, smallChild{word: firstWord([]byte(k)), key: k, node: c})
		}
		n.lens |= 1 << min(len(k), 63)
		c.parent, c.depth, c.self = n, n.depth+1, newNeedle(k)
		c.finish(fields)
		if c.fast {
			n.fast = true
			n.nfast++
		} else {
			n.lazy = append(n.lazy, c)
		}
	}
	n.coversOK, n.coverCost = true, 0
	var union []needle
	for _, c := range n.children {
		if !c.fast {
			continue
		}
		n.coversOK = n.coversOK && c.coverOK
		n.coverCost += c.coverCost
		for _, k := range c.cover {
			n.covers = append(n.covers, childNeedle{k, c})
			union = append(union, k)
		}
	}
	n.coversOK = n.coversOK && len(n.covers) <= maxNeedles
	// This node's own key covers every field at or below it: it is the cover when the
	// node is a fast field itself, or when it costs less than its children's covers.
	n.cover, n.coverOK = union, n.coversOK
	if n.parent != nil && n.self.ok() && (n.field >= 0 && fields[n.field].fast || !n.coversOK || n.self.cost <= n.coverCost) {
		n.cover, n.coverCost, n.coverOK = []needle{n.self}, n.self.cost, true
	} else if n.field >= 0 && fields[n.field].fast {
		n.cover, n.coverOK = nil, false
	}
}

// finishStops computes stopKeys for n and the nodes below it; keys and ok are those of
// n's parent.
func (n *pathNode) finishStops(fields []*field, keys []needle, ok bool) {
	n.stopKeys, n.stopOK = nil, ok && n.coversOK
	if n.stopOK {
		n.stopKeys = slices.Clone(keys)
		for _, c := range n.covers {
			if n.stopKeys, n.stopOK = addNeedle(n.stopKeys, c.needle); !n.stopOK {
				break
			}
		}
	}
	for _, c := range n.children {
		if len(c.children) == 0 {
			continue
		}
		ck, cok := slices.Clone(keys), ok && n.coversOK
		for _, cv := range n.covers {
			if cv.child != c && cok {
				ck, cok = addNeedle(ck, cv.needle)
			}
		}
		if cok && c.field >= 0 && fields[c.field].fast {
			ck, cok = addNeedle(ck, c.self)
		}
		c.finishStops(fields, ck, cok)
	}
}

// fieldAt returns the field at path and its index, creating path nodes and the field as
// needed.
func (s *snapshot) fieldAt(path []string) (*field, int32) {
	n := s.root
	for _, k := range path {
		c := n.children[k]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*pathNode{}
			}
			c = newPathNode(int32(s.nodes))
			s.nodes++
			n.children[k] = c
			n.bloom.add(k)
		}
		n = c
	}
	if n.field < 0 {
		n.field = int32(len(s.fields))
		s.fields = append(s.fields, &field{node: n})
	}
	return s.fields[n.field], n.field
}

// finishIndexes builds the filters of the string indexes once every pattern is added.
func (f *field) finishIndexes() {
	f.exactStr.finish()
	f.exactText.finish()
	f.fold.finish()
	f.prefix.finish()
	f.suffix.finish()
	f.prefixFold.finish()
	f.suffixFold.finish()
	f.wcPrefix.finish()
	f.wcSuffix.finish()
}

func (f *field) add(m valueMatcher, t target) {
	f.addNumKeys(&m)
	switch m.kind {
	case opExactString:
		f.exactStr.add(m.s, t)
	case opExactNumber:
		if !m.cmp {
			f.exactText.add(m.s, t)
			break
		}
		if f.exactNum == nil {
			f.exactNum = map[uint64][]target{}
		}
		k := math.Float64bits(m.num)
		f.exactNum[k] = append(f.exactNum[k], t)
	case opExactNull:
		f.nulls = append(f.nulls, t)
	case opExactTrue:
		f.trues = append(f.trues, t)
	case opExactFalse:
		f.falses = append(f.falses, t)
	case opExists:
		f.exists = append(f.exists, t)
	case opEqualsFold:
		f.fold.add(m.s, foldTarget{m.fp, t})
		f.needFold = true
	case opPrefix:
		f.prefix.add(m.s, t)
	case opPrefixFold:
		f.prefixFold.add(m.s, foldTarget{m.fp, t})
		f.needFold = true
	case opSuffix:
		f.suffix.add(m.s, t)
	case opSuffixFold:
		f.suffixFold.add(m.s, foldTarget{m.fp, t})
		f.needFold = true
	case opWildcard:
		segs := m.wc.segs
		switch {
		case segs[0] != "":
			f.wcPrefix.add(segs[0], wcTarget{m.wc, t})
		case segs[len(segs)-1] != "":
			f.wcSuffix.add(segs[len(segs)-1], wcTarget{m.wc, t})
		default:
			f.wcOther = append(f.wcOther, wcTarget{m.wc, t})
		}
	case opNumeric:
		f.numeric = append(f.numeric, numTarget{m.rng, t})
	case opCIDR:
		f.cidrs.add(m.cidr, t)
	case opAnythingBut:
		key := m.ab.key()
		if f.abKeys == nil {
			f.abKeys = map[string]int{}
		}
		i, ok := f.abKeys[key]
		if !ok {
			i = len(f.anyBut)
			f.abKeys[key] = i
			f.anyBut = append(f.anyBut, abGroup{ab: m.ab})
		}
		f.anyBut[i].targets = append(f.anyBut[i].targets, t)
		f.anyButAll = append(f.anyButAll, t)
		if m.ab.kind == abFold {
			f.needFold = true
		}
	}
}

// key identifies an anything-but by content, so identical ones share one evaluation.
func (ab *anythingBut) key() string {
	var b strings.Builder
	b.WriteByte(byte('0' + ab.kind))
	for _, s := range ab.strs {
		b.WriteString("\x00")
		b.WriteString(s)
	}
	for _, n := range ab.nums {
		b.WriteString("\x00")
		b.WriteString(strconv.FormatFloat(n, 'g', -1, 64))
	}
	for _, fp := range ab.folds {
		for _, alt := range fp.alts {
			b.WriteString("\x01" + alt.a + "\x02" + alt.b)
		}
	}
	for _, w := range ab.wcs {
		b.WriteString("\x00")
		b.WriteString(strings.Join(w.segs, "\x01"))
	}
	return b.String()
}
