package pattern

import (
	"errors"
	"slices"
)

// ErrTooComplex is returned by Match when deciding array consistency for an event would
// take more than a fixed budget of steps (about 10 million: events with tens of thousands
// of array elements matched by patterns with several conditions or exists:false in the
// same arrays). The event is not reported as matching or not matching any pattern.
var ErrTooComplex = errors.New("pattern: event too complex: array element combinations exceed the matching budget")

const solveBudget = 10_000_000

// check decides a sub-pattern whose trigger holds (trailed: some trigger hit came from
// inside an array): each deferred condition needs a satisfying occurrence and each
// exists:false field none, all consistent with one choice of array elements.
func (sc *scratch) check(sb *sub, trailed bool) bool {
	nd := len(sb.deferred)
	for len(sc.dlists) < nd {
		sc.dlists = append(sc.dlists, nil)
	}
	for i, d := range sb.deferred {
		list := sc.dlists[i][:0]
		if sc.fieldStamp[d.field] == sc.epoch {
			for oi := sc.fieldHead[d.field]; oi >= 0; oi = sc.presence[oi].next {
				if o := &sc.presence[oi]; sc.occMatches(o, d.ms) {
					if len(list) == 0 || list[len(list)-1] != o.trail {
						list = append(list, o.trail)
					}
					if o.trail != 0 {
						trailed = true
					}
				}
			}
		}
		sc.dlists[i] = list
		if len(list) == 0 {
			return false
		}
	}
	if !trailed {
		return sc.nonepresent(sb.absent)
	}
	return sc.solve(sb, sc.dlists[:nd])
}

// solve looks for one trail per condition, all pairwise compatible, such that no value
// of an exists:false field is compatible with all of them. extra holds the trails that
// satisfy the deferred conditions.
//
// Two trails are compatible when they agree on the element of every array both pass
// through (an array's position in the event is unique, so paths through one array share
// everything above it). The search keeps U, the chosen trails with their ancestors, and
// req, the element U takes in each array; a trail is compatible with every chosen one
// exactly when it is in U or lies below some u in U through an array where U takes no
// element. Indexing each list that way lets the search visit only compatible candidates.
func (sc *scratch) solve(sb *sub, extra [][]int32) bool {
	n := int(sb.npos)
	for len(sc.lists) < n+len(extra) {
		sc.lists = append(sc.lists, nil)
	}
	lists := sc.lists[:n+len(extra)]
	for i := range n {
		t := sb.first + int32(i)
		l := lists[i][:0]
		for h := sc.tHead[t]; h >= 0; h = sc.hits[h].next {
			l = append(l, sc.hits[h].trail)
		}
		if len(l) == 0 { // hit only outside arrays
			l = append(l, 0)
		}
		lists[i] = l
	}
	for i, l := range extra {
		lists[n+i] = append(lists[n+i][:0], l...)
	}
	sc.ranked = sc.ranked[:0]
	for i, l := range lists {
		r := sb.rank
		if i >= n {
			r = sb.deferred[i-n].rank
		}
		sc.ranked = append(sc.ranked, rankedList{l, r})
	}
	slices.SortFunc(sc.ranked, func(a, b rankedList) int { return len(a.l) - len(b.l) })
	sc.listRank = sc.listRank[:0]
	for i, rl := range sc.ranked {
		lists[i] = rl.l
		sc.listRank = append(sc.listRank, rl.rank)
	}
	sc.chosen = append(sc.chosen[:0], make([]int32, len(lists))...)
	sc.absentRank = sb.absentRank
	if sc.uset == nil {
		sc.uset, sc.req = map[int32]struct{}{}, map[int32]int32{}
	}
	clear(sc.uset)
	clear(sc.req)
	sc.uset[0] = struct{}{}
	sc.undo = sc.undo[:0]
	sc.absent = sb.absent
	for len(sc.tsets) < len(lists) {
		sc.tsets = append(sc.tsets, newTrailSet())
	}
	for i := 1; i < len(lists); i++ {
		ts := sc.tsets[i]
		ts.reset()
		for _, t := range lists[i] {
			ts.add(sc, t, true)
		}
	}
	return sc.search(lists, sc.tsets, 0)
}

// trailSet indexes a set of trails by the tree of array elements: at marks the trails;
// under each trail node u, a chain of groups (heads[u]-1, then next) names the arrays
// through which members lie below u, each with a chain of those members (first, then
// next). Its maps and slices are reused from event to event.
type trailSet struct {
	at     map[int32]bool
	heads  map[int32]int32
	groups []trailGroup
	items  []trailItem
}

type trailGroup struct {
	array, first, next int32
}

type trailItem struct {
	trail, next int32
}

func newTrailSet() *trailSet {
	return &trailSet{at: map[int32]bool{}, heads: map[int32]int32{}}
}

func (ts *trailSet) reset() {
	clear(ts.at)
	clear(ts.heads)
	ts.groups = ts.groups[:0]
	ts.items = ts.items[:0]
}

// add records t under each of its ancestors. Without items (exists:false values, where
// only the groups matter) it stops at the first ancestor that already has the group.
func (ts *trailSet) add(sc *scratch, t int32, items bool) {
	if ts.at[t] && items {
		return
	}
	ts.at[t] = true
	for c := t; c != 0; {
		u, arr := sc.trails[c].parent, sc.trails[c].array
		g := ts.heads[u] - 1
		for g >= 0 && ts.groups[g].array != arr {
			g = ts.groups[g].next
		}
		if g < 0 {
			ts.groups = append(ts.groups, trailGroup{array: arr, first: -1, next: ts.heads[u] - 1})
			g = int32(len(ts.groups) - 1)
			ts.heads[u] = g + 1
		} else if !items {
			return // the rest of the chain was recorded by an earlier value
		}
		if items {
			ts.items = append(ts.items, trailItem{trail: t, next: ts.groups[g].first})
			ts.groups[g].first = int32(len(ts.items) - 1)
		}
		c = u
	}
}

// choose adds t and its ancestors to U; it returns the undo mark.
func (sc *scratch) choose(t int32) int {
	mark := len(sc.undo)
	for ; t != 0; t = sc.trails[t].parent {
		if _, ok := sc.uset[t]; ok {
			break
		}
		sc.uset[t] = struct{}{}
		sc.req[sc.trails[t].array] = t
		sc.undo = append(sc.undo, t)
	}
	return mark
}

func (sc *scratch) unchoose(mark int) {
	for _, t := range sc.undo[mark:] {
		delete(sc.uset, t)
		delete(sc.req, sc.trails[t].array)
	}
	sc.undo = sc.undo[:mark]
}

func (sc *scratch) search(lists [][]int32, indexes []*trailSet, k int) bool {
	if k == len(lists) {
		return sc.absentOK()
	}
	try := func(t int32) bool {
		sc.budget--
		sc.chosen[k] = t
		mark := sc.choose(t)
		ok := sc.search(lists, indexes, k+1)
		sc.unchoose(mark)
		return ok
	}
	if k == 0 { // nothing chosen yet: every candidate is compatible
		for _, t := range lists[0] {
			if sc.budget < 0 {
				return false
			}
			if try(t) {
				return true
			}
		}
		return false
	}
	ix := indexes[k]
	// U is the root plus sc.undo[:n]; choices made below append to sc.undo and truncate
	// it back, so this range stays valid.
	n := len(sc.undo)
	for i := -1; i < n; i++ {
		u := int32(0)
		if i >= 0 {
			u = sc.undo[i]
		}
		if sc.budget < 0 {
			return false
		}
		sc.budget--
		if ix.at[u] && try(u) {
			return true
		}
		for g := ix.heads[u] - 1; g >= 0; g = ix.groups[g].next {
			if _, taken := sc.req[ix.groups[g].array]; taken {
				continue
			}
			// Every member is compatible with U: try them in turn.
			for it := ix.groups[g].first; it >= 0; it = ix.items[it].next {
				if sc.budget < 0 {
					return false
				}
				if try(ix.items[it].trail) {
					return true
				}
			}
		}
	}
	return false
}

// absSet returns the trailSet of the values of an exists:false field, built once per
// event.
func (sc *scratch) absSet(fi int32) *trailSet {
	if i, ok := sc.absIdx[fi]; ok {
		return sc.absSets[i]
	}
	if sc.absIdx == nil {
		sc.absIdx = map[int32]int{}
	}
	i := len(sc.absIdx)
	if i == len(sc.absSets) {
		sc.absSets = append(sc.absSets, newTrailSet())
	}
	ts := sc.absSets[i]
	ts.reset()
	for oi := sc.fieldHead[fi]; oi >= 0; oi = sc.presence[oi].next {
		ts.add(sc, sc.presence[oi].trail, false)
	}
	sc.absIdx[fi] = i
	return ts
}

// rankedList is a list of candidate trails with its condition's rank.
type rankedList struct {
	l    []int32
	rank int32
}

// absentOK reports whether no value of an exists:false field is compatible with the
// chosen trails of the conditions before it in event-ruler's order of field names: its
// StructuredFinder walks a rule's fields in that order and checks an exists:false against
// the array elements chosen so far (NameState.getNameTransitions with the membership),
// so {"d":{"a":[{"exists":false}],"b":["1"]}} fails on {"d":[{"a":0},{"b":"1"}]} while
// {"d":{"b":["1"],"c":[{"exists":false}]}} holds on {"d":[{"c":0},{"b":"1"}]}.
func (sc *scratch) absentOK() bool {
	for j, fi := range sc.absent {
		if sc.fieldStamp[fi] != sc.epoch {
			continue
		}
		if !slices.ContainsFunc(sc.listRank, func(r int32) bool { return r > sc.absentRank[j] }) {
			if !sc.absentOKAll(fi) {
				return false
			}
			continue
		}
		if !sc.absentOKBefore(fi, sc.absentRank[j]) {
			return false
		}
	}
	return true
}

// absentOKBefore checks an exists:false field against the chosen trails of the lists
// ranked before it: a value is compatible when it takes the same element as they do in
// every array they pass through.
func (sc *scratch) absentOKBefore(fi, rank int32) bool {
	if sc.treq == nil {
		sc.treq = map[int32]int32{}
	}
	clear(sc.treq)
	for k, t := range sc.chosen {
		if sc.listRank[k] > rank {
			continue
		}
		for ; t != 0; t = sc.trails[t].parent {
			sc.treq[sc.trails[t].array] = t
		}
	}
	for oi := sc.fieldHead[fi]; oi >= 0; oi = sc.presence[oi].next {
		sc.budget--
		compatible := true
		for t := sc.presence[oi].trail; t != 0 && compatible; t = sc.trails[t].parent {
			if e, ok := sc.treq[sc.trails[t].array]; ok && e != t {
				compatible = false
			}
		}
		if compatible {
			return false
		}
	}
	return true
}

// absentOKAll reports whether no value of an exists:false field is compatible with U: none
// lies on a trail in U or below some u in U through an array where U takes no element.
func (sc *scratch) absentOKAll(fi int32) bool {
	ix := sc.absSet(fi)
	for i := -1; i < len(sc.undo); i++ {
		u := int32(0)
		if i >= 0 {
			u = sc.undo[i]
		}
		sc.budget--
		if ix.at[u] {
			return false
		}
		for g := ix.heads[u] - 1; g >= 0; g = ix.groups[g].next {
			if _, ok := sc.req[ix.groups[g].array]; !ok {
				return false
			}
		}
	}
	return true
}
