//go:build linux

package pattern_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// CPU-time versions of the workload and scaling measurements. On a shared, loaded machine
// wall-clock ratios swing by tens of percent; process CPU time is steadier. Run with
//
//	TRAILBELL_CPUTIME=1 go test ./pattern -run TestCPUTime -v
//
// Each figure is the best of a few passes.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCPUTimeWorkloads(t *testing.T) {
	if os.Getenv("TRAILBELL_CPUTIME") == "" {
		t.Skip("set TRAILBELL_CPUTIME=1")
	}
	for _, w := range loadWorkloads(t) {
		m, index, err := compileWorkload(&w)
		if err != nil {
			fmt.Printf("%-28s unsupported: %v\n", w.Name, err)
			continue
		}
		lines := dataset(t, w.Dataset)
		if err := checkCounts(&w, m, index, lines); err != nil {
			t.Error(err)
			continue
		}
		counts := make([]int, len(w.Patterns))
		bestM, bestV := time.Duration(1<<62), time.Duration(1<<62)
		for range 3 {
			c := cpuTime()
			if err := pass(m, index, lines, counts); err != nil {
				t.Fatal(err)
			}
			bestM = min(bestM, cpuTime()-c)
			c = cpuTime()
			validPass(lines)
			bestV = min(bestV, cpuTime()-c)
		}
		fmt.Printf("%-28s ratio %.2f (target %.2f)  %4.0f ns/event\n", w.Name,
			float64(bestV)/float64(bestM), w.target(), float64(bestM)/float64(len(lines)))
	}
}

func TestCPUTimeScaling(t *testing.T) {
	if os.Getenv("TRAILBELL_CPUTIME") == "" {
		t.Skip("set TRAILBELL_CPUTIME=1")
	}
	events := loadEnvelopes(t)
	measure := func(n, kind int) float64 {
		m := scalingMatcherOf(t, n, kind)
		if _, err := m.Match(events[0]); err != nil {
			t.Fatal(err)
		}
		best := time.Duration(1 << 62)
		for range 5 {
			c := cpuTime()
			for range 30 {
				for _, ev := range events {
					if _, err := m.Match(ev); err != nil {
						t.Fatal(err)
					}
				}
			}
			best = min(best, cpuTime()-c)
		}
		return float64(best) / float64(30*len(events))
	}
	base := measure(1, -1)
	fmt.Printf("1 pattern: %.0f ns/event\n", base)
	for kind := -1; kind < len(scalingOperators); kind++ {
		name := "mixed"
		if kind >= 0 {
			name = scalingOperators[kind]
		}
		ns := measure(10_000, kind)
		fmt.Printf("10000 %-20s %5.0f ns/event, %.2f x one pattern\n", name, ns, ns/base)
	}
}
