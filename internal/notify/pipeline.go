package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/finding"
)

// DeliveryFailureRule is the rule id of the alert the Pipeline raises on a fallback
// receiver when a receiver fails permanently.
const DeliveryFailureRule = "trailbell-delivery-failure"

// Receiver is one named destination with its delivery policy.
type Receiver struct {
	Name     string
	Notifier Notifier
	// MinSeverity drops findings below it, whatever the route said.
	MinSeverity finding.Severity
	// Fallback receives what this receiver cannot deliver, plus an alert about it.
	Fallback string
	// RateLimit paces messages; Slack allows about one a second per webhook or channel.
	RateLimit RateLimit
	// GroupWindow merges repeats of one rule and principal: the first is sent at once,
	// repeats inside the window go out together when it ends. Zero sends each alone.
	GroupWindow time.Duration
	// DigestAfter: while more than this many deliveries wait (a burst, or the end of an
	// outage), they go out as digests of up to MaxBatch different findings instead of one
	// paced message each. Zero never digests.
	DigestAfter int
}

// Options configure a Pipeline. Receivers and Route are required.
type Options struct {
	Receivers  []Receiver
	Route      Route
	Exceptions []Exception
	// NewMatcher creates the pattern matcher for route and exception patterns
	// (pattern.New in production). Needed only when some pattern is set.
	NewMatcher func() Matcher

	// StateDir holds the outbox file; empty keeps the outbox in memory, which survives
	// retries but not a restart.
	StateDir string
	// DedupeWindow is how long a (rule, eventID) is remembered; default 7 days.
	DedupeWindow time.Duration
	Backoff      Backoff
	// Deadline bounds retries of one finding: past it, a transient failure counts as
	// permanent (fallback, metrics). Default 24h.
	Deadline time.Duration
	// FailingAlert is how long a receiver may keep failing (transiently) before its
	// fallback gets an alert about it; default 10m.
	FailingAlert time.Duration
	// AttemptTimeout bounds one notifier call; default 15s.
	AttemptTimeout time.Duration
	// MaxBatch caps how many repeats go into one summary; default 50.
	MaxBatch int

	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time // default time.Now
	Jitter  func() float64   // default math/rand
}

// Pipeline takes findings from sources (Submit) and delivers them (Run, Flush). Submit
// returns nil only once the finding is durably accepted, so a source may acknowledge its
// input then.
type Pipeline struct {
	opts       Options
	log        *slog.Logger
	m          *Metrics
	store      store
	matcher    Matcher
	root       *route
	exceptions []exception
	receivers  map[string]*receiver
	order      []*receiver

	mu        sync.Mutex
	running   bool
	draining  int
	changed   chan struct{} // closed and replaced when a queue shrinks
	flushErrs []error
	closed    bool
	moves     atomic.Int64 // deliveries and failures handled, to see progress
}

type receiver struct {
	Receiver
	busy         sync.Mutex // held by the one worker delivering this queue
	wake         chan struct{}
	pending      atomic.Int64
	lim          *limiter
	m            receiverMetrics
	groups       map[string]time.Time // group key → when its last message went out
	page         []*item              // cached head of the queue
	failures     int                  // consecutive failed attempts
	failingSince time.Time            // first failure of the current streak
	alerted      bool                 // the fallback was told about this streak
	lastErr      string               // last failure of the streak; guarded by Pipeline.mu
	retryAt      time.Time
}

// New builds a Pipeline and opens its outbox. Close it when done.
func New(opts Options) (*Pipeline, error) {
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = 7 * 24 * time.Hour
	}
	if opts.Deadline <= 0 {
		opts.Deadline = 24 * time.Hour
	}
	if opts.FailingAlert <= 0 {
		opts.FailingAlert = 10 * time.Minute
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 15 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 50
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	p := &Pipeline{opts: opts, log: opts.Logger, m: opts.Metrics, receivers: map[string]*receiver{}, changed: make(chan struct{})}

	if len(opts.Receivers) == 0 {
		return nil, errors.New("no receivers")
	}
	for _, r := range opts.Receivers {
		switch {
		case r.Name == "" || strings.HasPrefix(r.Name, "!"):
			return nil, fmt.Errorf("receiver %q: invalid name", r.Name)
		case p.receivers[r.Name] != nil:
			return nil, fmt.Errorf("receiver %q: defined twice", r.Name)
		case r.Notifier == nil:
			return nil, fmt.Errorf("receiver %q: no notifier", r.Name)
		}
		rr := &receiver{Receiver: r, wake: make(chan struct{}, 1), lim: newLimiter(r.RateLimit), groups: map[string]time.Time{},
			m: p.m.receiver(r.Name)}
		p.receivers[r.Name] = rr
		p.order = append(p.order, rr)
	}
	for _, r := range p.order {
		if r.Fallback != "" && (p.receivers[r.Fallback] == nil || r.Fallback == r.Name) {
			return nil, fmt.Errorf("receiver %q: fallback %q is not another receiver", r.Name, r.Fallback)
		}
	}

	if opts.NewMatcher != nil {
		p.matcher = opts.NewMatcher()
	}
	root, err := compileRoute(opts.Route, "", p.matcher, "route", p.receivers)
	if err != nil {
		return nil, err
	}
	p.root = root
	for i, e := range opts.Exceptions {
		path := e.Path
		if path == "" {
			path = fmt.Sprintf("exceptions[%d]", i)
		}
		x := exception{name: e.Name, rules: e.Rules}
		if x.name == "" {
			x.name = path
		}
		if e.Match != "" {
			if p.matcher == nil {
				return nil, fmt.Errorf("%s.match: no pattern matcher configured", path)
			}
			x.id = "exception:" + path
			if err := p.matcher.Add(x.id, e.Match); err != nil {
				return nil, fmt.Errorf("%s.match: %w", path, err)
			}
		} else if len(e.Rules) == 0 {
			return nil, fmt.Errorf("%s: an exception needs rules or match (it would silence everything)", path)
		}
		p.exceptions = append(p.exceptions, x)
	}
	if !root.hasPatterns() && !slices.ContainsFunc(p.exceptions, func(x exception) bool { return x.id != "" }) {
		p.matcher = nil // nothing to match: skip encoding findings
	}

	if opts.StateDir == "" {
		p.store = newMemStore()
	} else if p.store, err = openBoltStore(opts.StateDir); err != nil {
		return nil, err
	}
	for _, r := range p.order {
		n, err := p.store.count(r.Name)
		if err != nil {
			p.store.close()
			return nil, fmt.Errorf("outbox: %w", err)
		}
		r.pending.Store(int64(n))
		r.m.pending.Set(float64(n))
		if n > 0 {
			p.log.Info("outbox holds undelivered findings", "receiver", r.Name, "count", n)
		}
	}
	if err := p.store.prune(opts.Now(), opts.DedupeWindow); err != nil {
		p.store.close()
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return p, nil
}

// Close closes the outbox. Findings not yet delivered stay in it (with a state directory)
// for the next start.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.store.close()
}

// Pending is how many deliveries wait in the outbox (one per finding and receiver).
func (p *Pipeline) Pending() int {
	var n int64
	for _, r := range p.order {
		n += r.pending.Load()
	}
	return int(n)
}

// Submit routes f and durably accepts it for every receiver it goes to. A duplicate of an
// accepted finding, one matched by an exception, and one no receiver wants are dropped
// (and counted) with a nil error.
func (p *Pipeline) Submit(ctx context.Context, f finding.Finding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var hit map[string]bool
	if p.matcher != nil {
		doc, err := json.Marshal(&f)
		if err != nil {
			return fmt.Errorf("encode finding %s: %w", f.Key(), err)
		}
		ids, err := p.matcher.Match(doc)
		if err != nil {
			return fmt.Errorf("route finding %s: %w", f.Key(), err)
		}
		hit = make(map[string]bool, len(ids))
		for _, id := range ids {
			hit[id] = true
		}
	}
	for _, x := range p.exceptions {
		if (len(x.rules) == 0 || slices.Contains(x.rules, f.Rule)) && (x.id == "" || hit[x.id]) {
			p.m.suppressed.Inc()
			p.log.Debug("finding suppressed by exception", "exception", x.name, "rule", f.Rule, "eventID", f.EventID)
			return nil
		}
	}
	names := p.root.receivers(&f, hit, nil)
	to := make(map[string]*item, len(names))
	now := p.opts.Now()
	for _, name := range names {
		r := p.receivers[name]
		if f.Severity < r.MinSeverity {
			r.m.filtered.Inc()
			continue
		}
		to[name] = &item{Finding: f, Accepted: now}
	}
	if len(to) == 0 {
		return nil
	}
	key := ""
	if f.EventID != "" {
		key = f.Key()
	}
	dup, err := p.store.accept(key, to, now, p.opts.DedupeWindow)
	if err != nil {
		return fmt.Errorf("outbox: accept %s: %w", f.Key(), err)
	}
	if dup {
		p.m.duplicates.Inc()
		return nil
	}
	for name := range to {
		p.added(p.receivers[name], 1)
	}
	return nil
}

func (p *Pipeline) added(r *receiver, n int) {
	r.m.pending.Set(float64(r.pending.Add(int64(n))))
	if n > 0 {
		r.m.accepted.Add(float64(n))
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (p *Pipeline) removed(r *receiver, n int) {
	r.m.pending.Set(float64(r.pending.Add(-int64(n))))
	p.moves.Add(1)
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Run delivers until ctx is done. A cancelled ctx is a normal stop (nil); the error is
// the outbox failing. What is not delivered stays in the outbox.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("pipeline already running")
	}
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		close(p.changed) // a Flush waiting on Run's workers takes over
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range p.order {
		g.Go(func() error { return p.work(gctx, r, false) })
	}
	g.Go(func() error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return gctx.Err()
			case <-t.C:
				if err := p.store.prune(p.opts.Now(), p.opts.DedupeWindow); err != nil {
					return fmt.Errorf("outbox: prune: %w", err)
				}
			}
		}
	})
	err := g.Wait()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// Flush delivers everything accepted so far, ignoring group windows, and returns when the
// outbox is empty. The error names findings that failed permanently without a fallback,
// or how many are still pending when ctx ends first. It works with or without Run.
func (p *Pipeline) Flush(ctx context.Context) error {
	p.mu.Lock()
	p.draining++
	running := p.running
	p.flushErrs = nil
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.draining--
		p.mu.Unlock()
	}()
	for _, r := range p.order {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	var err error
	for err == nil && p.Pending() > 0 {
		p.mu.Lock()
		running = p.running // Run may have stopped meanwhile: then deliver here
		ch := p.changed
		p.mu.Unlock()
		if running {
			if p.Pending() == 0 {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				err = ctx.Err()
			}
			continue
		}
		before := p.moves.Load()
		g, gctx := errgroup.WithContext(ctx)
		for _, r := range p.order {
			if r.pending.Load() > 0 {
				g.Go(func() error { return p.work(gctx, r, true) })
			}
		}
		if err = g.Wait(); err == nil && p.moves.Load() == before {
			err = errors.New("no progress") // the counters disagree with the outbox
		}
	}
	p.mu.Lock()
	errs := p.flushErrs
	p.flushErrs = nil
	p.mu.Unlock()
	if err != nil {
		var last []string
		p.mu.Lock()
		for _, r := range p.order {
			if r.pending.Load() > 0 && r.lastErr != "" {
				last = append(last, fmt.Sprintf("%s: %s", r.Name, r.lastErr))
			}
		}
		p.mu.Unlock()
		detail := ""
		if len(last) > 0 {
			detail = " (last failure " + strings.Join(last, "; ") + ")"
		}
		errs = append(errs, fmt.Errorf("flush: %d deliveries still pending%s: %w", p.Pending(), detail, err))
	}
	return errors.Join(errs...)
}

func (p *Pipeline) isDraining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining > 0
}

// work is the only delivery loop of r while it runs. With drain it returns once r's
// queue is empty.
func (p *Pipeline) work(ctx context.Context, r *receiver, drain bool) error {
	r.busy.Lock()
	defer r.busy.Unlock()
	r.page = nil // another worker may have changed the queue since
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, idle, err := p.step(ctx, r, drain || p.isDraining())
		if err != nil {
			return err
		}
		if idle && drain {
			return nil
		}
		if !idle && wait <= 0 {
			continue
		}
		var timer *time.Timer
		var tc <-chan time.Time
		if !idle {
			timer = time.NewTimer(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-tc:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// step makes at most one delivery attempt. It returns how long to wait before the next
// step, or idle when the queue is empty.
func (p *Pipeline) step(ctx context.Context, r *receiver, drain bool) (wait time.Duration, idle bool, err error) {
	now := p.opts.Now()
	if now.Before(r.retryAt) {
		return r.retryAt.Sub(now), false, nil
	}
	if len(r.page) == 0 {
		r.page, err = p.store.head(r.Name, 0, 4*p.opts.MaxBatch)
		var ce *CorruptError
		if errors.As(err, &ce) {
			// Counted and reported, then delivery goes on with the readable items.
			p.log.Error("outbox items unreadable; set aside", "receiver", r.Name, "count", ce.Count, "err", err)
			p.m.failed.WithLabelValues(r.Name, "corrupt").Add(float64(ce.Count))
			p.removed(r, ce.Count)
			p.mu.Lock()
			if len(p.flushErrs) < 100 {
				p.flushErrs = append(p.flushErrs, ce)
			}
			p.mu.Unlock()
			err = nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("outbox: %w", err)
		}
		if len(r.page) == 0 {
			for k, t := range r.groups {
				if now.Sub(t) >= r.GroupWindow {
					delete(r.groups, k)
				}
			}
			return 0, true, nil
		}
	}
	batch, opens := p.pick(r, now, drain)
	if len(batch) == 0 {
		r.page = nil // reload: newer items of other groups may be behind this page
		return opens.Sub(now), false, nil
	}
	if d := r.lim.delay(now); d > 0 {
		return d, false, nil
	}
	r.lim.take(now)

	fs := make([]*finding.Finding, len(batch))
	for i, it := range batch {
		fs[i] = &it.Finding
	}
	actx, cancel := context.WithTimeout(ctx, p.opts.AttemptTimeout)
	retry, nerr := r.Notifier.Notify(actx, fs...)
	cancel()
	now = p.opts.Now()
	ids := make([]uint64, len(batch))
	for i, it := range batch {
		ids[i] = it.id
	}
	if nerr == nil {
		if err := p.store.move(r.Name, ids, nil); err != nil {
			return 0, false, fmt.Errorf("outbox: %w", err)
		}
		p.dropFromPage(r, ids)
		p.recovered(r)
		if r.GroupWindow > 0 {
			r.groups[fs[0].GroupKey()] = now
		}
		r.m.messages.Inc()
		r.m.delivered.Add(float64(len(batch)))
		for _, it := range batch {
			r.m.latency.Observe(now.Sub(it.Accepted).Seconds())
		}
		p.removed(r, len(batch))
		return 0, false, nil
	}
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short, not refused.
		return 0, false, ctx.Err()
	}
	reason := Reason(nerr)
	p.m.attempts.WithLabelValues(r.Name, reason).Inc()
	msg := nerr.Error()
	for _, it := range batch {
		it.Attempts++
		it.LastError = msg
	}
	if retry && now.Sub(batch[0].Accepted) < p.opts.Deadline {
		r.failures++
		if r.failures == 1 {
			r.failingSince = now
			r.m.failing.Set(1)
		}
		if err := p.alertStreak(r, batch, reason, msg, now); err != nil {
			return 0, false, err
		}
		delay := p.opts.Backoff.Delay(r.failures, p.opts.Jitter)
		if ra, ok := RetryAfter(nerr); ok && ra > delay {
			delay = min(ra, time.Hour)
		}
		r.retryAt = now.Add(delay)
		p.mu.Lock()
		r.lastErr = msg
		p.mu.Unlock()
		if err := p.store.update(r.Name, batch); err != nil {
			return 0, false, fmt.Errorf("outbox: %w", err)
		}
		p.log.Warn("delivery failed, will retry", "receiver", r.Name, "reason", reason, "err", msg,
			"findings", len(batch), "attempt", batch[0].Attempts, "retry_in", delay.Round(time.Millisecond))
		return delay, false, nil
	}
	if retry {
		msg = fmt.Sprintf("gave up after %s: %s", p.opts.Deadline, msg)
		nerr = &Error{Reason: "deadline", Err: nerr}
		reason = "deadline"
	}
	p.recovered(r)
	if err := p.fail(r, batch, ids, reason, msg); err != nil {
		return 0, false, err
	}
	p.dropFromPage(r, ids)
	p.removed(r, len(batch))
	return 0, false, nil
}

// recovered ends a failure streak (a delivery worked, or the failure was settled).
func (p *Pipeline) recovered(r *receiver) {
	if r.failures > 0 {
		r.m.failing.Set(0)
	}
	r.failures, r.alerted = 0, false
	p.mu.Lock()
	r.lastErr = ""
	p.mu.Unlock()
}

// alertStreak tells the fallback receiver, once per streak, that r has been failing for
// FailingAlert: a long Slack outage should not stay silent until the retry deadline.
func (p *Pipeline) alertStreak(r *receiver, batch []*item, reason, msg string, now time.Time) error {
	fb := p.receivers[r.Fallback]
	if fb == nil || r.alerted || now.Sub(r.failingSince) < p.opts.FailingAlert {
		return nil
	}
	r.alerted = true
	a := p.failureAlert(r.Name, batch, reason, msg, now)
	a.Title = fmt.Sprintf("trailbell cannot deliver to receiver %s (failing for %s, still retrying)", r.Name, now.Sub(r.failingSince).Round(time.Second))
	a.Description = fmt.Sprintf("Deliveries to %s have failed since %s (%s): %s. trailbell keeps the alerts in its outbox and retries until %s after each was accepted.",
		r.Name, r.failingSince.UTC().Format(time.RFC3339), reason, msg, p.opts.Deadline)
	p.log.Error("receiver failing; alerting its fallback", "receiver", r.Name, "fallback", fb.Name, "since", r.failingSince, "reason", reason)
	if err := p.store.move(r.Name, nil, map[string][]*item{fb.Name: {{Finding: a, Accepted: now, From: r.Name}}}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	p.added(fb, 1)
	return nil
}

// pick chooses the next findings to send together: the oldest eligible item and the
// repeats of its group. Outside a drain, a group that sent a message less than
// GroupWindow ago waits; opens says when the first waiting group may send.
func (p *Pipeline) pick(r *receiver, now time.Time, drain bool) (batch []*item, opens time.Time) {
	if r.DigestAfter > 0 && int(r.pending.Load()) > r.DigestAfter {
		return slices.Clone(r.page[:min(len(r.page), p.opts.MaxBatch)]), time.Time{}
	}
	if r.GroupWindow <= 0 && !drain {
		// A new slice: dropFromPage shifts and clears r.page's array under it.
		return []*item{r.page[0]}, time.Time{}
	}
	var key string
	for _, it := range r.page {
		k := it.Finding.GroupKey()
		last, ok := r.groups[k]
		if drain || !ok || now.Sub(last) >= r.GroupWindow {
			key = k
			break
		}
		if o := last.Add(r.GroupWindow); opens.IsZero() || o.Before(opens) {
			opens = o
		}
	}
	if key == "" && opens.IsZero() {
		return nil, now
	}
	if key == "" {
		return nil, opens
	}
	for _, it := range r.page {
		if it.Finding.GroupKey() == key && len(batch) < p.opts.MaxBatch {
			batch = append(batch, it)
		}
	}
	return batch, time.Time{}
}

func (p *Pipeline) dropFromPage(r *receiver, ids []uint64) {
	r.page = slices.DeleteFunc(r.page, func(it *item) bool { return slices.Contains(ids, it.id) })
}

// fail handles a permanent failure of batch (whose outbox ids are ids): the findings go
// to the fallback receiver with an alert about the failure, or to the dead-letter queue
// when there is none.
func (p *Pipeline) fail(r *receiver, batch []*item, ids []uint64, reason, msg string) error {
	p.m.failed.WithLabelValues(r.Name, reason).Add(float64(len(batch)))
	fb := p.receivers[r.Fallback]
	if fb == nil || batch[0].From != "" {
		p.log.Error("delivery failed permanently; kept in the outbox's dead-letter queue", "receiver", r.Name,
			"reason", reason, "err", msg, "findings", len(batch), "rule", batch[0].Finding.Rule, "eventID", batch[0].Finding.EventID)
		dead := make([]*item, len(batch))
		for i, it := range batch {
			c := *it
			c.From, c.LastError = r.Name, msg // who it was for, so Requeue can send it back
			dead[i] = &c
		}
		if err := p.store.move(r.Name, ids, map[string][]*item{deadQueue: dead}); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		p.mu.Lock()
		// Bounded: a daemon that never flushes must not grow this forever.
		if len(p.flushErrs) < 100 {
			p.flushErrs = append(p.flushErrs, fmt.Errorf("receiver %s: %d finding(s) undeliverable (%s): %s", r.Name, len(batch), reason, msg))
		}
		p.mu.Unlock()
		return nil
	}
	p.log.Error("delivery failed permanently; sending to fallback receiver", "receiver", r.Name, "fallback", fb.Name,
		"reason", reason, "err", msg, "findings", len(batch))
	now := p.opts.Now()
	moved := make([]*item, 0, len(batch)+1)
	for _, it := range batch {
		moved = append(moved, &item{Finding: it.Finding, Accepted: now, From: r.Name, LastError: msg})
	}
	alert := p.failureAlert(r.Name, batch, reason, msg, now)
	moved = append(moved, &item{Finding: alert, Accepted: now, From: r.Name})
	if err := p.store.move(r.Name, ids, map[string][]*item{fb.Name: moved}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	p.added(fb, len(moved))
	return nil
}

// failureAlert is the Pipeline's own alert about a receiver that failed.
func (p *Pipeline) failureAlert(name string, batch []*item, reason, msg string, now time.Time) finding.Finding {
	rules := make([]string, 0, len(batch))
	for _, it := range batch {
		if !slices.Contains(rules, it.Finding.Rule) {
			rules = append(rules, it.Finding.Rule)
		}
	}
	return finding.Finding{
		Rule:        DeliveryFailureRule,
		Severity:    finding.High,
		Title:       fmt.Sprintf("trailbell could not deliver %d alert(s) to receiver %s", len(batch), name),
		Description: fmt.Sprintf("Delivery to %s failed permanently (%s): %s. The alerts follow on this receiver.", name, reason, msg),
		EventID:     "delivery-failure-" + name + "-" + strconv.FormatInt(now.UnixNano(), 10),
		EventName:   "DeliveryFailed",
		EventTime:   now.UTC().Format(time.RFC3339),
		Principal:   "trailbell",
		Target:      name,
		Params: []finding.Param{
			{Name: "receiver", Value: name},
			{Name: "reason", Value: reason},
			{Name: "rules", Value: strings.Join(rules, ", ")},
		},
		Record: json.RawMessage("null"),
	}
}

// DeadLetter is a finding that could not be delivered and had no fallback.
type DeadLetter struct {
	Receiver string
	Error    string
	Finding  finding.Finding
}

// DeadLetters lists up to limit undeliverable findings, oldest first.
func (p *Pipeline) DeadLetters(limit int) ([]DeadLetter, error) {
	its, err := p.store.head(deadQueue, 0, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	out := make([]DeadLetter, len(its))
	for i, it := range its {
		out[i] = DeadLetter{Receiver: it.From, Error: it.LastError, Finding: it.Finding}
	}
	return out, nil
}

// Requeue gives every dead letter whose receiver still exists another delivery (after
// the cause was fixed, e.g. a new webhook URL). It returns how many were requeued.
func (p *Pipeline) Requeue() (int, error) {
	n := 0
	var after uint64 // dead letters of removed receivers stay; read on past them
	for {
		its, err := p.store.head(deadQueue, after, 500)
		if err != nil {
			return n, fmt.Errorf("outbox: %w", err)
		}
		if len(its) == 0 {
			return n, nil
		}
		after = its[len(its)-1].id
		var ids []uint64
		to := map[string][]*item{}
		for _, it := range its {
			if p.receivers[it.From] == nil {
				continue
			}
			ids = append(ids, it.id)
			to[it.From] = append(to[it.From], &item{Finding: it.Finding, Accepted: p.opts.Now()})
		}
		if len(ids) == 0 {
			continue
		}
		if err := p.store.move(deadQueue, ids, to); err != nil {
			return n, fmt.Errorf("outbox: %w", err)
		}
		for name, list := range to {
			p.added(p.receivers[name], len(list))
		}
		n += len(ids)
	}
}
