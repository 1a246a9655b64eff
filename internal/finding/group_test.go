package finding

import "testing"

func TestGroups(t *testing.T) {
	a := &Finding{Rule: "r", Principal: "alice", Severity: Low}
	a2 := &Finding{Rule: "r", Principal: "alice", Severity: Critical}
	b := &Finding{Rule: "r", Principal: "bob", Severity: Medium}
	if !SameGroup([]*Finding{a}) || !SameGroup([]*Finding{a, a2}) || SameGroup([]*Finding{a, a2, b}) {
		t.Error("SameGroup: one finding and repeats of rule and principal are one group; another principal is not")
	}
	if a.GroupKey() != a2.GroupKey() || a.GroupKey() == b.GroupKey() {
		t.Error("GroupKey must name rule and principal")
	}
	// A rule id cannot run into a principal: ("ab","c") and ("a","bc") differ.
	if (&Finding{Rule: "ab", Principal: "c"}).GroupKey() == (&Finding{Rule: "a", Principal: "bc"}).GroupKey() {
		t.Error("GroupKey is ambiguous")
	}
	if Worst([]*Finding{a, b}) != Medium || Worst([]*Finding{b, a2, a}) != Critical {
		t.Error("Worst is the highest severity")
	}
}
