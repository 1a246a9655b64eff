package pattern_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trailbell/trailbell/pattern"
)

// TestConcurrentMatchWhileAdding: many goroutines Match while one goroutine Adds and
// Removes patterns. The answer for the patterns present from the start must never change,
// and any other id returned must be one that really matches the event. Run with -race.
func TestConcurrentMatchWhileAdding(t *testing.T) {
	base := map[string]string{
		"iam-seed":   iamSeedPattern,
		"root":       `{"detail":{"userIdentity":{"type":["Root"]}}}`,
		"no-mfa":     `{"detail":{"eventName":["ConsoleLogin"],"additionalEventData":{"MFAUsed":[{"anything-but":"Yes"}]}}}`,
		"errors":     `{"detail":{"errorCode":[{"exists":true}]}}`,
		"never":      `{"detail":{"eventName":["NoSuchEvent"]}}`,
		"net-ranges": `{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/8"},{"cidr":"2001:db8::/32"}]}}`,
	}
	m := pattern.New()
	for id, p := range base {
		if err := m.Add(id, p); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}

	events := loadEnvelopes(t)
	// The expected answer per event for the base patterns, from a matcher nobody touches.
	want := make([][]string, len(events))
	for i, ev := range events {
		ids, err := m.Match(ev)
		if err != nil {
			t.Fatalf("envelope %d: %v", i+1, err)
		}
		slices.Sort(ids)
		want[i] = ids
	}

	// Added patterns: "add-match-N" matches exactly the events whose eventName is in
	// matchNames, "add-none-N" matches nothing.
	matchNames := []string{"CreateUser", "AttachUserPolicy", "ConsoleLogin"}
	nameOf := make([]string, len(events))
	for i, ev := range events {
		var e struct {
			Detail struct {
				EventName any `json:"eventName"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(ev, &e); err != nil {
			t.Fatalf("envelope %d: %v", i+1, err)
		}
		if n, ok := e.Detail.EventName.(string); ok && slices.Contains(matchNames, n) {
			nameOf[i] = n
		}
	}
	const adds = 300
	removed := func(i int) bool { return i%5 == 0 }
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}

	const readers = 8
	var started sync.WaitGroup // the writer starts once every reader is matching
	started.Add(readers)
	var during atomic.Int64 // matches done while the writer was writing

	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer stop.Store(true)
		started.Wait()
		for i := range adds {
			id := fmt.Sprintf("add-match-%d", i)
			name := matchNames[i%len(matchNames)]
			if err := m.Add(id, fmt.Sprintf(`{"detail":{"eventName":[%q]}}`, name)); err != nil {
				report(err)
				return
			}
			if err := m.Add(fmt.Sprintf("add-none-%d", i), fmt.Sprintf(`{"detail":{"eventName":["Gen%d"],"x":[{"prefix":"y"}]}}`, i)); err != nil {
				report(err)
				return
			}
			if removed(i) {
				m.Remove(id)
			}
			if stop.Load() {
				return
			}
		}
	}()

	for g := range readers {
		wg.Add(1)
		go func() { // readers
			defer wg.Done()
			first := true
			for round := 0; !stop.Load() || round < 2; round++ {
				for j := range events {
					i := (j + g*97) % len(events)
					ids, err := m.Match(events[i])
					if first {
						started.Done()
						first = false
					}
					if !stop.Load() {
						during.Add(1)
					}
					if err != nil {
						report(fmt.Errorf("envelope %d: %v", i+1, err))
						return
					}
					var got []string
					for _, id := range ids {
						if _, ok := base[id]; ok {
							got = append(got, id)
							continue
						}
						var n int
						if _, err := fmt.Sscanf(id, "add-match-%d", &n); err != nil || nameOf[i] != matchNames[n%len(matchNames)] {
							report(fmt.Errorf("envelope %d: unexpected id %q", i+1, id))
							return
						}
					}
					slices.Sort(got)
					if !slices.Equal(got, want[i]) {
						report(fmt.Errorf("envelope %d: base ids %q, want %q", i+1, got, want[i]))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d matches ran while patterns were being added and removed", during.Load())

	// After the writer: every surviving add-match id is answered for every matching event.
	survivors := map[string]int{}
	for i := range adds {
		if !removed(i) {
			survivors[matchNames[i%len(matchNames)]]++
		}
	}
	for i, ev := range events {
		ids, err := m.Match(ev)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, id := range ids {
			if strings.HasPrefix(id, "add-none-") {
				t.Fatalf("envelope %d: %q matched", i+1, id)
			}
			if strings.HasPrefix(id, "add-match-") {
				n++
			}
		}
		if n != survivors[nameOf[i]] {
			t.Fatalf("envelope %d (%q): %d add-match ids, want %d", i+1, nameOf[i], n, survivors[nameOf[i]])
		}
	}
}

// One compiled Pattern shared by matchers that build their snapshots at the same time: the
// compiled form is only read, so -race stays quiet and every matcher answers alike.
func TestCompiledPatternSharedAcrossMatchers(t *testing.T) {
	p, err := pattern.Compile(`{"detail":{"eventName":["CreateUser"],"requestParameters":{"n":[{"numeric":[">",1]}]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	event := []byte(`{"detail":{"eventName":"CreateUser","requestParameters":{"n":2}}}`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := pattern.New()
			m.AddPattern(fmt.Sprint("p", i), p)
			ids, err := m.Match(event)
			if err != nil || len(ids) != 1 || ids[0] != fmt.Sprint("p", i) {
				t.Errorf("matcher %d: %v %v", i, ids, err)
			}
		}()
	}
	wg.Wait()
}
