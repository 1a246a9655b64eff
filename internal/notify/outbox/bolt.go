package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the outbox file in a state directory.
const FileName = "outbox.db"

// Bolt keeps the outbox in a bbolt file. bbolt syncs every committed transaction, so an
// accepted finding survives a crash; db.Batch groups concurrent Accepts into one
// transaction (one sync) to keep throughput up.
type Bolt struct {
	db       *bolt.DB
	inflight atomic.Int32 // concurrent accepts; alone, one does not wait for company
}

var _ Store = (*Bolt)(nil)

var (
	seenBucket  = []byte("seen")
	queuePrefix = "queue/"
)

// corruptBucket holds outbox items that could not be decoded, keyed by queue and id.
const corruptBucket = "corrupt"

// Open opens (or creates) the outbox file in dir. A file of 0 bytes is an error, not a
// fresh start: it is an outbox that was cut off (a full disk, a bad copy), and starting
// over on it would silently lose what it held.
func Open(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	return open(filepath.Join(dir, FileName), false)
}

// ErrLocked is the error of opening an outbox that another process (a running daemon) holds.
var ErrLocked = errors.New("locked by another trailbell process")

// OpenReadOnly opens the outbox file in dir for reading, as `notify dead` does: it must
// exist. Readers share it; a running daemon holds it alone, and then this fails after two
// seconds.
func OpenReadOnly(dir string) (*Bolt, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	return open(path, true)
}

func open(path string, readOnly bool) (*Bolt, error) {
	if st, err := os.Stat(path); err == nil && st.Size() == 0 {
		return nil, fmt.Errorf("open outbox %s: the file is empty (0 bytes), so what it held is lost; "+
			"trailbell does not start over on it silently: move it away to start with an empty outbox", path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open outbox %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	if !readOnly {
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(seenBucket)
			return err
		}); err != nil {
			db.Close()
			return nil, fmt.Errorf("open outbox %s: %w", path, err)
		}
	}
	// bbolt waits up to 10ms to fill a Batch; a lone Accept (Lambda, CLI) should not.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &Bolt{db: db}, nil
}

func queueName(q string) []byte { return []byte(queuePrefix + q) }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// putItem writes it into queue q; an item without an id gets the next one.
func putItem(tx *bolt.Tx, q string, it *Item) error {
	b, err := tx.CreateBucketIfNotExists(queueName(q))
	if err != nil {
		return err
	}
	if it.ID == 0 {
		if it.ID, err = b.NextSequence(); err != nil {
			return err
		}
	}
	v, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("encode outbox item: %w", err)
	}
	return b.Put(idKey(it.ID), v)
}

func seenAt(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

func (s *Bolt) Accept(now time.Time, window time.Duration, es ...Entry) ([]bool, error) {
	dup := make([]bool, len(es))
	run := s.db.Batch
	if s.inflight.Add(1) == 1 {
		run = s.db.Update
	}
	defer s.inflight.Add(-1)
	at := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	err := run(func(tx *bolt.Tx) error {
		clear(dup) // Batch may run this function again
		seen := tx.Bucket(seenBucket)
		for i, e := range es {
			if e.Key != "" {
				if t, ok := seenAt(seen.Get([]byte(e.Key))); ok && now.Sub(t) < window {
					dup[i] = true
					continue
				}
				if err := seen.Put([]byte(e.Key), at); err != nil {
					return err
				}
			}
			for _, q := range e.Queues {
				c := *e.Item
				c.ID = 0
				if err := putItem(tx, q, &c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return dup, err
}

func (s *Bolt) Seen(key string, now time.Time, window time.Duration) (bool, error) {
	var seen bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(seenBucket); b != nil {
			t, ok := seenAt(b.Get([]byte(key)))
			seen = ok && now.Sub(t) < window
		}
		return nil
	})
	return seen, err
}

func (s *Bolt) Head(q string, after uint64, limit int) ([]*Item, error) {
	var out []*Item
	var bad [][2][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(queueName(q))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(idKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			it := &Item{}
			if err := json.Unmarshal(v, it); err != nil {
				bad = append(bad, [2][]byte{slices.Clone(k), slices.Clone(v)})
				continue
			}
			it.ID = binary.BigEndian.Uint64(k)
			out = append(out, it)
		}
		return nil
	})
	if err != nil || len(bad) == 0 {
		return out, err
	}
	if s.db.IsReadOnly() {
		return out, &CorruptError{Queue: q, Count: len(bad)}
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

func (s *Bolt) Count(q string) (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(queueName(q)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

func (s *Bolt) Update(q string, its []*Item) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, it := range its {
			if err := putItem(tx, q, it); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Bolt) Move(q string, ids []uint64, to map[string][]*Item) error {
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
				c := *it // the caller's item may sit in a worker's cache under its old id
				c.ID = 0
				if err := putItem(tx, dst, &c); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *Bolt) Prune(now time.Time, window time.Duration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(seenBucket)
		var old [][]byte
		// Deleting while iterating makes a bbolt cursor skip keys: collect first.
		_ = b.ForEach(func(k, v []byte) error {
			if t, ok := seenAt(v); !ok || now.Sub(t) >= window {
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

func (s *Bolt) Close() error { return s.db.Close() }
