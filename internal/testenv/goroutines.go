package testenv

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// module marks the goroutines that run trailbell's code.
const module = "github.com/trailbell/trailbell/"

// NoLeaks fails the test when a goroutine running trailbell's code, started after the call,
// is still there once the test and its other cleanups are done: every goroutine must have an
// owner that waits for it. Call it first in the test, so that its check runs last; it waits
// a few seconds for goroutines that are on their way out. Not for parallel tests.
func NoLeaks(t testing.TB) {
	t.Helper()
	before := map[string]bool{}
	for id := range goroutines() {
		before[id] = true
	}
	t.Cleanup(func() {
		var left map[string]string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			left = map[string]string{}
			for id, stack := range goroutines() {
				if !before[id] && strings.Contains(stack, module) {
					left[id] = stack
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, stack := range left {
			t.Errorf("goroutine left running after the test:\n%s", stack)
		}
	})
}

// goroutines returns the stack of every goroutine by its id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		// "goroutine 42 [chan receive]:"
		head, _, _ := bytes.Cut(g, []byte("\n"))
		f := strings.Fields(string(head))
		if len(f) >= 2 && f[0] == "goroutine" {
			out[f[1]] = string(g)
		}
	}
	return out
}
