package notify

import (
	"context"
	"fmt"
	"slices"

	"github.com/trailbell/trailbell/internal/finding"
)

// Matcher is what routing needs of the event-pattern language; *pattern.Matcher has it.
// Patterns are matched against the finding's JSON (the same document the webhook sends).
type Matcher interface {
	Add(id, pattern string) error
	Match(event []byte) ([]string, error)
}

// Route is a node of the routing tree. A finding enters at the root, which takes it only
// when its own conditions hold; among a node's children, the first that matches takes the
// finding (and later siblings too when it says Continue); when no child matches, the
// node's own receiver gets it.
type Route struct {
	Receiver    string // empty: inherit the parent's
	MinSeverity finding.Severity
	Rules       []string // rule ids; empty: any
	Accounts    []string // account ids; empty: any
	// Actors are people or workloads behind the call (finding.Actor's id or name); empty:
	// any. A finding whose actor is unknown matches no list.
	Actors   []string
	Tags     []string // any of these tags; empty: any
	Match    string   // event pattern over the finding's JSON; empty: any
	Continue bool
	Routes   []Route
	// Path names the node in errors, like "notify.route.routes[2]".
	Path string
}

type route struct {
	id       string // matcher id, "" without a pattern
	receiver *queue
	minSev   finding.Severity
	rules    []string
	accounts []string
	actors   []string
	tags     []string
	cont     bool
	children []*route
}

func compileRoute(r Route, parent string, m Matcher, path string, queues map[string]*queue) (*route, error) {
	if r.Path != "" {
		path = r.Path
	}
	c := &route{minSev: r.MinSeverity, rules: r.Rules, accounts: r.Accounts, actors: r.Actors, tags: r.Tags, cont: r.Continue}
	name := r.Receiver
	if name == "" {
		name = parent
	}
	if name == "" {
		return nil, fmt.Errorf("%s.receiver: required at the root of the route tree", path)
	}
	if c.receiver = queues[name]; c.receiver == nil {
		return nil, fmt.Errorf("%s.receiver: no receiver named %q", path, name)
	}
	if r.Match != "" {
		c.id = "route:" + path
		if err := addPattern(m, c.id, r.Match, path); err != nil {
			return nil, err
		}
	}
	for i, child := range r.Routes {
		cc, err := compileRoute(child, name, m, fmt.Sprintf("%s.routes[%d]", path, i), queues)
		if err != nil {
			return nil, err
		}
		c.children = append(c.children, cc)
	}
	return c, nil
}

// addPattern adds the match pattern of the node at path to m under id.
func addPattern(m Matcher, id, pattern, path string) error {
	if m == nil {
		return fmt.Errorf("%s.match: no pattern matcher configured", path)
	}
	if err := m.Add(id, pattern); err != nil {
		return fmt.Errorf("%s.match: %w", path, err)
	}
	return nil
}

func (r *route) matches(a *admission) (bool, error) {
	f := a.f
	switch {
	case f.Severity < r.minSev,
		len(r.rules) > 0 && !slices.Contains(r.rules, f.Rule),
		len(r.accounts) > 0 && !slices.Contains(r.accounts, f.Account),
		len(r.actors) > 0 && (f.Actor == nil || !slices.Contains(r.actors, f.Actor.ID) && !slices.Contains(r.actors, f.Actor.Name)),
		len(r.tags) > 0 && !slices.ContainsFunc(r.tags, func(t string) bool { return slices.Contains(f.Tags, t) }):
		return false, nil
	}
	if r.id == "" {
		return true, nil
	}
	return a.hit(r.id)
}

// receivers appends the receivers a goes to below r (r itself matched).
func (r *route) receivers(a *admission, out []*queue) ([]*queue, error) {
	matched := false
	for _, c := range r.children {
		ok, err := c.matches(a)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if out, err = c.receivers(a, out); err != nil {
			return nil, err
		}
		matched = true
		if !c.cont {
			break
		}
	}
	if !matched && !slices.Contains(out, r.receiver) {
		out = append(out, r.receiver)
	}
	return out, nil
}

// routeStage decides which receivers get a finding: the route tree, from its root (whose
// own conditions apply like any node's), then each receiver's minimum severity.
type routeStage struct {
	root *route
	m    *Metrics
}

func (s routeStage) admit(_ context.Context, a *admission) (bool, error) {
	ok, err := s.root.matches(a)
	if err != nil {
		return false, err
	}
	if !ok {
		s.m.unrouted.Inc()
		return false, nil
	}
	to, err := s.root.receivers(a, nil)
	if err != nil {
		return false, err
	}
	a.to = slices.DeleteFunc(to, func(q *queue) bool {
		if a.f.Severity < q.MinSeverity {
			q.m.filtered.Inc()
			return true
		}
		return false
	})
	return len(a.to) > 0, nil
}
