package pattern

import (
	"bytes"
	"math"
	"slices"
	"unsafe"
)

// trailNode is one array element on the way from the event root to a value: values whose
// trails pass through different elements of the same array come from different elements.
type trailNode struct {
	parent int32
	array  int32
	depth  int32
}

// hit is a trigger hit from inside an array; hits of one target are chained by next.
type hit struct {
	trail int32
	next  int32
}

// occurrence is one leaf value of a field that is checked after the scan: its kind ('s'
// string, 'n' number, 't', 'f', 'z' for null), where a string's text lies in the event,
// and a number's value (see numberValue).
type occurrence struct {
	trail      int32
	next       int32 // previous occurrence of the same field, -1 at the end
	start, end int
	num        float64
	kind       byte
	escaped    bool
	numState   byte // a number's: 0 not worked out yet, 1 comparable (num is its float64), 2 not
}

// scratch is the per-Match working state, reused through a sync.Pool. Per-target and
// per-sub state is stamped with an epoch instead of being cleared for every event.
type scratch struct {
	snap  *snapshot
	epoch uint32
	visit uint32

	nodeSeen []uint32 // per path node: the object visit that saw it
	// fieldNeeded: a candidate sub checks the field after the scan; nodeNeeded: the node
	// is on the way to such a field, and neededNodes lists those nodes.
	fieldNeeded []uint32
	nodeNeeded  []uint32
	neededNodes []*pathNode
	keys        []needle    // noRepeat's
	stack       []*pathNode // the objects being read, outermost first
	searched    int         // bytes noRepeat has searched in this event

	tStamp     []uint32 // per target: hit in this epoch
	tHead      []int32  // per target: its last recorded hit, -1 for none
	subStamp   []uint32
	subCount   []int32
	subTrailed []uint32 // per sub: some hit came from inside an array
	fieldStamp []uint32 // per field: some leaf value seen
	fieldHead  []int32  // per field: its last occurrence in presence
	idStamp    []uint32

	cands    []int32
	hits     []hit
	presence []occurrence
	trails   []trailNode
	arrays   int32
	fbuf     []byte
	matched  []int32

	// solver state, see solve.go
	lists      [][]int32
	dlists     [][]int32
	absent     []int32
	absentRank []int32
	ranked     []rankedList
	listRank   []int32
	chosen     []int32
	treq       map[int32]int32
	budget     int
	absIdx     map[int32]int // field -> index into absSets, for this event
	absSets    []*trailSet
	tsets      []*trailSet
	uset       map[int32]struct{}
	req        map[int32]int32
	undo       []int32

	p scanner
	q scanner // rereads recorded numbers
}

func (sc *scratch) reset(s *snapshot) {
	if sc.snap != s {
		sc.snap = s
		sc.epoch, sc.visit = 0, 0
		sc.nodeSeen = make([]uint32, s.nodes)
		sc.fieldNeeded = make([]uint32, len(s.fields))
		sc.nodeNeeded = make([]uint32, s.nodes)
		sc.tStamp = make([]uint32, len(s.tsub))
		sc.tHead = make([]int32, len(s.tsub))
		sc.subStamp = make([]uint32, len(s.subs))
		sc.subCount = make([]int32, len(s.subs))
		sc.subTrailed = make([]uint32, len(s.subs))
		sc.fieldStamp = make([]uint32, len(s.fields))
		sc.fieldHead = make([]int32, len(s.fields))
		sc.idStamp = make([]uint32, len(s.ids))
	}
	sc.epoch++
	if sc.epoch == 0 { // wrapped: old stamps could collide
		clear(sc.tStamp)
		clear(sc.subStamp)
		clear(sc.subTrailed)
		clear(sc.fieldStamp)
		clear(sc.fieldNeeded)
		clear(sc.nodeNeeded)
		clear(sc.idStamp)
		sc.epoch = 1
	}
	sc.cands = sc.cands[:0]
	sc.neededNodes = sc.neededNodes[:0]
	sc.hits = sc.hits[:0]
	sc.presence = sc.presence[:0]
	sc.trails = append(sc.trails[:0], trailNode{parent: -1})
	sc.arrays = 0
	sc.matched = sc.matched[:0]
	if len(sc.absIdx) > 0 {
		clear(sc.absIdx)
	}
}

func (sc *scratch) nextVisit() uint32 {
	sc.visit++
	if sc.visit == 0 {
		clear(sc.nodeSeen)
		sc.visit = 1
	}
	return sc.visit
}

func (sc *scratch) newArray() int32 {
	sc.arrays++
	return sc.arrays
}

func (sc *scratch) newTrail(parent, array int32) int32 {
	sc.trails = append(sc.trails, trailNode{parent: parent, array: array, depth: sc.trails[parent].depth + 1})
	return int32(len(sc.trails) - 1)
}

func (sc *scratch) hit(t target, trail int32) {
	if id := sc.snap.direct[t]; id >= 0 {
		if sc.idStamp[id] != sc.epoch {
			sc.emit(id)
		}
		return
	}
	si := sc.snap.tsub[t]
	if sc.tStamp[t] != sc.epoch {
		sc.tStamp[t] = sc.epoch
		sc.tHead[t] = -1
		if sc.subStamp[si] != sc.epoch {
			sc.subStamp[si] = sc.epoch
			sc.subCount[si] = 0
		}
		sc.subCount[si]++
		if sb := &sc.snap.subs[si]; sc.subCount[si] == sb.npos {
			sc.cands = append(sc.cands, si)
			for _, d := range sb.deferred {
				sc.need(d.field)
			}
			for _, fi := range sb.absent {
				sc.need(fi)
			}
		}
	}
	if trail != 0 {
		sc.subTrailed[si] = sc.epoch
		if h := sc.tHead[t]; h < 0 || sc.hits[h].trail != trail {
			sc.hits = append(sc.hits, hit{trail: trail, next: h})
			sc.tHead[t] = int32(len(sc.hits) - 1)
		}
	}
}

// need records that a triggered pattern checks the field fi after the scan, which must
// then read every value of it.
func (sc *scratch) need(fi int32) {
	if sc.fieldNeeded[fi] == sc.epoch {
		return
	}
	sc.fieldNeeded[fi] = sc.epoch
	for x := sc.snap.fields[fi].node; x.parent != nil && sc.nodeNeeded[x.id] != sc.epoch; x = x.parent {
		sc.nodeNeeded[x.id] = sc.epoch
		sc.neededNodes = append(sc.neededNodes, x)
	}
}

func (sc *scratch) hitAll(ts []target, trail int32) {
	for _, t := range ts {
		sc.hit(t, trail)
	}
}

// present records a leaf value of a field that needs its occurrences; num is the value
// of a number.
func (sc *scratch) present(f *field, fi int32, trail int32, kind byte, num float64) {
	if f.presence {
		next := int32(-1)
		if sc.fieldStamp[fi] == sc.epoch {
			next = sc.fieldHead[fi]
		}
		sc.fieldStamp[fi] = sc.epoch
		sc.fieldHead[fi] = int32(len(sc.presence))
		o := occurrence{trail: trail, kind: kind, next: next, num: num}
		if kind == 's' {
			o.start, o.end, o.escaped = sc.p.lastStart, sc.p.lastEnd, sc.p.lastEscaped
		}
		sc.presence = append(sc.presence, o)
	}
}

// unsafeString views b as a string for lookups and parsing that do not keep it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (sc *scratch) evalString(f *field, fi int32, s []byte, trail int32) {
	sc.present(f, fi, trail, 's', 0)
	sc.hitAll(f.exactStr.get(s), trail)
	sc.hitAll(f.exists, trail)
	// most fields have no affixes or wildcards of one kind or another: no call for those
	if len(f.prefix.lens) > 0 {
		sc.affixes(&f.prefix, s, false, trail)
	}
	if len(f.suffix.lens) > 0 {
		sc.affixes(&f.suffix, s, true, trail)
	}
	var folded []byte
	if f.needFold {
		sc.fbuf = appendFold(sc.fbuf[:0], s)
		folded = sc.fbuf
		for _, e := range f.fold.get(folded) {
			if e.fp.matchWhole(s) {
				sc.hit(e.t, trail)
			}
		}
		for es := range f.prefixFold.lookup(folded, false) {
			for _, e := range es {
				if e.fp.matchPrefix(s) {
					sc.hit(e.t, trail)
				}
			}
		}
		for es := range f.suffixFold.lookup(folded, true) {
			for _, e := range es {
				if e.fp.matchSuffix(s) {
					sc.hit(e.t, trail)
				}
			}
		}
	}
	if len(f.wcPrefix.lens) > 0 {
		sc.wildcards(&f.wcPrefix, s, false, trail)
	}
	if len(f.wcSuffix.lens) > 0 {
		sc.wildcards(&f.wcSuffix, s, true, trail)
	}
	for _, e := range f.wcOther {
		if e.wc.match(s) {
			sc.hit(e.t, trail)
		}
	}
	if len(f.cidrs.bits) > 0 {
		if addr, ok := ipLiteral(unsafeString(s)); ok {
			for i, bits := range f.cidrs.bits {
				if p, err := addr.Prefix(bits); err == nil {
					sc.hitAll(f.cidrs.maps[i][p], trail)
				}
			}
		}
	}
	for _, g := range f.anyBut {
		if g.ab.matchString(s, folded) {
			sc.hitAll(g.targets, trail)
		}
	}
}

// affixes hits the targets whose key is a prefix (or suffix) of s.
func (sc *scratch) affixes(ix *lenIndex[target], s []byte, suffix bool, trail int32) {
	for ts := range ix.lookup(s, suffix) {
		sc.hitAll(ts, trail)
	}
}

// wildcards hits the wildcards whose leading (or trailing) literal is a prefix (or suffix)
// of s and that match s in full.
func (sc *scratch) wildcards(ix *lenIndex[wcTarget], s []byte, suffix bool, trail int32) {
	for es := range ix.lookup(s, suffix) {
		for _, e := range es {
			if e.wc.match(s) {
				sc.hit(e.t, trail)
			}
		}
	}
}

// evalNumber evaluates the number raw, just read by the scanner. Whether it is comparable
// (see number.go) is worked out only when an answer depends on it.
func (sc *scratch) evalNumber(f *field, fi int32, raw []byte, trail int32) {
	p := &sc.p
	occ := -1
	if f.presence {
		sc.presentNumber(fi, trail, p.pos-len(raw), p.pos)
		occ = len(sc.presence) - 1
	}
	sc.hitAll(f.exists, trail)
	if f.exactText.m != nil {
		sc.hitAll(f.exactText.get(raw), trail)
	}
	if f.exactNum == nil && len(f.numeric) == 0 && len(f.anyBut) == 0 {
		return
	}
	v, near := p.numberValue(raw, f.numKeys)
	cmp := 0 // 0 not known yet, 1 comparable, 2 not
	comparable := func() bool {
		if cmp == 0 {
			var ok bool
			if v, ok = p.comparable(raw); ok {
				cmp = 1
			} else {
				cmp = 2
			}
		}
		return cmp == 1
	}
	if near && f.exactNum != nil && comparable() { // a value far from every key equals none
		sc.hitAll(f.exactNum[math.Float64bits(v)], trail)
	}
	if len(f.numeric) > 0 && comparable() {
		for _, e := range f.numeric {
			if e.r.contains(v) {
				sc.hit(e.t, trail)
			}
		}
	}
	for _, g := range f.anyBut {
		if g.ab.kind != abNumbers || !near || !comparable() || !slices.Contains(g.ab.nums, v) {
			sc.hitAll(g.targets, trail)
		}
	}
	if occ >= 0 && cmp != 0 { // spare the deferred checks the work
		o := &sc.presence[occ]
		o.num, o.numState = v, byte(cmp)
	}
}

// presentNumber records a number of a field that needs its occurrences: its text lies at
// event[start:end].
func (sc *scratch) presentNumber(fi int32, trail int32, start, end int) {
	sc.present(sc.snap.fields[fi], fi, trail, 'n', 0)
	o := &sc.presence[len(sc.presence)-1]
	o.start, o.end = start, end
}

// evalLiteral handles true, false and null (c is the first letter).
func (sc *scratch) evalLiteral(f *field, fi int32, c byte, trail int32) {
	kind := c
	if c == 'n' {
		kind = 'z'
	}
	sc.present(f, fi, trail, kind, 0)
	sc.hitAll(f.exists, trail)
	switch c {
	case 't':
		sc.hitAll(f.trues, trail)
	case 'f':
		sc.hitAll(f.falses, trail)
	default:
		sc.hitAll(f.nulls, trail)
	}
	sc.hitAll(f.anyButAll, trail)
}

// matchString reports whether anything-but accepts the string s (folded is its folded
// form when the field needed one).
func (ab *anythingBut) matchString(s, folded []byte) bool {
	switch ab.kind {
	case abStrings:
		for _, x := range ab.strs {
			if string(s) == x {
				return false
			}
		}
		return true
	case abNumbers:
		return true
	case abPrefix:
		for _, x := range ab.strs {
			if bytes.HasPrefix(s, []byte(x)) {
				return false
			}
		}
		return true
	case abSuffix:
		for _, x := range ab.strs {
			if bytes.HasSuffix(s, []byte(x)) {
				return false
			}
		}
		return true
	case abFold:
		for i, x := range ab.strs {
			if string(folded) == x && ab.folds[i].matchWhole(s) {
				return false
			}
		}
		return true
	case abWildcard:
		for _, w := range ab.wcs {
			if w.match(s) {
				return false
			}
		}
		return true
	}
	return false
}

// matchNumber reports whether anything-but accepts a number: one that is not comparable
// is never excluded.
func (ab *anythingBut) matchNumber(v float64, cmp bool) bool {
	return ab.kind != abNumbers || !cmp || !slices.Contains(ab.nums, v)
}

// match scans the event and returns the matching ids.
func (sc *scratch) match(s *snapshot, event []byte, dst []string) ([]string, error) {
	if err := sc.scanEvent(event); err != nil {
		return dst, err
	}
	sc.budget = solveBudget
	for _, si := range sc.cands {
		sb := &s.subs[si]
		if sc.idStamp[sb.id] != sc.epoch && sc.check(sb, sc.subTrailed[si] == sc.epoch) {
			sc.emit(sb.id)
		}
	}
	for _, si := range s.negOnly {
		sb := &s.subs[si]
		if sc.idStamp[sb.id] != sc.epoch && sc.check(sb, false) {
			sc.emit(sb.id)
		}
	}
	if sc.budget < 0 {
		return dst, ErrTooComplex
	}
	if len(sc.matched) == 0 {
		return dst, nil
	}
	slices.Sort(sc.matched)
	dst = slices.Grow(dst, len(sc.matched))
	for _, ix := range sc.matched {
		dst = append(dst, s.ids[ix])
	}
	return dst, nil
}

// numberAt returns the float64 of a recorded number and whether it is comparable.
func (sc *scratch) numberAt(raw []byte) (float64, bool) {
	q := &sc.q
	q.data, q.pos = raw, 0
	if _, err := q.readNumber(); err != nil {
		return 0, false
	}
	return q.comparable(raw)
}

func (sc *scratch) emit(ix int32) {
	sc.idStamp[ix] = sc.epoch
	sc.matched = append(sc.matched, ix)
}

func (sc *scratch) nonepresent(fields []int32) bool {
	for _, fi := range fields {
		if sc.fieldStamp[fi] == sc.epoch {
			return false
		}
	}
	return true
}

// occMatches reports whether a recorded occurrence satisfies one of ms.
func (sc *scratch) occMatches(o *occurrence, ms []valueMatcher) bool {
	var v, folded []byte
	number := func() (float64, bool) {
		if o.numState == 0 {
			var cmp bool
			o.num, cmp = sc.numberAt(sc.p.data[o.start:o.end])
			o.numState = 2
			if cmp {
				o.numState = 1
			}
		}
		return o.num, o.numState == 1
	}
	if o.kind == 's' {
		v = sc.p.data[o.start:o.end]
		if o.escaped {
			sc.p.vbuf, _ = unescape(sc.p.vbuf[:0], v)
			v = sc.p.vbuf
		}
	}
	fold := func() []byte {
		if folded == nil {
			sc.fbuf = appendFold(sc.fbuf[:0], v)
			folded = sc.fbuf
		}
		return folded
	}
	for i := range ms {
		m := &ms[i]
		var ok bool
		switch m.kind {
		case opExists:
			ok = true
		case opExactString:
			ok = o.kind == 's' && string(v) == m.s
		case opExactNumber:
			if o.kind == 'n' {
				if m.cmp {
					f, c := number()
					ok = c && f == m.num
				} else {
					ok = string(sc.p.data[o.start:o.end]) == m.s
				}
			}
		case opExactNull:
			ok = o.kind == 'z'
		case opExactTrue:
			ok = o.kind == 't'
		case opExactFalse:
			ok = o.kind == 'f'
		case opPrefix:
			ok = o.kind == 's' && bytes.HasPrefix(v, []byte(m.s))
		case opSuffix:
			ok = o.kind == 's' && bytes.HasSuffix(v, []byte(m.s))
		case opPrefixFold:
			ok = o.kind == 's' && m.fp.matchPrefix(v)
		case opSuffixFold:
			ok = o.kind == 's' && m.fp.matchSuffix(v)
		case opEqualsFold:
			ok = o.kind == 's' && m.fp.matchWhole(v)
		case opWildcard:
			ok = o.kind == 's' && m.wc.match(v)
		case opNumeric:
			if o.kind == 'n' {
				f, c := number()
				ok = c && m.rng.contains(f)
			}
		case opCIDR:
			if o.kind == 's' {
				if addr, isIP := ipLiteral(unsafeString(v)); isIP {
					ok = m.cidr.Contains(addr)
				}
			}
		case opAnythingBut:
			switch o.kind {
			case 's':
				if m.ab.kind == abFold {
					ok = m.ab.matchString(v, fold())
				} else {
					ok = m.ab.matchString(v, nil)
				}
			case 'n':
				ok = m.ab.matchNumber(number())
			default:
				ok = true
			}
		}
		if ok {
			return true
		}
	}
	return false
}
