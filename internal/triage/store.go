package triage

import (
	"context"
	"errors"
	"time"
)

// Store keeps triage state: items in a few partitions (alerts, mutes, the audit log, jobs, the
// signatures of requests seen), each under a key, with a version that every write raises, so
// that a change worked out from what was read applies only if nothing changed meanwhile.
// BoltStore keeps it in a bbolt file under state_dir (trailbell run, the commands); package
// triage/dynamo in the Lambda's DynamoDB state table.
type Store interface {
	// Get returns the item under key, or an Item with Version 0 when there is none (or it
	// has expired).
	Get(ctx context.Context, part, key string) (Item, error)
	// List returns up to limit items of part whose keys are after `after` and at most
	// `until` ("" leaves either end open), in key order, leaving out expired ones.
	List(ctx context.Context, part, after, until string, limit int) ([]Item, error)
	// Apply makes every op, or none: it fails with ErrConflict when an op's condition does
	// not hold.
	Apply(ctx context.Context, ops ...Op) error
}

// Partitions of the store.
const (
	partAlert = "alert"
	partMute  = "mute"
	partAudit = "audit"
	partJob   = "job"
	partSeen  = "seen"
)

// Item is a stored value with its version (0: there is none).
type Item struct {
	Key     string
	Value   []byte
	Version int64
	Expires time.Time
}

// Op writes or deletes one item, on a condition.
type Op struct {
	Part, Key string
	// Value is the new value; nil deletes the item.
	Value []byte
	// Expires is when the store may drop the item (DynamoDB's TTL); zero: never.
	Expires time.Time
	// Version is the item's version as read: the op applies only if it still is (0: only if
	// there is no item, or an expired one).
	Version int64
	// Always applies the op whatever the stored version.
	Always bool
}

// ErrConflict is an Apply whose condition failed: another writer got there first.
var ErrConflict = errors.New("triage state changed meanwhile")

// expired reports whether an item that expires at exp is gone at now.
func expired(exp, now time.Time) bool { return !exp.IsZero() && !exp.After(now) }
