// Package outboxtest damages outbox files for tests of what follows.
package outboxtest

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/trailbell/trailbell/internal/notify/outbox"
)

// Corrupt overwrites the nth item (from 1) of queue in the closed outbox in dir with
// bytes that are not an item, as a bad disk or a foreign write would.
func Corrupt(t testing.TB, dir, queue string, nth int) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, outbox.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("queue/" + queue))
		if b == nil {
			return fmt.Errorf("no queue %s", queue)
		}
		c := b.Cursor()
		k, _ := c.First()
		for i := 1; i < nth && k != nil; i++ {
			k, _ = c.Next()
		}
		if k == nil {
			return fmt.Errorf("queue %s has fewer than %d items", queue, nth)
		}
		return b.Put(k, []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
}
