package detect

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailbell/trailbell/internal/cloudtrail"
	"github.com/trailbell/trailbell/rules"
)

// FuzzParse: rule files never panic the loader; accepted rules compile.
func FuzzParse(f *testing.F) {
	entries, _ := rules.FS.ReadDir(".")
	for _, e := range entries[:5] {
		b, _ := rules.FS.ReadFile(e.Name())
		f.Add(b)
	}
	f.Add([]byte("rules:\n  - id: a\n    title: '{principal}'\n    severity: low\n    pattern: {detail: {eventName: [X]}}\n"))
	f.Add([]byte("rules: [{id: a, title: t, severity: low, pattern: '{\"a\": [1e400]}'}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if _, err := New(rs); err != nil && !strings.Contains(err.Error(), "duplicate rule id") {
			t.Fatalf("parsed rules do not compile: %v", err)
		}
	})
}

// FuzzDetect: any record, however messy, gives findings with a title and no panic.
func FuzzDetect(f *testing.F) {
	for _, r := range builtin(f) {
		for _, s := range r.Samples.Match {
			f.Add([]byte(s))
		}
	}
	f.Add([]byte(`{"eventSource":"iam.amazonaws.com","eventName":"PutUserPolicy","eventType":"AwsApiCall","requestParameters":{"policyDocument":"%7B%22Statement%22%3A%22x"}}`))
	f.Add([]byte(`{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall","userIdentity":null,"requestParameters":"null"}`))
	e, err := New(builtin(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		if !json.Valid(rec) {
			return
		}
		env, err := cloudtrail.Lift(rec)
		if err != nil {
			return
		}
		fs, err := e.Detect(env)
		if err != nil {
			return
		}
		for _, fd := range fs {
			if fd.Title == "" || fd.Principal == "" {
				t.Fatalf("%s: empty title or principal for %s", fd.Rule, rec)
			}
		}
	})
}

// FuzzEnvelopeRecord: the fast path for Lift-shaped envelopes finds the same record as
// decoding the envelope, and accepts nothing that decoding rejects.
func FuzzEnvelopeRecord(f *testing.F) {
	f.Add([]byte(`{"version":"0","id":"i","source":"aws.iam","resources":[],"detail":{"eventName":"X"}}`))
	f.Add([]byte(`{"version":"0","resources":[],"detail":{"a":1},"detail":{"b":2}}`))
	f.Add([]byte(`{"a":"\\","resources":[],"detail":{"eventName":"X"} }`))
	f.Add([]byte(`{"a":{"resources":[],"detail":{}},"detail":{"eventName":"X"}}`))
	f.Fuzz(func(t *testing.T, env []byte) {
		got, err := envelopeRecord(env)
		want, werr := envelopeRecordGeneral(env)
		if (err == nil) != (werr == nil) {
			t.Fatalf("fast path error %v, general %v", err, werr)
		}
		if err == nil && string(got.raw) != string(want.raw) {
			t.Fatalf("fast path record %q, general %q", got.raw, want.raw)
		}
	})
}

// FuzzPredicatePreChecks: a predicate's byte-level pre-check never turns away an envelope for
// which the predicate holds, whatever the spacing, escapes and repeated keys of the JSON.
func FuzzPredicatePreChecks(f *testing.F) {
	for _, r := range builtin(f) {
		for _, s := range r.Samples.Match {
			f.Add([]byte(s))
		}
	}
	for _, s := range []string{
		`{"detail":{"eventSource":"iam.amazonaws.com","userAgent" :	"TRUFFLEHOG"}}`,
		`{"detail":{"eventSource":"sts.amazonaws.com","\u0075serAgent":"pacu"}}`,
		`{"detail":{"userAgent":"x","userAgent":"S3 Browser\/11"}}`,
		`{"detail":{"userAgent":null,"requestParameters":{"userAgent":"kali"}}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","userAgent":"Stratus-Red-Team_1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		env, err := Envelope(raw)
		if err != nil {
			return
		}
		rec, err := envelopeRecord(env)
		if err != nil {
			return
		}
		for name, p := range predicates {
			if p.maybe != nil && p.holds(rec) && !p.maybe(env) {
				t.Fatalf("%s holds but its pre-check turns away %s", name, env)
			}
		}
		if name, env, _ := preChecksTurnAway(raw); name != "" {
			t.Fatalf("%s holds but its pre-check on the decoder's members turns away %s", name, env)
		}
	})
}
