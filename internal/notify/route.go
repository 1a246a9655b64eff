package notify

import (
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

// Route is a node of the routing tree. A finding enters at the root; among a node's
// children, the first that matches takes the finding (and later siblings too when it says
// Continue); when no child matches, the node's own receiver gets it.
type Route struct {
	Receiver    string // empty: inherit the parent's
	MinSeverity finding.Severity
	Rules       []string // rule ids; empty: any
	Accounts    []string // account ids; empty: any
	Tags        []string // any of these tags; empty: any
	Match       string   // event pattern over the finding's JSON; empty: any
	Continue    bool
	Routes      []Route
	// Path names the node in errors, like "notify.route.routes[2]".
	Path string
}

// Exception suppresses findings: those of Rules (any rule when empty) whose JSON matches
// the pattern Match (every finding of those rules when empty), e.g. the Terraform role.
type Exception struct {
	Name  string
	Rules []string
	Match string
	Path  string
}

type route struct {
	id       string // matcher id, "" without a pattern
	receiver string
	minSev   finding.Severity
	rules    []string
	accounts []string
	tags     []string
	cont     bool
	children []*route
}

type exception struct {
	id, name string
	rules    []string
}

func compileRoute(r Route, parent string, m Matcher, path string, receivers map[string]*receiver) (*route, error) {
	if r.Path != "" {
		path = r.Path
	}
	c := &route{receiver: r.Receiver, minSev: r.MinSeverity, rules: r.Rules, accounts: r.Accounts, tags: r.Tags, cont: r.Continue}
	if c.receiver == "" {
		c.receiver = parent
	}
	if c.receiver == "" {
		return nil, fmt.Errorf("%s.receiver: required at the root of the route tree", path)
	}
	if _, ok := receivers[c.receiver]; !ok {
		return nil, fmt.Errorf("%s.receiver: no receiver named %q", path, c.receiver)
	}
	if r.Match != "" {
		if m == nil {
			return nil, fmt.Errorf("%s.match: no pattern matcher configured", path)
		}
		c.id = "route:" + path
		if err := m.Add(c.id, r.Match); err != nil {
			return nil, fmt.Errorf("%s.match: %w", path, err)
		}
	}
	for i, child := range r.Routes {
		cc, err := compileRoute(child, c.receiver, m, fmt.Sprintf("%s.routes[%d]", path, i), receivers)
		if err != nil {
			return nil, err
		}
		c.children = append(c.children, cc)
	}
	return c, nil
}

func (r *route) matches(f *finding.Finding, hit map[string]bool) bool {
	if f.Severity < r.minSev {
		return false
	}
	if len(r.rules) > 0 && !slices.Contains(r.rules, f.Rule) {
		return false
	}
	if len(r.accounts) > 0 && !slices.Contains(r.accounts, f.Account) {
		return false
	}
	if len(r.tags) > 0 && !slices.ContainsFunc(r.tags, func(t string) bool { return slices.Contains(f.Tags, t) }) {
		return false
	}
	return r.id == "" || hit[r.id]
}

// receivers appends the names of the receivers f is routed to.
func (r *route) receivers(f *finding.Finding, hit map[string]bool, out []string) []string {
	matched := false
	for _, c := range r.children {
		if !c.matches(f, hit) {
			continue
		}
		out = c.receivers(f, hit, out)
		matched = true
		if !c.cont {
			break
		}
	}
	if !matched && !slices.Contains(out, r.receiver) {
		out = append(out, r.receiver)
	}
	return out
}

// hasPatterns reports whether any node needs the matcher.
func (r *route) hasPatterns() bool {
	if r.id != "" {
		return true
	}
	return slices.ContainsFunc(r.children, (*route).hasPatterns)
}
