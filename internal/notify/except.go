package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/trailbell/trailbell/internal/finding"
)

// Exception suppresses findings: those of Rules (any rule when empty) whose JSON matches
// the pattern Match (every finding of those rules when empty), e.g. the Terraform role.
type Exception struct {
	Name  string
	Rules []string
	Match string
	Path  string
}

type exception struct {
	id, name string
	rules    []string
}

// Muter says whether a finding is muted: a time-bound exception people made from an alert
// and keep in the state store (triage.Service), named by its id.
type Muter interface {
	Muted(ctx context.Context, f *finding.Finding) (id string, muted bool)
}

// exceptStage drops the findings an exception matches (known automation, accepted noise), and
// those a mute in force silences.
type exceptStage struct {
	list  []exception
	mutes Muter // nil: none
	m     *Metrics
	log   *slog.Logger
}

func compileExceptions(es []Exception, m Matcher) ([]exception, error) {
	var out []exception
	for i, e := range es {
		path := e.Path
		if path == "" {
			path = fmt.Sprintf("exceptions[%d]", i)
		}
		x := exception{name: e.Name, rules: e.Rules}
		if x.name == "" {
			x.name = path
		}
		if e.Match != "" {
			x.id = "exception:" + path
			if err := addPattern(m, x.id, e.Match, path); err != nil {
				return nil, err
			}
		} else if len(e.Rules) == 0 {
			return nil, fmt.Errorf("%s: an exception needs rules or match (it would silence everything)", path)
		}
		out = append(out, x)
	}
	return out, nil
}

func (s exceptStage) admit(ctx context.Context, a *admission) (bool, error) {
	for _, x := range s.list {
		if len(x.rules) > 0 && !slices.Contains(x.rules, a.f.Rule) {
			continue
		}
		if x.id != "" {
			if hit, err := a.hit(x.id); err != nil || !hit {
				if err != nil {
					return false, err
				}
				continue
			}
		}
		s.m.suppressed.Inc()
		s.log.Debug("finding suppressed by exception", "exception", x.name, "rule", a.f.Rule, "eventID", a.f.EventID)
		return false, nil
	}
	if s.mutes != nil {
		if id, ok := s.mutes.Muted(ctx, a.f); ok {
			s.m.suppressed.Inc()
			s.log.Info("finding muted", "mute", id, "rule", a.f.Rule, "eventID", a.f.EventID, "principal", a.f.Principal)
			return false, nil
		}
	}
	return true, nil
}
