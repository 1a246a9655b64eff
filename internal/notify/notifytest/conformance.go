package notifytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
)

// Fault is how a destination answers in a conformance case.
type Fault int

const (
	Accept      Fault = iota // takes the message
	Transient                // fails in a way worth retrying (5xx, an internal error)
	RateLimited              // refuses for now, asking to wait RetryAfter where it can
	Permanent                // refuses for good (revoked, forbidden, unknown target)
	Down                     // nothing listens
	Hang                     // answers only after the attempt's deadline
)

var faultNames = [...]string{"accept", "transient", "rate-limited", "permanent", "down", "hang"}

func (f Fault) String() string { return faultNames[f] }

// RetryAfter is the wait a RateLimited destination asks for, where its protocol can.
const RetryAfter = 2 * time.Second

// Destination is what Conformance needs of a destination package.
type Destination struct {
	// New builds a notifier whose destination answers every call with f. When f cannot
	// happen to this destination (a local stream does not hang), it returns nil and says
	// why; Accept and Permanent always happen.
	New func(t *testing.T, f Fault) (n notify.Notifier, notApplicable string)
	// Secrets are configuration values (a URL, a token, a key) that must never show in an
	// error, however the call failed.
	Secrets []string
	// HonoursRetryAfter says the protocol carries a wait with a rate limit (HTTP
	// Retry-After); the error must then carry it for the retry stage.
	HonoursRetryAfter bool
}

// Conformance checks the contract every notifier keeps with the delivery pipeline:
// nothing to send is a success that sends nothing; an accepted message is no error; every
// failure is an *notify.Error with a reason of its own, whose retry verdict matches the
// failure (transient, rate limit, no answer: retry; refused for good: do not); a rate
// limit's wait is passed on; a call bounded by a deadline returns soon after it as a
// "timeout"; and no secret ever shows in an error. Every destination package runs it
// (TestEveryDestinationRunsConformance in package notify checks that).
func Conformance(t *testing.T, d Destination) {
	for _, f := range []Fault{Accept, Transient, RateLimited, Permanent, Down, Hang} {
		t.Run(f.String(), func(t *testing.T) {
			n, why := d.New(t, f)
			if n == nil {
				if why == "" || f == Accept || f == Permanent {
					t.Fatalf("fault %s must be covered", f)
				}
				t.Skip(why)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if f == Hang {
				var hcancel context.CancelFunc
				ctx, hcancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer hcancel()
			}
			start := time.Now()
			retry, err := n.Notify(ctx, sample("e1"), sample("e2"))
			took := time.Since(start)
			check(t, d, f, retry, err, took)
			if f == Accept {
				if retry, err := n.Notify(ctx); retry || err != nil {
					t.Errorf("no findings: retry=%v err=%v, want a success", retry, err)
				}
				digest := sample("e3")
				digest.Rule = "other-rule"
				if retry, err := n.Notify(ctx, sample("e1"), digest); retry || err != nil {
					t.Errorf("a digest: retry=%v err=%v", retry, err)
				}
			}
		})
	}
}

func check(t *testing.T, d Destination, f Fault, retry bool, err error, took time.Duration) {
	t.Helper()
	if f == Accept {
		if err != nil || retry {
			t.Fatalf("accepted: retry=%v err=%v, want neither", retry, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s: no error", f)
	}
	var ne *notify.Error
	if !errors.As(err, &ne) || notify.Reason(err) == "error" || notify.Reason(err) == "" {
		t.Errorf("%s: %v is not a *notify.Error with a reason (reason %q)", f, err, notify.Reason(err))
	}
	wantRetry := f != Permanent
	if retry != wantRetry {
		t.Errorf("%s: retry=%v, want %v (%v)", f, retry, wantRetry, err)
	}
	switch f {
	case RateLimited:
		if ra, ok := notify.RetryAfter(err); d.HonoursRetryAfter && (!ok || ra != RetryAfter) {
			t.Errorf("rate limited: Retry-After %v (%v), want %v passed on", ra, ok, RetryAfter)
		}
	case Down:
		if r := notify.Reason(err); r != "network" {
			t.Errorf("down: reason %q, want network", r)
		}
	case Hang:
		if r := notify.Reason(err); r != "timeout" || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("hang: reason %q (%v), want timeout wrapping context.DeadlineExceeded", r, err)
		}
		if took > 5*time.Second {
			t.Errorf("hang: returned %v after a 200ms deadline", took)
		}
	}
	for _, s := range d.Secrets {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", ne)} {
			if strings.Contains(text, s) {
				t.Errorf("%s: the error shows secret %q: %s", f, s, text)
			}
		}
	}
}

func sample(id string) *finding.Finding {
	return &finding.Finding{
		Rule: "admin-policy-attached", Severity: finding.High, Title: "alice attached AdministratorAccess to bob",
		EventID: id, EventName: "AttachUserPolicy", EventSource: "iam.amazonaws.com", EventTime: "2026-11-28T01:00:00Z",
		Account: "123456789012", Region: "us-east-1", Principal: "arn:aws:iam::123456789012:user/alice",
		SourceIPAddress: "203.0.113.7", Target: "bob", Record: json.RawMessage(`{}`),
	}
}

// Server starts an HTTP destination for a conformance case and returns its URL: it
// answers with answer, but for Down nothing listens at the URL, and for Hang the answer
// comes only after the client has given up.
func Server(t *testing.T, f Fault, answer http.HandlerFunc) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f == Hang {
			io.Copy(io.Discard, r.Body) // then the server notices the client leave
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	if f == Down {
		srv.Close()
	}
	return srv.URL
}
