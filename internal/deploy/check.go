package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// HomeRegion is where EventBridge receives the CloudTrail events of AWS's global services.
const HomeRegion = "us-east-1"

// globalSources are EventBridge sources whose CloudTrail events are delivered only to the
// default bus in us-east-1: a rule for them anywhere else never fires.
var globalSources = map[string]string{
	"aws.iam":           "IAM",
	"aws.organizations": "Organizations",
	"aws.cloudfront":    "CloudFront",
	"aws.route53":       "Route 53",
}

// mostlyGlobalSources have some events in other regions but the ones rules usually want
// (root and IAM-user console sign-in, calls to the global STS endpoint) land in us-east-1.
var mostlyGlobalSources = map[string]string{
	"aws.signin": "console sign-in",
	"aws.sts":    "STS (global endpoint)",
}

// Warning is one problem found by a check.
type Warning struct {
	Rule    string // rule id, when the warning is about one rule
	Message string
}

func (w Warning) String() string {
	if w.Rule == "" {
		return w.Message
	}
	return w.Rule + ": " + w.Message
}

// CheckRegion warns about rules that would be deployed to an EventBridge rule in region but
// watch events EventBridge only delivers in us-east-1.
func CheckRegion(region string, rules []Rule) ([]Warning, error) {
	if region == "" {
		return nil, fmt.Errorf("no region given")
	}
	var out []Warning
	for _, r := range rules {
		srcs, err := Sources(r)
		if err != nil {
			return nil, err
		}
		if region == HomeRegion {
			continue // every rule fires here; Sources above still reports a broken pattern
		}
		for _, s := range srcs {
			if name, ok := globalSources[s]; ok {
				out = append(out, Warning{Rule: r.ID, Message: fmt.Sprintf(
					"%s events reach EventBridge only in %s; deployed in %s this rule never fires",
					name, HomeRegion, region)})
			} else if name, ok := mostlyGlobalSources[s]; ok {
				out = append(out, Warning{Rule: r.ID, Message: fmt.Sprintf(
					"most %s events reach EventBridge only in %s; deployed in %s this rule misses them",
					name, HomeRegion, region)})
			}
		}
	}
	return out, nil
}

// Sources returns the EventBridge sources a rule can match, from its source field or, when
// that is unconstrained, its detail.eventSource ("iam.amazonaws.com" → "aws.iam"). A rule
// that constrains neither returns nil.
func Sources(r Rule) ([]string, error) {
	cs, err := ruleClauses(r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		switch {
		case c.values["source"] != nil:
			for _, v := range c.values["source"] {
				if s, ok := unquote(v); ok {
					out = append(out, s)
				}
			}
		case c.values[eventSource] != nil:
			for _, v := range c.values[eventSource] {
				if s, ok := unquote(v); ok {
					if svc, ok := strings.CutSuffix(s, ".amazonaws.com"); ok {
						out = append(out, "aws."+svc)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// unquote returns the string of an exact-match matcher; prefixes return false.
func unquote(m string) (string, bool) {
	if !strings.HasPrefix(m, `"`) {
		return "", false
	}
	var s string
	if err := json.Unmarshal([]byte(m), &s); err != nil {
		return "", false
	}
	return s, true
}

// CheckStale compares the patterns a template deploys with the ones generated from the
// enabled rules and warns when they differ, since a stale pre-filter drops events of new rules.
func CheckStale(deployed []string, generated []Pattern) ([]Warning, error) {
	want := make([]string, len(generated))
	for i, p := range generated {
		c, err := Compact(p.JSON)
		if err != nil {
			return nil, fmt.Errorf("generated pattern %d: %w", i+1, err)
		}
		want[i] = c
	}
	have := make([]string, 0, len(deployed))
	for i, d := range deployed {
		c, err := Compact(d)
		if err != nil {
			return nil, fmt.Errorf("deployed pattern %d: %w", i+1, err)
		}
		have = append(have, c)
	}
	var out []Warning
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, Warning{Message: fmt.Sprintf(
				"generated pattern is not deployed (regenerate with `trailbell deploy pattern`): %s", w)})
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			out = append(out, Warning{Message: fmt.Sprintf("deployed pattern is not generated from the enabled rules: %s", h)})
		}
	}
	return out, nil
}
