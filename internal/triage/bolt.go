package triage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// FileName is the triage store's file in a state directory.
const FileName = "triage.db"

// BoltStore keeps the triage state in a bbolt file under state_dir. Unlike the daemon's other
// stores it is opened for each operation and closed after it, so that `trailbell mutes` and
// `trailbell audit` can read and change it while `trailbell run` is running: bbolt lets one
// process hold a file at a time. A write is one synced transaction, so a kill -9 leaves all
// of it or none.
type BoltStore struct {
	path string
	now  func() time.Time
	mu   *sync.Mutex // one operation at a time within the process: bbolt's file lock is per process
}

var _ Store = (*BoltStore)(nil)

// files are the locks of the stores open in this process, by path.
var files sync.Map

// NewBolt returns the store in dir (FileName), creating dir when needed. now is the clock
// of expiry (time.Now when nil).
func NewBolt(dir string, now func() time.Time) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("triage store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	mu, _ := files.LoadOrStore(path, &sync.Mutex{})
	if now == nil {
		now = time.Now
	}
	return &BoltStore{path: path, now: now, mu: mu.(*sync.Mutex)}, nil
}

// Path is the store's file.
func (s *BoltStore) Path() string { return s.path }

// with runs fn on the open file: read-only when write is false and the file exists.
func (s *BoltStore) with(ctx context.Context, write bool, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !write {
		if _, err := os.Stat(s.path); errors.Is(err, os.ErrNotExist) {
			return fn(nil) // nothing stored yet
		}
	}
	// Another process (the daemon, a command) holds the file for one short operation at most.
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{Timeout: 10 * time.Second, ReadOnly: !write})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("open %s: held by another trailbell process for more than 10s", s.path)
		}
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	defer db.Close()
	if write {
		return db.Update(fn)
	}
	return db.View(fn)
}

// bucket is part's bucket, or nil when nothing was stored there (or nothing at all: tx nil).
func bucket(tx *bbolt.Tx, part string) *bbolt.Bucket {
	if tx == nil {
		return nil
	}
	return tx.Bucket([]byte(part))
}

// An item's stored bytes: its version and expiry (Unix ns, 0: never), then the value.
func encode(version int64, exp time.Time, v []byte) []byte {
	b := make([]byte, 16, 16+len(v))
	binary.BigEndian.PutUint64(b, uint64(version))
	if !exp.IsZero() {
		binary.BigEndian.PutUint64(b[8:], uint64(exp.UnixNano()))
	}
	return append(b, v...)
}

func decode(key, b []byte) (Item, error) {
	if len(b) < 16 {
		return Item{}, fmt.Errorf("item %q: %d bytes, too short", key, len(b))
	}
	it := Item{Key: string(key), Version: int64(binary.BigEndian.Uint64(b)), Value: bytes.Clone(b[16:])}
	if ns := int64(binary.BigEndian.Uint64(b[8:])); ns != 0 {
		it.Expires = time.Unix(0, ns)
	}
	return it, nil
}

func (s *BoltStore) Get(ctx context.Context, part, key string) (Item, error) {
	var it Item
	err := s.with(ctx, false, func(tx *bbolt.Tx) error {
		b := bucket(tx, part)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		if it, err = decode([]byte(key), v); err == nil && expired(it.Expires, s.now()) {
			it = Item{}
		}
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("read %s/%s: %w", part, key, err)
	}
	return it, nil
}

func (s *BoltStore) List(ctx context.Context, part, after, until string, limit int) ([]Item, error) {
	var out []Item
	now := s.now()
	err := s.with(ctx, false, func(tx *bbolt.Tx) error {
		b := bucket(tx, part)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && (until == "" || string(k) <= until); k, v = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			it, err := decode(k, v)
			if err != nil {
				return err
			}
			if !expired(it.Expires, now) {
				out = append(out, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", part, err)
	}
	return out, nil
}

func (s *BoltStore) Apply(ctx context.Context, ops ...Op) error {
	now := s.now()
	err := s.with(ctx, true, func(tx *bbolt.Tx) error {
		for _, op := range ops {
			b, err := tx.CreateBucketIfNotExists([]byte(op.Part))
			if err != nil {
				return err
			}
			var cur Item
			if v := b.Get([]byte(op.Key)); v != nil {
				if cur, err = decode([]byte(op.Key), v); err != nil {
					return err
				}
				if expired(cur.Expires, now) {
					cur = Item{}
				}
			}
			if !op.Always && cur.Version != op.Version {
				return ErrConflict
			}
			if op.Value == nil {
				if err := b.Delete([]byte(op.Key)); err != nil {
					return err
				}
				continue
			}
			if err := b.Put([]byte(op.Key), encode(cur.Version+1, op.Expires, op.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrConflict) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("write triage state: %w", err)
	}
	return nil
}

// Prune deletes the expired items of every partition, and says how many.
func (s *BoltStore) Prune(ctx context.Context) (int, error) {
	n := 0
	now := s.now()
	err := s.with(ctx, true, func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			var drop [][]byte
			err := b.ForEach(func(k, v []byte) error {
				if it, err := decode(k, v); err == nil && expired(it.Expires, now) {
					drop = append(drop, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range drop { // deleting while iterating would skip keys
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(drop)
			return nil
		})
	})
	return n, err
}
