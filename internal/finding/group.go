package finding

import (
	"cmp"
	"slices"
)

// GroupKey names the group of repeats f belongs to: its rule and principal. Repeats are
// merged into one summary message, and threaded together where the destination can.
func (f *Finding) GroupKey() string { return f.Rule + "\x00" + f.Principal }

// SameGroup reports whether all of fs (at least one) share one rule and principal: one
// summary of repeats rather than a digest of different findings.
func SameGroup(fs []*Finding) bool {
	for _, f := range fs[1:] {
		if f.Rule != fs[0].Rule || f.Principal != fs[0].Principal {
			return false
		}
	}
	return true
}

// Worst is the highest severity among fs (at least one finding).
func Worst(fs []*Finding) Severity {
	s := fs[0].Severity
	for _, f := range fs[1:] {
		s = max(s, f.Severity)
	}
	return s
}

// EventKey identifies the event a finding is about: its account and eventID. Findings with
// one key are one alert (Merge). The zero key (no eventID) is no event: such a finding is
// always an alert alone.
type EventKey struct{ Account, EventID string }

// EventKey is f's event, or the zero key when f has no eventID.
func (f *Finding) EventKey() EventKey {
	if f.EventID == "" {
		return EventKey{}
	}
	return EventKey{f.Account, f.EventID}
}

// Merge makes one alert of the findings of one event (at least one, see EventKey): a copy of
// the most severe, the first of equals, with the others listed in its Also, most severe
// first, each rule once. The findings themselves are not changed.
func Merge(fs []*Finding) *Finding {
	lead := 0
	for i, f := range fs {
		if f.Severity > fs[lead].Severity {
			lead = i
		}
	}
	m := *fs[lead]
	m.Also = slices.Clone(m.Also)
	for i, f := range fs {
		if i == lead || f.Rule == m.Rule || slices.ContainsFunc(m.Also, func(a Match) bool { return a.Rule == f.Rule }) {
			continue
		}
		m.Also = append(m.Also, Match{Rule: f.Rule, Severity: f.Severity, Title: f.Title, Tags: f.Tags, Runbook: f.Runbook})
	}
	slices.SortStableFunc(m.Also, func(a, b Match) int { return cmp.Compare(b.Severity, a.Severity) })
	return &m
}
