package detect

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

const kindRules = `
rules:
  - id: denied-sweep
    title: "{actor} denied on {count} services in {window}"
    severity: medium
    kind: threshold
    pattern: {detail: {errorCode: ["AccessDenied"]}}
    exceptions: ['{"detail": {"userIdentity": {"type": ["AWSService"]}}}']
    threshold: {group_by: [actor, account], window: 10m, count: 3, distinct: eventSource}
    samples:
      match:
        - - '{"eventID": "a", "eventTime": "2026-01-01T00:00:00Z", "errorCode": "AccessDenied"}'
          - event: '{"eventID": "b", "eventTime": "2026-01-01T00:01:00Z", "errorCode": "AccessDenied"}'
            repeat: 3
            every: 30s
      no_match:
        - ['{"eventID": "c", "eventTime": "2026-01-01T00:00:00Z"}']
  - id: escalation
    title: "{actor}: {steps}"
    severity: high
    kind: sequence
    sequence:
      by: [actor]
      window: 1h
      steps:
        - name: user created
          pattern: {detail: {eventName: ["CreateUser"]}}
          by: [responseElements.user.userName]
        - pattern: {detail: {eventName: ["CreateAccessKey"]}}
          by: [requestParameters.userName]
          count: 1
        - pattern: {detail: {eventName: ["PutUserPolicy"]}}
          predicates: [policy-allows-admin]
          by: [requestParameters.userName]
  - id: region-first-use
    title: "first use of {terms}"
    severity: low
    kind: new_terms
    pattern: {detail: {readOnly: [false]}}
    new_terms: {fields: [account, awsRegion], history: 90d, learn: 14d, learn_by: [account], max_known: 3}
`

func TestParseKinds(t *testing.T) {
	rs, err := Parse([]byte(kindRules), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	th, seq, nt := rs[0], rs[1], rs[2]
	if th.Kind != KindThreshold || !slices.Equal(th.Threshold.GroupBy, []string{"actor", "account"}) ||
		th.Threshold.Window != 10*time.Minute || th.Threshold.Count != 3 || th.Threshold.Distinct != "eventSource" {
		t.Errorf("threshold: %+v %+v", th.Kind, th.Threshold)
	}
	if steps := th.Steps(); len(steps) != 1 || steps[0].Pattern != th.Pattern || steps[0].Count != 1 {
		t.Errorf("threshold steps: %+v", steps)
	}
	var scenario []map[string]string
	if err := json.Unmarshal(th.Samples.Match[0], &scenario); err != nil {
		t.Fatal(err)
	}
	var ids, times []string
	for _, r := range scenario {
		ids, times = append(ids, r["eventID"]), append(times, r["eventTime"])
	}
	if !slices.Equal(ids, []string{"a", "b-1", "b-2", "b-3"}) ||
		!slices.Equal(times, []string{"2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:01:30Z", "2026-01-01T00:02:00Z"}) {
		t.Errorf("repeat expanded to %v %v", ids, times)
	}

	if seq.Kind != KindSequence || seq.Pattern != "" || seq.Sequence.Window != time.Hour || len(seq.Sequence.Steps) != 3 {
		t.Fatalf("sequence: %+v", seq.Sequence)
	}
	st := seq.Steps()
	if st[0].Name != "user created" || st[1].Name != "step 2" || !slices.Equal(st[2].Predicates, []string{"policy-allows-admin"}) ||
		!slices.Equal(st[2].By, []string{"requestParameters.userName"}) {
		t.Errorf("steps: %+v", st)
	}
	if nt.Kind != KindNewTerms || nt.NewTerms.History != 90*24*time.Hour || nt.NewTerms.Learn != 14*24*time.Hour ||
		nt.NewTerms.MaxKnown != 3 || !slices.Equal(nt.NewTerms.LearnBy, []string{"account"}) {
		t.Errorf("new_terms: %+v", nt.NewTerms)
	}
}

func TestParseKindErrors(t *testing.T) {
	head := "rules:\n  - id: a\n    title: t\n    severity: low\n"
	cases := []struct{ name, body, want string }{
		{"unknown kind", "    kind: counting\n    pattern: {}\n", `k.yaml:5: rule "a": kind "counting": want threshold, sequence or new_terms`},
		{"no settings", "    kind: threshold\n    pattern: {}\n", `kind threshold needs a threshold: block`},
		{"other settings", "    kind: threshold\n    pattern: {}\n    threshold: {window: 1m, count: 2}\n    new_terms: {fields: [account], history: 1d}\n",
			`new_terms: settings for kind new_terms, but the rule's kind is threshold`},
		{"settings without kind", "    pattern: {}\n    threshold: {window: 1m, count: 2}\n", `settings for kind threshold, but the rule's kind is event`},
		{"no window", "    kind: threshold\n    pattern: {}\n    threshold: {count: 2}\n", `threshold.window is required`},
		{"bad window", "    kind: threshold\n    pattern: {}\n    threshold: {window: soon, count: 2}\n", `k.yaml:7: rule "a": threshold.window: invalid duration "soon"`},
		{"count of one", "    kind: threshold\n    pattern: {}\n    threshold: {window: 1m, count: 1}\n", `threshold.count must be between 2 and 100`},
		{"bad field", "    kind: threshold\n    pattern: {}\n    threshold: {window: 1m, count: 2, group_by: [nope]}\n", `threshold.group_by[0]: unknown field "nope"`},
		{"bad distinct", "    kind: threshold\n    pattern: {}\n    threshold: {window: 1m, count: 2, distinct: nope}\n", `threshold.distinct: unknown field "nope"`},
		{"no pattern", "    kind: new_terms\n    new_terms: {fields: [account], history: 1d}\n", `pattern is required`},
		{"no fields", "    kind: new_terms\n    pattern: {}\n    new_terms: {history: 1d}\n", `new_terms.fields: name at least one field`},
		{"sequence with pattern", "    kind: sequence\n    pattern: {}\n    sequence:\n      window: 1h\n      by: [actor]\n      steps: [{pattern: {}}, {pattern: {}}]\n",
			`k.yaml:6: rule "a": pattern: a sequence has a pattern in each of its steps`},
		{"one step", "    kind: sequence\n    sequence:\n      window: 1h\n      by: [actor]\n      steps: [{pattern: {}}]\n", `sequence.steps: want 2 to 10 steps`},
		{"step without pattern", "    kind: sequence\n    sequence:\n      window: 1h\n      by: [actor]\n      steps: [{pattern: {}}, {name: x}]\n", `sequence.steps[1].pattern is required`},
		{"unpaired by", "    kind: sequence\n    sequence:\n      window: 1h\n      steps: [{pattern: {}, by: [account]}, {pattern: {}}]\n", `sequence.steps[1].by: 0 fields, but the first step joins on 1`},
		{"nothing joins", "    kind: sequence\n    sequence:\n      window: 1h\n      steps: [{pattern: {}}, {pattern: {}}]\n", `name the fields that join the steps`},
		{"step predicate", "    kind: sequence\n    sequence:\n      window: 1h\n      by: [actor]\n      steps: [{pattern: {}, predicates: [nope]}, {pattern: {}}]\n", `sequence.steps[0].predicates: unknown predicate "nope"`},
		{"bad step pattern", "    kind: sequence\n    sequence:\n      window: 1h\n      by: [actor]\n      steps:\n        - pattern: {detail: {x: 1}}\n        - pattern: {}\n", `k.yaml:10: rule "a": sequence.steps[0].pattern:`},
		{"stateful placeholder", "    pattern: {}\n", ""},
		{"scenario for event rule", "    pattern: {}\n    samples: {match: [['{}']]}\n", `samples.match[0] is not a JSON object`},
		{"record for stateful rule", "    kind: new_terms\n    pattern: {}\n    new_terms: {fields: [account], history: 1d}\n    samples: {match: ['{}']}\n",
			`samples.match[0]: want a list of records (a scenario) for a stateful rule`},
		{"bad repeat", "    kind: new_terms\n    pattern: {}\n    new_terms: {fields: [account], history: 1d}\n    samples: {match: [[{event: '{}', repeat: 2, every: 1m}]]}\n",
			`a repeated record needs eventTime and eventID strings`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := head + c.body
			if c.name == "stateful placeholder" {
				doc = strings.Replace(doc, "title: t", "title: '{count} calls'", 1)
				c.want = `title: placeholder {count} is only for threshold, sequence and new_terms rules`
			}
			_, err := Parse([]byte(doc), "k.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestMatchSteps(t *testing.T) {
	rs, err := Parse([]byte(kindRules+`
  - id: user-created
    title: "{who} created a user"
    severity: low
    pattern: {detail: {eventName: ["CreateUser"]}}
`), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(s string) []byte {
		env, err := Envelope([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	cases := []struct {
		name, record string
		findings     []string
		steps        []StepHit
		creds        bool
	}{
		{"event rule and a step", `{"eventName": "CreateUser", "eventSource": "iam.amazonaws.com", "readOnly": false}`,
			[]string{"user-created"}, []StepHit{{"escalation", 0}, {"region-first-use", 0}}, false},
		{"threshold step", `{"eventName": "ListUsers", "eventSource": "iam.amazonaws.com", "errorCode": "AccessDenied"}`,
			nil, []StepHit{{"denied-sweep", 0}}, false},
		{"exception turns the step away", `{"eventName": "ListUsers", "eventSource": "iam.amazonaws.com", "errorCode": "AccessDenied", "userIdentity": {"type": "AWSService"}}`,
			nil, nil, false},
		{"step predicate holds", `{"eventName": "PutUserPolicy", "eventSource": "iam.amazonaws.com", "requestParameters": {"policyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}`,
			nil, []StepHit{{"escalation", 2}}, false},
		{"step predicate fails", `{"eventName": "PutUserPolicy", "eventSource": "iam.amazonaws.com", "requestParameters": {"policyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"}}`,
			nil, nil, false},
		{"credentials", `{"eventName": "AssumeRole", "eventSource": "sts.amazonaws.com", "responseElements": {"credentials": {"accessKeyId": "ASIA1"}}}`,
			nil, nil, true},
		{"failed credentials", `{"eventName": "AssumeRole", "eventSource": "sts.amazonaws.com", "errorCode": "AccessDenied"}`,
			nil, []StepHit{{"denied-sweep", 0}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := e.Match(rec(c.record))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range m.Findings {
				got = append(got, f.Rule)
			}
			if !slices.Equal(got, c.findings) || !slices.Equal(m.Steps, c.steps) || m.Credentials != c.creds {
				t.Errorf("findings %v steps %v credentials %v, want %v %v %v", got, m.Steps, m.Credentials, c.findings, c.steps, c.creds)
			}
		})
	}
}

func TestRecordKey(t *testing.T) {
	env, err := Envelope([]byte(`{"eventName": "x", "sourceIPAddress": "203.0.113.77", "userIdentity": {"arn": "arn:aws:iam::1:user/a"}, "recipientAccountId": "111122223333"}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"sourceNetwork": "203.0.113.0/24", "account": "111122223333", "userIdentity.arn": "arn:aws:iam::1:user/a",
		"actor": "", "errorCode": "",
	} {
		if got := r.Key(name); got != want {
			t.Errorf("Key(%s) = %q, want %q", name, got, want)
		}
	}
	for in, want := range map[string]string{
		"2001:db8:1:2::5": "2001:db8:1::/48", "::ffff:198.51.100.9": "198.51.100.0/24", "ec2.amazonaws.com": "ec2.amazonaws.com", "": "",
	} {
		if got := Network(in); got != want {
			t.Errorf("Network(%q) = %q, want %q", in, got, want)
		}
	}
}
