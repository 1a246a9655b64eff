package notify

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential retry delay with full jitter between half and all of the
// step, so many trailbell instances failing together do not retry in lockstep.
type Backoff struct {
	Initial time.Duration // first delay; default 1s
	Max     time.Duration // cap; default 5m
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Delay is the wait before retry number attempt (1 for the first retry).
func (b Backoff) Delay(attempt int, jitter func() float64) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if jitter == nil {
		jitter = rand.Float64
	}
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// RateLimit is a token bucket: Burst messages at once, then one every Every.
type RateLimit struct {
	Every time.Duration // zero disables limiting
	Burst int           // at least 1
}

// limiter is used by a single delivery worker, so it needs no lock.
type limiter struct {
	RateLimit
	tokens float64
	last   time.Time
}

func newLimiter(r RateLimit) *limiter {
	if r.Burst < 1 {
		r.Burst = 1
	}
	return &limiter{RateLimit: r, tokens: float64(r.Burst)}
}

func (l *limiter) refill(now time.Time) {
	if l.last.IsZero() {
		l.last = now
		return
	}
	if el := now.Sub(l.last); el > 0 {
		l.tokens = min(float64(l.Burst), l.tokens+float64(el)/float64(l.Every))
		l.last = now
	}
}

// delay is how long to wait before a message may be sent.
func (l *limiter) delay(now time.Time) time.Duration {
	if l.Every <= 0 {
		return 0
	}
	l.refill(now)
	if l.tokens >= 1 {
		return 0
	}
	// At least a millisecond, so float rounding cannot make the worker spin.
	return max(time.Millisecond, time.Duration((1-l.tokens)*float64(l.Every)))
}

// take spends one token; call it when a message is sent.
func (l *limiter) take(now time.Time) {
	if l.Every <= 0 {
		return
	}
	l.refill(now)
	l.tokens--
}
