package deploy

import (
	"encoding/json"
	"testing"

	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/pattern"
)

// FuzzGenerateSuperset checks the pre-filter's one promise on arbitrary input: whenever a
// rule's pattern matches a CloudTrail event, some pattern generated from that rule matches it
// too.
func FuzzGenerateSuperset(f *testing.F) {
	rs, err := detect.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range rs {
		for _, s := range r.Samples.Match {
			if env, err := detect.Envelope(s); err == nil {
				f.Add(r.Pattern, string(env), 0)
			}
		}
	}
	f.Add(`{"$or":[{"source":["aws.iam"]},{"detail":{"eventName":[{"prefix":"Put"}]}}]}`, `{"source":"aws.s3","detail":{"eventName":"PutBucketPolicy"}}`, 300)
	f.Add(`{"detail":{"a":{"$or":[{"b":["x"]},{"c":[{"prefix":"y"}]}]}}}`, `{"detail":{"a":{"c":"yes"}}}`, 0)
	f.Fuzz(func(t *testing.T, p, event string, maxSize int) {
		checkSuperset(t, Rule{ID: "r", Pattern: p}, event, maxSize)
	})
}

// FuzzGenerateNarrowed: a rule narrowed by a predicate's pattern (Rule.Narrow) still yields a
// pre-filter that matches every event its pattern and the narrowing pattern both match.
func FuzzGenerateNarrowed(f *testing.F) {
	ua := detect.PredicatePrefilter("user-agent-is-attack-tool")
	f.Add(`{"detail":{"userAgent":[{"exists":true}]}}`, ua, `{"detail":{"eventName":"ListUsers","userAgent":"TRUFFLEHOG"}}`, 0)
	f.Add(`{"detail":{"eventSource":["iam.amazonaws.com"],"eventName":[{"prefix":"Create"}]}}`, ua, `{"detail":{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","userAgent":"S3 Browser/11"}}`, 0)
	f.Add(`{"$or":[{"source":["aws.iam"]},{"detail":{"eventName":["x"]}}]}`, `{"detail":{"userAgent":[{"prefix":"a"}]}}`, `{"source":"aws.iam","detail":{"userAgent":"ab"}}`, 300)
	f.Fuzz(func(t *testing.T, p, narrow, event string, maxSize int) {
		if pattern.Validate(narrow) != nil {
			return
		}
		checkSuperset(t, Rule{ID: "r", Pattern: p, Narrow: []string{narrow}}, event, maxSize)
	})
}

// checkSuperset fails when the event, given a CloudTrail detail-type, matches the rule's
// pattern and every narrowing pattern but none of the patterns generated from the rule.
func checkSuperset(t *testing.T, r Rule, event string, maxSize int) {
	t.Helper()
	if pattern.Validate(r.Pattern) != nil {
		return
	}
	// trailbell only ever sees lifted CloudTrail records: give the event one of their
	// detail-types (the generated fallback for rules that constrain nothing relies on it).
	var obj map[string]any
	if json.Unmarshal([]byte(event), &obj) != nil || obj == nil {
		return
	}
	obj["detail-type"] = cloudTrailDetailTypes[(maxSize%5+5)%5]
	b, _ := json.Marshal(obj)
	event = string(b)
	for _, p := range append([]string{r.Pattern}, r.Narrow...) {
		m := pattern.New()
		if err := m.Add("r", p); err != nil {
			return
		}
		ids, err := m.Match([]byte(event))
		if err != nil || len(ids) == 0 {
			return
		}
	}
	if maxSize < 0 || maxSize > 1<<16 {
		maxSize = 0
	}
	ps, err := Generate([]Rule{r}, Options{MaxSize: maxSize})
	if err != nil {
		return // a pattern too long for the size limit is refused, not truncated
	}
	gm := pattern.New()
	for i, g := range ps {
		if err := gm.Add(string(rune('a'+i%26))+"-"+string(rune('0'+i/26%10)), g.JSON); err != nil {
			t.Fatalf("generated pattern %s is invalid: %v (from %s, narrowed by %v)", g.JSON, err, r.Pattern, r.Narrow)
		}
		if maxSize > 0 && len(g.JSON) > maxSize {
			t.Fatalf("generated pattern of %d characters over %d", len(g.JSON), maxSize)
		}
	}
	got, err := gm.Match([]byte(event))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatalf("rule pattern %s (narrowed by %v) matches %s but no generated pattern does: %v", r.Pattern, r.Narrow, event, ps)
	}
}
