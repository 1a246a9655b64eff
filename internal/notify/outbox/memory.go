package outbox

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// Memory is the outbox without a state directory: it survives retries, not restarts.
type Memory struct {
	mu     sync.Mutex
	seq    uint64
	queues map[string][]*Item
	seen   map[string]time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory outbox.
func NewMemory() *Memory {
	return &Memory{queues: map[string][]*Item{}, seen: map[string]time.Time{}}
}

func (s *Memory) Accept(now time.Time, window time.Duration, es ...Entry) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dup := make([]bool, len(es))
	for i, e := range es {
		if e.Key != "" {
			if t, ok := s.seen[e.Key]; ok && now.Sub(t) < window {
				dup[i] = true
				continue
			}
			s.seen[e.Key] = now
		}
		for _, q := range e.Queues {
			s.push(q, e.Item)
		}
	}
	return dup, nil
}

func (s *Memory) Seen(key string, now time.Time, window time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.seen[key]
	return ok && now.Sub(t) < window, nil
}

func (s *Memory) push(q string, it *Item) {
	// A copy: the caller's item may sit in a worker's cache under its old id.
	s.seq++
	c := *it
	c.ID = s.seq
	s.queues[q] = append(s.queues[q], &c)
}

func (s *Memory) Head(q string, after uint64, limit int) ([]*Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.queues[q]
	// Ids grow along a queue.
	src = src[sort.Search(len(src), func(i int) bool { return src[i].ID > after }):]
	out := make([]*Item, 0, min(limit, len(src)))
	for _, it := range src[:min(limit, len(src))] {
		c := *it
		out = append(out, &c)
	}
	return out, nil
}

func (s *Memory) Count(q string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues[q]), nil
}

func (s *Memory) Update(q string, its []*Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range its {
		list := s.queues[q]
		if i := sort.Search(len(list), func(i int) bool { return list[i].ID >= it.ID }); i < len(list) && list[i].ID == it.ID {
			c := *it
			list[i] = &c
		}
	}
	return nil
}

func (s *Memory) Move(q string, ids []uint64, to map[string][]*Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ids) > 0 {
		s.queues[q] = slices.DeleteFunc(s.queues[q], func(it *Item) bool { return slices.Contains(ids, it.ID) })
		if len(s.queues[q]) == 0 {
			delete(s.queues, q) // let the backing array go
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(to)) {
		for _, it := range to[dst] {
			s.push(dst, it)
		}
	}
	return nil
}

func (s *Memory) Prune(now time.Time, window time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.seen {
		if now.Sub(t) >= window {
			delete(s.seen, k)
		}
	}
	return nil
}

func (s *Memory) Close() error { return nil }
