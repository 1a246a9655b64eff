package pattern

import (
	"sync"
	"sync/atomic"
)

// Matcher holds any number of compiled patterns, each under an id, and tells which of
// them match an event. The zero value is an empty Matcher, like New(). All methods are safe for
// concurrent use: Match reads an immutable snapshot, and Add and Remove publish a new
// one, so a Match running during an Add sees the patterns either before or after it.
type Matcher struct {
	mu      sync.Mutex
	entries []entry // in add order; guarded by mu
	dirty   atomic.Bool
	snap    atomic.Pointer[snapshot]
	pool    sync.Pool // *scratch
	readAll bool      // never stop reading an event early (tests compare the two)
}

type entry struct {
	id string
	c  *compiled
}

// New returns an empty Matcher.
func New() *Matcher {
	m := &Matcher{}
	m.snap.Store(build(nil))
	return m
}

// Add compiles pattern and adds it under id. Adding the same id again keeps the earlier
// patterns as well: the id then matches when any of its patterns matches (as quamina
// does); use Remove first to replace a pattern. An invalid pattern is not added and the
// error, a *PatternError, names the JSON path and the reason.
func (m *Matcher) Add(id, pattern string) error {
	p, err := Compile(pattern)
	if err != nil {
		return err
	}
	m.AddPattern(id, p)
	return nil
}

// AddPattern is Add for a pattern compiled already.
func (m *Matcher) AddPattern(id string, p *Pattern) {
	m.mu.Lock()
	m.entries = append(m.entries, entry{id: id, c: p.c})
	m.dirty.Store(true)
	m.mu.Unlock()
}

// Remove deletes every pattern added under id. Removing an unknown id does nothing.
func (m *Matcher) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.entries[:0:0]
	for _, e := range m.entries {
		if e.id != id {
			kept = append(kept, e)
		}
	}
	if len(kept) != len(m.entries) {
		m.entries = kept
		m.dirty.Store(true)
	}
}

// current returns the snapshot to match against, compiling pending changes first. The
// rebuild is lazy so that adding many patterns in a row costs one compilation.
func (m *Matcher) current() *snapshot {
	if s := m.snap.Load(); s != nil && !m.dirty.Load() {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.snap.Load(); s != nil && !m.dirty.Load() {
		return s
	}
	s := build(m.entries)
	s.readAll = m.readAll
	m.snap.Store(s)
	m.dirty.Store(false)
	return s
}

// Match returns the ids of all patterns that match event, a JSON object, each id once,
// in the order the ids were first added; nil when none matches. The error is an
// *EventError when the part of event that had to be read is not valid JSON (see the
// package documentation on early exit), or ErrTooComplex.
func (m *Matcher) Match(event []byte) ([]string, error) { return m.AppendMatch(nil, event) }

// AppendMatch is Match appending the ids to dst and returning the extended slice (dst as it
// was when none matches or on error): a caller that matches many events can reuse one
// buffer instead of a new slice for each.
func (m *Matcher) AppendMatch(dst []string, event []byte) ([]string, error) {
	s := m.current()
	sc, _ := m.pool.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	sc.reset(s)
	out, err := sc.match(s, event, dst)
	m.pool.Put(sc)
	return out, err
}
