package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
)

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
	// PerRule delivers each rule's finding on its own (JSON lines for machines). Otherwise
	// the findings of one event are one alert: the most severe leads, the other rules are
	// listed in its Also (finding.Merge).
	PerRule bool
}

// Options configure a Pipeline. Receivers and Route are required.
type Options struct {
	Receivers  []Receiver
	Route      Route
	Exceptions []Exception
	// Mutes, when set, silences what a mute in force names (after the exceptions).
	Mutes Muter
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
	// MaxBatch caps how many findings go into one summary or digest; default 50.
	MaxBatch int

	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time // default time.Now
	Jitter  func() float64   // default math/rand
}

func (o *Options) defaults() {
	if o.DedupeWindow <= 0 {
		o.DedupeWindow = 7 * 24 * time.Hour
	}
	if o.Deadline <= 0 {
		o.Deadline = 24 * time.Hour
	}
	if o.FailingAlert <= 0 {
		o.FailingAlert = 10 * time.Minute
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 15 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 50
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
}

// Pipeline takes findings from sources (Submit) and delivers them (Run, Flush). Submit
// returns nil only once the finding is durably accepted, so a source may acknowledge its
// input then.
//
// It is two chains of stages around the outbox. Submit runs route → except → dedupe →
// outbox for each finding. Delivery runs, for each receiver on its own worker, group →
// limit → retry → fallback → record for each message.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	store   outbox.Store
	matcher Matcher
	queues  map[string]*queue
	order   []*queue

	// The submit stages, in order.
	route  routeStage
	except exceptStage
	dedupe dedupeStage
	accept outboxStage

	mu       sync.Mutex
	running  bool
	draining int
	changed  chan struct{} // closed and replaced when a queue shrinks
	closed   bool
	moves    atomic.Int64 // deliveries and failures handled, to see progress

	reportMu sync.Mutex
	reports  []error // what Flush returns: dead letters, unreadable items
}

// New builds a Pipeline and opens its outbox. Close it when done.
func New(opts Options) (*Pipeline, error) {
	opts.defaults()
	p := &Pipeline{opts: opts, log: opts.Logger, queues: map[string]*queue{}, changed: make(chan struct{})}
	if len(opts.Receivers) == 0 {
		return nil, errors.New("no receivers")
	}
	for _, r := range opts.Receivers {
		switch {
		case r.Name == "" || strings.HasPrefix(r.Name, "!"):
			return nil, fmt.Errorf("receiver %q: invalid name", r.Name)
		case p.queues[r.Name] != nil:
			return nil, fmt.Errorf("receiver %q: defined twice", r.Name)
		case r.Notifier == nil:
			return nil, fmt.Errorf("receiver %q: no notifier", r.Name)
		}
		q := &queue{Receiver: r, wake: make(chan struct{}, 1), m: opts.Metrics.receiver(r.Name), moved: p.moved}
		q.health.h.Name = r.Name
		p.queues[r.Name] = q
		p.order = append(p.order, q)
	}
	for _, q := range p.order {
		if q.Fallback != "" && (p.queues[q.Fallback] == nil || q.Fallback == q.Name) {
			return nil, fmt.Errorf("receiver %q: fallback %q is not another receiver", q.Name, q.Fallback)
		}
	}

	if opts.NewMatcher != nil {
		p.matcher = opts.NewMatcher()
	}
	root, err := compileRoute(opts.Route, "", p.matcher, "route", p.queues)
	if err != nil {
		return nil, err
	}
	exceptions, err := compileExceptions(opts.Exceptions, p.matcher)
	if err != nil {
		return nil, err
	}

	if opts.StateDir == "" {
		p.store = outbox.NewMemory()
	} else if p.store, err = outbox.Open(opts.StateDir); err != nil {
		return nil, err
	}
	p.route = routeStage{root: root, m: opts.Metrics}
	p.except = exceptStage{list: exceptions, mutes: opts.Mutes, m: opts.Metrics, log: p.log}
	p.dedupe = dedupeStage{store: p.store, window: opts.DedupeWindow, m: opts.Metrics}
	p.accept = outboxStage{store: p.store, window: opts.DedupeWindow, m: opts.Metrics}
	for _, q := range p.order {
		log := p.log.With("receiver", q.Name)
		q.group = newGroupStage(p.store, q.Receiver, opts.MaxBatch, log, p.report)
		q.chain = []stage{
			q.group,
			newLimitStage(q.RateLimit),
			newRetryStage(p.store, q.Notifier, opts, log),
			&fallbackStage{store: p.store, fb: p.queues[q.Fallback], deadline: opts.Deadline, failingAlert: opts.FailingAlert, log: log},
			recordStage{store: p.store, report: p.report},
		}
	}

	for _, q := range p.order {
		n, err := p.store.Count(q.Name)
		if err != nil {
			p.store.Close()
			return nil, fmt.Errorf("outbox: %w", err)
		}
		q.pending.Store(int64(n))
		q.m.pending.Set(float64(n))
		if n > 0 {
			p.log.Info("outbox holds undelivered findings", "receiver", q.Name, "count", n)
		}
	}
	if err := p.store.Prune(opts.Now(), opts.DedupeWindow); err != nil {
		p.store.Close()
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
	return p.store.Close()
}

// Pending is how many deliveries wait in the outbox (one per finding and receiver).
func (p *Pipeline) Pending() int {
	var n int64
	for _, q := range p.order {
		n += q.pending.Load()
	}
	return int(n)
}

// Health is how each receiver's deliveries are going, in configuration order.
func (p *Pipeline) Health() []ReceiverHealth {
	out := make([]ReceiverHealth, len(p.order))
	for i, q := range p.order {
		out[i] = q.health.get()
		out[i].Pending = int(q.pending.Load())
	}
	return out
}

// Submit runs each finding through the submit stages and durably accepts what is left for
// every receiver it goes to, all in one outbox transaction: submit the findings of one
// record together, so that a delivery worker sees them together and sends one alert for
// the event. A finding no route takes, one an exception matches, and a duplicate of an
// accepted one are dropped (and counted); the error is nil once the rest is accepted.
func (p *Pipeline) Submit(ctx context.Context, fs ...finding.Finding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := p.opts.Now()
	var one [1]admission // one finding, the common case, stays on the stack
	as := one[:0]
	if len(fs) > 1 {
		as = make([]admission, 0, len(fs))
	}
	for i := range fs {
		a := admission{f: &fs[i], now: now, m: p.matcher}
		// Called one by one rather than through a slice of stages, so that the
		// admission stays on the stack.
		ok, err := p.route.admit(ctx, &a)
		if ok && err == nil {
			ok, err = p.except.admit(ctx, &a)
		}
		if ok && err == nil {
			ok, err = p.dedupe.admit(ctx, &a)
		}
		if err != nil {
			return err
		}
		if ok {
			as = append(as, a)
		}
	}
	if len(as) == 0 {
		return nil
	}
	return p.accept.accept(as)
}

// SubmitTo durably accepts findings for one receiver, past the route tree, the exceptions
// and the mutes (the dedupe stage still drops a repeat): an alert nobody acknowledged,
// re-raised to a receiver's fallback.
func (p *Pipeline) SubmitTo(ctx context.Context, receiver string, fs ...finding.Finding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := p.queues[receiver]
	if q == nil {
		return fmt.Errorf("no receiver named %q", receiver)
	}
	now := p.opts.Now()
	as := make([]admission, 0, len(fs))
	for i := range fs {
		a := admission{f: &fs[i], now: now, m: p.matcher, to: []*queue{q}}
		ok, err := p.dedupe.admit(ctx, &a)
		if err != nil {
			return err
		}
		if ok {
			as = append(as, a)
		}
	}
	if len(as) == 0 {
		return nil
	}
	return p.accept.accept(as)
}

func (p *Pipeline) moved() {
	p.moves.Add(1)
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// report keeps a problem for Flush to return. Bounded: a daemon that never flushes must
// not grow it forever.
func (p *Pipeline) report(err error) {
	p.reportMu.Lock()
	defer p.reportMu.Unlock()
	if len(p.reports) < 100 {
		p.reports = append(p.reports, err)
	}
}

func (p *Pipeline) takeReports() []error {
	p.reportMu.Lock()
	defer p.reportMu.Unlock()
	r := p.reports
	p.reports = nil
	return r
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
	for _, q := range p.order {
		g.Go(func() error { return q.work(gctx, p.opts.Now, false, p.isDraining) })
	}
	g.Go(func() error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return gctx.Err()
			case <-t.C:
				if err := p.store.Prune(p.opts.Now(), p.opts.DedupeWindow); err != nil {
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

func (p *Pipeline) isDraining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining > 0
}

// Flush delivers everything accepted so far, ignoring group windows, and returns when the
// outbox is empty. The error names findings that failed permanently without a fallback,
// or how many are still pending when ctx ends first. It works with or without Run.
func (p *Pipeline) Flush(ctx context.Context) error {
	p.mu.Lock()
	p.draining++
	p.mu.Unlock()
	p.takeReports()
	defer func() {
		p.mu.Lock()
		p.draining--
		p.mu.Unlock()
	}()
	for _, q := range p.order {
		q.poke()
	}
	var err error
	for err == nil && p.Pending() > 0 {
		p.mu.Lock()
		running := p.running // Run may have stopped meanwhile: then deliver here
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
		for _, q := range p.order {
			if q.pending.Load() > 0 {
				g.Go(func() error { return q.work(gctx, p.opts.Now, true, p.isDraining) })
			}
		}
		if err = g.Wait(); err == nil && p.moves.Load() == before {
			err = errors.New("no progress") // the counters disagree with the outbox
		}
	}
	errs := p.takeReports()
	if err != nil {
		var last []string
		for _, h := range p.Health() {
			if h.Pending > 0 && h.Error != "" {
				last = append(last, fmt.Sprintf("%s: %s", h.Name, h.Error))
			}
		}
		detail := ""
		if len(last) > 0 {
			detail = " (last failure " + strings.Join(last, "; ") + ")"
		}
		errs = append(errs, fmt.Errorf("flush: %d deliveries still pending%s: %w", p.Pending(), detail, err))
	}
	return errors.Join(errs...)
}

// DeadLetters lists up to limit undeliverable findings, oldest first.
func (p *Pipeline) DeadLetters(limit int) ([]outbox.DeadLetter, error) {
	dl, err := outbox.DeadLetters(p.store, limit)
	if err != nil {
		return dl, fmt.Errorf("outbox: %w", err)
	}
	return dl, nil
}

// Requeue gives every dead letter whose receiver still exists another delivery (after
// the cause was fixed, e.g. a new webhook URL). It returns how many were requeued.
func (p *Pipeline) Requeue() (int, error) {
	moved, err := outbox.Requeue(p.store, func(name string) bool { return p.queues[name] != nil }, p.opts.Now())
	n := 0
	for name, k := range moved {
		p.queues[name].added(k)
		n += k
	}
	if err != nil {
		return n, fmt.Errorf("outbox: %w", err)
	}
	return n, nil
}
