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
	slices.SortFunc(lists, func(a, b []int32) int { return len(a) - len(b) })
	if sc.uset == nil {
		sc.uset, sc.req = map[int32]struct{}{}, map[int32]int32{}
	}
	clear(sc.uset)
	clear(sc.req)
	sc.uset[0] = struct{}{}
	sc.undo = sc.undo[:0]
	sc.absent = sb.absent
	indexes := make([]*trailIndex, len(lists))
	for i := 1; i < len(lists); i++ {
		indexes[i] = sc.newTrailIndex(lists[i])
	}
	return sc.search(lists, indexes, 0)
}

// trailIndex holds a set of trails: at marks each trail, below groups them under each of
// their ancestors by the array they go through next.
type trailIndex struct {
	at    map[int32]bool
	below map[int32][]trailGroup
}

type trailGroup struct {
	array  int32
	trails []int32
}

func (sc *scratch) newTrailIndex(trails []int32) *trailIndex {
	ix := &trailIndex{at: map[int32]bool{}, below: map[int32][]trailGroup{}}
	for _, t := range trails {
		if ix.at[t] {
			continue
		}
		ix.at[t] = true
		for c := t; c != 0; {
			u, arr := sc.trails[c].parent, sc.trails[c].array
			gs := ix.below[u]
			i := slices.IndexFunc(gs, func(g trailGroup) bool { return g.array == arr })
			if i < 0 {
				gs = append(gs, trailGroup{array: arr})
				i = len(gs) - 1
			}
			gs[i].trails = append(gs[i].trails, t)
			ix.below[u] = gs
			c = u
		}
	}
	return ix
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

func (sc *scratch) search(lists [][]int32, indexes []*trailIndex, k int) bool {
	if k == len(lists) {
		return sc.absentOK()
	}
	try := func(t int32) bool {
		sc.budget--
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
		for _, g := range ix.below[u] {
			if _, taken := sc.req[g.array]; taken {
				continue
			}
			// Compatible with U, and choosing one adds no constraint that another of
			// the group would avoid, except deeper down: try them in turn.
			for _, t := range g.trails {
				if sc.budget < 0 {
					return false
				}
				if try(t) {
					return true
				}
			}
		}
	}
	return false
}

// absIndex summarises where the values of one exists:false field lie in the tree of
// array elements: at is the set of trails holding a value; below maps a trail to the
// arrays among its child elements that have values somewhere under them.
type absIndex struct {
	at    map[int32]bool
	below map[int32][]int32
}

func (sc *scratch) absIndexFor(fi int32) *absIndex {
	if ix, ok := sc.absIdx[fi]; ok {
		return ix
	}
	ix := &absIndex{at: map[int32]bool{}, below: map[int32][]int32{}}
	for oi := sc.fieldHead[fi]; oi >= 0; oi = sc.presence[oi].next {
		t := sc.presence[oi].trail
		ix.at[t] = true
		for t != 0 {
			parent, arr := sc.trails[t].parent, sc.trails[t].array
			if slices.Contains(ix.below[parent], arr) {
				break // the rest of the chain was recorded by an earlier value
			}
			ix.below[parent] = append(ix.below[parent], arr)
			t = parent
		}
	}
	if sc.absIdx == nil {
		sc.absIdx = map[int32]*absIndex{}
	}
	sc.absIdx[fi] = ix
	return ix
}

// absentOK reports whether no value of an exists:false field is compatible with U: none
// lies on a trail in U or below some u in U through an array where U takes no element.
func (sc *scratch) absentOK() bool {
	for _, fi := range sc.absent {
		if sc.fieldStamp[fi] != sc.epoch {
			continue
		}
		ix := sc.absIndexFor(fi)
		for i := -1; i < len(sc.undo); i++ {
			u := int32(0)
			if i >= 0 {
				u = sc.undo[i]
			}
			sc.budget--
			if ix.at[u] {
				return false
			}
			for _, arr := range ix.below[u] {
				if _, ok := sc.req[arr]; !ok {
					return false
				}
			}
		}
	}
	return true
}
