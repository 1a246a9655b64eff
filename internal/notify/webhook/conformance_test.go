package webhook_test

import (
	"net/http"
	"testing"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/webhook"
)

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Destination{
		Secrets:           []string{"SECRET-PATH", "SECRET-HMAC"},
		HonoursRetryAfter: true,
		New: func(t *testing.T, f notifytest.Fault) (notify.Notifier, string) {
			url := notifytest.Server(t, f, func(w http.ResponseWriter, r *http.Request) {
				switch f {
				case notifytest.Accept:
					w.WriteHeader(http.StatusNoContent)
				case notifytest.Transient:
					w.WriteHeader(http.StatusServiceUnavailable)
				case notifytest.RateLimited:
					w.Header().Set("Retry-After", "2")
					w.WriteHeader(http.StatusTooManyRequests)
				case notifytest.Permanent:
					w.WriteHeader(http.StatusForbidden)
				}
			})
			n, err := webhook.New(webhook.Options{URL: url + "/hooks/SECRET-PATH", HMACKey: "SECRET-HMAC"})
			if err != nil {
				t.Fatal(err)
			}
			return n, ""
		},
	})
}
