package slack_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/slack"
	"github.com/trailbell/trailbell/internal/notify/slacktest"
)

// TestRateLimitedWebhook sends 15 alerts through a Pipeline to a webhook that allows one
// message per 40ms: paced like the server, no 429 at all; paced too fast, the 429s and
// their Retry-After are honoured and nothing is lost. It runs on synctest's clock, with
// the server in memory: how fast requests really go on a loaded machine changes nothing.
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
			srv := slacktest.New() // outside the bubble: only its handler runs inside
			defer srv.Close()
			srv.Every, srv.Burst, srv.RetryAfter = 40*time.Millisecond, 1, "0.04"
			synctest.Test(t, func(t *testing.T) {
				n, err := slack.New(slack.Options{WebhookURL: srv.WebhookURL("h"),
					Client: &http.Client{Transport: srv.Transport(), Timeout: 10 * time.Second}})
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
				start := time.Now()
				if err := p.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				got, reqs := len(srv.Received()), srv.Requests()
				if got != total {
					t.Fatalf("%d of %d alerts arrived", got, total)
				}
				if saw429 := reqs > total; saw429 != tc.want429s {
					t.Fatalf("%d requests for %d alerts; want 429s: %v", reqs, total, tc.want429s)
				}
				// The server lets one message through every 40ms: 15 take at least 14 gaps.
				if min := 14 * 40 * time.Millisecond; took < min {
					t.Errorf("delivered in %s of the test clock, faster than the server allows (%s)", took, min)
				}
			})
		})
	}
}

// countIDs counts, per eventID e0..e19, the messages srv accepted that hold it.
func countIDs(srv *slacktest.Server) map[string]int {
	n := map[string]int{}
	for _, m := range srv.Received() {
		for i := range 20 {
			if strings.Contains(string(m.Body), fmt.Sprintf("eventID `e%d`", i)) {
				n[fmt.Sprint("e", i)]++
			}
		}
	}
	return n
}

func apiPipeline(t *testing.T, srv *slacktest.Server, dir string, channel string) *notify.Pipeline {
	t.Helper()
	n, err := slack.New(slack.Options{Token: srv.Token, Channel: channel, APIURL: srv.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := notify.New(notify.Options{
		Receivers:      []notify.Receiver{{Name: "slack", Notifier: n, DigestAfter: 2}},
		Route:          notify.Route{Receiver: "slack"},
		StateDir:       dir,
		AttemptTimeout: 300 * time.Millisecond,
		Backoff:        notify.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func submitN(t *testing.T, p *notify.Pipeline, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		f := hostile()
		f.Rule, f.EventID, f.Title = fmt.Sprint("rule", i), fmt.Sprint("e", i), fmt.Sprint("finding ", i)
		if err := p.Submit(t.Context(), *f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebAPILostAnswer: Slack posts a digest, and its answer is lost (the attempt times
// out). Before retrying, the pipeline finds the digest in the channel's history by its
// metadata and does not post it again.
func TestWebAPILostAnswer(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.Fail(slacktest.Fault{Lose: true})
	p := apiPipeline(t, srv, t.TempDir(), "#alerts")
	defer p.Close()
	submitN(t, p, 0, 5)
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("%d messages posted, want the one digest", len(got))
	}
	for id, n := range countIDs(srv) {
		if n != 1 {
			t.Errorf("%s posted %d times", id, n)
		}
	}
}

// TestWebAPIDigestAfterCrash: the process dies while a digest's answer is on its way. The
// next process (a new notifier that knows the channel by name only) looks the digest up
// in the history and posts only what came after it.
func TestWebAPIDigestAfterCrash(t *testing.T) {
	srv := slacktest.New()
	defer srv.Close()
	srv.Fail(slacktest.Fault{Lose: true})
	dir := t.TempDir()
	p := apiPipeline(t, srv, dir, "#alerts")
	submitN(t, p, 0, 5)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for len(srv.Received()) == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel() // the "kill": the answer never comes, nothing after the post is recorded
	}()
	if err := p.Flush(ctx); err == nil {
		t.Fatal("flush completed although its digest was never answered")
	}
	p.Close()

	p = apiPipeline(t, srv, dir, "#alerts")
	defer p.Close()
	submitN(t, p, 5, 7)
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	counts := countIDs(srv)
	for i := range 7 {
		if id := fmt.Sprint("e", i); counts[id] != 1 {
			t.Errorf("%s posted %d times, want once", id, counts[id])
		}
	}
	if got := len(srv.Received()); got != 3 {
		t.Errorf("%d messages, want the digest before the crash, then e5 and e6", got)
	}
}
