package finding

import (
	"strings"
	"testing"
)

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

func TestMerge(t *testing.T) {
	write := &Finding{Rule: "iam-write", Severity: Low, Title: "alice changed IAM", EventID: "e1", Account: "1"}
	admin := &Finding{Rule: "admin-policy-attached", Severity: High, Title: "alice attached AdministratorAccess", EventID: "e1", Account: "1", Runbook: "detach it"}
	user := &Finding{Rule: "user-created", Severity: Medium, Title: "alice created bob", EventID: "e1", Account: "1"}
	tie := &Finding{Rule: "admin-other", Severity: High, Title: "second high", EventID: "e1", Account: "1"}

	m := Merge([]*Finding{write, admin, user, tie, write})
	if m.Rule != "admin-policy-attached" || m.Runbook != "detach it" {
		t.Errorf("lead is %s; want the most severe, the first of equals", m.Rule)
	}
	var got []string
	for _, a := range m.Also {
		got = append(got, a.Rule+":"+a.Severity.String())
	}
	if want := "admin-other:high user-created:medium iam-write:low"; strings.Join(got, " ") != want {
		t.Errorf("also = %v; want %s (most severe first, each rule once)", got, want)
	}
	if admin.Also != nil || m == admin {
		t.Error("Merge changed a finding it was given")
	}
	if one := Merge([]*Finding{write}); one.Rule != "iam-write" || len(one.Also) != 0 {
		t.Errorf("one finding merges to itself, got %+v", one)
	}

	if write.EventKey() != admin.EventKey() {
		t.Error("findings of one event share its key")
	}
	if (&Finding{EventID: "e1", Account: "2"}).EventKey() == write.EventKey() {
		t.Error("the same eventID in another account is another event")
	}
	if (&Finding{Account: "1"}).EventKey() != (EventKey{}) {
		t.Error("a finding without an eventID has no event key")
	}
}
