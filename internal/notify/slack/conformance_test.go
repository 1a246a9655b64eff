package slack_test

import (
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

func TestConformanceWebhook(t *testing.T) {
	notifytest.Conformance(t, notifytest.Destination{
		Secrets:           []string{"SECRET-HOOK"},
		HonoursRetryAfter: true,
		New: func(t *testing.T, f notifytest.Fault) (notify.Notifier, string) {
			srv := slacktest.New()
			t.Cleanup(srv.Close)
			switch f {
			case notifytest.Transient:
				srv.Fail(slacktest.Fault{Status: 500, Body: "rollup_error"})
			case notifytest.RateLimited:
				srv.Fail(slacktest.Fault{Status: 429, Body: "rate_limited", RetryAfter: "2"})
			case notifytest.Permanent:
				srv.Revoke("SECRET-HOOK")
			case notifytest.Hang:
				srv.Fail(slacktest.Fault{Status: 200, Body: "ok", Hang: time.Minute})
			case notifytest.Down:
				srv.Close()
			}
			n, err := slack.New(slack.Options{WebhookURL: srv.WebhookURL("SECRET-HOOK")})
			if err != nil {
				t.Fatal(err)
			}
			return n, ""
		},
	})
}

func TestConformanceWebAPI(t *testing.T) {
	const token = "xoxb-SECRET-TOKEN"
	notifytest.Conformance(t, notifytest.Destination{
		Secrets:           []string{token},
		HonoursRetryAfter: true,
		New: func(t *testing.T, f notifytest.Fault) (notify.Notifier, string) {
			srv := slacktest.New()
			srv.Token = token
			t.Cleanup(srv.Close)
			channel := "#alerts"
			switch f {
			case notifytest.Transient:
				srv.Fail(slacktest.Fault{Status: 200, Body: "internal_error"})
			case notifytest.RateLimited:
				srv.Fail(slacktest.Fault{Status: 429, Body: `{"ok":false,"error":"ratelimited"}`, RetryAfter: "2"})
			case notifytest.Permanent:
				channel = "#gone"
			case notifytest.Hang:
				srv.Fail(slacktest.Fault{Lose: true})
			case notifytest.Down:
				srv.Close()
			}
			n, err := slack.New(slack.Options{Token: token, Channel: channel, APIURL: srv.APIURL()})
			if err != nil {
				t.Fatal(err)
			}
			return n, ""
		},
	})
}
