package webhook_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/notifytest"
	"github.com/trailbell/trailbell/internal/notify/webhook"
)

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Destination{
		Secrets:           []string{"SECRET-PATH", "SECRET-HMAC"},
		HonoursRetryAfter: true,
		New: func(t *testing.T, f notifytest.Fault) (notify.Notifier, string) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
				case notifytest.Hang:
					io.Copy(io.Discard, r.Body) // then the server notices the client leave
					select {
					case <-r.Context().Done():
					case <-time.After(10 * time.Second):
					}
				}
			}))
			t.Cleanup(srv.Close)
			if f == notifytest.Down {
				srv.Close()
			}
			n, err := webhook.New(webhook.Options{URL: srv.URL + "/hooks/SECRET-PATH", HMACKey: "SECRET-HMAC"})
			if err != nil {
				t.Fatal(err)
			}
			return n, ""
		},
	})
}
