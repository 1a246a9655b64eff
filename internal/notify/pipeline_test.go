package notify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify"
	"github.com/trailbell/trailbell/internal/notify/outbox/outboxtest"
	"github.com/trailbell/trailbell/pattern"
)

// call is one notifier call as the fake saw it.
type call struct {
	at  time.Time
	ids []string
}

// fake is a Notifier made of a function; it records successful calls.
type fake struct {
	mu    sync.Mutex
	fn    func(n int, fs []*finding.Finding) (bool, error) // n counts calls from 0
	n     int
	calls []call
}

func (f *fake) Notify(_ context.Context, fs ...*finding.Finding) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.n
	f.n++
	if f.fn != nil {
		if retry, err := f.fn(n, fs); err != nil {
			return retry, err
		}
	}
	c := call{at: time.Now()}
	for _, x := range fs {
		c.ids = append(c.ids, x.EventID)
	}
	f.calls = append(f.calls, c)
	return false, nil
}

func (f *fake) got() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fake) delivered() []string {
	var ids []string
	for _, c := range f.got() {
		ids = append(ids, c.ids...)
	}
	return ids
}

func mk(rule, principal, id string, sev finding.Severity) finding.Finding {
	return finding.Finding{Rule: rule, Principal: principal, EventID: id, Severity: sev, Account: "111122223333",
		EventName: "AttachUserPolicy", Title: "t", Record: []byte(`{}`)}
}

func newPipeline(t *testing.T, o notify.Options) *notify.Pipeline {
	t.Helper()
	if o.NewMatcher == nil {
		o.NewMatcher = func() notify.Matcher { return pattern.New() }
	}
	p, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// startRun runs p in the background; stop cancels Run and returns its error.
func startRun(t testing.TB, p *notify.Pipeline) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func submit(t *testing.T, p *notify.Pipeline, fs ...finding.Finding) {
	t.Helper()
	for _, f := range fs {
		if err := p.Submit(t.Context(), f); err != nil {
			t.Fatalf("submit %s: %v", f.Key(), err)
		}
	}
}

func TestRouting(t *testing.T) {
	sec, ops, pager, audit := &fake{}, &fake{}, &fake{}, &fake{}
	p := newPipeline(t, notify.Options{
		Receivers: []notify.Receiver{
			{Name: "sec", Notifier: sec},
			{Name: "ops", Notifier: ops, MinSeverity: finding.Medium},
			{Name: "pager", Notifier: pager},
			{Name: "audit", Notifier: audit},
		},
		Route: notify.Route{Receiver: "sec", Routes: []notify.Route{
			{Receiver: "audit", Match: `{"tags":["audit"]}`, Continue: true},
			{Receiver: "pager", MinSeverity: finding.Critical},
			{Receiver: "ops", Accounts: []string{"999988887777"}},
			{Rules: []string{"root-login"}, Routes: []notify.Route{
				{Receiver: "ops", Match: `{"principal":[{"prefix":"arn:aws:iam::111122223333:root"}]}`},
			}},
		}},
		Exceptions: []notify.Exception{
			{Name: "terraform", Match: `{"principal":[{"wildcard":"arn:aws:sts::*:assumed-role/terraform/*"}]}`},
			{Name: "noisy rule", Rules: []string{"noisy"}},
			{Name: "ci on one rule", Rules: []string{"create-user"}, Match: `{"principal":[{"suffix":"/ci"}]}`},
		},
	})
	tagged := mk("r", "arn:aws:iam::111122223333:user/a", "e-tagged", finding.High)
	tagged.Tags = []string{"audit", "iam"}
	crit := mk("r", "arn:aws:iam::111122223333:user/a", "e-crit", finding.Critical)
	other := mk("r", "arn:aws:iam::111122223333:user/a", "e-other-acct", finding.High)
	other.Account = "999988887777"
	otherLow := mk("r", "arn:aws:iam::111122223333:user/a", "e-other-low", finding.Low)
	otherLow.Account = "999988887777"
	root := mk("root-login", "arn:aws:iam::111122223333:root", "e-root", finding.High)
	rootOther := mk("root-login", "arn:aws:iam::111122223333:user/x", "e-root-nomatch", finding.High)
	tf := mk("r", "arn:aws:sts::111122223333:assumed-role/terraform/run-17", "e-tf", finding.Critical)
	noisy := mk("noisy", "x", "e-noisy", finding.Critical)
	ci := mk("create-user", "arn:aws:sts::1:assumed-role/ci", "e-ci", finding.High)
	ciOther := mk("r", "arn:aws:sts::1:assumed-role/ci", "e-ci-other-rule", finding.High)
	submit(t, p, tagged, crit, other, otherLow, root, rootOther, tf, noisy, ci, ciOther)
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		f    *fake
		want []string
	}{
		// tagged goes to audit and continues, but no later sibling matches; a matched child
		// replaces the default, as in Alertmanager
		"sec":   {sec, []string{"e-root-nomatch", "e-ci-other-rule"}},
		"audit": {audit, []string{"e-tagged"}},
		"pager": {pager, []string{"e-crit"}},
		// otherLow is routed to ops but below its minimum severity
		"ops": {ops, []string{"e-other-acct", "e-root"}},
	}
	for name, w := range want {
		got := w.f.delivered()
		slices.Sort(got)
		slices.Sort(w.want)
		if !slices.Equal(got, w.want) {
			t.Errorf("%s got %v, want %v", name, got, w.want)
		}
	}
}

func TestRouteErrorsNameTheField(t *testing.T) {
	_, err := notify.New(notify.Options{
		Receivers:  []notify.Receiver{{Name: "a", Notifier: &fake{}}},
		Route:      notify.Route{Receiver: "a", Path: "notify.route", Routes: []notify.Route{{Match: `{"rule":[{"prefix":1}]}`}}},
		NewMatcher: func() notify.Matcher { return pattern.New() },
	})
	if err == nil || !strings.Contains(err.Error(), "notify.route.routes[0].match") {
		t.Fatalf("error %v does not name notify.route.routes[0].match", err)
	}
	_, err = notify.New(notify.Options{
		Receivers: []notify.Receiver{{Name: "a", Notifier: &fake{}}},
		Route:     notify.Route{Receiver: "b"},
	})
	if err == nil || !strings.Contains(err.Error(), `no receiver named "b"`) {
		t.Fatalf("unknown receiver: got %v", err)
	}
}

func TestDedupeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := &fake{}
	o := notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: n}}, Route: notify.Route{Receiver: "a"}, StateDir: dir}
	p, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f := mk("r", "p", "e1", finding.High)
	submit(t, p, f, f, f)
	if got := p.Pending(); got != 1 {
		t.Fatalf("pending after three submits of one finding = %d, want 1", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing was delivered before the "crash": the new process finds it in the outbox
	// and still refuses the duplicate a source re-reads.
	p, err = notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Pending(); got != 1 {
		t.Fatalf("pending after reopen = %d, want 1", got)
	}
	submit(t, p, f, mk("r", "p", "e2", finding.High))
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := n.delivered(); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("delivered %v, want [e1 e2]", got)
	}
}

func TestGrouping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &fake{}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: n, GroupWindow: time.Minute}},
			Route:     notify.Route{Receiver: "a"},
		})
		stop := startRun(t, p)
		start := time.Now()
		submit(t, p, mk("r", "alice", "a1", finding.High))
		synctest.Wait()
		time.Sleep(10 * time.Second)
		submit(t, p, mk("r", "alice", "a2", finding.High), mk("r", "alice", "a3", finding.High), mk("r", "bob", "b1", finding.High))
		time.Sleep(time.Second)
		submit(t, p, mk("r", "alice", "a4", finding.High))
		time.Sleep(2 * time.Minute)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := n.got()
		want := []struct {
			after time.Duration
			ids   []string
		}{
			{0, []string{"a1"}},
			{10 * time.Second, []string{"b1"}},
			{time.Minute, []string{"a2", "a3", "a4"}},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d messages %v, want %d", len(got), got, len(want))
		}
		for i, w := range want {
			if d := got[i].at.Sub(start); d != w.after || !slices.Equal(got[i].ids, w.ids) {
				t.Errorf("message %d: %v at +%v, want %v at +%v", i, got[i].ids, d, w.ids, w.after)
			}
		}
	})
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &fake{}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: n, RateLimit: notify.RateLimit{Every: time.Second, Burst: 3}}},
			Route:     notify.Route{Receiver: "a"},
		})
		start := time.Now()
		for i := range 6 {
			submit(t, p, mk("r", fmt.Sprint("p", i), fmt.Sprint("e", i), finding.High))
		}
		// Flush merges repeats of a group, not distinct findings: six messages.
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		var at []time.Duration
		for _, c := range n.got() {
			at = append(at, c.at.Sub(start))
		}
		want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 3 * time.Second}
		if !slices.Equal(at, want) {
			t.Fatalf("sent at %v, want %v", at, want)
		}
	})
}

func TestRetryHonoursRetryAfterAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tries []time.Time
		n := &fake{fn: func(i int, _ []*finding.Finding) (bool, error) {
			tries = append(tries, time.Now())
			switch i {
			case 0:
				return true, &notify.Error{Reason: "rate_limited", RetryAfter: 30 * time.Second}
			case 1, 2:
				return true, &notify.Error{Reason: "http_503"}
			}
			return false, nil
		}}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: n}},
			Route:     notify.Route{Receiver: "a"},
			Backoff:   notify.Backoff{Initial: time.Second, Max: time.Minute},
			Jitter:    func() float64 { return 1 }, // the full step
		})
		start := time.Now()
		submit(t, p, mk("r", "p", "e1", finding.High))
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		var at []time.Duration
		for _, x := range tries {
			at = append(at, x.Sub(start))
		}
		// Retry-After 30s beats the 1s backoff; then 2s and 4s backoff steps.
		want := []time.Duration{0, 30 * time.Second, 32 * time.Second, 36 * time.Second}
		if !slices.Equal(at, want) {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
		if got := n.delivered(); !slices.Equal(got, []string{"e1"}) {
			t.Fatalf("delivered %v", got)
		}
	})
}

func TestPermanentFailureGoesToFallbackWithAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := &fake{fn: func(int, []*finding.Finding) (bool, error) {
			return false, &notify.Error{Reason: "no_service", Err: errors.New("HTTP 404: no_service")}
		}}
		fb := &fake{}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "slack", Notifier: bad, Fallback: "pager"}, {Name: "pager", Notifier: fb}},
			Route:     notify.Route{Receiver: "slack"},
		})
		submit(t, p, mk("r", "p", "e1", finding.High))
		if err := p.Flush(t.Context()); err != nil {
			t.Fatalf("flush: %v (the fallback took it)", err)
		}
		fb.mu.Lock()
		n := fb.n
		fb.mu.Unlock()
		ids := fb.delivered()
		if n != 2 || len(ids) != 2 || ids[0] != "e1" || !strings.HasPrefix(ids[1], "delivery-failure-slack-") {
			t.Fatalf("fallback got %v in %d calls; want e1 then the delivery-failure alert", ids, n)
		}
		if bad.n != 1 {
			t.Fatalf("permanent failure was tried %d times, want 1", bad.n)
		}
	})
}

func TestDeadlineEndsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := &fake{fn: func(int, []*finding.Finding) (bool, error) {
			return true, &notify.Error{Reason: "http_500"}
		}}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: down}},
			Route:     notify.Route{Receiver: "a"},
			Deadline:  10 * time.Minute,
			Backoff:   notify.Backoff{Initial: time.Second, Max: time.Minute},
		})
		start := time.Now()
		submit(t, p, mk("r", "p", "e1", finding.High))
		err := p.Flush(t.Context())
		if err == nil || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), "receiver a") {
			t.Fatalf("flush error %v, want the deadline failure of receiver a", err)
		}
		if el := time.Since(start); el < 10*time.Minute || el > 12*time.Minute {
			t.Fatalf("gave up after %v, want about the 10m deadline", el)
		}
		if p.Pending() != 0 {
			t.Fatalf("pending %d; the failed finding belongs in the dead-letter queue", p.Pending())
		}
	})
}

func TestFlushWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &fake{}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: n, GroupWindow: time.Hour}},
			Route:     notify.Route{Receiver: "a"},
		})
		stop := startRun(t, p)
		submit(t, p, mk("r", "p", "e1", finding.High))
		synctest.Wait()
		submit(t, p, mk("r", "p", "e2", finding.High), mk("r", "p", "e3", finding.High))
		start := time.Now()
		// The group window would hold e2 and e3 for an hour; Flush sends them now.
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("flush waited %v", time.Since(start))
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := n.delivered(); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
			t.Fatalf("delivered %v", got)
		}
	})
}

func TestFlushReportsPendingOnTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := &fake{fn: func(int, []*finding.Finding) (bool, error) { return true, &notify.Error{Reason: "http_500"} }}
		p := newPipeline(t, notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: down}}, Route: notify.Route{Receiver: "a"}})
		submit(t, p, mk("r", "p", "e1", finding.High))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err := p.Flush(ctx)
		if err == nil || !strings.Contains(err.Error(), "1 deliveries still pending") {
			t.Fatalf("flush error %v", err)
		}
	})
}

// TestRunWithoutGrouping covers the plain path: Run, no group window, one finding a message.
func TestRunWithoutGrouping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &fake{}
		p := newPipeline(t, notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: n}}, Route: notify.Route{Receiver: "a"}})
		stop := startRun(t, p)
		for i := range 5 {
			submit(t, p, mk("r", "p", fmt.Sprint("e", i), finding.High))
		}
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := n.got(); len(got) != 5 || p.Pending() != 0 {
			t.Fatalf("%d messages, %d pending; want 5 and 0", len(got), p.Pending())
		}
	})
}

func TestLongOutageAlertsFallbackOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		down := &fake{fn: func(int, []*finding.Finding) (bool, error) {
			if time.Since(start) < 15*time.Minute {
				return true, &notify.Error{Reason: "http_503"}
			}
			return false, nil
		}}
		fb := &fake{}
		reg := prometheus.NewRegistry()
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "slack", Notifier: down, Fallback: "pager"}, {Name: "pager", Notifier: fb}},
			Route:     notify.Route{Receiver: "slack"},
			Backoff:   notify.Backoff{Initial: time.Second, Max: 30 * time.Second},
			Metrics:   notify.NewMetrics(reg),
		})
		submit(t, p, mk("r", "p", "e1", finding.High))
		stop := startRun(t, p)
		time.Sleep(12 * time.Minute)
		synctest.Wait()
		if got := fb.got(); len(got) != 1 || !strings.HasPrefix(got[0].ids[0], "delivery-failure-slack") {
			t.Fatalf("after 12 minutes of failures the fallback got %v, want one alert", got)
		}
		if v := gauge(t, reg, "trailbell_notify_receiver_failing", "slack"); v != 1 {
			t.Errorf("failing gauge %v during the outage", v)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := down.delivered(); !slices.Equal(got, []string{"e1"}) {
			t.Fatalf("slack delivered %v after recovering", got)
		}
		if got := fb.got(); len(got) != 1 {
			t.Fatalf("fallback got %d messages, want the one alert", len(got))
		}
		if v := gauge(t, reg, "trailbell_notify_receiver_failing", "slack"); v != 0 {
			t.Errorf("failing gauge %v after recovery", v)
		}
		if v := gauge(t, reg, "trailbell_notify_delivered_total", "slack"); v != 1 {
			t.Errorf("delivered_total{slack} = %v", v)
		}
		if v := gauge(t, reg, "trailbell_notify_attempt_failures_total", "slack"); v < 10 {
			t.Errorf("attempt_failures_total{slack} = %v over 15 minutes of 503s", v)
		}
	})
}

// gauge reads the value of metric name with receiver label recv (gauge or counter).
func gauge(t *testing.T, reg *prometheus.Registry, name, recv string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "receiver" && l.GetValue() == recv {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{receiver=%q}", name, recv)
	return 0
}

func TestBacklogBecomesDigest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &fake{}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: n, RateLimit: notify.RateLimit{Every: time.Second, Burst: 1}, DigestAfter: 5}},
			Route:     notify.Route{Receiver: "a"},
			MaxBatch:  20,
		})
		for i := range 30 {
			submit(t, p, mk(fmt.Sprint("rule", i%3), fmt.Sprint("p", i), fmt.Sprint("e", i), finding.High))
		}
		start := time.Now()
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		// 30 waiting: a digest of 20; then 10 waiting, still over 5: a digest of 10.
		// Two messages in about a second, not thirty paced over thirty seconds.
		got := n.got()
		if len(got) != 2 || len(got[0].ids) != 20 || len(got[1].ids) != 10 {
			t.Fatalf("got %d messages (%v), want digests of 20 and 10", len(got), got)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("took %v", el)
		}
		// Below the threshold each finding is its own paced message again.
		for i := range 3 {
			submit(t, p, mk("r", fmt.Sprint("q", i), fmt.Sprint("f", i), finding.High))
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := n.got(); len(got) != 5 {
			t.Fatalf("got %d messages, want 2 digests and 3 single alerts", len(got))
		}
	})
}

func TestCorruptOutboxItemIsSetAside(t *testing.T) {
	dir := t.TempDir()
	n := &fake{}
	o := notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: n}}, Route: notify.Route{Receiver: "a"}, StateDir: dir}
	p, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	submit(t, p, mk("r", "p", "e1", finding.High), mk("r", "p", "e2", finding.High), mk("r", "p", "e3", finding.High))
	p.Close()
	outboxtest.Corrupt(t, dir, "a", 2)
	p, err = notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Flush(t.Context())
	if err == nil || !strings.Contains(err.Error(), "1 unreadable item(s)") {
		t.Fatalf("flush error %v, want the unreadable item reported", err)
	}
	if got := n.delivered(); !slices.Equal(got, []string{"e1", "e3"}) || p.Pending() != 0 {
		t.Fatalf("delivered %v, pending %d; want e1 and e3, nothing pending", got, p.Pending())
	}
}

func TestFlushOutlivesRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := &fake{fn: func(_ int, fs []*finding.Finding) (bool, error) {
			if fs[0].EventID == "e2" && time.Since(start) < 2*time.Minute {
				return true, &notify.Error{Reason: "http_503"}
			}
			return false, nil
		}}
		p := newPipeline(t, notify.Options{
			Receivers: []notify.Receiver{{Name: "a", Notifier: n, GroupWindow: time.Hour}},
			Route:     notify.Route{Receiver: "a"},
		})
		stop := startRun(t, p)
		submit(t, p, mk("r", "p", "e1", finding.High))
		synctest.Wait()
		submit(t, p, mk("r", "p", "e2", finding.High))
		// e2 fails until minute 2; Run stops at minute 1 while a Flush waits on it: the
		// Flush must take over and deliver e2 itself.
		stopped := make(chan error)
		go func() {
			time.Sleep(time.Minute)
			stopped <- stop()
		}()
		flushed := make(chan error)
		go func() { flushed <- p.Flush(t.Context()) }()
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if got := n.delivered(); !slices.Equal(got, []string{"e1", "e2"}) {
			t.Fatalf("delivered %v", got)
		}
	})
}

func TestDeadLettersAndRequeue(t *testing.T) {
	broken := true
	n := &fake{fn: func(int, []*finding.Finding) (bool, error) {
		if broken {
			return false, &notify.Error{Reason: "no_service", Err: errors.New("HTTP 404: no_service")}
		}
		return false, nil
	}}
	o := notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: n}}, Route: notify.Route{Receiver: "a"}, StateDir: t.TempDir()}
	p := newPipeline(t, o)
	submit(t, p, mk("r", "p", "e1", finding.High))
	if err := p.Flush(t.Context()); err == nil {
		t.Fatal("flush hid a permanent failure")
	}
	dl, err := p.DeadLetters(10)
	if err != nil || len(dl) != 1 || dl[0].Receiver != "a" || dl[0].Finding.EventID != "e1" || !strings.Contains(dl[0].Error, "no_service") {
		t.Fatalf("dead letters %+v (%v)", dl, err)
	}
	broken = false
	if k, err := p.Requeue(); err != nil || k != 1 {
		t.Fatalf("requeued %d (%v)", k, err)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := n.delivered(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("delivered %v", got)
	}
	if dl, _ := p.DeadLetters(10); len(dl) != 0 {
		t.Fatalf("dead letters left: %+v", dl)
	}
}

// TestRequeueLooksPastOrphans: dead letters of a receiver that no longer exists stay
// dead, and however many of them come first, the later ones of a live receiver are
// still requeued.
func TestRequeueLooksPastOrphans(t *testing.T) {
	refuse := &fake{fn: func(int, []*finding.Finding) (bool, error) {
		return false, &notify.Error{Reason: "no_service"}
	}}
	dir := t.TempDir()
	p := newPipeline(t, notify.Options{
		Receivers: []notify.Receiver{{Name: "gone", Notifier: refuse}, {Name: "a", Notifier: refuse}},
		Route:     notify.Route{Receiver: "gone", Routes: []notify.Route{{Receiver: "a", Rules: []string{"live"}}}},
		StateDir:  dir,
		MaxBatch:  200,
	})
	const orphans = 600 // more than Requeue reads at once
	for i := range orphans {
		submit(t, p, mk("old", "p", fmt.Sprint("o", i), finding.High))
	}
	if err := p.Flush(t.Context()); err == nil {
		t.Fatal("flush hid the permanent failures")
	}
	submit(t, p, mk("live", "p", "e1", finding.High)) // dead after all the orphans
	if err := p.Flush(t.Context()); err == nil {
		t.Fatal("flush hid the permanent failure")
	}
	p.Close()

	n := &fake{}
	p = newPipeline(t, notify.Options{Receivers: []notify.Receiver{{Name: "a", Notifier: n}}, Route: notify.Route{Receiver: "a"}, StateDir: dir})
	if k, err := p.Requeue(); err != nil || k != 1 {
		t.Fatalf("requeued %d (%v), want the one dead letter of receiver a", k, err)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := n.delivered(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("delivered %v", got)
	}
	if dl, err := p.DeadLetters(orphans + 10); err != nil || len(dl) != orphans {
		t.Fatalf("%d dead letters left (%v), want the %d of the removed receiver", len(dl), err, orphans)
	}
}

// TestRootRouteConditions: the root route's own conditions apply like any node's; a
// root that asks for critical findings does not page on info.
func TestRootRouteConditions(t *testing.T) {
	for _, tc := range []struct {
		name string
		root notify.Route
		want []string
	}{
		{"min_severity", notify.Route{Receiver: "pager", MinSeverity: finding.Critical}, []string{"e-crit"}},
		{"rules", notify.Route{Receiver: "pager", Rules: []string{"root-login"}}, []string{"e-root"}},
		{"accounts", notify.Route{Receiver: "pager", Accounts: []string{"999988887777"}}, []string{"e-other"}},
		{"tags", notify.Route{Receiver: "pager", Tags: []string{"audit"}}, []string{"e-tagged"}},
		{"match", notify.Route{Receiver: "pager", Match: `{"severity":["critical"]}`}, []string{"e-crit"}},
		{"actors by name", notify.Route{Receiver: "pager", Actors: []string{"jane@example.com"}}, []string{"e-jane"}},
		{"actors by id", notify.Route{Receiver: "pager", Actors: []string{"identitycenter:jane@example.com"}}, []string{"e-jane"}},
		{"match on the actor", notify.Route{Receiver: "pager", Match: `{"actor":{"type":["IdentityCenterUser"]}}`}, []string{"e-jane"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pager := &fake{}
			p := newPipeline(t, notify.Options{Receivers: []notify.Receiver{{Name: "pager", Notifier: pager}}, Route: tc.root})
			info := mk("r", "p", "e-info", finding.Info)
			crit := mk("r", "p", "e-crit", finding.Critical)
			root := mk("root-login", "p", "e-root", finding.High)
			other := mk("r", "p", "e-other", finding.High)
			other.Account = "999988887777"
			tagged := mk("r", "p", "e-tagged", finding.Low)
			tagged.Tags = []string{"audit"}
			jane := mk("r", "p", "e-jane", finding.Low)
			jane.Actor = &finding.Actor{ID: "identitycenter:jane@example.com", Type: "IdentityCenterUser", Name: "jane@example.com"}
			submit(t, p, info, crit, root, other, tagged, jane)
			if err := p.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := pager.delivered(); !slices.Equal(got, tc.want) {
				t.Errorf("paged %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEverythingToFallbackIsFailing: a receiver whose every delivery goes to its
// fallback delivers nothing: /metrics and Health show it failing until one works.
func TestEverythingToFallbackIsFailing(t *testing.T) {
	revoked := true
	slackN := &fake{fn: func(int, []*finding.Finding) (bool, error) {
		if revoked {
			return false, &notify.Error{Reason: "no_service", Err: errors.New("HTTP 404: no_service")}
		}
		return false, nil
	}}
	reg := prometheus.NewRegistry()
	p := newPipeline(t, notify.Options{
		Receivers: []notify.Receiver{{Name: "slack", Notifier: slackN, Fallback: "pager"}, {Name: "pager", Notifier: &fake{}}},
		Route:     notify.Route{Receiver: "slack"},
		Metrics:   notify.NewMetrics(reg),
	})
	submit(t, p, mk("r", "p", "e1", finding.High), mk("r", "q", "e2", finding.High))
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, reg, "trailbell_notify_receiver_failing", "slack"); v != 1 {
		t.Errorf("failing gauge %v for a receiver whose every delivery went to its fallback", v)
	}
	h := p.Health()
	if len(h) != 2 || h[0].Name != "slack" || !h[0].Failing || h[0].Reason != "no_service" || h[1].Failing {
		t.Fatalf("health %+v", h)
	}
	revoked = false
	submit(t, p, mk("r", "p", "e3", finding.High))
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, reg, "trailbell_notify_receiver_failing", "slack"); v != 0 || p.Health()[0].Failing {
		t.Errorf("still failing after a delivery worked: gauge %v", v)
	}
}

// confirmer is a fake that can say whether a message arrived.
type confirmer struct {
	*fake
	posted func(since time.Time, fs []*finding.Finding) bool
}

func (c confirmer) Delivered(_ context.Context, since time.Time, fs ...*finding.Finding) (bool, error) {
	return c.posted(since, fs), nil
}

// hanging posts a message, then never answers (the process dies first).
type hanging struct {
	posted   *[]string
	inFlight chan struct{}
}

func (h hanging) Notify(ctx context.Context, fs ...*finding.Finding) (bool, error) {
	*h.posted = append(*h.posted, notify.DeliveryID(fs...))
	close(h.inFlight)
	<-ctx.Done()
	return true, ctx.Err()
}

func (h hanging) Delivered(context.Context, time.Time, ...*finding.Finding) (bool, error) {
	return false, nil
}

// TestDigestNotResentAfterCrash: a digest goes out, and the process dies before the
// answer is recorded. On restart, a destination that can tell (the Slack Web API) is
// asked, and the digest is not sent again; only what came after it is.
func TestDigestNotResentAfterCrash(t *testing.T) {
	dir := t.TempDir()
	inFlight := make(chan struct{})
	var posted []string // delivery ids the destination has, as the Web API's history would
	hang := hanging{posted: &posted, inFlight: inFlight}
	o := notify.Options{
		Receivers: []notify.Receiver{{Name: "slack", Notifier: hang, DigestAfter: 2}},
		Route:     notify.Route{Receiver: "slack"},
		StateDir:  dir,
	}
	p, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		submit(t, p, mk(fmt.Sprint("rule", i), "p", fmt.Sprint("e", i), finding.High))
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-inFlight; cancel() }()
	if err := p.Flush(ctx); err == nil {
		t.Fatal("flush returned nil with the digest unanswered")
	}
	// What kill -9 leaves: the outbox file as last committed.
	p.Close()

	after := mk("late", "p", "e-late", finding.High)
	again := &fake{}
	o.Receivers[0].Notifier = confirmer{fake: again, posted: func(since time.Time, fs []*finding.Finding) bool {
		return slices.Contains(posted, notify.DeliveryID(fs...))
	}}
	p, err = notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	submit(t, p, after)
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := again.delivered(); !slices.Equal(got, []string{"e-late"}) {
		t.Fatalf("after the restart sent %v; want only e-late (the digest of e0-e4 had arrived)", got)
	}
}
