package correlate

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/trailbell/trailbell/internal/notify/notifytest"
)

// FuzzScenario: any records, however messy (missing identities, times that do not parse,
// values of the wrong type), go through every built-in rule with memory without a panic, and
// every finding names its rule and event.
func FuzzScenario(f *testing.F) {
	rs, det := notifytest.Builtin(f)
	for _, r := range rs {
		if r.Kind.Stateful() {
			for _, s := range append(r.Samples.Match, r.Samples.NoMatch...) {
				f.Add([]byte(s))
			}
		}
	}
	f.Add([]byte(`[{"eventID":"x","eventTime":"2026-01-01T00:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","responseElements":{"credentials":{"accessKeyId":7}},"userIdentity":"root"}]`))
	f.Add([]byte(`[{"eventID":"y","eventTime":"yesterday","errorCode":"AccessDenied","userIdentity":{"type":"AssumedRole","accessKeyId":"ASIA1"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []json.RawMessage
		if json.Unmarshal(data, &recs) != nil || len(recs) > 200 {
			return
		}
		fs, err := Scenario(context.Background(), det, recs)
		if err != nil {
			return // a record that is not one: reported, not a panic
		}
		for _, f := range fs {
			if f.Rule == "" || f.Title == "" {
				t.Fatalf("finding without rule or title: %+v", f)
			}
		}
	})
}
