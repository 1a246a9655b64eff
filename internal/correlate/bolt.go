package correlate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

var (
	boltBucket  = []byte("state")
	boltVersion = []byte("\x00version")
)

// BoltStore keeps the state in a bbolt file under state_dir (`trailbell run`, `trailbell scan
// --state-dir`): a commit is one synced transaction, so a kill -9 leaves either the whole
// commit or none of it.
type BoltStore struct {
	db *bbolt.DB
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens (creating) the state file at path. Only one process may hold it: a second
// one fails after a second with an error that says so.
func OpenBolt(path string) (*BoltStore, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: in use by another trailbell process", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Close closes the file.
func (s *BoltStore) Close() error { return s.db.Close() }

// Size is the file's size in bytes.
func (s *BoltStore) Size() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}

func boltVersionOf(b *bbolt.Bucket) uint64 {
	if v := b.Get(boltVersion); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (s *BoltStore) Version(context.Context) (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		v = boltVersionOf(tx.Bucket(boltBucket))
		return nil
	})
	return v, err
}

func (s *BoltStore) Load(_ context.Context, keys []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for _, k := range keys {
			if v := b.Get([]byte(k)); v != nil {
				out[k] = bytes.Clone(v) // bbolt's bytes live only as long as the transaction
			}
		}
		return nil
	})
	return out, err
}

func (s *BoltStore) List(_ context.Context, part string) (map[string][]byte, error) {
	out := map[string][]byte{}
	prefix := []byte(part + "|")
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out[string(k)] = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}

func (s *BoltStore) Commit(_ context.Context, batch Batch) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(boltBucket)
		if boltVersionOf(b) != batch.Version {
			return ErrConflict
		}
		for k, it := range batch.Put {
			if err := b.Put([]byte(k), it.Value); err != nil {
				return err
			}
		}
		for _, k := range batch.Delete {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], batch.Version+1)
		return b.Put(boltVersion, v[:])
	})
}

// Prune deletes the slot items ("s/TABLE/N") of the tables keep refuses, and says how many.
func (s *BoltStore) Prune(_ context.Context, keep func(table string) bool) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(boltBucket)
		var drop [][]byte
		c := b.Cursor()
		prefix := []byte("s/")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			name := string(k[len(prefix):])
			if i := strings.LastIndexByte(name, '/'); i >= 0 && !keep(name[:i]) {
				drop = append(drop, bytes.Clone(k))
			}
		}
		// deleting while iterating makes a cursor skip keys: collect first
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	return n, err
}
