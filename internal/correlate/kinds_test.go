package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const thresholdRule = `
rules:
  - id: denied-sweep
    title: "{actor} denied on {count} services in {window}: {values}"
    severity: medium
    kind: threshold
    pattern: {detail: {errorCode: ["AccessDenied"]}}
    threshold: {group_by: [actor], window: 10m, count: 4, distinct: eventSource}
`

func denied(id string, at time.Time, who []any, service string) map[string]any {
	return rec(id, at, with(who, "eventSource", service, "eventName", "List", "errorCode", "AccessDenied")...)
}

func TestThreshold(t *testing.T) {
	services := []string{"s3.amazonaws.com", "ec2.amazonaws.com", "iam.amazonaws.com", "kms.amazonaws.com", "rds.amazonaws.com"}
	alice, bob := user("alice"), user("bob")
	cases := []scenarioCase{
		{"fourth service fires", []map[string]any{
			denied("a1", t0, alice, services[0]), denied("a2", t0.Add(time.Minute), alice, services[1]),
			denied("a3", t0.Add(2*time.Minute), alice, services[1]), // a repeat of a value counts once
			denied("a4", t0.Add(3*time.Minute), alice, services[2]), denied("a5", t0.Add(4*time.Minute), alice, services[3]),
			denied("a6", t0.Add(5*time.Minute), alice, services[4]), // the group is quiet after a finding
		}, []string{"denied-sweep/a5"}},
		{"spread over more than the window", []map[string]any{
			denied("b1", t0, alice, services[0]), denied("b2", t0.Add(4*time.Minute), alice, services[1]),
			denied("b3", t0.Add(8*time.Minute), alice, services[2]), denied("b4", t0.Add(12*time.Minute), alice, services[3]),
		}, nil},
		{"two callers are two groups", []map[string]any{
			denied("c1", t0, alice, services[0]), denied("c2", t0, bob, services[1]),
			denied("c3", t0, alice, services[2]), denied("c4", t0, bob, services[3]),
		}, nil},
		{"quiet for a window, then counts again", []map[string]any{
			denied("d1", t0, alice, services[0]), denied("d2", t0, alice, services[1]),
			denied("d3", t0, alice, services[2]), denied("d4", t0, alice, services[3]),
			denied("d5", t0.Add(11*time.Minute), alice, services[0]), denied("d6", t0.Add(11*time.Minute), alice, services[1]),
			denied("d7", t0.Add(12*time.Minute), alice, services[2]), denied("d8", t0.Add(13*time.Minute), alice, services[3]),
		}, []string{"denied-sweep/d4", "denied-sweep/d8"}},
	}
	runCases(t, thresholdRule, cases)
	h := newHarness(t, thresholdRule, Options{})
	fs := h.stream(denied("a1", t0, alice, services[0]), denied("a2", t0.Add(time.Minute), alice, services[1]),
		denied("a3", t0.Add(2*time.Minute), alice, services[2]), denied("a4", t0.Add(3*time.Minute), alice, services[3]))
	if len(fs) != 1 {
		t.Fatalf("findings %v", keys(fs))
	}
	f := fs[0]
	if f.Title != "alice denied on 4 services in 10m: s3.amazonaws.com, ec2.amazonaws.com, iam.amazonaws.com, kms.amazonaws.com" {
		t.Errorf("title %q", f.Title)
	}
	if !slices.Equal(f.Related, []string{"a1", "a2", "a3"}) || len(f.Events) != 4 || f.Events[3].Value != services[3] {
		t.Errorf("related %v events %+v", f.Related, f.Events)
	}
	if f.Actor == nil || f.Actor.ID != "arn:aws:iam::111122223333:user/alice" || f.Origin != "test a4" {
		t.Errorf("actor %+v origin %q", f.Actor, f.Origin)
	}
}

const historyRule = `
rules:
  - id: discovery
    title: "{actor} listed IAM"
    severity: medium
    kind: threshold
    pattern: {detail: {eventSource: ["iam.amazonaws.com"]}}
    threshold: {group_by: [actor], window: 10m, count: 3, distinct: eventName, history: 7d}
`

func sweep(id string, at time.Time, who []any) []map[string]any {
	var out []map[string]any
	for i, n := range []string{"ListUsers", "ListRoles", "ListPolicies"} {
		out = append(out, rec(fmt.Sprintf("%s-%d", id, i), at.Add(time.Duration(i)*time.Second), with(who, "eventSource", "iam.amazonaws.com", "eventName", n)...))
	}
	return out
}

func TestThresholdHistory(t *testing.T) {
	day := 24 * time.Hour
	var recs []map[string]any
	recs = append(recs, rec("start", t0, "eventName", "Any")) // the stream begins
	for d := range 10 {
		recs = append(recs, sweep(fmt.Sprintf("ops%d", d), t0.Add(time.Duration(d)*day+time.Hour), user("ops"))...)
	}
	recs = append(recs, sweep("new", t0.Add(3*day), user("intruder"))...)  // still learning
	recs = append(recs, sweep("new2", t0.Add(9*day), user("stranger"))...) // a first sweep after learning
	h := newHarness(t, historyRule, Options{})
	if got, want := keys(h.stream(recs...)), []string{"discovery/new2-2"}; !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v (ops sweeps every day: quiet)", got, want)
	}
}

const sequenceRule = `
rules:
  - id: escalation
    title: "{actor} made a user and gave it admin: {steps}"
    severity: high
    kind: sequence
    sequence:
      by: [actor]
      window: 1h
      steps:
        - name: user created
          pattern: {detail: {eventName: ["CreateUser"]}}
          by: [requestParameters.userName]
        - name: credentials
          pattern: {detail: {eventName: ["CreateAccessKey", "CreateLoginProfile"]}}
          by: [requestParameters.userName]
        - name: admin
          pattern: {detail: {eventName: ["AttachUserPolicy"], requestParameters: {policyArn: [{suffix: "/AdministratorAccess"}]}}}
          by: [requestParameters.userName]
  - id: login-after-failures
    title: "{count} failures then a sign-in from {group}"
    severity: high
    kind: sequence
    sequence:
      window: 15m
      by: [sourceIPAddress]
      steps:
        - pattern: {detail: {eventName: ["ConsoleLogin"], responseElements: {ConsoleLogin: ["Failure"]}}}
          count: 3
        - pattern: {detail: {eventName: ["ConsoleLogin"], responseElements: {ConsoleLogin: ["Success"]}}}
`

func iam(id string, at time.Time, who []any, name, target string, more ...any) map[string]any {
	return rec(id, at, with(with(who, "eventSource", "iam.amazonaws.com", "eventName", name, "requestParameters.userName", target), more...)...)
}

func admin(id string, at time.Time, who []any, target string) map[string]any {
	return iam(id, at, who, "AttachUserPolicy", target, "requestParameters.policyArn", "arn:aws:iam::aws:policy/AdministratorAccess")
}

func login(id string, at time.Time, ip, result string) map[string]any {
	return rec(id, at, with(user("x"), "eventSource", "signin.amazonaws.com", "eventName", "ConsoleLogin",
		"eventType", "AwsConsoleSignIn", "sourceIPAddress", ip, "responseElements.ConsoleLogin", result)...)
}

func TestSequence(t *testing.T) {
	mal, other := user("mallory"), user("ops")
	m := time.Minute
	cases := []scenarioCase{
		{"the chain", []map[string]any{
			iam("s1", t0, mal, "CreateUser", "eve"), iam("s2", t0.Add(m), mal, "CreateAccessKey", "eve"), admin("s3", t0.Add(2*m), mal, "eve"),
		}, []string{"escalation/s3"}},
		{"same second, in any order within it", []map[string]any{
			admin("z3", t0, mal, "eve"), iam("z2", t0, mal, "CreateLoginProfile", "eve"), iam("z1", t0, mal, "CreateUser", "eve"),
		}, []string{"escalation/z3"}},
		{"another actor finishes it", []map[string]any{
			iam("o1", t0, mal, "CreateUser", "eve"), iam("o2", t0.Add(m), mal, "CreateAccessKey", "eve"), admin("o3", t0.Add(2*m), other, "eve"),
		}, nil},
		{"another user", []map[string]any{
			iam("u1", t0, mal, "CreateUser", "eve"), iam("u2", t0.Add(m), mal, "CreateAccessKey", "eve"), admin("u3", t0.Add(2*m), mal, "bob"),
		}, nil},
		{"out of order in time", []map[string]any{
			iam("r2", t0, mal, "CreateAccessKey", "eve"), iam("r1", t0.Add(m), mal, "CreateUser", "eve"), admin("r3", t0.Add(2*m), mal, "eve"),
		}, nil},
		{"longer than the window", []map[string]any{
			iam("w1", t0, mal, "CreateUser", "eve"), iam("w2", t0.Add(30*m), mal, "CreateAccessKey", "eve"), admin("w3", t0.Add(61*m), mal, "eve"),
		}, nil},
		{"one finding per chain", []map[string]any{
			iam("t1", t0, mal, "CreateUser", "eve"), iam("t2", t0.Add(m), mal, "CreateAccessKey", "eve"),
			admin("t3", t0.Add(2*m), mal, "eve"), admin("t4", t0.Add(3*m), mal, "eve"),
		}, []string{"escalation/t3"}},
		{"failures then success", []map[string]any{
			login("l1", t0, "198.51.100.7", "Failure"), login("l2", t0.Add(m), "198.51.100.7", "Failure"),
			login("l3", t0.Add(2*m), "198.51.100.7", "Failure"), login("l4", t0.Add(3*m), "198.51.100.7", "Failure"),
			login("l5", t0.Add(4*m), "198.51.100.7", "Success"),
		}, []string{"login-after-failures/l5"}},
		{"too few failures", []map[string]any{
			login("f1", t0, "198.51.100.7", "Failure"), login("f2", t0.Add(m), "198.51.100.7", "Failure"),
			login("f3", t0.Add(2*m), "198.51.100.8", "Failure"), login("f4", t0.Add(4*m), "198.51.100.7", "Success"),
		}, nil},
		{"failures slide out of the window", []map[string]any{
			login("g1", t0, "198.51.100.7", "Failure"), login("g2", t0.Add(m), "198.51.100.7", "Failure"),
			login("g3", t0.Add(2*m), "198.51.100.7", "Failure"), login("g4", t0.Add(20*m), "198.51.100.7", "Success"),
		}, nil},
	}
	runCases(t, sequenceRule, cases)
	h := newHarness(t, sequenceRule, Options{})
	fs := h.stream(iam("s1", t0, mal, "CreateUser", "eve"), iam("s2", t0.Add(m), mal, "CreateAccessKey", "eve"), admin("s3", t0.Add(2*m), mal, "eve"))
	f := fs[0]
	if f.Title != "mallory made a user and gave it admin: CreateUser → CreateAccessKey → AttachUserPolicy" ||
		!slices.Equal(f.Related, []string{"s1", "s2"}) || len(f.Events) != 3 || f.Events[0].Step != "user created" || f.Events[2].Step != "admin" {
		t.Errorf("finding %q related %v events %+v", f.Title, f.Related, f.Events)
	}
}

const newTermsRule = `
rules:
  - id: region-first-use
    title: "first use of {terms}"
    severity: low
    kind: new_terms
    pattern: {detail: {readOnly: [false]}}
    new_terms: {fields: [account, awsRegion], history: 30d, learn: 3d, learn_by: [account]}
  - id: key-new-address
    title: "{actor}'s key used from {terms}"
    severity: medium
    kind: new_terms
    pattern: {detail: {userIdentity: {accessKeyId: [{prefix: "AKIA"}]}}}
    new_terms:
      fields: [userIdentity.accessKeyId, sourceNetwork]
      report: {detail: {eventSource: ["iam.amazonaws.com"]}}
      history: 30d
      learn: 3d
      learn_by: [userIdentity.accessKeyId]
      max_known: 1
`

func TestNewTerms(t *testing.T) {
	day := 24 * time.Hour
	write := func(id string, at time.Time, account, region string) map[string]any {
		return rec(id, at, with(session("app", "s", "ASIA1"), "readOnly", false, "recipientAccountId", account, "awsRegion", region, "eventName", "RunInstances")...)
	}
	call := func(id string, at time.Time, key, ip, source string) map[string]any {
		return rec(id, at, with(user("k"+key), "userIdentity.accessKeyId", key, "sourceIPAddress", ip, "eventSource", source, "eventName", "Call")...)
	}
	cases := []scenarioCase{
		{"new region after learning", []map[string]any{
			write("n1", t0, "111", "us-east-1"), write("n2", t0.Add(day), "111", "eu-west-1"), // learning
			write("n3", t0.Add(4*day), "111", "us-east-1"), write("n4", t0.Add(5*day), "111", "ap-south-1"),
			write("n5", t0.Add(6*day), "111", "ap-south-1"),
		}, []string{"region-first-use/n4"}},
		{"a new account learns first", []map[string]any{
			write("a1", t0, "111", "us-east-1"), write("a2", t0.Add(10*day), "222", "us-east-1"), write("a3", t0.Add(11*day), "222", "eu-west-1"),
		}, nil},
		{"new again after the history", []map[string]any{
			write("h1", t0, "111", "us-east-1"), write("h2", t0.Add(4*day), "111", "eu-west-1"),
			write("h3", t0.Add(40*day), "111", "us-east-1"), write("h4", t0.Add(60*day), "111", "us-east-1"),
			write("h5", t0.Add(75*day), "111", "eu-west-1"),
		}, []string{"region-first-use/h2", "region-first-use/h5"}},
		{"an account idle for the history learns again", []map[string]any{
			write("i1", t0, "111", "us-east-1"), write("i2", t0.Add(40*day), "111", "eu-west-1"),
		}, nil},
		{"a key that always came from one address", []map[string]any{
			call("k1", t0, "AKIA1", "203.0.113.5", "s3.amazonaws.com"), call("k2", t0.Add(4*day), "AKIA1", "203.0.113.6", "s3.amazonaws.com"),
			call("k3", t0.Add(5*day), "AKIA1", "198.51.100.9", "iam.amazonaws.com"),
		}, []string{"key-new-address/k3"}},
		{"not reported outside the report pattern", []map[string]any{
			call("r1", t0, "AKIA1", "203.0.113.5", "s3.amazonaws.com"), call("r2", t0.Add(5*day), "AKIA1", "198.51.100.9", "s3.amazonaws.com"),
		}, nil},
		{"a key that roams", []map[string]any{
			call("m1", t0, "AKIA1", "203.0.113.5", "s3.amazonaws.com"), call("m2", t0.Add(day), "AKIA1", "192.0.2.1", "s3.amazonaws.com"),
			call("m3", t0.Add(5*day), "AKIA1", "198.51.100.9", "iam.amazonaws.com"),
		}, nil},
	}
	runCases(t, newTermsRule, cases)
	h := newHarness(t, newTermsRule, Options{})
	fs := h.stream(call("k1", t0, "AKIA1", "203.0.113.5", "s3.amazonaws.com"), call("k3", t0.Add(5*day), "AKIA1", "198.51.100.9", "iam.amazonaws.com"))
	if len(fs) != 1 || fs[0].Title != "kAKIA1's key used from AKIA1, 198.51.100.0/24" || len(fs[0].Related) != 0 {
		t.Errorf("findings %+v", fs)
	}
	if !strings.Contains(string(fs[0].Record), `"k3"`) {
		t.Errorf("record %s", fs[0].Record)
	}
}

// scenarioCase is a stream of records and the findings (rule/eventID) it must give.
type scenarioCase struct {
	name string
	recs []map[string]any
	want []string
}

// runCases streams each case through a fresh engine of rules.
func runCases(t *testing.T, rules string, cases []scenarioCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, rules, Options{})
			if got := keys(h.stream(c.recs...)); !slices.Equal(got, c.want) {
				t.Errorf("findings %v, want %v", got, c.want)
			}
		})
	}
}
