// Package outbox is the durable queue between accepting a finding and delivering it: a
// queue of items per receiver, the dead letters, and the record of which (rule, eventID)
// were accepted, for dedupe. Open keeps it in a bbolt file, whose every commit is synced;
// NewMemory keeps it in memory (it survives retries, not restarts). The delivery pipeline
// (package notify) writes it; `trailbell notify dead` also reads it on its own.
package outbox

import (
	"fmt"
	"time"

	"github.com/trailbell/trailbell/internal/finding"
)

// Dead is the queue of dead letters: what failed for good with no fallback to take it.
// Receiver names cannot start with '!', so it never collides with one.
const Dead = "!dead"

// Item is one finding waiting for one receiver. The JSON names are the stored format.
type Item struct {
	// ID orders a queue; Store assigns it, increasing.
	ID       uint64          `json:"-"`
	Finding  finding.Finding `json:"finding"`
	Accepted time.Time       `json:"accepted"`
	Attempts int             `json:"attempts,omitempty"`
	// LastError is the redacted reason of the last failure.
	LastError string `json:"lastError,omitempty"`
	// From names the receiver that failed for good before this item was moved to a
	// fallback or the dead letters; such items are not moved to a fallback again.
	From string `json:"from,omitempty"`
	// Sent is when the item was last handed to a destination that can say afterwards
	// whether it got it, and Delivery names that message. Both stay set until an answer
	// settles it: after a crash or a lost answer, the destination is asked before the
	// message is sent again.
	Sent     time.Time `json:"sent,omitzero"`
	Delivery string    `json:"delivery,omitempty"`
}

// Entry is a finding to accept: its item, the queues it goes to, and its dedupe key.
type Entry struct {
	Key    string
	Item   *Item
	Queues []string
}

// Store is the outbox. Only the delivery worker of a queue removes or updates its items;
// Accept and Move append with increasing ids, so a worker may cache the head of its queue.
// Every method is safe for concurrent use.
type Store interface {
	// Accept enqueues a copy of each entry's item in each of its queues and records its
	// key as seen, all in one transaction: a worker reading the queue, or a crash, never
	// finds some of them without the others (the findings of one event are one alert).
	// dup[i] reports that entry i's key was seen since now-window, or earlier in the same
	// call, and that it was not enqueued. An empty key is never a duplicate.
	Accept(now time.Time, window time.Duration, es ...Entry) (dup []bool, err error)
	// Seen reports whether key was accepted since now-window.
	Seen(key string, now time.Time, window time.Duration) (bool, error)
	// Head returns up to limit items of queue with ids above after, oldest first. Items
	// that cannot be decoded are set aside and reported with a *CorruptError, next to the
	// items that could.
	Head(queue string, after uint64, limit int) ([]*Item, error)
	Count(queue string) (int, error)
	// Update rewrites items in place (attempts, errors, in-flight marks).
	Update(queue string, its []*Item) error
	// Move deletes ids from queue and enqueues copies of the given items, atomically:
	// delivered (to is nil), moved to a fallback, or to the dead letters.
	Move(queue string, ids []uint64, to map[string][]*Item) error
	// Prune forgets keys seen before now-window.
	Prune(now time.Time, window time.Duration) error
	Close() error
}

// CorruptError reports outbox items set aside because they could not be decoded.
type CorruptError struct {
	Queue string
	Count int
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("outbox queue %s: %d unreadable item(s) moved to the %q bucket", e.Queue, e.Count, corruptBucket)
}

// DeadLetter is a finding that could not be delivered and had no fallback.
type DeadLetter struct {
	Receiver string          `json:"receiver"` // the receiver it failed on
	Error    string          `json:"error"`
	Finding  finding.Finding `json:"finding"`
}

// DeadLetters lists up to limit dead letters, oldest first.
func DeadLetters(s Store, limit int) ([]DeadLetter, error) {
	its, err := s.Head(Dead, 0, limit)
	out := make([]DeadLetter, len(its))
	for i, it := range its {
		out[i] = DeadLetter{Receiver: it.From, Error: it.LastError, Finding: it.Finding}
	}
	return out, err
}

// Requeue moves every dead letter whose receiver still exists back to that receiver's
// queue, as a fresh delivery accepted at now (after the cause was fixed, e.g. a new
// webhook URL). Dead letters of removed receivers stay. It returns how many went to each
// receiver.
func Requeue(s Store, exists func(receiver string) bool, now time.Time) (map[string]int, error) {
	moved := map[string]int{}
	var after uint64
	for {
		its, err := s.Head(Dead, after, 500)
		if err != nil {
			return moved, err
		}
		if len(its) == 0 {
			return moved, nil
		}
		after = its[len(its)-1].ID // read on past the dead letters that stay
		var ids []uint64
		to := map[string][]*Item{}
		for _, it := range its {
			if !exists(it.From) {
				continue
			}
			ids = append(ids, it.ID)
			to[it.From] = append(to[it.From], &Item{Finding: it.Finding, Accepted: now})
		}
		if len(ids) == 0 {
			continue
		}
		if err := s.Move(Dead, ids, to); err != nil {
			return moved, err
		}
		for name, list := range to {
			moved[name] += len(list)
		}
	}
}
