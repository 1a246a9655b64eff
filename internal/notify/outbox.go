package notify

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailbell/trailbell/internal/finding"
)

// deadQueue holds what could not be delivered and had no fallback. Receiver names cannot
// start with '!', so it never collides with one.
const deadQueue = "!dead"

// item is one finding waiting for one receiver.
type item struct {
	id       uint64
	Finding  finding.Finding `json:"finding"`
	Accepted time.Time       `json:"accepted"`
	Attempts int             `json:"attempts,omitempty"`
	// LastError is the redacted reason of the last failure.
	LastError string `json:"lastError,omitempty"`
	// From names the receiver that failed permanently before this item was moved to a
	// fallback; such items are not moved a second time.
	From string `json:"from,omitempty"`
}

// store is the outbox. Only the delivery worker of a queue removes or updates its items;
// accept and move append with increasing ids, so a worker may cache the head of its queue.
type store interface {
	// accept enqueues one item per receiver and records key as seen, atomically.
	// It reports dup (and enqueues nothing) when key was seen since now-window.
	accept(key string, to map[string]*item, now time.Time, window time.Duration) (dup bool, err error)
	// head returns up to limit items of queue with ids above after, oldest first.
	head(queue string, after uint64, limit int) ([]*item, error)
	count(queue string) (int, error)
	update(queue string, its []*item) error
	// move deletes ids from queue and enqueues the given items, atomically (done: to is nil).
	move(queue string, ids []uint64, to map[string][]*item) error
	prune(now time.Time, window time.Duration) error
	close() error
}

// memStore is the outbox without a state directory: it survives retries, not restarts.
type memStore struct {
	mu     sync.Mutex
	seq    uint64
	queues map[string][]*item
	seen   map[string]time.Time
}

func newMemStore() *memStore {
	return &memStore{queues: map[string][]*item{}, seen: map[string]time.Time{}}
}

func (s *memStore) accept(key string, to map[string]*item, now time.Time, window time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		if t, ok := s.seen[key]; ok && now.Sub(t) < window {
			return true, nil
		}
		s.seen[key] = now
	}
	for _, q := range slices.Sorted(maps.Keys(to)) {
		s.push(q, to[q])
	}
	return false, nil
}

func (s *memStore) push(q string, it *item) {
	// A copy: the caller's item may sit in a worker's page under its old id.
	s.seq++
	c := *it
	c.id = s.seq
	s.queues[q] = append(s.queues[q], &c)
}

func (s *memStore) head(q string, after uint64, limit int) ([]*item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.queues[q]
	// Ids grow along a queue.
	src = src[sort.Search(len(src), func(i int) bool { return src[i].id > after }):]
	out := make([]*item, 0, min(limit, len(src)))
	for _, it := range src[:min(limit, len(src))] {
		c := *it
		out = append(out, &c)
	}
	return out, nil
}

func (s *memStore) count(q string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues[q]), nil
}

func (s *memStore) update(q string, its []*item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range its {
		for i, old := range s.queues[q] {
			if old.id == it.id {
				c := *it
				s.queues[q][i] = &c
			}
		}
	}
	return nil
}

func (s *memStore) move(q string, ids []uint64, to map[string][]*item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[q] = slices.DeleteFunc(s.queues[q], func(it *item) bool { return slices.Contains(ids, it.id) })
	if len(s.queues[q]) == 0 {
		delete(s.queues, q) // let the backing array go
	}
	for _, dst := range slices.Sorted(maps.Keys(to)) {
		for _, it := range to[dst] {
			s.push(dst, it)
		}
	}
	return nil
}

func (s *memStore) prune(now time.Time, window time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.seen {
		if now.Sub(t) >= window {
			delete(s.seen, k)
		}
	}
	return nil
}

func (s *memStore) close() error { return nil }

// boltStore keeps the outbox in a bbolt file. bbolt fsyncs every committed transaction,
// so an accepted finding survives a crash; db.Batch groups concurrent Submits into one
// transaction (one fsync) to keep throughput up.
type boltStore struct {
	db       *bolt.DB
	inflight atomic.Int32 // concurrent accepts; alone, one does not wait for company
}

var (
	seenBucket  = []byte("seen")
	queuePrefix = "queue/"
)

func openBoltStore(dir string) (*boltStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	path := filepath.Join(dir, "outbox.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open outbox %s: locked by another trailbell process", path)
		}
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(seenBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	// bbolt waits up to 10ms to fill a Batch; a lone Submit (Lambda, CLI) should not.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &boltStore{db: db}, nil
}

func queueName(q string) []byte { return []byte(queuePrefix + q) }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func putItem(tx *bolt.Tx, q string, it *item) error {
	b, err := tx.CreateBucketIfNotExists(queueName(q))
	if err != nil {
		return err
	}
	if it.id == 0 {
		if it.id, err = b.NextSequence(); err != nil {
			return err
		}
	}
	v, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("encode outbox item: %w", err)
	}
	return b.Put(idKey(it.id), v)
}

func (s *boltStore) accept(key string, to map[string]*item, now time.Time, window time.Duration) (bool, error) {
	var dup bool
	run := s.db.Batch
	if s.inflight.Add(1) == 1 {
		run = s.db.Update
	}
	defer s.inflight.Add(-1)
	err := run(func(tx *bolt.Tx) error {
		dup = false // Batch may run this function again
		seen := tx.Bucket(seenBucket)
		if key != "" {
			if v := seen.Get([]byte(key)); len(v) == 8 && now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) < window {
				dup = true
				return nil
			}
			if err := seen.Put([]byte(key), binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))); err != nil {
				return err
			}
		}
		for _, q := range slices.Sorted(maps.Keys(to)) {
			c := *to[q]
			c.id = 0
			if err := putItem(tx, q, &c); err != nil {
				return err
			}
		}
		return nil
	})
	return dup, err
}

func (s *boltStore) head(q string, after uint64, limit int) ([]*item, error) {
	var out []*item
	var bad [][2][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(queueName(q))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(idKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			it := &item{}
			if err := json.Unmarshal(v, it); err != nil {
				bad = append(bad, [2][]byte{slices.Clone(k), slices.Clone(v)})
				continue
			}
			it.id = binary.BigEndian.Uint64(k)
			out = append(out, it)
		}
		return nil
	})
	if err != nil || len(bad) == 0 {
		return out, err
	}
	// An unreadable item must not stall its queue forever: set it aside, raw, in the
	// corrupt bucket for a person to look at, and report it.
	err = s.db.Update(func(tx *bolt.Tx) error {
		cb, err := tx.CreateBucketIfNotExists([]byte(corruptBucket))
		if err != nil {
			return err
		}
		for _, kv := range bad {
			if err := cb.Put(append([]byte(q+"/"), kv[0]...), kv[1]); err != nil {
				return err
			}
			if err := tx.Bucket(queueName(q)).Delete(kv[0]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, &CorruptError{Queue: q, Count: len(bad)}
}

// corruptBucket holds outbox items that could not be decoded, keyed by queue and id.
const corruptBucket = "corrupt"

// CorruptError reports outbox items set aside because they could not be decoded.
type CorruptError struct {
	Queue string
	Count int
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("outbox queue %s: %d unreadable item(s) moved to the %q bucket", e.Queue, e.Count, corruptBucket)
}

func (s *boltStore) count(q string) (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(queueName(q)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

func (s *boltStore) update(q string, its []*item) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, it := range its {
			if err := putItem(tx, q, it); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) move(q string, ids []uint64, to map[string][]*item) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(queueName(q)); b != nil {
			for _, id := range ids {
				if err := b.Delete(idKey(id)); err != nil {
					return err
				}
			}
		}
		for _, dst := range slices.Sorted(maps.Keys(to)) {
			for _, it := range to[dst] {
				c := *it // the caller's item may sit in a worker's page under its old id
				c.id = 0
				if err := putItem(tx, dst, &c); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *boltStore) prune(now time.Time, window time.Duration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(seenBucket)
		var old [][]byte
		// Deleting while iterating makes a bbolt cursor skip keys: collect first.
		_ = b.ForEach(func(k, v []byte) error {
			if len(v) != 8 || now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) >= window {
				old = append(old, slices.Clone(k))
			}
			return nil
		})
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) close() error { return s.db.Close() }
