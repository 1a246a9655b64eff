package slack_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

// TestRateLimitedWebhook sends 15 alerts through a Pipeline to a webhook that allows one
// message per 40ms: paced like the server, no 429 at all; paced too fast, the 429s and
// their Retry-After are honoured and nothing is lost.
func TestRateLimitedWebhook(t *testing.T) {
	for _, tc := range []struct {
		name     string
		every    time.Duration
		want429s bool
	}{
		{"paced slower than the server", 70 * time.Millisecond, false},
		{"paced too fast", time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := slacktest.New()
			defer srv.Close()
			// Burst 2, like Slack's short bursts: scheduling jitter on a loaded machine can
			// bunch two paced requests together.
			srv.Every, srv.Burst, srv.RetryAfter = 40*time.Millisecond, 2, "0.04"
			n, err := slack.New(slack.Options{WebhookURL: srv.WebhookURL("h")})
			if err != nil {
				t.Fatal(err)
			}
			p, err := notify.New(notify.Options{
				Receivers: []notify.Receiver{{Name: "slack", Notifier: n, RateLimit: notify.RateLimit{Every: tc.every, Burst: 1}}},
				Route:     notify.Route{Receiver: "slack"},
				Backoff:   notify.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const total = 15
			for i := range total {
				f := hostile()
				f.EventID, f.Principal = fmt.Sprint("e", i), fmt.Sprint("p", i)
				f.Severity = finding.High
				if err := p.Submit(t.Context(), *f); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, reqs := len(srv.Received()), srv.Requests()
			if got != total {
				t.Fatalf("%d of %d alerts arrived", got, total)
			}
			if saw429 := reqs > total; saw429 != tc.want429s {
				t.Fatalf("%d requests for %d alerts; want 429s: %v", reqs, total, tc.want429s)
			}
		})
	}
}
