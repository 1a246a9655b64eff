package notify

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// queue is a receiver at run time: its outbox queue, its delivery stages, and what
// Pipeline and the stages share about it.
type queue struct {
	Receiver
	m       receiverMetrics
	wake    chan struct{}
	pending atomic.Int64
	moved   func() // tells the Pipeline that items left the queue
	health  health

	busy  sync.Mutex // held by the one worker delivering this queue; it owns the stages
	group *groupStage
	chain []stage // group, limit, retry, fallback, record
}

func (q *queue) added(n int) {
	q.m.pending.Set(float64(q.pending.Add(int64(n))))
	if n > 0 {
		q.m.accepted.Add(float64(n))
	}
	q.poke()
}

func (q *queue) removed(n int) {
	q.m.pending.Set(float64(q.pending.Add(-int64(n))))
	q.moved()
}

// poke wakes the queue's worker, if it sleeps.
func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// outcome is what became of a batch's delivery attempt.
type outcome int

const (
	pending   outcome = iota // not attempted (held back, or the queue is empty)
	delivered                // the destination took it (or had taken it before)
	retrying                 // a transient failure: tried again after a delay
	failed                   // a permanent failure, or retries ran out
)

// batch is one message's worth of findings on its way out of a queue. The delivery
// stages fill it in turn: group picks the items, limit may hold it back, retry sends it
// and sets the outcome, fallback and record act on the outcome.
type batch struct {
	q     *queue
	now   time.Time
	drain bool // Flush: deliver everything now, ignoring group windows

	items  []*outbox.Item
	fs     []*finding.Finding
	alerts []*alert // as the group stage picked them: an event's items, fs[i] made of alerts[i]

	idle bool          // the queue is empty
	held bool          // a stage holds the batch back: the worker waits, then starts over
	wait time.Duration // how long before the next step

	outcome   outcome
	attempted bool   // a notifier call was made
	confirmed bool   // delivered before (a lost answer): not sent again
	retry     bool   // the notifier's verdict on err
	err       error  // the failure, classified (*Error)
	reason    string // Reason(err)
	dead      bool   // failed and kept as a dead letter (no fallback took it)
}

// hold stops the batch here for d.
func (b *batch) hold(d time.Duration) { b.held, b.wait = true, d }

func (b *batch) ids() []uint64 {
	ids := make([]uint64, len(b.items))
	for i, it := range b.items {
		ids[i] = it.ID
	}
	return ids
}

// A stage does one job to a batch on delivery: pick it, pace it, send it, reroute what
// failed, record what happened. A stage owns its state for one queue, and only that
// queue's worker calls it, so it needs no lock. A new step (say, merging the findings of
// several rules on one event into one alert) is one more stage in the chain.
type stage interface {
	exec(ctx context.Context, b *batch) error
}

// A settler is a stage that learns how a batch it passed on ended, after the chain.
type settler interface {
	settled(b *batch)
}

// step runs one batch through q's stages: at most one delivery attempt. It returns how
// long to wait before the next step, or idle when the queue is empty.
func (q *queue) step(ctx context.Context, now time.Time, drain bool) (wait time.Duration, idle bool, err error) {
	b := &batch{q: q, now: now, drain: drain}
	for _, s := range q.chain {
		if err := s.exec(ctx, b); err != nil {
			return 0, false, err
		}
		if b.idle || b.held {
			return b.wait, b.idle, nil
		}
	}
	for _, s := range q.chain {
		if st, ok := s.(settler); ok {
			st.settled(b)
		}
	}
	return b.wait, false, nil
}

// work is the only delivery loop of q while it runs. With drain it returns once the
// queue is empty. draining says whether a Flush asks for everything now.
func (q *queue) work(ctx context.Context, now func() time.Time, drain bool, draining func() bool) error {
	q.busy.Lock()
	defer q.busy.Unlock()
	q.group.reset() // another worker may have changed the queue since
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, idle, err := q.step(ctx, now(), drain || draining())
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
		case <-q.wake:
		case <-tc:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
