package detect

import (
	"strings"
	"testing"
)

// TestPredicateMaybeIsNecessary: a byte-level pre-check must never turn away a record whose
// predicate holds, including when the telling text is escaped (JSON \u, URL %2A).
func TestPredicateMaybeIsNecessary(t *testing.T) {
	var recs []string
	for _, r := range builtin(t) {
		for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
			recs = append(recs, string(s))
		}
	}
	// escaped forms that the full decode still reads as a public principal or a person
	recs = append(recs,
		`{"eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"\u002a","Action":"s3:GetObject"}]}}}`,
		`{"eventName":"SetQueueAttributes","requestParameters":{"attributes":{"Policy":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%22%2A%22%7D%5D%7D"}}}`,
		`{"eventName":"UpdateFunctionCode20150331v2","userIdentity":{"type":"IAM\u0055ser","arn":"arn:aws:iam::111122223333:user/a"}}`,
		`{"eventName":"UpdateFunctionCode20150331v2","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role\/AWSReservedSSO_Admin_1\/jane"}}`,
		`{"eventName":"CreateUser","userAgent":"aws-cli/2.17 exec-env/CLOUDSHELL"}`,
		`{"eventName":"CreateUser","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role\/web\/i-0abc"}}`,
	)
	checked := map[string]int{}
	for _, raw := range recs {
		env, err := Envelope([]byte(raw))
		if err != nil {
			continue // not a record
		}
		rec, err := envelopeRecord(env)
		if err != nil {
			continue
		}
		for name, p := range predicates {
			if p.maybe == nil || !p.holds(rec) {
				continue
			}
			checked[name]++
			if !p.maybe(env) {
				t.Errorf("%s holds but its pre-check turns the record away: %.200s", name, raw)
			}
		}
	}
	for name, p := range predicates {
		if p.maybe != nil && checked[name] == 0 {
			t.Errorf("%s: no record where it holds exercised its pre-check", name)
		}
	}
	// and the pre-checks do turn records away
	env, err := Envelope([]byte(`{"eventName":"CreateKey","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/deploy/ci"},"requestParameters":{"description":"k"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"caller-is-person", "resource-policy-public"} {
		if predicates[name].maybe(env) {
			t.Errorf("%s: pre-check let through %s", name, strings.TrimSpace(string(env)))
		}
	}
}
