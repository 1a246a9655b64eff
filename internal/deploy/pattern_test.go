package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  []string
	}{
		{
			name: "same service merges event names and drops other fields",
			rules: []Rule{
				{ID: "a", Pattern: `{"source":["aws.iam"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["iam.amazonaws.com"],"eventName":["CreateUser"],"userIdentity":{"type":["Root"]}}}`},
				{ID: "b", Pattern: `{"source":["aws.iam"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["iam.amazonaws.com"],"eventName":["AttachUserPolicy",{"prefix":"Put"}],"errorCode":[{"exists":false}]}}`},
			},
			want: []string{`{"source":["aws.iam"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["iam.amazonaws.com"],"eventName":["AttachUserPolicy","CreateUser",{"prefix":"Put"}]}}`},
		},
		{
			name: "a rule without eventName widens its group",
			rules: []Rule{
				{ID: "a", Pattern: `{"source":["aws.iam"],"detail":{"eventName":["CreateUser"]}}`},
				{ID: "b", Pattern: `{"source":["aws.iam"],"detail":{"userIdentity":{"type":["Root"]}}}`},
			},
			want: []string{`{"source":["aws.iam"]}`},
		},
		{
			name: "top-level $or becomes separate branches",
			rules: []Rule{
				{ID: "a", Pattern: `{"$or":[{"source":["aws.iam"],"detail":{"eventName":["CreateUser"]}},{"source":["aws.signin"],"detail":{"eventName":["ConsoleLogin"]}}]}`},
			},
			want: []string{`{"$or":[{"source":["aws.iam"],"detail":{"eventName":["CreateUser"]}},{"source":["aws.signin"],"detail":{"eventName":["ConsoleLogin"]}}]}`},
		},
		{
			name: "nested $or on eventName",
			rules: []Rule{
				{ID: "a", Pattern: `{"source":["aws.iam"],"detail":{"$or":[{"eventName":["CreateUser"]},{"eventName":["DeleteUser"]}]}}`},
			},
			want: []string{`{"source":["aws.iam"],"detail":{"eventName":["CreateUser","DeleteUser"]}}`},
		},
		{
			name: "$or that does not constrain a kept field leaves it open",
			rules: []Rule{
				{ID: "a", Pattern: `{"source":["aws.iam"],"detail":{"$or":[{"eventName":["CreateUser"]},{"errorCode":["AccessDenied"]}]}}`},
			},
			want: []string{`{"source":["aws.iam"]}`},
		},
		{
			name: "services with the same event names share a clause",
			rules: []Rule{
				{ID: "a", Pattern: `{"detail":{"eventSource":["macie.amazonaws.com"],"eventName":["DisableMacie"]}}`},
				{ID: "b", Pattern: `{"detail":{"eventSource":["macie2.amazonaws.com"],"eventName":["DisableMacie"]}}`},
				{ID: "c", Pattern: `{"detail":{"eventSource":["kms.amazonaws.com"],"eventName":["DisableKey"]}}`},
			},
			want: []string{`{"$or":[{"detail":{"eventSource":["kms.amazonaws.com"],"eventName":["DisableKey"]}},{"detail":{"eventSource":["macie.amazonaws.com","macie2.amazonaws.com"],"eventName":["DisableMacie"]}}]}`},
		},
		{
			name: "string operators are kept as written",
			rules: []Rule{
				{ID: "a", Pattern: `{"detail":{"userAgent":[{"wildcard":"*kali*"},{"prefix":"stratus-red-team"},{"prefix":{"equals-ignore-case":"s3 browser"}}]}}`},
				{ID: "b", Pattern: `{"source":["aws.lambda"],"detail":{"eventName":[{"suffix":"20150331"},{"equals-ignore-case":"addpermission"}]}}`},
			},
			want: []string{`{"$or":[{"detail":{"userAgent":[{"prefix":"stratus-red-team"},{"prefix":{"equals-ignore-case":"s3 browser"}},{"wildcard":"*kali*"}]}},{"source":["aws.lambda"],"detail":{"eventName":[{"equals-ignore-case":"addpermission"},{"suffix":"20150331"}]}}]}`},
		},
		{
			name: "anything-but on eventName is not kept",
			rules: []Rule{
				{ID: "a", Pattern: `{"source":["aws.s3"],"detail":{"eventName":[{"anything-but":"GetObject"}]}}`},
			},
			want: []string{`{"source":["aws.s3"]}`},
		},
		{
			name:  "a rule constraining no main field keeps its other fields",
			rules: []Rule{{ID: "a", Pattern: `{"detail":{"userIdentity":{"type":["Root"],"invokedBy":[{"exists":false}]},"eventType":[{"anything-but":["AwsServiceEvent"]}]}}`}},
			want:  []string{`{"detail":{"userIdentity":{"type":["Root"]}}}`},
		},
		{
			name:  "a rule constraining nothing representable gets every CloudTrail detail-type",
			rules: []Rule{{ID: "a", Pattern: `{"detail":{"eventType":[{"anything-but":["AwsServiceEvent"]}]}}`}},
			want:  []string{`{"detail-type":["AWS API Call via CloudTrail","AWS Console Action via CloudTrail","AWS Console Sign In via CloudTrail","AWS Insight via CloudTrail","AWS Service Event via CloudTrail"]}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Generate(tt.rules, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var gotJSON []string
			for _, p := range got {
				gotJSON = append(gotJSON, p.JSON)
			}
			if strings.Join(gotJSON, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(gotJSON, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestGenerateSplitsAtMaxSize(t *testing.T) {
	var rules []Rule
	for i := range 200 {
		rules = append(rules, Rule{ID: fmt.Sprintf("r%03d", i), Pattern: fmt.Sprintf(`{"source":["aws.iam"],"detail":{"eventName":["SomeLongishEventName%03d"]}}`, i)})
	}
	rules = append(rules, Rule{ID: "kms", Pattern: `{"source":["aws.kms"],"detail":{"eventName":["DisableKey"]}}`})
	got, err := Generate(rules, Options{MaxSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 6 {
		t.Fatalf("got %d patterns, want the 200 names split over at least 6", len(got))
	}
	names := 0
	covered := map[string]bool{}
	for _, p := range got {
		if len(p.JSON) > 1000 {
			t.Errorf("pattern of %d characters over the limit: %s", len(p.JSON), p.JSON)
		}
		names += strings.Count(p.JSON, "SomeLongishEventName")
		for _, r := range p.Rules {
			covered[r] = true
		}
	}
	if names != 200 {
		t.Errorf("%d event names in the output, want each of 200 once", names)
	}
	if len(covered) != 201 {
		t.Errorf("%d rules covered, want 201", len(covered))
	}
}

func TestGenerateErrors(t *testing.T) {
	if _, err := Generate(nil, Options{}); err == nil {
		t.Error("no rules: want an error")
	}
	_, err := Generate([]Rule{{ID: "bad", Pattern: `{"source":`}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "rule bad") {
		t.Errorf("bad pattern: err = %v, want one naming the rule", err)
	}
	long := `{"source":["aws.iam"],"detail":{"eventName":["` + strings.Repeat("x", 3000) + `"]}}`
	if _, err := Generate([]Rule{{ID: "long", Pattern: long}}, Options{}); err == nil {
		t.Error("single value over the limit: want an error")
	}
}

func TestCheckRegion(t *testing.T) {
	rules := []Rule{
		{ID: "iam", Pattern: `{"source":["aws.iam"],"detail":{"eventName":["CreateUser"]}}`},
		{ID: "by-event-source", Pattern: `{"detail":{"eventSource":["organizations.amazonaws.com"]}}`},
		{ID: "signin", Pattern: `{"source":["aws.signin"]}`},
		{ID: "kms", Pattern: `{"source":["aws.kms"]}`},
	}
	w, err := CheckRegion("us-east-1", rules)
	if err != nil || len(w) != 0 {
		t.Errorf("us-east-1: warnings %v, err %v; want none", w, err)
	}
	w, err = CheckRegion("eu-west-1", rules)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range w {
		got = append(got, x.Rule)
	}
	if strings.Join(got, ",") != "iam,by-event-source,signin" {
		t.Errorf("eu-west-1 warned about %v, want iam, by-event-source, signin", got)
	}
}

func TestCheckStale(t *testing.T) {
	gen, err := Generate([]Rule{{ID: "a", Pattern: `{"source":["aws.iam"],"detail":{"eventName":["CreateUser"]}}`}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := CheckStale([]string{`{"detail": {"eventName": ["CreateUser"]}, "source": ["aws.iam"]}`}, gen)
	if err != nil || len(w) != 0 {
		t.Errorf("same pattern reformatted: warnings %v, err %v", w, err)
	}
	w, _ = CheckStale([]string{`{"source":["aws.iam"]}`}, gen)
	if len(w) != 2 {
		t.Errorf("different pattern: %d warnings, want 2 (missing and extra)", len(w))
	}
}

func TestSimplify(t *testing.T) {
	in := []string{`"AddUserToGroup"`, `"CreateUser"`, `"Delete"`, `{"prefix":"Create"}`, `{"prefix":"CreateU"}`, `{"prefix":"Add"}`}
	got := strings.Join(simplify(in), ",")
	want := `"Delete",{"prefix":"Create"},{"prefix":"Add"}`
	if got != want {
		t.Errorf("simplify = %s, want %s", got, want)
	}
}

// Nested $or that would expand to 2^20 clauses falls back to dropping $or, quickly.
func TestGenerateOrExplosion(t *testing.T) {
	p := `{"source":["aws.iam"]`
	for i := range 20 {
		p += fmt.Sprintf(`,"f%d":{"$or":[{"a":["x"]},{"b":["y"]}]}`, i)
	}
	p += "}"
	got, err := Generate([]Rule{{ID: "boom", Pattern: p}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].JSON != `{"source":["aws.iam"]}` {
		t.Errorf("got %v, want the source alone", got)
	}
}

func TestGenerateReportsBroadRules(t *testing.T) {
	got, err := Generate([]Rule{
		{ID: "narrow", Pattern: `{"source":["aws.iam"],"detail":{"eventName":["CreateUser"]}}`},
		{ID: "broad", Pattern: `{"detail":{"userIdentity":{"type":["AssumedRole"]}}}`},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var broad []string
	for _, p := range got {
		broad = append(broad, p.Broad...)
	}
	if strings.Join(broad, ",") != "broad" {
		t.Errorf("broad rules %v, want [broad]", broad)
	}
}

func TestByVerb(t *testing.T) {
	q := func(ss ...string) []string { return quoteAll(ss) }
	got := byVerb(q("DeleteConfigRule", "DeleteConformancePack", "DeleteDeliveryChannel", "DeleteRetentionConfiguration", "StopConfigurationRecorder", "Deleted"))
	want := append(q("Deleted", "StopConfigurationRecorder"), `{"prefix":"Delete"}`)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("four deletions: got %q, want %q", got, want)
	}
	few := q("DeleteTrail", "StopLogging", "UpdateTrail")
	if got := byVerb(few); !slices.Equal(got, few) {
		t.Errorf("under %d names per verb: got %q, want them listed", minVerbGroup, got)
	}
	reads := q("GetBucketAcl", "GetBucketLogging", "GetBucketPolicy", "GetObject", "ListBuckets")
	if got := byVerb(reads); !slices.Equal(got, reads) {
		t.Errorf("reads must stay listed: got %q", got)
	}
}
