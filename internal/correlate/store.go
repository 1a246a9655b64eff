package correlate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Store keeps the engine's state between commits: bbolt for `trailbell run` and
// `scan --state-dir` (BoltStore), DynamoDB for the Lambda (internal/correlate/dynamo). A key
// is plain (no '|') or "PART|REST", listed together by List(PART); values are opaque.
type Store interface {
	// Version returns the version of the stored state: 0 when empty, +1 per commit.
	Version(ctx context.Context) (uint64, error)
	// Load returns the values stored under keys; keys with no value are missing.
	Load(ctx context.Context, keys []string) (map[string][]byte, error)
	// List returns every item of a partition: the keys that begin with part + "|".
	List(ctx context.Context, part string) (map[string][]byte, error)
	// Commit applies b atomically if the stored version is still b.Version, and makes it
	// b.Version+1; it returns ErrConflict when another writer committed first.
	Commit(ctx context.Context, b Batch) error
}

// Batch is one commit's changes.
type Batch struct {
	Version uint64
	Put     map[string]Item
	Delete  []string
}

// Item is a stored value. Expires is in event time: when nothing in it matters any more
// (a store may remove it after that, as DynamoDB's TTL does); zero means never.
type Item struct {
	Value   []byte
	Expires time.Time
}

// Pruner is a Store that can delete the slots of tables no longer in use (a rule removed or
// changed, a bound changed), which nothing would read again. BoltStore is one; DynamoDB's
// TTL removes such items by itself.
type Pruner interface {
	Prune(ctx context.Context, keep func(table string) bool) (int, error)
}

// ErrConflict is a commit that lost to another writer; the input is retried.
var ErrConflict = errors.New("state changed by another writer")

// entriesPerSlot bounds one slot item (DynamoDB items are at most 400 KB).
const entriesPerSlot = 16

// cell is one entry of a slot: a value and when it expires, in event time (Unix ns).
type cell[V any] struct {
	X int64 `json:"x"`
	V V     `json:"v"`
}

// table is a fixed number of slots, each holding up to entriesPerSlot entries, like a
// set-associative cache: memory and storage stay bounded whatever the cardinality of the
// keys. A full slot evicts its entry that expires first (counted as dropped), after the
// expired ones. Slots are loaded from the store on first use and written back when dirty.
type table[V any] struct {
	name  string
	slots uint32
	cache map[uint32]map[string]*cell[V]
	dirty map[uint32]bool
	load  func(ctx context.Context, key string) ([]byte, error) // nil: nothing is stored
	drop  func()
}

func newTable[V any](name string, capacity int, load func(context.Context, string) ([]byte, error), drop func()) *table[V] {
	// slots for capacity at 80% average occupancy, so that unlucky slots rarely overflow
	n := max(1, (capacity*5/4+entriesPerSlot-1)/entriesPerSlot)
	return &table[V]{
		// the slot count is part of the name: a table resized by new bounds starts afresh
		// instead of reading entries from slots their keys no longer hash to
		name: name + "." + strconv.Itoa(n), slots: uint32(n), load: load, drop: drop,
		cache: map[uint32]map[string]*cell[V]{}, dirty: map[uint32]bool{},
	}
}

func (t *table[V]) slotOf(key string) uint32 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return uint32(h.Sum64() % uint64(t.slots))
}

func (t *table[V]) itemKey(i uint32) string {
	return "s/" + t.name + "/" + strconv.FormatUint(uint64(i), 10)
}

// slot returns slot i, loading it when needed.
func (t *table[V]) slot(ctx context.Context, i uint32) (map[string]*cell[V], error) {
	if s, ok := t.cache[i]; ok {
		return s, nil
	}
	s := map[string]*cell[V]{}
	if t.load != nil {
		b, err := t.load(ctx, t.itemKey(i))
		if err != nil {
			return nil, err
		}
		if b != nil {
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("state %s: %w", t.itemKey(i), err)
			}
		}
	}
	t.cache[i] = s
	return s, nil
}

// get returns the value of key unless it has expired by now (event time, Unix ns).
func (t *table[V]) get(ctx context.Context, key string, now int64) (V, bool, error) {
	var zero V
	s, err := t.slot(ctx, t.slotOf(key))
	if err != nil {
		return zero, false, err
	}
	c, ok := s[key]
	if !ok || c.X < now {
		return zero, false, nil
	}
	return c.V, true, nil
}

// put sets key to v until exp, evicting from a full slot.
func (t *table[V]) put(ctx context.Context, key string, v V, exp, now int64) error {
	i := t.slotOf(key)
	s, err := t.slot(ctx, i)
	if err != nil {
		return err
	}
	if _, ok := s[key]; !ok && len(s) >= entriesPerSlot {
		for k, c := range s {
			if c.X < now {
				delete(s, k)
			}
		}
		for len(s) >= entriesPerSlot {
			victim, first := "", int64(0)
			for k, c := range s {
				// the earliest expiry goes; ties by key, so every replay evicts alike
				if victim == "" || c.X < first || c.X == first && k < victim {
					victim, first = k, c.X
				}
			}
			delete(s, victim)
			if t.drop != nil {
				t.drop()
			}
		}
	}
	s[key] = &cell[V]{X: exp, V: v}
	t.dirty[i] = true
	return nil
}

func (t *table[V]) del(ctx context.Context, key string) error {
	i := t.slotOf(key)
	s, err := t.slot(ctx, i)
	if err != nil {
		return err
	}
	if _, ok := s[key]; ok {
		delete(s, key)
		t.dirty[i] = true
	}
	return nil
}

// flush adds the dirty slots to b and marks them clean.
func (t *table[V]) flush(b *Batch) error {
	for i := range t.dirty {
		s := t.cache[i]
		key := t.itemKey(i)
		if len(s) == 0 {
			b.Delete = append(b.Delete, key)
			continue
		}
		v, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("state %s: %w", key, err)
		}
		var exp int64
		for _, c := range s {
			exp = max(exp, c.X)
		}
		b.Put[key] = Item{Value: v, Expires: time.Unix(0, exp)}
	}
	clear(t.dirty)
	return nil
}

func (t *table[V]) reset() {
	clear(t.cache)
	clear(t.dirty)
}

func (t *table[V]) cached() int { return len(t.cache) }

func (t *table[V]) tableName() string { return t.name }

// stateTable is what the engine does with every table, whatever its values.
type stateTable interface {
	flush(*Batch) error
	reset()
	cached() int
	tableName() string
}

// key joins field values into a map key; the separator cannot occur in CloudTrail text.
func key(vals []string) string { return strings.Join(vals, "\x1f") }
