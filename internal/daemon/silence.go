package daemon

import (
	"context"
	"sync"
	"time"
)

// silence watches that each source keeps bringing data. A source quiet for longer than its
// threshold raises one alert per quiet spell; the spell is named by the time data last came,
// so the pipeline's (rule, eventID) dedupe also holds across restarts within the spell.
type silence struct {
	now func() time.Time

	mu      sync.Mutex
	after   map[string]time.Duration
	last    map[string]time.Time
	alerted map[string]time.Time // source → the last-data time its alert was raised for
	errs    map[string]SourceError
}

// SourceError is the latest error a source logged and retried.
type SourceError struct {
	At  time.Time `json:"at"`
	Err string    `json:"error"`
}

func newSilence(now func() time.Time) *silence {
	return &silence{now: now, after: map[string]time.Duration{}, last: map[string]time.Time{},
		alerted: map[string]time.Time{}, errs: map[string]SourceError{}}
}

// failed records a source's latest error, to say why data stopped.
func (s *silence) failed(source string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[source] = SourceError{At: s.now(), Err: err.Error()}
}

// lastError is the source's latest error since data last came, if any.
func (s *silence) lastError(source string) (SourceError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errorSinceData(source)
}

// errorSinceData is the source's latest error when it came after the latest data; s.mu held.
func (s *silence) errorSinceData(source string) (SourceError, bool) {
	e, ok := s.errs[source]
	return e, ok && !e.At.Before(s.last[source])
}

// health lists, per source, when data last came and the error since then, if any.
func (s *silence) health() map[string]SourceHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]SourceHealth, len(s.last))
	now := s.now()
	for src, last := range s.last {
		h := SourceHealth{LastData: last}
		if e, ok := s.errorSinceData(src); ok {
			h.Error = &e
		}
		if after := s.after[src]; after > 0 && now.Sub(last) >= after {
			h.SilentFor = now.Sub(last).Round(time.Second).String()
		}
		out[src] = h
	}
	return out
}

// SourceHealth is how a source is doing, in /healthz: when data last came, and the error
// since then, if any.
type SourceHealth struct {
	LastData time.Time    `json:"lastData"`
	Error    *SourceError `json:"error,omitempty"`
	// SilentFor is set while the source has brought no data for its silence_after.
	SilentFor string `json:"silentFor,omitempty"`
}

// watch starts watching source; after 0 only records when data came (for /healthz). The
// watch starts now, so a (re)started daemon gives every source a full threshold.
func (s *silence) watch(source string, after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.after[source] = after
	s.last[source] = s.now()
}

func (s *silence) seen(source string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[source] = s.now()
}

// quietSpell is a source silent past its threshold since last.
type quietSpell struct {
	source string
	last   time.Time
	after  time.Duration
}

// due lists the sources silent past their threshold that have not been alerted for this spell.
func (s *silence) due() []quietSpell {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []quietSpell
	now := s.now()
	for src, after := range s.after {
		last := s.last[src]
		if after > 0 && now.Sub(last) >= after && !s.alerted[src].Equal(last) {
			out = append(out, quietSpell{src, last, after})
		}
	}
	return out
}

func (s *silence) raised(source string, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerted[source] = last
}

// check is how often thresholds are compared: fine enough for thresholds of minutes.
func (s *silence) check() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := time.Minute
	for _, after := range s.after {
		if after > 0 {
			d = min(d, max(after/4, time.Second))
		}
	}
	return d
}

// run raises alerts until ctx is done; an alert that cannot be submitted is tried again at
// the next check.
func (s *silence) run(ctx context.Context, raise func(ctx context.Context, source string, last time.Time, after time.Duration) error) {
	t := time.NewTicker(s.check())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, q := range s.due() {
			if err := raise(ctx, q.source, q.last, q.after); err == nil {
				s.raised(q.source, q.last)
			}
		}
	}
}
