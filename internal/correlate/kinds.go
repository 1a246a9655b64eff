package correlate

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/trailbell/trailbell/internal/finding"
)

// tgroup is a threshold rule's group: the events of its window (for distinct counting, the
// latest event of each value), oldest first.
type tgroup struct {
	Events []ref `json:"e,omitempty"`
	// Quiet: after a finding the group stays quiet for a window, so a burst is one finding.
	Quiet int64 `json:"q,omitempty"`
	// Reached is when the group last reached the count, for History.
	Reached int64 `json:"r,omitempty"`
}

// threshold counts each event into its group; the event that brings the group to the count
// is reported with the others as related.
func (e *Engine) threshold(ctx context.Context, r *rule, js []job) ([]finding.Finding, error) {
	spec := r.def.Threshold
	w := int64(spec.Window)
	var out []finding.Finding
	for _, j := range js {
		p := j.p
		vals := j.v[:len(spec.GroupBy)]
		k := key(vals)
		g, _, err := r.thr.get(ctx, k, p.T)
		if err != nil {
			return nil, err
		}
		if p.T < g.Quiet {
			continue
		}
		ev := refOf(p, 0)
		if spec.Distinct != "" {
			ev.V = j.v[len(spec.GroupBy)]
		}
		// the window ending at this event; a late event keeps newer ones too
		kept := make([]ref, 0, len(g.Events)+1)
		dup := false
		for _, x := range g.Events {
			switch {
			case x.ID == ev.ID:
				dup = true
			case x.T <= p.T-w:
			case spec.Distinct != "" && x.V == ev.V:
				// one event per value: the later one counts
				if x.T > ev.T {
					ev = x
				}
			default:
				kept = append(kept, x)
			}
		}
		if dup {
			continue
		}
		kept = append(kept, ev)
		slices.SortFunc(kept, func(a, b ref) int { return cmp.Or(cmp.Compare(a.T, b.T), cmp.Compare(a.ID, b.ID)) })
		g.Events = kept
		if len(kept) >= spec.Count {
			h := int64(spec.History)
			known := h > 0 && g.Reached != 0 && p.T-g.Reached <= h
			learning := h > 0 && p.T-e.st.meta.Start < h
			if !known && !learning {
				extra := map[string]string{"count": strconv.Itoa(len(kept)), "group": strings.Join(vals, ", ")}
				if spec.Distinct != "" {
					vs := make([]string, len(kept))
					for i, x := range kept {
						vs[i] = x.V
					}
					extra["values"] = strings.Join(vs, ", ")
				}
				out = append(out, e.build(r, p, kept, extra))
			}
			g.Events, g.Quiet, g.Reached = nil, p.T+w, p.T
		}
		exp := max(g.Quiet, g.Reached+int64(spec.History))
		if n := len(g.Events); n > 0 {
			exp = max(exp, g.Events[n-1].T+w)
		}
		if err := r.thr.put(ctx, k, g, exp, p.T); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sgroup is a sequence rule's partial chains for one join key: Wait[i] is the chain that
// has done the steps before i and waits for step i (holding any runs of step i so far).
// A newer chain replaces an older one at the same step: it has more of the window left.
type sgroup struct {
	Wait map[int][]ref `json:"w,omitempty"`
}

// sequence advances the partial chains of each event's join key.
func (e *Engine) sequence(ctx context.Context, r *rule, js []job) ([]finding.Finding, error) {
	spec := r.def.Sequence
	w := int64(spec.Window)
	last := len(spec.Steps) - 1
	var out []finding.Finding
	for _, j := range js {
		p, i := j.p, j.step
		st := spec.Steps[i]
		vals := j.v
		k := key(vals)
		g, _, err := r.seq.get(ctx, k, p.T)
		if err != nil {
			return nil, err
		}
		if g.Wait == nil {
			g.Wait = map[int][]ref{}
		}
		for s, chain := range g.Wait {
			if s == 0 {
				// runs of the first step slide along with the window
				if old := func(x ref) bool { return x.T < p.T-w }; slices.ContainsFunc(chain, old) {
					chain = slices.DeleteFunc(slices.Clone(chain), old)
					g.Wait[0] = chain
				}
			}
			if len(chain) == 0 || chain[0].T < p.T-w {
				delete(g.Wait, s) // out of the window
			}
		}
		chain, waiting := g.Wait[i]
		if i == 0 && !waiting {
			chain, waiting = nil, true
		}
		if !waiting || slices.ContainsFunc(chain, func(x ref) bool { return x.ID == p.ID }) {
			continue
		}
		chain = append(slices.Clip(chain), refOf(p, i))
		runs := 0
		for _, x := range chain {
			if x.Step == i {
				runs++
			}
		}
		switch {
		case runs < st.Count:
			g.Wait[i] = chain
		case i == last:
			delete(g.Wait, i)
			names := make([]string, len(chain))
			for n, x := range chain {
				names[n] = x.Name
			}
			extra := map[string]string{
				"count": strconv.Itoa(len(chain)), "group": strings.Join(vals, ", "),
				"steps": strings.Join(slices.Compact(names), " → "),
			}
			out = append(out, e.build(r, p, chain, extra))
		default:
			if i == 0 && st.Count > 1 {
				// runs of the first step slide: the latest Count of them make the chain
				chain = chain[len(chain)-st.Count:]
				g.Wait[0] = chain
			} else {
				delete(g.Wait, i)
			}
			if next, ok := g.Wait[i+1]; !ok || next[0].T <= chain[0].T {
				g.Wait[i+1] = chain
			}
		}
		var exp int64
		for _, c := range g.Wait {
			exp = max(exp, c[0].T+w)
		}
		if len(g.Wait) == 0 {
			err = r.seq.del(ctx, k)
		} else {
			err = r.seq.put(ctx, k, g, exp, p.T)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scope is a new_terms rule's learning scope: when it was first seen, and (with MaxKnown)
// the tuples it knows, most recent last.
type scope struct {
	First int64 `json:"f"`
	Known []ref `json:"k,omitempty"`
	Last  int64 `json:"l"`
}

// newTerms reports a tuple not seen in the history, once its scope has been learned.
func (e *Engine) newTerms(ctx context.Context, r *rule, js []job) ([]finding.Finding, error) {
	spec := r.def.NewTerms
	h := int64(spec.History)
	// the rule's pattern teaches; the report pattern (when there is one) also lets it report
	reports := map[*pending]bool{}
	var order []job
	for _, j := range js {
		switch j.step {
		case 0:
			order = append(order, j)
		case 1:
			reports[j.p] = true
		}
	}
	slices.SortFunc(order, func(a, b job) int { return cmp.Compare(a.p.ID, b.p.ID) })
	var out []finding.Finding
	for _, j := range order {
		p := j.p
		vals, scopeVals := j.v[:len(spec.Fields)], j.v[len(spec.Fields):]
		tk, sk := key(vals), key(scopeVals)
		lastSeen, seen, err := r.terms.get(ctx, tk, p.T)
		if err != nil {
			return nil, err
		}
		isNew := !seen || p.T-lastSeen > h
		sc, ok, err := r.scopes.get(ctx, sk, p.T)
		if err != nil {
			return nil, err
		}
		if !ok {
			sc = scope{First: p.T}
		}
		start := e.st.meta.Start
		if len(spec.LearnBy) > 0 {
			start = sc.First
		}
		known := sc.Known[:0:0]
		for _, x := range sc.Known {
			if x.T > p.T-h && x.ID != tk {
				known = append(known, x)
			}
		}
		report := (spec.Report == "" || reports[p]) && isNew && p.T-start >= int64(spec.Learn) &&
			(spec.MaxKnown == 0 || len(known) > 0 && len(known) <= spec.MaxKnown)
		if report {
			out = append(out, e.build(r, p, []ref{refOf(p, 0)}, map[string]string{
				"terms": strings.Join(vals, ", "), "group": strings.Join(scopeVals, ", "), "count": "1",
			}))
		}
		if err := r.terms.put(ctx, tk, max(lastSeen, p.T), max(lastSeen, p.T)+h, p.T); err != nil {
			return nil, err
		}
		if spec.MaxKnown > 0 {
			// remember up to MaxKnown+1 tuples: enough to tell a scope that roams
			known = append(known, ref{T: p.T, ID: tk})
			if n := spec.MaxKnown + 1; len(known) > n {
				known = known[len(known)-n:]
			}
		}
		sc.Known, sc.Last = known, max(sc.Last, p.T)
		if err := r.scopes.put(ctx, sk, sc, sc.Last+h, p.T); err != nil {
			return nil, err
		}
	}
	return out, nil
}
