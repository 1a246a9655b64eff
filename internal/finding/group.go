package finding

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
