package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestSilenceAlertsOncePerQuietSpell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSilence(time.Now)
		start := time.Now()
		s.watch("s3://trail/AWSLogs/", 10*time.Minute)
		s.watch("quiet-but-unwatched", 0)

		var mu sync.Mutex
		var raised []time.Time
		failNext := true
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.run(ctx, func(_ context.Context, src string, last time.Time, after time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			if src != "s3://trail/AWSLogs/" || after != 10*time.Minute {
				t.Errorf("raised for %s after %v", src, after)
			}
			if failNext { // the outbox refused: the alert must be tried again
				failNext = false
				return errors.New("outbox full")
			}
			raised = append(raised, last)
			return nil
		})
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(raised) }

		time.Sleep(9 * time.Minute)
		synctest.Wait()
		if n := count(); n != 0 {
			t.Fatalf("%d alerts before the threshold", n)
		}
		time.Sleep(30 * time.Minute) // one spell: failed once, then raised once
		synctest.Wait()
		if n := count(); n != 1 || !raised[0].Equal(start) {
			t.Fatalf("alerts after a long spell = %v, want one for the spell since %v", raised, start)
		}
		s.seen("s3://trail/AWSLogs/")
		resumed := time.Now()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := count(); n != 1 {
			t.Fatalf("%d alerts while data flows", n)
		}
		time.Sleep(10 * time.Minute) // a new spell
		synctest.Wait()
		if n := count(); n != 2 || !raised[1].Equal(resumed) {
			t.Fatalf("alerts = %v, want a second one for the spell since %v", raised, resumed)
		}
	})
}
