package notify

import (
	"context"
	"time"
)

// RateLimit is a token bucket: Burst messages at once, then one every Every.
type RateLimit struct {
	Every time.Duration // zero disables limiting
	Burst int           // at least 1
}

// limitStage paces a receiver's messages: Slack allows about one a second per webhook or
// channel, and warns that ignoring its 429s can get an app disabled. A token is spent
// only when a message was really sent.
type limitStage struct {
	RateLimit
	tokens float64
	last   time.Time
}

func newLimitStage(r RateLimit) *limitStage {
	if r.Burst < 1 {
		r.Burst = 1
	}
	return &limitStage{RateLimit: r, tokens: float64(r.Burst)}
}

func (l *limitStage) exec(_ context.Context, b *batch) error {
	if d := l.delay(b.now); d > 0 {
		b.hold(d)
	}
	return nil
}

func (l *limitStage) settled(b *batch) {
	if b.attempted {
		l.take(b.now)
	}
}

func (l *limitStage) refill(now time.Time) {
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
func (l *limitStage) delay(now time.Time) time.Duration {
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

// take spends one token.
func (l *limitStage) take(now time.Time) {
	if l.Every <= 0 {
		return
	}
	l.refill(now)
	l.tokens--
}
